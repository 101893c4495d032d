"""database_agent: schema design, migrations and seeding.

Not built yet: the node fails explicitly ("database_agent is not available yet") so reflection
reports the truth and the supervisor can try an alternative where one exists.
"""

from workflow.agents.base import unavailable_agent

__all__ = ["database_agent"]

database_agent = unavailable_agent("database_agent", "schema design and migrations")
