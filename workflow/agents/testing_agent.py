"""testing_agent: test scaffolding, coverage analysis and orchestration.

Not built yet: the node fails explicitly ("testing_agent is not available yet") so reflection
reports the truth and the supervisor can try an alternative where one exists.
"""

from workflow.agents.base import unavailable_agent

__all__ = ["testing_agent"]

testing_agent = unavailable_agent("testing_agent", "test scaffolding and orchestration")
