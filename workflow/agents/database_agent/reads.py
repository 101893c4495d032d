"""database_agent's reads, each in a read-only transaction with `statement_timeout`: a
table's schema, the biggest tables, what the ledger says changed, the slowest queries
(pg_stat_statements, said plainly when it is not there). Also where a request's database
is (`target_of`), which migrations use too.
"""

from __future__ import annotations

from typing import Any

import psycopg

from workflow import parts
from workflow.agents.base import Answer, Refusal
from workflow.agents.database_agent.client import BACKEND, DatabaseError, Databases, Target, scrub
from workflow.agents.database_agent.inspect import biggest_tables, describe, human_size
from workflow.agents.database_agent.ledger import ledger_rows
from workflow.agents.database_agent.migrations import EXAMPLES
from workflow.deps import WorkflowDeps
from workflow.state import DevOpsAgentState

__all__ = [
    "READS",
    "actual_table",
    "answer_read",
    "databases_of",
    "no_table",
    "read_only",
    "target_of",
]

READS = {"describe", "biggest", "changes", "slow"}
READ_EXAMPLES = (
    "show the schema of invoices in billing prod",
    "which tables in billing prod are biggest",
    "what changed in the billing prod schema this week",
    "slowest queries on billing prod",
)


def databases_of(deps: WorkflowDeps) -> Databases:
    dbs = deps.backend(BACKEND)
    if dbs is None:
        raise Refusal(deps.why_missing(BACKEND))
    return dbs


def target_of(deps: WorkflowDeps, context: dict[str, Any]) -> Target:
    """The database named (`database`: "in billing prod"), else the request's service, else
    the only database the catalog has."""
    dbs = databases_of(deps)
    have = set(dbs.services())
    named = [context.get("database"), context.get("service")]
    service = next((n for n in named if n and (deps.catalog.canonical_name(str(n)) in have)), None)
    if service is None and len(have) != 1:
        service = next((n for n in named if n), None)
    return dbs.target(service, context.get("environment"))


async def read_only(target: Target, statement_timeout_s: float) -> psycopg.AsyncConnection:
    conn = await target.open(read_only=True)
    await conn.execute("SET TRANSACTION READ ONLY")
    await conn.execute(f"SET LOCAL statement_timeout = '{int(statement_timeout_s * 1000)}ms'")
    return conn


# ------------------------------------------------------------------ reads


async def answer_read(
    deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState
) -> Answer:
    op = context.get("db_op")
    if op not in READS:
        raise Refusal(
            "what should I look at or change? For example:\n- "
            + "\n- ".join((*READ_EXAMPLES, *EXAMPLES[:3], EXAMPLES[7]))
        )
    target = target_of(deps, context)
    settings = databases_of(deps).settings
    conn = await read_only(target, settings.statement_timeout_s)
    try:
        if op == "describe":
            return await _describe(conn, target, str(context.get("table") or ""))
        if op == "biggest":
            rows = await biggest_tables(conn, target.schema)
            columns = ["table", "rows (estimate)", "total size", "table", "indexes"]
            summary = f"the biggest tables of the {target.label}"
            return Answer(
                "completed",
                summary,
                output={"tables": rows},
                parts=[parts.table(f"Biggest tables ({target.schema})", columns, rows)],
            )
        if op == "changes":
            return await _changes(conn, target, float(context.get("days") or 7))
        return await _slow(conn, target)
    except psycopg.Error as exc:
        raise DatabaseError(f"the {target.label} said: {exc}") from None
    finally:
        await conn.rollback()
        await conn.close()


