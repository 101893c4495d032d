"""The operations tools as LangChain tools, for a tool-calling model or LangGraph Studio.

Each tool is a thin shell over the same async functions the agents call (the Prometheus,
Alertmanager, logs, runbook, web and Kubernetes clients in `WorkflowDeps`), so a model sees
exactly the backends' answers. None of them writes: `alert_manager` can *plan* a silence (the
preview and plan hash come back), but applying it is only done by the graph after approval.
A missing backend or a backend error comes back as the tool's error text (ToolException),
which names the setting or the backend's own message.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.tools import BaseTool, StructuredTool, ToolException

from workflow.deps import WorkflowDeps
from workflow.tools.errors import BackendError
from workflow.tools.kubernetes import KubernetesError
from workflow.tools.logs import LogQuery

__all__ = ["TOOL_NAMES", "operations_tools"]

TOOL_NAMES = (
    "metrics_query",
    "log_search",
    "alert_manager",
    "documentation_search",
    "web_search",
    "kubernetes_query",
)


def operations_tools(deps: WorkflowDeps) -> list[BaseTool]:
    """The six operations tools bound to `deps` (seed names: metrics_query, log_search, ...)."""

    def need(backend: str) -> Any:
        client = getattr(deps, backend)
        if client is None:
            raise ToolException(deps.why_missing(backend))
        return client

    async def metrics_query(
        service: str | None = None,
        metric: str = "latency_p99",
        namespace: str | None = None,
        promql: str | None = None,
        range_minutes: float = 60,
    ) -> dict[str, Any]:
        """Prometheus over the last `range_minutes`: a named metric of a service (request_rate,
        error_ratio, latency_p50, latency_p95, latency_p99, cpu, memory, restarts) or raw
        PromQL. Returns the PromQL, the series and a summary (current, min, max, trend)."""
        prometheus = need("prometheus")
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
        service: str,
        namespace: str | None = None,
        level: Literal["error", "warn", "info"] | None = None,
        term: str | None = None,
        since_minutes: int = 60,
        limit: int = 200,
    ) -> dict[str, Any]:
        """Log lines of a service (Loki, or the pods' logs): minimum level, a literal search
        term, the newest `limit` lines, and repeated messages grouped."""
        search = need("logs")
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
        alertmanager = need("alertmanager")
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

    async def documentation_search(
        query: str, service: str | None = None, limit: int = 5
    ) -> list[dict[str, Any]]:
        """Runbooks and docs matching `query` (full text), best first, with snippets."""
        return await need("docs").search(query, limit=limit, service=service)

    async def web_search(query: str, limit: int = 5) -> list[dict[str, Any]]:
        """The web, through the configured provider (off unless one is set up)."""
        web = need("web")
        return [r.model_dump() for r in await web.search(query, limit=limit)]

    async def kubernetes_query(
        namespace: str, deployment: str, what: Literal["status", "history"] = "status"
    ) -> Any:
        """A deployment's state (pods with restarts and reasons, events, recent logs) or its
        rollout history (revisions, images, what changed)."""
        kube = need("kubernetes")
        if what == "history":
            return await kube.rollout_history(namespace, deployment)
        return await kube.status(namespace, deployment)

    functions = (
        metrics_query,
        log_search,
        alert_manager,
        documentation_search,
        web_search,
        kubernetes_query,
    )
    return [_tool(fn) for fn in functions]


def _tool(fn: Any) -> BaseTool:
    async def run(**kwargs: Any) -> Any:
        try:
            return await fn(**kwargs)
        except (BackendError, KubernetesError, ValueError) as exc:
            raise ToolException(str(exc)) from exc

    tool = StructuredTool.from_function(coroutine=fn, name=fn.__name__, handle_tool_error=True)
    tool.coroutine = run
    return tool
