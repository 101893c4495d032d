"""How database, schema and migration requests are recognised, and what they ask for."""

from workflow.agents.database_agent.reader import CONTEXT_KEYS, read_request
from workflow.agents.spec import Vocabulary

__all__ = ["VOCABULARY"]

SIGNALS: tuple[tuple[str, float, str], ...] = (
    ("database", 2.5, r"\bdatabases?\b|\bdbs?\b"),
    (
        "database",
        2,
        r"\bpostgres(?:ql)?\b|\bmysql\b|\bmariadb\b|\bmongo(?:db)?\b|\bdynamodb\b|\bcassandra\b"
        r"|\bsqlite\b|\baurora\b|\brds\b|\bcockroach(?:db)?\b|\bclickhouse\b|\bpsql\b",
    ),
    (
        "database",
        1.5,
        r"\bredis\b|\bmemcached?\b|\b(?:flush|purge|clear|warm)\s+(?:the\s+)?(?:[\w-]+\s+)?cache\b",
    ),
    ("database", 1.5, r"\bsql\b|\bquer(?:y|ies)\b"),
    ("database", 2, r"\bbackup\b|\bback\s+up\b|\brestore\b|\bsnapshot\b|\bpg_dump\b|\bdump\b"),
    (
        "database",
        1.5,
        r"\btables?\b|\bcolumns?\b|\bindex(?:es)?\b|\b(?:foreign|primary)\s+key\b|\brows\b",
    ),
    (
        "database",
        2,
        r"\bvacuum\b|\breplication\s+lag\b|\bdeadlocks?\b|\bconnection\s+pool\b"
        r"|\bslow\s+(?:[\w-]+\s+)?quer(?:y|ies)\b|\bseed(?:ing)?\b|\bexplain(?:\s+analyze)?\b",
    ),
    ("database", 4.5, r"\bselect\s+.+\s+from\b"),
    ("schema", 3, r"\bschemas?\b"),
    ("schema", 2.5, r"\b(?:design|model)\b[^.]{0,30}?\b(?:tables?|data\s+model|database|db)\b"),
    ("schema", 2, r"\berd\b|\bdata\s+model\b|\bentity\s+relationship\b"),
    ("migration", 4, r"\bmigrations?\b"),
    ("migration", 2, r"\bmigrate\b"),
    ("migration", 3, r"\balembic\b|\bflyway\b|\bliquibase\b|\bknex\b|\bprisma\s+migrate\b"),
    (
        "migration",
        3,
        r"\balter\s+table\b|\b(?:add|drop|rename)\s+(?:an?\s+)?(?:new\s+)?(?:[\w-]+\s+)?columns?\b",
    ),
)

# The imperative a request starts with (after politeness): first match wins.
LEADING: tuple[tuple[str, str], ...] = (
    (
        "database",
        r"^(?:backup|back\s+up|restore|vacuum"
        r"|(?:run\s+)?(?:an?\s+)?(?:sql\s+)?(?:select|query|explain)\b)",
    ),
    ("migration", r"^migrate\b"),
)

VOCABULARY = Vocabulary(
    signals=SIGNALS,
    leading=LEADING,
    task_actions={
        "database": (
            "backup",
            "restore",
            "query",
            "create",
            "delete",
            "update",
            "investigate",
            "status",
        ),
        "schema": ("create", "update", "generate"),
        "migration": ("generate", "create", "rollback", "status", "update"),
    },
    default_action={"schema": "create", "migration": "create"},
    context_keys=CONTEXT_KEYS,
    reader=read_request,
    help={
        "database": "database operations: queries, backups, restores, tuning",
        "schema": "design a database schema or data model",
        "migration": "write or run a database migration",
    },
)
