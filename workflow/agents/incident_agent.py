"""incident_agent: incident response and root-cause analysis.

Not built yet: the node fails explicitly ("incident_agent is not available yet") so reflection
reports the truth and the supervisor can try an alternative where one exists.
"""

from workflow.agents.base import unavailable_agent

__all__ = ["incident_agent"]

incident_agent = unavailable_agent("incident_agent", "incident investigation")
