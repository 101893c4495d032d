"""testing_agent: test scaffolding, coverage analysis and orchestration.

Not built yet: the spec has no node, so the graph gets one that fails explicitly ("testing_agent is
not available yet"); reflection reports the truth and the supervisor can try an alternative
where one exists. Its classifier vocabulary lives in `vocabulary.py` already.
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
