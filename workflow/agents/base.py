"""What every agent node shares: the result shape, memory writes, honest unavailability.

An agent result is plain data:
`{"agent", "status", "summary", "output", "warnings", "errors", "retryable", "at"}`
with status one of `completed` (read work done), `planned` (a write was planned and
previewed; nothing changed), `failed` (it could not do the work) or `unavailable`
(this agent is not built yet). Reflection judges these; nothing here claims success
for work it did not do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from workflow.deps import WorkflowDeps, deps_of
from workflow.memory import AccessContext
from workflow.state import DevOpsAgentState

__all__ = ["AgentNode", "agent_update", "make_result", "unavailable_agent"]

Status = Literal["completed", "planned", "failed", "unavailable"]
AgentNode = Callable[
    [DevOpsAgentState, RunnableConfig, Runtime[WorkflowDeps]], Awaitable[dict[str, Any]]
]


def make_result(
    agent: str,
    status: Status,
    summary: str,
    *,
    deps: WorkflowDeps,
    output: dict[str, Any] | None = None,
    warnings: list[str] | None = None,
    errors: list[str] | None = None,
    retryable: bool = False,
) -> dict[str, Any]:
    return {
        "agent": agent,
        "status": status,
        "summary": summary,
        "output": output or {},
        "warnings": list(warnings or []),
        "errors": list(errors or []),
        "retryable": retryable,
        "at": deps.clock().isoformat(),
    }


async def agent_update(
    result: dict[str, Any],
    *,
    deps: WorkflowDeps,
    config: RunnableConfig,
    state: DevOpsAgentState,
    **extra: Any,
) -> dict[str, Any]:
    """The state update for an agent's result, also recorded on the memory bus."""
    agent = result["agent"]
    await deps.remember(config, AccessContext.for_agent(agent), f"{agent}.result", result)
    update: dict[str, Any] = {
        "subagent_results": {agent: result},
        "active_agents": [*state.get("active_agents", []), agent],
        "last_agent": agent,
        "current_phase": "agent",
        "next_action": "reflection",
    }
    update.update(extra)
    return update


def unavailable_agent(name: str, capability: str) -> AgentNode:
    """A node for an agent whose real implementation has not been built yet.

    It fails explicitly, so reflection and the user see the truth instead of a fake
    success; the supervisor may still route to an alternative agent on retry.
    """

    async def node(
        state: DevOpsAgentState, config: RunnableConfig, runtime: Runtime[WorkflowDeps]
    ) -> dict[str, Any]:
        deps = deps_of(runtime)
        result = make_result(
            name,
            "unavailable",
            f"{name} is not available yet: {capability} is not built in this version "
            "of devops-bot, so nothing was done",
            deps=deps,
            errors=[f"{name} is not available yet"],
        )
        return await agent_update(result, deps=deps, config=config, state=state, plan=None)

    node.__name__ = name
    node.__doc__ = f"{name}: {capability} (not available yet)."
    return node
