"""scaffold_agent: project scaffolding and template orchestration.

Not built yet: the node fails explicitly ("scaffold_agent is not available yet") so reflection
reports the truth and the supervisor can try an alternative where one exists.
"""

from workflow.agents.base import unavailable_agent

__all__ = ["scaffold_agent"]

scaffold_agent = unavailable_agent("scaffold_agent", "project scaffolding")
