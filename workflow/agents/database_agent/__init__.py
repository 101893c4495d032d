"""database_agent: schema design, migrations and seeding.

Not built yet: the spec has no node, so the graph gets one that fails explicitly ("database_agent is
not available yet"); reflection reports the truth and the supervisor can try an alternative
where one exists. Its classifier vocabulary lives in `vocabulary.py` already.
"""

from workflow.agents.database_agent.vocabulary import VOCABULARY
from workflow.agents.spec import DEV, AgentSpec, TaskRoute

__all__ = ["SPEC"]

SPEC = AgentSpec(
    name="database_agent",
    supervisor=DEV,
    routes=(
        TaskRoute("database", "Database operations", row=7),
        TaskRoute("schema", "Schema design", row=8),
        TaskRoute("migration", "Migration creation", row=9),
    ),
    capability="schema design and migrations",
    vocabulary=VOCABULARY,
)
