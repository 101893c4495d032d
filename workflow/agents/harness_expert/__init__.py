"""harness_expert: CI/CD pipelines and deployments through Harness.

Not built yet (no node): it answers "not available yet" (`AgentSpec.make_node`).
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
