"""harness_expert: CI/CD pipelines and deployments through Harness.

Not built yet: the spec has no node, so the graph gets one that fails explicitly ("harness_expert is
not available yet"); reflection reports the truth and the supervisor can try an alternative
where one exists. Its classifier vocabulary lives in `vocabulary.py` already.
"""

from workflow.agents.harness_expert.vocabulary import VOCABULARY
from workflow.agents.spec import INFRA, AgentSpec, TaskRoute

__all__ = ["SPEC"]

SPEC = AgentSpec(
    name="harness_expert",
    supervisor=INFRA,
    routes=(
        TaskRoute("deploy", "CI/CD deployment", row=1, needs_harness_pipeline=True),
        TaskRoute("pipeline", "Pipeline creation", row=4),
    ),
    capability="Harness pipeline creation and deployment",
    vocabulary=VOCABULARY,
)
