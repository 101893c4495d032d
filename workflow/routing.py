"""The seed's routing table, kept as data, and the routing decisions made from it.

Every decision returns a `RoutingDecision` carrying its reason, which the supervisors
append to `routing_trace` so a run can always say why it went where it went.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "AGENT_ALTERNATIVES",
    "AGENT_SUPERVISOR",
    "ROUTING_TABLE",
    "SUPERVISOR_AGENTS",
    "Route",
    "RoutingDecision",
    "TaskType",
    "alternative_agent",
    "route_for",
]


class TaskType(StrEnum):
    DEPLOY = "deploy"
    PROVISION = "provision"
    SCAFFOLD = "scaffold"
    PIPELINE = "pipeline"
    KUBERNETES = "kubernetes"
    CODEGEN = "codegen"
    DATABASE = "database"
    SCHEMA = "schema"
    MIGRATION = "migration"
    TEST = "test"
    MONITOR = "monitor"
    METRICS = "metrics"
    LOGS = "logs"
    ALERT = "alert"
    INCIDENT_RESPONSE = "incident_response"
    INCIDENT = "incident"
    DEBUG = "debug"


@dataclass(frozen=True)
class Route:
    supervisor: str
    agent: str
    purpose: str


INFRA, DEV, OPS = "infrastructure_supervisor", "development_supervisor", "operations_supervisor"

# The seed's "Task Type Routing Reference", row for row.
ROUTING_TABLE: dict[TaskType, Route] = {
    TaskType.DEPLOY: Route(INFRA, "harness_expert", "CI/CD deployment"),
    TaskType.PROVISION: Route(INFRA, "kubernetes_agent", "K8s provisioning"),
    TaskType.SCAFFOLD: Route(INFRA, "scaffold_agent", "Project setup"),
    TaskType.PIPELINE: Route(INFRA, "harness_expert", "Pipeline creation"),
    TaskType.KUBERNETES: Route(INFRA, "kubernetes_agent", "K8s operations"),
    TaskType.CODEGEN: Route(DEV, "codegen_agent", "Code generation"),
    TaskType.DATABASE: Route(DEV, "database_agent", "Database operations"),
    TaskType.SCHEMA: Route(DEV, "database_agent", "Schema design"),
    TaskType.MIGRATION: Route(DEV, "database_agent", "Migration creation"),
    TaskType.TEST: Route(DEV, "testing_agent", "Test creation"),
    TaskType.MONITOR: Route(OPS, "monitoring_agent", "Metrics/logs"),
    TaskType.METRICS: Route(OPS, "monitoring_agent", "Metrics analysis"),
    TaskType.LOGS: Route(OPS, "monitoring_agent", "Log analysis"),
    TaskType.ALERT: Route(OPS, "monitoring_agent", "Alert management"),
    TaskType.INCIDENT_RESPONSE: Route(OPS, "incident_agent", "Incident handling"),
    TaskType.INCIDENT: Route(OPS, "incident_agent", "Incident handling"),
    TaskType.DEBUG: Route(OPS, "incident_agent", "Debugging"),
}

SUPERVISOR_AGENTS: dict[str, tuple[str, ...]] = {
    INFRA: ("scaffold_agent", "harness_expert", "kubernetes_agent"),
    DEV: ("codegen_agent", "database_agent", "testing_agent"),
    OPS: ("monitoring_agent", "incident_agent"),
}
AGENT_SUPERVISOR: dict[str, str] = {
    agent: sup for sup, agents in SUPERVISOR_AGENTS.items() for agent in agents
}

# Which agent a supervisor may fall back to when reflection sends a deploy back.
AGENT_ALTERNATIVES: dict[str, str] = {
    "harness_expert": "kubernetes_agent",
    "kubernetes_agent": "harness_expert",
}


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
    route = ROUTING_TABLE[tt]
    if tt is TaskType.DEPLOY and not harness_pipeline:
        return Route(route.supervisor, "kubernetes_agent", "Kubernetes deployment")
    return route


def alternative_agent(agent: str, task_type: str, *, harness_pipeline: str | None) -> str | None:
    """The agent to try when `agent` failed a deploy, or None.

    Only deploys have two ways to happen; Harness is an alternative only when the
    service actually has a pipeline.
    """
    if task_type != TaskType.DEPLOY:
        return None
    alternative = AGENT_ALTERNATIVES.get(agent)
    if alternative == "harness_expert" and not harness_pipeline:
        return None
    return alternative
