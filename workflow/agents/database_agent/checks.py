"""The checks a migration passes before anyone is asked to approve it.

- squawk (`squawk-cli`, a static linter of PostgreSQL migrations): each finding a risk;
- the locks each statement really takes, read from `pg_locks` during the rehearsal, with what
  each lock mode blocks (PostgreSQL's documented table-level lock conflicts);
- the rehearsal itself: BEGIN, SET LOCAL lock_timeout and statement_timeout, the statements,
  the schema read after, ROLLBACK.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import AsyncConnection

from workflow.agents.database_agent.inspect import describe
from workflow.agents.database_agent.migrations import Migration

__all__ = ["BLOCKS", "Finding", "Rehearsal", "documented_lock", "lint", "rehearse", "tables_after"]

# What each table lock mode blocks (PostgreSQL docs, "Table-Level Locks", conflict table).
BLOCKS = {
    "AccessShareLock": "only ACCESS EXCLUSIVE (DROP, most ALTER TABLE)",
    "RowShareLock": "EXCLUSIVE and ACCESS EXCLUSIVE",
    "RowExclusiveLock": "schema changes, CREATE INDEX (non-concurrent), VACUUM FULL",
    "ShareUpdateExclusiveLock": "other schema changes and VACUUM; reads and writes continue",
    "ShareLock": "writes (INSERT, UPDATE, DELETE) and schema changes; reads continue",
    "ShareRowExclusiveLock": "writes and schema changes; reads continue",
    "ExclusiveLock": "writes and schema changes; only plain reads continue",
    "AccessExclusiveLock": "everything, reads (SELECT) included",
}
MODE_NAMES = {
    "AccessShareLock": "ACCESS SHARE",
    "RowShareLock": "ROW SHARE",
    "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE",
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}
_STRENGTH = list(MODE_NAMES)
# Findings about the bot's own way of running (it sets both timeouts itself).
_HANDLED = frozenset(
    {
        "require-lock-timeout",
        "require-statement-timeout",
        "prefer-robust-stmts",
        "transaction-nesting",
    }
)


@dataclass(frozen=True)
class Finding:
    rule: str
    level: str
    message: str
    help: str
    statement: int  # 1-based, in the migration file's order

    def tag(self) -> str:
        return f"squawk:{self.rule}"


def _squawk() -> str | None:
    here = Path(sys.executable).parent / "squawk"
    return str(here) if here.exists() else shutil.which("squawk")


def lint(sql: str) -> tuple[list[Finding], str | None]:
    """squawk's findings on the migration file, or (nothing, why squawk did not run)."""
    binary = _squawk()
    if binary is None:
        return [], "squawk is not installed (pip install squawk-cli): the SQL was not linted"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "migration.sql")
        path.write_text(sql)
        try:
            done = subprocess.run(
                [binary, "--reporter", "json", str(path)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [], f"squawk did not run: {exc}"
    try:
        raw = json.loads(done.stdout or "[]")
    except ValueError:
        return [], f"squawk said: {(done.stderr or done.stdout).strip()[:300]}"
    lines = sql.splitlines()
    starts = [i for i, line in enumerate(lines) if line and not line.startswith("--")]
    findings = []
    for item in raw:
        rule = str(item.get("rule_name") or "")
        if rule in _HANDLED:
            continue
        line = int(item.get("line") or 0)
        number = sum(1 for s in starts if s <= line) or 1
        findings.append(
            Finding(
                rule,
                str(item.get("level") or ""),
                str(item.get("message") or ""),
                str(item.get("help") or ""),
                number,
            )
        )
    unique = list(dict.fromkeys(findings))
    return unique, None


@dataclass
class StepResult:
    sql: str
    ran: str  # what the rehearsal ran (the non-concurrent equivalent of a CONCURRENTLY)
    ms: float
    locks: list[tuple[str, str]] = field(default_factory=list)  # (relation, lock mode)
    note: str = ""
    rewrote: list[str] = field(default_factory=list)  # tables it rewrote (new relfilenode)


@dataclass
class Rehearsal:
    steps: list[StepResult]
    after: dict[str, dict[str, Any] | None]
    ms: float
    error: str | None = None
    timed_out: bool = False  # stopped by statement_timeout: the SQL is valid so far, slow
    sample: list[str] = field(default_factory=list)  # columns, then rows (a seed's sample)
    sample_rows: list[list[Any]] = field(default_factory=list)


_LOCKS = """
SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND c.relkind IN ('r', 'p')
  AND c.relnamespace NOT IN ('pg_catalog'::regnamespace)
"""


async def rehearse(
    conn: AsyncConnection,
    migration: Migration,
    schema: str,
    *,
    lock_timeout_s: float,
    statement_timeout_s: float,
) -> Rehearsal:
    """Run the migration in a transaction on the real database and roll it back."""
    results: list[StepResult] = []
    start = time.perf_counter()
    after: dict[str, dict[str, Any] | None] = {}
    error = None
    timed_out = False
    sample: list[str] = []
    sample_rows: list[list[Any]] = []
    tables = tables_after(migration)
    await conn.set_autocommit(False)
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'")
            await cur.execute(
                f"SET LOCAL statement_timeout = '{int(statement_timeout_s * 1000)}ms'"
            )
            held: set[tuple[str, str]] = set()
            files = await _filenodes(cur, schema, migration.tables)
            for step in migration.steps:
                ran = step.rehearse_as or step.sql
                note = ""
                if step.concurrent:
                    note = (
                        "CONCURRENTLY cannot run in a transaction: rehearsed as "
                        "its non-concurrent equivalent"
                    )
                if step.batched:
                    note = "backfill rehearsed as one batch per pass until no row changes"
                t0 = time.perf_counter()
                try:
                    await cur.execute("SAVEPOINT step")
                    await cur.execute(ran)
                    while step.batched and cur.rowcount > 0:
                        await cur.execute(ran)
                    await cur.execute("RELEASE SAVEPOINT step")
                except psycopg.Error as exc:
                    ms = (time.perf_counter() - t0) * 1000
                    results.append(StepResult(step.sql, ran, ms, [], note))
                    error = _error_text(exc, step.sql)
                    timed_out = exc.diag.sqlstate == "57014"
                    break
                ms = (time.perf_counter() - t0) * 1000
                await cur.execute(_LOCKS)
                rows = {(relation, mode) for relation, mode in await cur.fetchall()}
                new = sorted(rows - held)
                held |= rows
                if not new and not step.concurrent:
                    new = [
                        (t, documented_lock(ran))
                        for t in ([step.table] if step.table else [])
                        if documented_lock(ran)
                    ]
                now = await _filenodes(cur, schema, migration.tables)
                rewrote = [t for t, f in now.items() if t in files and files[t] != f]
                files = now
                results.append(StepResult(step.sql, ran, ms, sorted(new), note, rewrote))
            if error is None:
                for name in tables:
                    after[name] = await describe(conn, schema, name)
                if migration.sample_sql:
                    await cur.execute(migration.sample_sql)
                    sample = [c.name for c in cur.description or []]
                    sample_rows = [[str(v) for v in row] for row in await cur.fetchall()]
    finally:
        await conn.rollback()
    ms = (time.perf_counter() - start) * 1000
    return Rehearsal(results, after, ms, error, timed_out, sample, sample_rows)


async def _filenodes(cur: Any, schema: str, tables: list[str]) -> dict[str, int]:
    await cur.execute(
        "SELECT c.relname, c.relfilenode FROM pg_class c JOIN pg_namespace n ON "
        "n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = ANY(%s)",
        (schema, list(tables)),
    )
    return {name: node for name, node in await cur.fetchall()}


def documented_lock(sql: str) -> str | None:
    """The table lock a statement takes, from PostgreSQL's documentation."""
    text = " ".join(sql.lower().split())
    if re.search(r"\bconcurrently\b|\bvalidate constraint\b|^analyze\b", text):
        return "ShareUpdateExclusiveLock"
    if text.startswith(("create index", "create unique index")):
        return "ShareLock"
    if re.search(r"\badd constraint \S+ foreign key\b", text):
        return "ShareRowExclusiveLock"
    if text.startswith(("alter table", "drop table", "truncate", "drop index", "vacuum full")):
        return "AccessExclusiveLock"
    if text.startswith(("update", "delete", "insert")):
        return "RowExclusiveLock"
    return None


def tables_after(migration: Migration) -> list[str]:
    out = []
    for table in migration.tables:
        out.append(table)
        if table in migration.renamed:
            out.append(migration.renamed[table])
    return out


def _error_text(exc: psycopg.Error, sql: str) -> str:
    diag = exc.diag
    text = (diag.message_primary or str(exc)).strip()
    if diag.sqlstate == "55P03":
        text = f"could not get its lock in time (lock_timeout): {text}"
    elif diag.sqlstate == "57014":
        text = f"stopped by statement_timeout: {text}"
    first = sql.splitlines()[0][:120]
    return f"{text} (in: {first})"
