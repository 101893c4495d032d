"""The agents, one line each: graph, routing, apply, deps, classifier and CLI loop over this.

Adding an agent: a package `workflow/agents/<name>/` defining `SPEC` (see
`workflow.agents.spec` and docs/adding-an-agent.md), and its name below.
"""

from __future__ import annotations

from importlib import import_module

from workflow.agents.spec import AgentSpec

__all__ = ["AGENT_PACKAGES", "REGISTRY", "spec_for"]

AGENT_PACKAGES: tuple[str, ...] = (
    "scaffold_agent",
    "harness_expert",
    "kubernetes_agent",
    "codegen_agent",
    "database_agent",
    "testing_agent",
    "monitoring_agent",
    "incident_agent",
)

REGISTRY: tuple[AgentSpec, ...] = tuple(
    import_module(f"workflow.agents.{package}").SPEC for package in AGENT_PACKAGES
)


def spec_for(agent: str) -> AgentSpec:
    for spec in REGISTRY:
        if spec.name == agent:
            return spec
    raise KeyError(agent)


assert [s.name for s in REGISTRY] == list(AGENT_PACKAGES), "SPEC.name must be its package name"
