"""database_agent: schema reads and migrations on PostgreSQL, planned, linted, rehearsed,
approved and applied exactly once (docs/databases.md).

client.py      the catalog's databases (by the name of the variable holding each URL), the
               settings (DATABASE_*) and the `connect` hook
reader.py      what a request asks for (the vocabulary's reader)
migrations.py  typed requests -> SQL steps, deterministically
inspect.py     schema reads from the catalog tables, fingerprints, schema diffs
checks.py      squawk, the rehearsal (BEGIN ... ROLLBACK) and the locks it took
ledger.py      devops_bot.migrations in the target database
reads.py       reads (completed at once) and where a request's database is
node.py        the node: migrations (planned); reads are handed to reads.py
applier.py     applies an approved `postgres` plan exactly once
pull_request.py  `migrations: pull_request`: the migration file in the service's repository,
               one pull request (the change-request tool), recorded in the ledger
server.py      a local PostgreSQL cluster (sandbox, tests)
sandbox.py     the sandbox's seeded billing databases; `devops-bot sandbox show|reset`
"""

from workflow.agents.database_agent.vocabulary import VOCABULARY
from workflow.agents.spec import DEV, AgentSpec, TaskRoute, lazy

__all__ = ["NAME", "SPEC"]

NAME = "database_agent"

SPEC = AgentSpec(
    name=NAME,
    supervisor=DEV,
    routes=(
        TaskRoute("database", "Database operations", row=7),
        TaskRoute("schema", "Schema design", row=8),
        TaskRoute("migration", "Migration creation", row=9),
    ),
    capability="schema design and migrations",
    vocabulary=VOCABULARY,
    actions=("query", "migrate", "seed", "open_pull_request"),
    # open_pull_request: a `migrations: pull_request` database's migration file, in a PR
    writes=frozenset({"migrate", "seed", "open_pull_request"}),
    backends={
        "postgres": "no database is configured: name one under `databases:` in the service "
        "catalog and set the variable holding its URL, or use --sandbox",
    },
    appliers={"postgres": lazy("workflow.agents.database_agent.applier:apply_postgres")},
    node=lazy("workflow.agents.database_agent.node:database_agent"),
    sandbox=lazy("workflow.agents.database_agent.sandbox:SANDBOX"),
    connect=lazy("workflow.agents.database_agent.client:connect"),
)
