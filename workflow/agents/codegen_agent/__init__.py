"""codegen_agent: API client, model and test scaffolding generation.

Not built yet (no node): it answers "not available yet" (`AgentSpec.make_node`).
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
