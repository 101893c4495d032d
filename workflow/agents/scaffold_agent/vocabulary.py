"""How requests for scaffold_agent's task types are recognised (see `workflow.classify`)."""

from workflow.agents.spec import Vocabulary

__all__ = ["VOCABULARY"]

VOCABULARY = Vocabulary(
    default_action={"scaffold": "create"},
)
