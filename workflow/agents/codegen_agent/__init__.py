"""codegen_agent: API client, model and test scaffolding generation.

Not built yet: the spec has no node, so the graph gets one that fails explicitly ("codegen_agent is
not available yet"); reflection reports the truth and the supervisor can try an alternative
where one exists. Its classifier vocabulary lives in `vocabulary.py` already.
"""

from workflow.agents.codegen_agent.vocabulary import VOCABULARY
from workflow.agents.spec import DEV, AgentSpec, TaskRoute

__all__ = ["SPEC"]

SPEC = AgentSpec(
    name="codegen_agent",
    supervisor=DEV,
    routes=(TaskRoute("codegen", "Code generation", row=6),),
    capability="code generation",
    vocabulary=VOCABULARY,
)
