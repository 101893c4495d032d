"""How requests for monitoring_agent's task types are recognised (see `workflow.classify`)."""

from workflow.agents.spec import Vocabulary

__all__ = ["VOCABULARY"]

VOCABULARY = Vocabulary(
    default_action={"monitor": "health", "metrics": "metrics", "logs": "logs", "alert": "alerts"},
)
