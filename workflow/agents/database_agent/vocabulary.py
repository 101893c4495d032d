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
    # "describe the payments table": a table's shape, not `kubectl describe`
    (
        "schema",
        4,
        r"\b(?:describe|desc|show)\s+(?:me\s+)?(?:the\s+)?(?:[a-z_]\w*\s+table|table\s+[a-z_]\w*)\b",
    ),
    ("migration", 4, r"\bmigrations?\b"),
    ("migration", 4, r"\badd\s+(?:an?\s+)?check\b|\bnot\s+valid\b"),
    ("migration", 4, r"\brename\s+(?:the\s+)?(?:column\s+|table\s+)?[a-z_]\w*\.[a-z_]\w*\s+to\b"),
    ("migration", 4, r"\b(?:unique|check|foreign[\s-]+key)\s+constraint\b|\bforeign\s+key\b"),
    (
        "migration",
        3.5,
        r"\bmake\s+[a-z_]\w*\.[a-z_]\w*\s+(?:an?\s+)?(?:unique|nullable|not\s+null|"
        r"bigint|integer|int|text|varchar|numeric|boolean|uuid|jsonb|timestamptz)\b",
    ),
    (
        "migration",
        3.5,
        r"\b(?:create|drop|rename)\s+(?:a\s+)?(?:new\s+)?(?:table|index)\b"
        r"|\bindex\s+on\b|\bindex\s+[a-z_]\w*\s+on\s+[a-z_]\w*\b",
    ),
    ("migration", 3.5, r"\bchange\s+(?:the\s+)?type\s+of\b|\balter\s+column\b"),
    ("database", 3.5, r"\bslowest\s+(?:[\w-]+\s+)?quer(?:y|ies)\b|\bpg_stat_statements\b"),
    ("database", 3.5, r"\b(?:biggest|largest)\s+tables?\b"),
    (
        "schema",
        4,
        r"\bwhat\s+changed\s+in\s+(?:the\s+)?[\w-]+\s+(?:[\w-]+\s+)?(?:schema|database|db)\b",
    ),
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
