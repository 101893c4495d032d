"""monitoring_agent's tools for a tool-calling model: metrics, logs and alerts.

Each is `async (deps, **arguments)`; `workflow.tools.langchain` binds them to a
`WorkflowDeps` as LangChain tools (the first parameter is not part of the tool's schema).
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.tools import ToolException

from workflow.deps import WorkflowDeps
from workflow.tools.langchain import need
from workflow.tools.logs import LogQuery

__all__ = ["TOOLS"]


async def metrics_query(
    deps: WorkflowDeps,
    service: str | None = None,
    metric: str = "latency_p99",
    namespace: str | None = None,
    promql: str | None = None,
    range_minutes: float = 60,
) -> dict[str, Any]:
    """Prometheus over the last `range_minutes`: a named metric of a service (request_rate,
    error_ratio, latency_p50, latency_p95, latency_p99, cpu, memory, restarts) or raw
    PromQL. Returns the PromQL, the series and a summary (current, min, max, trend)."""
    prometheus = need(deps, "prometheus")
    if promql:
        result = await prometheus.raw(promql, range_minutes=range_minutes)
    elif service:
        result = await prometheus.named(
            metric,
            service=service,
            namespace=namespace,
            window=deps.ops.rate_window,
            range_minutes=range_minutes,
        )
    else:
        raise ToolException("give a service (with a metric name) or PromQL")
    return result.model_dump(mode="json")


async def log_search(
    deps: WorkflowDeps,
    service: str,
    namespace: str | None = None,
    level: Literal["error", "warn", "info"] | None = None,
    term: str | None = None,
    since_minutes: int = 60,
    limit: int = 200,
) -> dict[str, Any]:
    """Log lines of a service (Loki, or the pods' logs): minimum level, a literal search
    term, the newest `limit` lines, and repeated messages grouped."""
    search = need(deps, "logs")
    query = LogQuery(
        service=service,
        namespace=namespace,
        level=level,
        term=term,
        since_minutes=since_minutes,
        limit=limit,
    )
    return (await search.search(query)).model_dump(mode="json")


async def alert_manager(
    deps: WorkflowDeps,
    action: Literal["list", "plan_silence", "plan_expire"] = "list",
    service: str | None = None,
    namespace: str | None = None,
    alertname: str | None = None,
    duration_minutes: float = 60,
    silence_id: str | None = None,
    environment: str | None = None,
) -> Any:
    """Alertmanager: list active alerts (by service/namespace/alertname), or PLAN a silence
    or its expiry. A plan changes nothing: it comes back with its preview and hash, and
    only the bot's approval gate can apply it."""
    alertmanager = need(deps, "alertmanager")
    labels = deps.labels
    filters = {
        k: v
        for k, v in (
            ("alertname", alertname),
            (labels.service_label, service),
            (labels.namespace_label, namespace),
        )
        if v
    }
    if action == "list":
        return await alertmanager.alerts(active=True, filters=filters)
    if action == "plan_silence":
        if not filters:
            raise ToolException("a silence needs matchers: alertname, service or namespace")
        plan = await alertmanager.plan_silence(
            matchers=filters,
            duration_minutes=duration_minutes,
            comment="planned by a devops-bot tool call",
            created_by="devops-bot",
            environment=environment,
        )
    else:
        if not silence_id:
            raise ToolException("plan_expire needs a silence_id")
        plan = await alertmanager.plan_expire(silence_id, environment=environment)
    return {"plan": plan.model_dump(mode="json"), "applied": False}


TOOLS = (metrics_query, log_search, alert_manager)
