"""testing_agent: test scaffolding, coverage analysis and orchestration.

Not built yet (no node): it answers "not available yet" (`AgentSpec.make_node`).
"""

from workflow.agents.spec import DEV, AgentSpec, TaskRoute
from workflow.agents.testing_agent.vocabulary import VOCABULARY

__all__ = ["SPEC"]

SPEC = AgentSpec(
    name="testing_agent",
    supervisor=DEV,
    routes=(TaskRoute("test", "Test creation", row=10),),
    capability="test scaffolding and orchestration",
    vocabulary=VOCABULARY,
)
