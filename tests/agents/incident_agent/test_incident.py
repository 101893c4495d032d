"""An incident end to end: real Prometheus scraping a test exporter, real Alertmanager, the
sandbox Kubernetes API, the real graph.

Time is compressed (seconds instead of minutes: rate windows of 5 s, a 15 s incident window),
the logic is not: a healthy baseline, a rollout of `web`, an error and latency spike two
seconds later, an alert. The top hypothesis must name the rollout, with Prometheus's numbers;
its rollback must wait for approval and apply only after it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from workflow.deps import OpsTuning
from workflow.incident import postmortem_markdown
from workflow.incident.analysis import fmt_value
from workflow.parts import of_kind
from workflow.tools.alertmanager import AlertmanagerClient

RUNBOOKS = Path(__file__).parents[2] / "fixtures" / "runbooks"
FAST = OpsTuning(
    incident_window_minutes=0.25,
    rate_window="5s",
    step="1s",
    correlation_minutes=0.5,
    changes_minutes=10,
    metrics_range_minutes=1,
)
TEXT = "investigate web errors in production"


def _scraped_seconds(prometheus_url: str) -> float:
    promql = 'count_over_time(http_requests_total{service="web",code="200"}[2m])'
    result = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": promql}).json()
    values = [float(r["value"][1]) for r in result["data"]["result"]]
    return max(values, default=0.0)


@pytest.fixture
async def service(ops_service):
    async with ops_service(ops=FAST, runbooks_dir=str(RUNBOOKS)) as svc:
        yield svc


async def test_a_rollout_that_breaks_web_is_found_and_rolled_back_after_approval(
    service, incident_exporter, prometheus_url, alertmanager_url
):
    # A healthy baseline longer than the incident window.
    deadline = time.monotonic() + 40
    while _scraped_seconds(prometheus_url) < 22:
        assert time.monotonic() < deadline, "Prometheus did not scrape the web exporter"
        await asyncio.sleep(1)
    kube = service.deps.kubernetes
    before = (await kube.status("production", "web"))["image"]
    plan = await kube.plan(
        "deploy", namespace="production", name="web", environment="production", image="v1.8.1"
    )
    await kube.apply(plan)  # someone deployed web v1.8.1 (outside the bot)
    rolled_out = time.time()
    await asyncio.sleep(2)
    incident_exporter.set(rates={"500": 8.0}, latency=0.8)  # then it broke
    run = uuid.uuid4().hex[:8]
    try:
        async with AlertmanagerClient(alertmanager_url) as am:
            await am.push_alerts(
                [
                    {
                        "labels": {
                            "alertname": "HighErrorRate",
                            "service": "web",
                            "namespace": "production",
                            "severity": "page",
                            "run": run,
                        },
                        "annotations": {"summary": "web 5xx ratio above 5%"},
                        "startsAt": datetime.now(UTC).isoformat(),
                    }
                ]
            )
        await asyncio.sleep(11)

        report = await service.start(
            task_type="incident_response",
            context={
                "action": "investigate",
                "service": "web",
                "environment": "production",
                "sandbox": True,
            },
            text=TEXT,
            requester="U1",
        )
        assert report.status == "done", report.summary
        (findings,) = of_kind(report.result, "findings")  # the record, with its remediations
        record = findings["incident"]
        top = record["hypotheses"][0]
        assert top["kind"] == "rollout", record["hypotheses"]
        assert "web:v1.8.1" in top["title"]
        errors = record_metric(record, service, "error_ratio")
        cp = errors["change_point"]
        # The numbers in the evidence are Prometheus's, as the record holds them.
        said = f"error ratio rose from {fmt_value(cp['before'], 'ratio')} to " + fmt_value(
            cp["after"], "ratio"
        )
        assert any(said in line for line in top["evidence"]), top["evidence"]
        assert cp["before"] < 0.01 < 0.05 < cp["after"]
        assert 0 <= cp["ts"] - rolled_out <= 8, "the spike came ~2 s after the rollout"
        assert any("HighErrorRate" in line for line in top["evidence"])
        assert record["runbooks"], "the rollback runbook matches"
        assert record["severity"] == "critical"  # severity=page alert
        assert any("rolled out" in e["text"] for e in record["timeline"])

        rollback = next(s for s in top["remediations"] if s["context"]["action"] == "rollback")
        assert rollback["command"] == "rollback web in production"

        # The remediation waits for approval: nothing changes before it.
        paused = await service.remediate(report.thread_id, rollback["id"], "U1")
        assert paused.status == "awaiting_approval"
        assert (await kube.status("production", "web"))["image"].endswith("web:v1.8.1")
        applied = await service.approve(report.thread_id, "U2")
        assert applied.status == "applied", applied.summary
        assert (await kube.status("production", "web"))["image"] == before

        values = await service.state_of(report.thread_id)
        incident = values["incident"]
        assert incident["state"] == "mitigation applied"
        assert [a["action"] for a in incident["actions"]] == ["rollback"], "one action"
        assert incident["actions"][0]["status"] == "applied"
        assert "(rollout complete)" in incident["actions"][0]["summary"]
        markdown = postmortem_markdown(incident)
        assert markdown.startswith(f"# Postmortem draft: web (production), {incident['id']}")
        assert "rolled out" in markdown and "applied rollback" in markdown
    finally:
        incident_exporter.set(rates={"500": 0.1}, latency=0.04)


def record_metric(record: dict, service, name: str) -> dict:
    """The metric as the investigation saw it (kept in the agent's evidence)."""
    return record["metrics"][name]
