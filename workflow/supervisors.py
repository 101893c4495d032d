"""The root supervisor and the three domain supervisors.

Each reads the routing table (`workflow.routing`), records its decision with the
reason in `supervisor_path`/`routing_trace` and on the memory bus, and moves on with a
`Command`. On a retry sent back by reflection, a domain supervisor prefers an
alternative agent that has not failed yet (deploy: harness_expert <-> kubernetes_agent).
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from workflow.deps import WorkflowDeps, deps_of
from workflow.memory import AccessContext
from workflow.routing import SUPERVISOR_AGENTS, RoutingDecision, alternative_agent, route_for
from workflow.state import DevOpsAgentState, current_failures

__all__ = [
    "ROOT",
    "alternative_for",
    "devops_root_supervisor",
    "domain_supervisor",
    "pick_agent",
]

ROOT = "devops_root_supervisor"


async def _record(
    state: DevOpsAgentState, deps: WorkflowDeps, config: RunnableConfig, decision: RoutingDecision
) -> dict[str, Any]:
    actor = AccessContext.for_workflow(decision.node)
    await deps.remember(config, actor, f"routing.{decision.node}", decision.as_trace())
    return {
        "supervisor_path": [decision.node],
        "routing_trace": [{**decision.as_trace(), "run_id": state.get("run_id")}],
        "next_action": decision.target,
    }


def _pipeline(state: DevOpsAgentState, deps: WorkflowDeps) -> str | None:
    service = state.get("context", {}).get("service")
    return deps.catalog.harness_pipeline_for(service) if service else None


def _route(state: DevOpsAgentState, deps: WorkflowDeps):
    pipeline = _pipeline(state, deps)
    return route_for(state.get("task_type", ""), harness_pipeline=pipeline), pipeline


def alternative_for(agent: str, state: DevOpsAgentState, deps: WorkflowDeps) -> str | None:
    """An untried alternative to a failed agent, for this task and service, or None."""
    alternative = alternative_agent(
        agent, state.get("task_type", ""), harness_pipeline=_pipeline(state, deps)
    )
    failed = {f["agent"] for f in current_failures(state)}
    return alternative if alternative and alternative not in failed else None


async def devops_root_supervisor(
    state: DevOpsAgentState, config: RunnableConfig, runtime: Runtime[WorkflowDeps]
) -> Command:
    deps = deps_of(runtime)
    task_type = state.get("task_type", "")
    try:
        route, _ = _route(state, deps)
    except ValueError as exc:
        outcome = {"status": "failed", "summary": str(exc)}
        return Command(goto=END, update={"outcome": outcome, "current_phase": "done"})
    decision = RoutingDecision(ROOT, route.supervisor, f"task_type={task_type}")
    update = await _record(state, deps, config, decision)
    update["current_phase"] = "routing"
    return Command(goto=route.supervisor, update=update)


def pick_agent(supervisor: str, state: DevOpsAgentState, deps: WorkflowDeps) -> tuple[str, str]:
    """(agent, reason) for this supervisor, honouring retries and the deploy rule."""
    route, pipeline = _route(state, deps)
    task_type = state.get("task_type", "")
    signals = state.get("context_signals") or {}
    if signals.get("needs_retry"):
        last = state.get("last_agent") or route.agent
        alternative = alternative_for(last, state, deps)
        if alternative and alternative in SUPERVISOR_AGENTS[supervisor]:
            return alternative, f"retry: {last} failed, trying alternative {alternative}"
        return last, f"retry #{signals.get('recent_failure_count', 1)} of {last}"
    if route.agent == "harness_expert" and task_type == "deploy":
        return route.agent, f"task_type=deploy and Harness pipeline {pipeline!r} is configured"
    if task_type == "deploy":
        return route.agent, "task_type=deploy and no Harness pipeline is configured for the service"
    return route.agent, f"task_type={task_type}"


def domain_supervisor(name: str):
    """A node for one of the three domain supervisors."""

    async def node(
        state: DevOpsAgentState, config: RunnableConfig, runtime: Runtime[WorkflowDeps]
    ) -> Command:
        deps = deps_of(runtime)
        agent, reason = pick_agent(name, state, deps)
        update = await _record(state, deps, config, RoutingDecision(name, agent, reason))
        update["current_phase"] = "supervising"
        return Command(goto=agent, update=update)

    node.__name__ = name
    return node
