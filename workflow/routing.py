"""The seed's routing table, derived from the agents' specs, and the routing decisions.

Each agent declares the table rows it owns (`AgentSpec.routes`); the table, the task types,
the supervisors' agents and the deploy alternatives are read from `workflow.agents.registry`.

Every decision returns a `RoutingDecision` carrying its reason, which the supervisors
append to `routing_trace` so a run can always say why it went where it went.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from workflow.agents.registry import REGISTRY
from workflow.agents.spec import DEV, INFRA, OPS, AgentSpec, TaskRoute

__all__ = [
    "AGENT_ALTERNATIVES",
    "AGENT_SUPERVISOR",
    "DEV",
    "FALLBACK_ROUTES",
    "INFRA",
    "OPS",
    "ROUTING_TABLE",
    "SUPERVISOR_AGENTS",
    "Route",
    "RoutingDecision",
    "TaskType",
    "alternative_agent",
    "route_for",
]


@dataclass(frozen=True)
class Route:
    supervisor: str
    agent: str
    purpose: str


def _rows(specs: tuple[AgentSpec, ...]) -> list[tuple[TaskRoute, AgentSpec]]:
    return sorted(((r, s) for s in specs for r in s.routes), key=lambda rs: rs[0].row)


# The seed's "Task Type Routing Reference", row for row, as the agents declare it.
_ROWS = _rows(REGISTRY)
TaskType = StrEnum(  # type: ignore[misc]
    "TaskType",
    [(r.task_type.upper(), r.task_type) for r, _ in _ROWS if not r.fallback],
)
ROUTING_TABLE: dict[TaskType, Route] = {
    TaskType(r.task_type): Route(s.supervisor, s.name, r.purpose)
    for r, s in _ROWS
    if not r.fallback
}
# Where a conditional route goes when its condition fails (deploy without a Harness pipeline).
FALLBACK_ROUTES: dict[TaskType, Route] = {
    TaskType(r.task_type): Route(s.supervisor, s.name, r.purpose) for r, s in _ROWS if r.fallback
}
_NEEDS_PIPELINE = frozenset(r.task_type for r, _ in _ROWS if r.needs_harness_pipeline)
assert len(ROUTING_TABLE) == len([r for r, _ in _ROWS if not r.fallback]), "one route per type"
assert set(FALLBACK_ROUTES) == set(_NEEDS_PIPELINE), "a conditional route needs a fallback"

SUPERVISOR_AGENTS: dict[str, tuple[str, ...]] = {}
for _spec in REGISTRY:
    SUPERVISOR_AGENTS[_spec.supervisor] = (*SUPERVISOR_AGENTS.get(_spec.supervisor, ()), _spec.name)
AGENT_SUPERVISOR: dict[str, str] = {
    agent: sup for sup, agents in SUPERVISOR_AGENTS.items() for agent in agents
}

# Which agent a supervisor may fall back to when reflection sends a task back: the other
# agent of a task type that has two ways to happen (deploy: harness_expert <-> kubernetes_agent).
AGENT_ALTERNATIVES: dict[str, str] = {}
for _tt, _fallback in FALLBACK_ROUTES.items():
    AGENT_ALTERNATIVES[ROUTING_TABLE[_tt].agent] = _fallback.agent
    AGENT_ALTERNATIVES[_fallback.agent] = ROUTING_TABLE[_tt].agent


@dataclass(frozen=True)
class RoutingDecision:
    node: str
    target: str
    reason: str

    def as_trace(self) -> dict[str, Any]:
        return asdict(self)


def route_for(task_type: str, *, harness_pipeline: str | None = None) -> Route:
    """The route for a task type, applying the one rule the table needs.

    `deploy` goes to harness_expert only when the service has a Harness pipeline
    configured; otherwise straight to kubernetes_agent (the seed's Example 1).
    Raises ValueError naming the valid types for an unknown one.
    """
    try:
        tt = TaskType(task_type)
    except ValueError:
        valid = ", ".join(t.value for t in TaskType)
        raise ValueError(f"unknown task type {task_type!r}; expected one of: {valid}") from None
    if tt in _NEEDS_PIPELINE and not harness_pipeline:
        return FALLBACK_ROUTES[tt]
    return ROUTING_TABLE[tt]


def alternative_agent(agent: str, task_type: str, *, harness_pipeline: str | None) -> str | None:
    """The agent to try when `agent` failed a deploy, or None.

    Only deploys have two ways to happen; Harness is an alternative only when the
    service actually has a pipeline.
    """
    if task_type not in FALLBACK_ROUTES:
        return None
    primary, fallback = ROUTING_TABLE[TaskType(task_type)], FALLBACK_ROUTES[TaskType(task_type)]
    if agent == fallback.agent:
        return primary.agent if harness_pipeline or task_type not in _NEEDS_PIPELINE else None
    return fallback.agent if agent == primary.agent else None
