"""scaffold_agent: project scaffolding and template orchestration.

Not built yet: the spec has no node, so the graph gets one that fails explicitly ("scaffold_agent is
not available yet"); reflection reports the truth and the supervisor can try an alternative
where one exists. Its classifier vocabulary lives in `vocabulary.py` already.
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
