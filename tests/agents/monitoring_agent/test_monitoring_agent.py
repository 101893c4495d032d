"""monitoring_agent through the real graph, against the real Prometheus and Alertmanager.

Every number the agent reports must be Prometheus's own: the test asks Prometheus the same
range query again and compares. Silences are planned, wait for approval in production, and
only then exist in Alertmanager.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from workflow.assembly import ServiceOptions, open_service
from workflow.deps import OpsTuning
from workflow.parts import of_kind
from workflow.tools.alertmanager import AlertmanagerClient
from workflow.tools.prometheus import PrometheusClient, summarize_points

FAST = OpsTuning(rate_window="10s", step="1s", metrics_range_minutes=1)


@pytest.fixture
async def service(ops_service):
    async with ops_service(ops=FAST) as svc:
        yield svc


async def _ask(svc, task_type: str, requester: str = "U1", **context):
    return await svc.start(
        task_type=task_type,
        context={"sandbox": True, **context},
        text=f"{task_type} {context}",
        requester=requester,
    )


async def test_metric_numbers_are_prometheus_numbers(service, prometheus_url, exporter):
    report = await _ask(
        service,
        "metrics",
        action="metrics",
        service="checkout",
        environment="production",
        metrics=["latency_p99", "error_ratio"],
    )
    assert report.status == "done", report.summary
    results = [chart["metric"] for chart in of_kind(report.result, "chart")]
    assert [r["name"] for r in report.result["output"]["metrics"]] == [r["name"] for r in results]
    assert [r["name"] for r in results] == ["latency_p99", "error_ratio"]
    async with PrometheusClient(prometheus_url) as prom:
        for r in results:
            assert r["promql"] == prom.promql(
                r["name"], service="checkout", namespace="production", window="10s"
            )
            again = await prom.query_range(r["promql"], start=r["start"], end=r["end"], step="1s")
            points = [[float(t), float(v)] for t, v in again[0]["values"]]
            assert r["series"][0]["points"] == points, "the same query gives the same points"
            summary = summarize_points(points, unit=r["unit"])
            assert summary.text in report.summary
    assert "p99 latency of checkout (production)" in results[0]["title"]


async def test_an_unknown_service_says_no_data_rather_than_a_number(service):
    report = await _ask(
        service, "metrics", action="metrics", service="nosuchservice", metric="latency_p99"
    )
    assert report.status == "done"
    assert "p99 latency: no data" in report.summary
    assert report.result["warnings"] == ["no data for p99 latency of nosuchservice"]


async def test_raw_promql(service):
    report = await _ask(service, "metrics", promql='sum(up{job="exporter"})')
    assert report.status == "done", report.summary
    assert report.result["output"]["metrics"][0]["summary"]["current"] == 2.0  # two targets


async def test_bad_promql_gives_prometheus_own_error(service):
    report = await _ask(service, "metrics", promql="sum(rate(")
    assert report.status == "failed"
    assert "Prometheus" in report.summary and "parse error" in report.summary


async def test_missing_backends_say_which_setting(tmp_path):
    options = ServiceOptions(data_dir=tmp_path, persistence="memory")
    async with open_service(options) as handle:
        for task, context, variable in (
            ("metrics", {"service": "checkout", "metric": "cpu"}, "PROMETHEUS_URL"),
            ("alert", {"action": "alerts"}, "ALERTMANAGER_URL"),
            ("logs", {"service": "checkout", "environment": "production"}, "LOKI_URL"),
        ):
            report = await _ask(handle.service, task, **context)
            assert report.status == "failed"
            assert f"{variable} is not set" in report.summary or variable in report.summary


async def test_alerts_silence_needs_approval_in_production_then_exists(service, alertmanager_url):
    run = uuid.uuid4().hex[:8]
    service_name = f"svc-{run}"
    async with AlertmanagerClient(alertmanager_url) as am:
        await am.push_alerts(
            [
                {
                    "labels": {
                        "alertname": "HighLatencyP99",
                        "service": service_name,
                        "namespace": "production",
                        "severity": "page",
                    },
                    "annotations": {"summary": "p99 above 1 s"},
                    "startsAt": datetime.now(UTC).isoformat(),
                }
            ]
        )
        listed = await _ask(
            service, "alert", action="alerts", service=service_name, environment="production"
        )
        assert listed.status == "done"
        assert "1 alert(s) firing" in listed.summary and "HighLatencyP99" in listed.summary

        # "silence that for 2h" in the same thread: the alert listed there is the one.
        paused = await service.start(
            task_type="alert",
            context={
                "action": "silence",
                "service": service_name,
                "environment": "production",
                "duration": "2h",
                "sandbox": True,
            },
            text="silence that for 2h",
            requester="U1",
            thread_id=listed.thread_id,
        )
        assert paused.status == "awaiting_approval", paused.summary
        request = paused.approval
        assert request["action"] == "silence" and request["environment"] == "production"
        assert "HighLatencyP99" in request["preview"] and "for 2h" in request["target"]
        assert not await am.silences(filters={"service": service_name})

        applied = await service.approve(listed.thread_id, "U2")
        assert applied.status == "applied", applied.summary
        silence_id = applied.outcome["result"]["silence_id"]
        silence = await am.get_silence(silence_id)
        assert silence["status"]["state"] == "active"
        assert silence["createdBy"] == "devops-bot/U1"
        matchers = {(m["name"], m["value"]) for m in silence["matchers"]}
        assert matchers == {
            ("alertname", "HighLatencyP99"),
            ("service", service_name),
            ("namespace", "production"),
        }

        expire = await service.start(
            task_type="alert",
            context={"action": "expire_silence", "silence_id": silence_id, "sandbox": True},
            text=f"expire silence {silence_id}",
            requester="U1",
        )
        assert expire.status == "awaiting_approval", "the silence is about production"
        assert (await am.get_silence(silence_id))["status"]["state"] == "active"
        done = await service.approve(expire.thread_id, "U3")
        assert done.status == "applied", done.summary
        assert (await am.get_silence(silence_id))["status"]["state"] == "expired"


async def test_silence_without_a_duration_or_an_alert_is_refused_clearly(service):
    report = await _ask(service, "alert", action="silence", alert_name="X", service="checkout")
    assert report.status == "failed" and "for how long?" in report.summary
    report = await _ask(service, "alert", action="silence", duration="1h")
    assert report.status == "failed" and "which alert?" in report.summary


async def test_alerts_without_a_namespace_label_still_match_and_get_silenced(
    service, alertmanager_url
):
    name = f"svc-{uuid.uuid4().hex[:8]}"
    async with AlertmanagerClient(alertmanager_url) as am:
        await am.push_alerts([{"labels": {"alertname": "QueueBacklog", "service": name}}])
        listed = await _ask(service, "alert", action="alerts", service=name, environment="prod")
        assert "1 alert(s) firing" in listed.summary and "QueueBacklog" in listed.summary
        paused = await _ask(
            service,
            "alert",
            action="silence",
            alert_name="QueueBacklog",
            service=name,
            environment="production",
            duration="30m",
        )
        assert paused.status == "awaiting_approval"
        assert "namespace" not in paused.approval["target"], "it would silence nothing"
        assert "QueueBacklog [service=" in paused.approval["preview"]
        assert paused.approval["environment"] == "production"
