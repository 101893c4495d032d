"""One story across the sandbox: a bad rollout of checkout in production shows in the pods,
their logs, the metrics and the alerts, and a rollback through KubernetesBackend ends it."""

from __future__ import annotations

from workflow.sandbox.kube_api import KubeApiServer
from workflow.sandbox.prom_api import SandboxPrometheus
from workflow.tools.kubernetes import KubernetesBackend
from workflow.tools.logs import KubernetesLogSearch, LogQuery
from workflow.tools.prometheus import PrometheusClient

NS = "production"
REPO = "registry.example.com/checkout"


async def test_slow_pods_are_ready_and_log_upstream_timeouts(backend):
    status = await backend.status(NS, "checkout")
    assert status["image"] == f"{REPO}:v2.4.1" and status["rollout_complete"] is True
    assert len(status["pods"]) == 3
    assert all(p["ready"] and p["restart_count"] == 0 for p in status["pods"])

    search = KubernetesLogSearch(backend)
    errors = await search.search(LogQuery(service="checkout", namespace=NS, level="error"))
    [group] = errors.groups  # one dominant error
    assert 'msg="upstream request failed" upstream=payment-service' in group.pattern
    assert 'error="context deadline exceeded"' in group.pattern
    assert group.count >= 30
    assert len({line.pod for line in errors.lines}) == 3
    everything = await search.search(LogQuery(service="checkout", namespace=NS, limit=2000))
    slow_ok = [
        line.message
        for line in everything.lines
        if 'msg="request"' in line.message and "status=200" in line.message
    ]
    assert slow_ok and all(int(m.rsplit("duration_ms=", 1)[1]) >= 300 for m in slow_ok)

    # The same service elsewhere runs v2.4.0 and logs no errors.
    staging = await search.search(LogQuery(service="checkout", namespace="staging", level="error"))
    assert staging.lines == []


async def test_rollback_restores_v240_and_the_metrics_and_alerts_recover(
    kube, backend, prom, am, clock
):
    bad_since = kube.rollout_history(NS, "checkout")[-1].started_at
    assert len(await am.alerts(service="checkout")) == 2

    plan = await backend.plan("rollback", namespace=NS, name="checkout", environment=NS)
    assert f"{REPO}:v2.4.1" in plan.preview and f"{REPO}:v2.4.0" in plan.preview
    result = await backend.apply(plan)
    assert result["rollout"] == "complete"
    assert kube.snapshot()[NS]["checkout"]["image"] == f"{REPO}:v2.4.0"
    history = kube.rollout_history(NS, "checkout")
    assert [(r.image, r.revision) for r in history] == [
        (f"{REPO}:v2.4.0", 1),
        (f"{REPO}:v2.4.1", 2),
        (f"{REPO}:v2.4.0", 3),
    ]
    rolled_back = history[-1].started_at
    assert {p.name for p in history[-1].pods} == {p["name"] for p in result["status"]["pods"]}

    # The model is a function of time: ask for a time ten minutes on, without waiting.
    ahead = rolled_back + 600
    promql = prom.promql("error_ratio", service="checkout", namespace=NS)
    [sample] = await prom.query(promql, at=ahead)
    assert float(sample["value"][1]) < 0.003

    clock.advance(600)
    now = clock()
    assert await am.alerts(service="checkout") == [], "the alerts resolved"
    assert await am.alerts() == []
    for name, healthy in (("error_ratio", 0.003), ("latency_p99", 0.3), ("latency_p95", 0.15)):
        result = await prom.named(name, service="checkout", namespace=NS, range_minutes=30, end=now)
        points = result.series[0].points
        new = [v for t, v in points if t >= rolled_back + 300]
        bad = [v for t, v in points if bad_since + 300 <= t < rolled_back]
        assert new and all(v < healthy for v in new), (name, new)
        assert bad and all(v > healthy * 4 for v in bad), (name, bad)
    memory = await prom.query(prom.promql("memory", service="checkout", namespace=NS), at=now)
    assert {e["metric"]["pod"] for e in memory} == {p.name for p in history[-1].pods}


async def test_a_rollback_by_another_process_shows_in_the_metrics(tmp_path, clock):
    """A CLI `approve` applies the rollback on the shared state file; the metrics of the
    process serving the sandbox Prometheus follow at once."""
    state = tmp_path / "sandbox-cluster.json"
    with (
        KubeApiServer(state, rollout_seconds=0.1, clock=clock) as serving,
        KubeApiServer(state, rollout_seconds=0.1, clock=clock) as approving,
        SandboxPrometheus(serving, clock=clock) as prom_server,
    ):
        assert [r.image for r in approving.rollout_history(NS, "checkout")] == [
            r.image for r in serving.rollout_history(NS, "checkout")
        ]
        async with (
            KubernetesBackend.from_url(approving.url, poll_interval=0.02) as backend,
            PrometheusClient(prom_server.url) as prom,
        ):
            plan = await backend.plan("rollback", namespace=NS, name="checkout", environment=NS)
            await backend.apply(plan)
            clock.advance(600)
            result = await prom.named(
                "latency_p99", service="checkout", namespace=NS, range_minutes=5, end=clock()
            )
            assert result.summary.max < 0.3
    assert KubeApiServer(state).rollout_history(NS, "checkout")[-1].image == f"{REPO}:v2.4.0"
