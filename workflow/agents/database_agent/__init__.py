"""database_agent: schema design, migrations and seeding.

Not built yet (no node): it answers "not available yet" (`AgentSpec.make_node`).
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
