"""incident_agent's tools for a tool-calling model: the evidence an investigation reads
besides metrics, logs and alerts (runbooks, the web, a deployment's state and history).

Each is `async (deps, **arguments)`; `workflow.tools.langchain` binds them to a
`WorkflowDeps` as LangChain tools (the first parameter is not part of the tool's schema).
"""

from __future__ import annotations

from typing import Any, Literal

from workflow.deps import WorkflowDeps
from workflow.tools.langchain import need

__all__ = ["TOOLS"]


async def documentation_search(
    deps: WorkflowDeps, query: str, service: str | None = None, limit: int = 5
) -> list[dict[str, Any]]:
    """Runbooks and docs matching `query` (full text), best first, with snippets."""
    return await need(deps, "docs").search(query, limit=limit, service=service)


async def web_search(deps: WorkflowDeps, query: str, limit: int = 5) -> list[dict[str, Any]]:
    """The web, through the configured provider (off unless one is set up)."""
    web = need(deps, "web")
    return [r.model_dump() for r in await web.search(query, limit=limit)]


async def kubernetes_query(
    deps: WorkflowDeps,
    namespace: str,
    deployment: str,
    what: Literal["status", "history"] = "status",
) -> Any:
    """A deployment's state (pods with restarts and reasons, events, recent logs) or its
    rollout history (revisions, images, what changed)."""
    kube = need(deps, "kubernetes")
    if what == "history":
        return await kube.rollout_history(namespace, deployment)
    return await kube.status(namespace, deployment)


TOOLS = (documentation_search, web_search, kubernetes_query)
