"""harness_expert: CI/CD pipelines and deployments through Harness.

Not built yet: the node fails explicitly ("harness_expert is not available yet") so reflection
reports the truth and the supervisor can try an alternative where one exists.
"""

from workflow.agents.base import unavailable_agent

__all__ = ["harness_expert"]

harness_expert = unavailable_agent("harness_expert", "Harness pipeline creation and deployment")
