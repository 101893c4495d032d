"""The sandbox Prometheus, driven by the real PrometheusClient (and raw httpx for shapes)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.sandbox.conftest import ROLLOUT
from workflow.sandbox.prom_api import SANDBOX_WARNING, parse_named_query
from workflow.tools.errors import BackendError
from workflow.tools.prometheus import NAMED_QUERIES, MetricLabels, build_promql

NS = "production"
MIB = 1024 * 1024


def _rolled_out(kube, name: str = "checkout", ns: str = NS) -> float:
    return kube.rollout_history(ns, name)[-1].started_at


def _points(result, lo: float = float("-inf"), hi: float = float("inf")) -> list[float]:
    assert len(result.series) == 1, result.series
    return [v for t, v in result.series[0].points if lo <= t < hi]


async def test_named_queries_show_the_regression_after_the_bad_rollout(kube, prom, clock):
    now = clock()
    history = kube.rollout_history(NS, "checkout")
    assert [r.image.rsplit(":", 1)[1] for r in history] == ["v2.4.0", "v2.4.1"]
    rolled = history[-1].started_at
    assert 700 <= now - rolled <= 740, "the seed rolls out v2.4.1 about 12 minutes ago"

    async def named(name: str):
        return await prom.named(name, service="checkout", namespace=NS, range_minutes=30, end=now)

    expected = {
        # name: (healthy range before the rollout, range once the window is all v2.4.1)
        "error_ratio": ((0.0015, 0.0025), (0.065, 0.075)),
        "latency_p50": ((0.035, 0.045), (0.35, 0.41)),
        "latency_p95": ((0.11, 0.13), (1.1, 1.3)),
        "latency_p99": ((0.23, 0.27), (1.8, 2.0)),
        "request_rate": ((95, 145), (95, 145)),  # 3 replicas, ~40 req/s each
    }
    for name, ((lo0, hi0), (lo1, hi1)) in expected.items():
        result = await named(name)
        assert result.promql == build_promql(
            name, MetricLabels(), service="checkout", namespace=NS, window="5m"
        )
        before, after = _points(result, hi=rolled), _points(result, lo=rolled + 300)
        assert len(before) >= 30 and len(after) >= 10, name
        assert all(lo0 <= v <= hi0 for v in before), (name, before)
        assert all(lo1 <= v <= hi1 for v in after), (name, after)

    cmp = await prom.compare(
        "latency_p99", "checkout", rolled + 300, now, rolled - 900, rolled, namespace=NS
    )
    assert cmp.window_mean > 1.8 and cmp.previous_mean < 0.3 and cmp.change > 5


async def test_the_rollout_shows_as_a_ramp_over_the_window(kube, prom, clock):
    rolled = _rolled_out(kube)
    result = await prom.named(
        "error_ratio", service="checkout", namespace=NS, range_minutes=8, end=rolled + 360
    )
    ramp = _points(result, lo=rolled, hi=rolled + 300)
    assert len(ramp) == 10 and ramp == sorted(ramp)
    assert ramp[0] < 0.02 and ramp[-1] > 0.06


async def test_a_healthy_service_is_flat_and_healthy(prom, clock):
    now = clock()
    for ns in ("production", "staging"):
        rate = await prom.named("request_rate", service="payment-service", namespace=ns, end=now)
        assert rate.summary.trend == "flat", rate.summary.text
        errors = await prom.named("error_ratio", service="payment-service", namespace=ns, end=now)
        assert errors.summary.max < 0.003
        p99 = await prom.named("latency_p99", service="payment-service", namespace=ns, end=now)
        assert 0.2 < p99.summary.min and p99.summary.max < 0.3
    prod = await prom.named("request_rate", service="payment-service", namespace=NS, end=now)
    staging = await prom.named("request_rate", service="payment-service", namespace="staging")
    assert staging.summary.mean < prod.summary.mean / 2  # 1 replica, and less traffic
    everywhere = await prom.named("request_rate", service="payment-service", end=now)
    assert everywhere.summary.mean > prod.summary.mean


@pytest.mark.parametrize("window", ["30s", "5m", "1h30m"])
async def test_every_named_query_is_recognised(prom, clock, window):
    now = clock()
    for name in NAMED_QUERIES:
        for service in ("checkout", "payment-service"):
            for ns in (NS, None):
                promql = prom.promql(name, service=service, namespace=ns, window=window)
                parsed = parse_named_query(promql)
                assert parsed.namespace == ns
                result = await prom.query(promql, at=now)
                assert result, (promql, result)
                for entry in result:
                    if name in ("cpu", "memory", "restarts"):
                        assert set(entry["metric"]) == {"pod"}
                        assert entry["metric"]["pod"].startswith(f"{service}-")
                    else:
                        assert entry["metric"] == {}
                    ts, value = entry["value"]
                    assert ts == pytest.approx(now, abs=0.001) and isinstance(value, str)
                    float(value)


async def test_pod_series_are_the_pods_of_the_cluster(kube, prom, backend, clock):
    now = clock()
    status = await backend.status(NS, "checkout")
    pods = {p["name"] for p in status["pods"]}
    assert len(pods) == 3
    memory = await prom.query(prom.promql("memory", service="checkout", namespace=NS), at=now)
    assert {e["metric"]["pod"] for e in memory} == pods
    assert all(150 * MIB < float(e["value"][1]) < 200 * MIB for e in memory)
    cpu = await prom.query(prom.promql("cpu", service="checkout", namespace=NS), at=now)
    assert {e["metric"]["pod"] for e in cpu} == pods
    assert all(0 < float(e["value"][1]) < 1 for e in cpu)
    restarts = await prom.query(prom.promql("restarts", service="checkout", namespace=NS), at=now)
    assert {e["metric"]["pod"]: e["value"][1] for e in restarts} == dict.fromkeys(pods, "0")

    # Over the last 30 minutes: the old v2.4.0 pods until the rollout, then the new ones.
    result = await prom.named("memory", service="checkout", namespace=NS, range_minutes=30)
    old = {s.labels["pod"] for s in result.series} - pods
    assert len(old) == 3 and len(result.series) == 6
    rolled = _rolled_out(kube)
    for series in result.series:
        times = [t for t, _ in series.points]
        if series.labels["pod"] in old:
            assert max(times) < rolled
        else:
            assert min(times) >= rolled


async def test_no_data_before_the_deployment_existed(kube, prom, clock):
    now = clock()
    first = kube.rollout_history(NS, "checkout")[0].started_at
    early = await prom.named(
        "request_rate", service="checkout", namespace=NS, range_minutes=30, end=first - 60
    )
    assert early.series == [] and early.summary.no_data
    edge = await prom.named(
        "request_rate", service="checkout", namespace=NS, range_minutes=10, end=first + 300
    )
    assert all(t >= first for t, _ in edge.series[0].points)
    assert await prom.query(prom.promql("memory", service="checkout"), at=now - 7200) == []
    nobody = await prom.named("request_rate", service="nosuch", namespace=NS, end=now)
    assert nobody.summary.no_data


async def test_values_are_a_function_of_time(prom, clock):
    now = float(int(clock()))
    promql = prom.promql("latency_p99", service="checkout", namespace=NS)
    a = await prom.query_range(promql, start=now - 600, end=now, step="15s")
    b = await prom.query_range(promql, start=now - 600, end=now, step="15s")
    assert a == b
    c = await prom.query(promql, at=now - 300)
    assert c[0]["value"] == a[0]["values"][20]


async def test_unknown_queries_say_this_is_the_sandbox(prom):
    for promql in (
        "up",
        'sum by (code) (rate(http_requests_total{service="checkout"}[5m]))',
        'sum(rate(http_requests_total{service="checkout",job="shop"}[5m]))',
        'sum(rate(http_requests_total{service="checkout"}[5 minutes]))',
    ):
        with pytest.raises(BackendError) as info:
            await prom.raw(promql)
        err = info.value
        assert err.status == 400 and err.error_type == "bad_data"
        assert "devops-bot sandbox Prometheus" in str(err)
        assert "set PROMETHEUS_URL" in str(err)
        assert promql in str(err)


async def test_api_shapes_and_errors_are_prometheus_own(prom_server, clock):
    url = prom_server.url
    query = 'sum(rate(http_requests_total{service="checkout",namespace="production"}[5m]))'
    async with httpx.AsyncClient(base_url=url) as http:
        answer = await http.get("/api/v1/query", params={"query": query, "time": "1800000000.5"})
        body = answer.json()
        assert answer.status_code == 200
        assert body["status"] == "success" and body["warnings"] == [SANDBOX_WARNING]
        assert body["data"] == {
            "resultType": "vector",
            "result": [
                {"metric": {}, "value": [1800000000.5, body["data"]["result"][0]["value"][1]]}
            ],
        }
        now = float(int(clock()))
        form = {"query": query, "start": str(now - 120), "end": str(now), "step": "60"}
        answer = await http.post("/api/v1/query_range", data=form)
        data = answer.json()["data"]
        assert data["resultType"] == "matrix" and len(data["result"]) == 1
        values = data["result"][0]["values"]
        assert [t for t, _ in values] == [round(now - 120, 3), round(now - 60, 3), round(now, 3)]
        assert all(isinstance(v, str) and re.fullmatch(r"\d+(\.\d+)?", v) for _, v in values)
        rfc = await http.get(
            "/api/v1/query", params={"query": query, "time": "2027-01-15T10:00:00Z"}
        )
        assert rfc.json()["data"]["result"][0]["value"][0] == 1800007200.0

        errors = {
            (
                "/api/v1/query",
                (("query", ""),),
            ): 'invalid parameter "query": 1:1: parse error: no expression found in input',
            ("/api/v1/query", (("query", query), ("time", "garbage"))): (
                "invalid parameter \"time\": Invalid time value for 'time': cannot parse "
                '"garbage" to a valid timestamp'
            ),
            ("/api/v1/query_range", (("query", query), ("end", "10"), ("step", "1"))): (
                'invalid parameter "start": cannot parse "" to a valid timestamp'
            ),
            (
                "/api/v1/query_range",
                (("query", query), ("start", "20"), ("end", "10"), ("step", "1")),
            ): 'invalid parameter "end": end timestamp must not be before start time',
            (
                "/api/v1/query_range",
                (("query", query), ("start", "0"), ("end", "10"), ("step", "x")),
            ): 'invalid parameter "step": cannot parse "x" to a valid duration',
            (
                "/api/v1/query_range",
                (("query", query), ("start", "0"), ("end", "10"), ("step", "0")),
            ): (
                'invalid parameter "step": zero or negative query resolution step widths are '
                "not accepted. Try a positive integer"
            ),
            (
                "/api/v1/query_range",
                (("query", query), ("start", "0"), ("end", "100000"), ("step", "1")),
            ): (
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing "
                "the query resolution (?step=XX)"
            ),
        }
        for (path, params), message in errors.items():
            answer = await http.get(path, params=dict(params))
            assert answer.status_code == 400, (path, params)
            assert answer.json() == {"status": "error", "errorType": "bad_data", "error": message}

        assert (await http.get("/-/ready")).text == "Prometheus Server is Ready.\n"
        build = (await http.get("/api/v1/status/buildinfo")).json()
        assert build["status"] == "success" and "sandbox" in build["data"]["version"]


async def test_oom_image_memory_climbs_to_the_limit_and_restarts_count(backend, prom, clock):
    plan = await backend.plan(
        "deploy", namespace="dev", name="checkout", environment="dev", image="v2.4.2-oom"
    )
    await backend.apply(plan)
    clock.advance(ROLLOUT * 20)
    at = clock.freeze()  # the cluster and the metrics now agree to the restart
    status = await backend.status("dev", "checkout")
    counts = {p["name"]: p["restart_count"] for p in status["pods"]}
    assert all(c >= 2 for c in counts.values())
    restarts = await prom.query(prom.promql("restarts", service="checkout", namespace="dev"), at=at)
    assert {e["metric"]["pod"]: float(e["value"][1]) for e in restarts} == counts
    memory = await prom.named(
        "memory", service="checkout", namespace="dev", range_minutes=1, step="100ms", end=at
    )
    values = [v for s in memory.series if s.labels["pod"] in counts for _, v in s.points]
    assert values and max(values) <= 256 * MIB and max(values) > 200 * MIB


async def test_crashloop_image_restarts_and_traffic_drops(kube, backend, prom, clock):
    plan = await backend.plan(
        "deploy", namespace=NS, name="api-server", environment=NS, image="v1.3.0-crashloop"
    )
    await backend.apply(plan, wait=False)
    clock.advance(600)
    now = clock()
    rolled = _rolled_out(kube, "api-server")
    rate = await prom.named(
        "request_rate", service="api-server", namespace=NS, range_minutes=20, end=now
    )
    before, after = _points(rate, hi=rolled), _points(rate, lo=rolled + 300)
    assert max(after) < 0.6 * min(before)
    restarts = await prom.query(prom.promql("restarts", service="api-server", namespace=NS), at=now)
    crashing = {p.name for p in kube.rollout_history(NS, "api-server")[-1].pods}
    by_pod = {e["metric"]["pod"]: float(e["value"][1]) for e in restarts}
    assert set(by_pod) > crashing, "the old pods keep serving while the new ones crash"
    assert all(by_pod[p] > 0 for p in crashing)
    assert all(v == 0 for p, v in by_pod.items() if p not in crashing)
