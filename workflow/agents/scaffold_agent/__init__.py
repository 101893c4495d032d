"""scaffold_agent: project scaffolding and template orchestration.

Not built yet (no node): it answers "not available yet" (`AgentSpec.make_node`).
"""

from workflow.agents.scaffold_agent.vocabulary import VOCABULARY
from workflow.agents.spec import INFRA, AgentSpec, TaskRoute

__all__ = ["SPEC"]

SPEC = AgentSpec(
    name="scaffold_agent",
    supervisor=INFRA,
    routes=(TaskRoute("scaffold", "Project setup", row=3),),
    capability="project scaffolding",
    vocabulary=VOCABULARY,
)
