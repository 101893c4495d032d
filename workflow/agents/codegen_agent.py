"""codegen_agent: API client, model and test scaffolding generation.

Not built yet: the node fails explicitly ("codegen_agent is not available yet") so reflection
reports the truth and the supervisor can try an alternative where one exists.
"""

from workflow.agents.base import unavailable_agent

__all__ = ["codegen_agent"]

codegen_agent = unavailable_agent("codegen_agent", "code generation")