async def _describe(conn: psycopg.AsyncConnection, target: Target, table: str) -> Answer:
    if not table:
        raise Refusal(f"which table? say e.g. '{READ_EXAMPLES[0]}'")
    table = await actual_table(conn, target.schema, table)
    d = await describe(conn, target.schema, table)
    if d is None:
        raise Refusal(await no_table(conn, target, table))
    cols = [
        [c["name"], c["type"], "yes" if c["nullable"] else "no", c["default"] or ""]
        for c in d["columns"]
    ]
    idx = [[i["name"], i["definition"], "yes" if i["valid"] else "NO"] for i in d["indexes"]]
    cons = [
        [k["name"], k["kind"], k["definition"], "yes" if k["validated"] else "NOT VALID"]
        for k in d["constraints"]
    ]
    size = human_size(d["size_bytes"])
    summary = (
        f"{table} in the {target.label}: {len(cols)} columns, ~{d['rows_estimate']:,} rows, {size}"
    )
    out = [parts.table(f"{table}: columns", ["column", "type", "null", "default"], cols)]
    if idx:
        out.append(parts.table(f"{table}: indexes", ["index", "definition", "valid"], idx))
    if cons:
        out.append(
            parts.table(
                f"{table}: constraints", ["constraint", "kind", "definition", "validated"], cons
            )
        )
    return Answer("completed", summary, output={"table": d}, parts=out)


async def actual_table(conn: psycopg.AsyncConnection, schema: str, name: str) -> str:
    """`name` as the database spells it, when only its case differs."""
    rows = await (
        await conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND lower(c.relname) = lower(%s) AND c.relkind IN ('r', 'p')",
            (schema, name),
        )
    ).fetchall()
    names = [r[0] for r in rows]
    return name if name in names or len(names) != 1 else names[0]


async def no_table(conn: psycopg.AsyncConnection, target: Target, table: str) -> str:
    rows = await biggest_tables(conn, target.schema, limit=30)
    names = ", ".join(sorted(r[0] for r in rows)) or "none"
    return f"no table {table} in schema {target.schema} of the {target.label} (tables: {names})"


async def _changes(conn: psycopg.AsyncConnection, target: Target, days: float) -> Answer:
    rows = await ledger_rows(conn, days=days)
    if rows is None:
        summary = (
            f"no migration was ever applied by the bot on the {target.label} (it has no "
            "ledger yet); changes made by hand are not recorded"
        )
        return Answer("completed", summary, output={"changes": []})
    table = [
        [
            f"{r['started_at']:%Y-%m-%d %H:%M}",
            r["outcome"],
            f"{r['title']} ({r['detail']})" if r["outcome"] == "pull_request" else r["title"],
            r["requester"] or "",
            ", ".join(r["approvers"] or []),
            r["plan_hash"],
        ]
        for r in rows
    ]
    summary = f"{len(rows)} migration(s) on the {target.label} in the last {days:g} day(s)"
    columns = ["started (UTC)", "outcome", "change", "requester", "approvers", "plan"]
    out = [parts.table("Schema changes (ledger)", columns, table)] if table else []
    return Answer("completed", summary, output={"changes": len(rows)}, parts=out)


async def _slow(conn: psycopg.AsyncConnection, target: Target) -> Answer:
    have = await (
        await conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
    ).fetchone()
    if not have:
        summary = (
            f"pg_stat_statements is not installed on the {target.label}, so I cannot say which "
            "queries are slowest: it needs `shared_preload_libraries = 'pg_stat_statements'` "
            "and `CREATE EXTENSION pg_stat_statements`"
        )
        return Answer("completed", summary, output={"pg_stat_statements": False})
    try:
        rows = await (
            await conn.execute(
                "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 120), calls, "
                "round(mean_exec_time::numeric, 2), round(total_exec_time::numeric, 1), rows "
                "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE "
                "datname = current_database()) ORDER BY mean_exec_time DESC LIMIT 10"
            )
        ).fetchall()
    except psycopg.Error as exc:
        summary = f"pg_stat_statements is installed but cannot be read: {exc.diag.message_primary}"
        return Answer("completed", scrub(summary), output={"pg_stat_statements": False})
    table = [[q, c, float(m), float(t), r] for q, c, m, t, r in rows]
    columns = ["query", "calls", "mean ms", "total ms", "rows"]
    summary = f"the {len(table)} slowest queries (mean time) on the {target.label}"
    return Answer(
        "completed",
        summary,
        output={"queries": len(table)},
        parts=[parts.table("Slowest queries", columns, table)],
    )
