"""monitoring_agent: metrics, logs and alerts.

Not built yet: the node fails explicitly ("monitoring_agent is not available yet") so reflection
reports the truth and the supervisor can try an alternative where one exists.
"""

from workflow.agents.base import unavailable_agent

__all__ = ["monitoring_agent"]

monitoring_agent = unavailable_agent("monitoring_agent", "metrics, log and alert queries")
