"""database_agent: schema reads, and migrations planned, linted, rehearsed, then approved.

Reads complete at once (reads.py), in read-only transactions with `statement_timeout`.

A migration is only planned: the SQL built deterministically from the request (or typed in a
code block), linted by squawk, rehearsed on the target database in a transaction that is
rolled back (reading the locks it took and the schema after), previewed as a schema diff
with each statement's lock and what it blocks. The plan pins the fingerprint of the affected
tables; the applier refuses it if they changed.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from workflow import parts
from workflow.agents.base import Answer, Refusal, handler_agent
from workflow.agents.database_agent.checks import (
    BLOCKS,
    MODE_NAMES,
    Finding,
    Rehearsal,
    documented_lock,
    lint,
    rehearse,
    tables_after,
)
from workflow.agents.database_agent.client import BACKEND, DatabaseError, Target, scrub
from workflow.agents.database_agent.inspect import (
    describe,
    fingerprint,
    human_size,
    schema_diff,
)
from workflow.agents.database_agent.migrations import (
    EXAMPLES,
    MIGRATION_OPS,
    Migration,
    MigrationError,
    build_migration,
    sql_text,
)
from workflow.agents.database_agent.reads import (
    READS,
    actual_table,
    answer_read,
    databases_of,
    no_table,
    target_of,
)
from workflow.deps import WorkflowDeps
from workflow.plan import Plan, PlanFile
from workflow.state import DevOpsAgentState

__all__ = ["database_agent", "resolve_action"]

NAME = "database_agent"
# A table this big (or with this many rows) makes a blocking lock on it a warning.
BIG_BYTES = 100 * 1024 * 1024
BIG_ROWS = 1_000_000
# Data, not schema: applied directly even where migrations go through a pull request.
DATA_OPS = {"seed", "restore_column"}


def resolve_action(task_type: str, context: dict[str, Any]) -> str:
    op = context.get("db_op")
    if op in MIGRATION_OPS:
        return "migrate"  # (seeds too: planned the same way, as a `seed` plan)
    if op in READS:
        return "query"
    if task_type in {"migration", "schema"} or context.get("action") in {"create", "update"}:
        return "migrate"
    return "query"


# ------------------------------------------------------------------ migrations


def _typed_sql(state: DevOpsAgentState) -> str | None:
    from workflow.agents.database_agent.reader import code_block

    for message in reversed(state.get("messages") or []):
        if getattr(message, "type", "") == "human":
            return code_block(str(message.content))
    return None


async def _migrate(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    if context.get("db_op") not in MIGRATION_OPS:
        raise Refusal(
            "I can plan these migrations (say one like these):\n- " + "\n- ".join(EXAMPLES)
        )
    dbs = databases_of(deps)
    target = target_of(deps, context)
    settings = dbs.settings
    if context.get("db_op") == "raw_sql":  # the code block as typed (the context's is cleaned)
        typed = _typed_sql(state)
        if typed:
            context = {**context, "sql": typed}
    started = time.perf_counter()
    pr = await _repository_of(deps, target, context)
    conn = await target.open()
    try:
        return await _plan(conn, target, dict(context), settings, started, pr)
    except MigrationError as exc:
        raise Refusal(str(exc)) from None
    except psycopg.Error as exc:
        raise DatabaseError(f"the {target.label} said: {exc}") from None
    finally:
        await conn.close()


async def _plan(
    conn: psycopg.AsyncConnection,
    target: Target,
    context: dict[str, Any],
    settings: Any,
    started: float,
    pr: dict[str, Any] | None = None,
) -> Answer:
    schema = target.schema
    if context.get("db_op") == "drop_index" and not context.get("table"):
        row = await (
            await conn.execute(
                "SELECT tablename FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
                (schema, context.get("index_name")),
            )
        ).fetchone()
        if row is None:
            raise Refusal(
                f"no index {context.get('index_name')} in schema {schema} of the {target.label}"
            )
        context["table"] = row[0]
    for key in ("table", "ref_table"):  # requests are read lowercased: "Orders" is meant
        if context.get(key):
            context[key] = await actual_table(conn, schema, str(context[key]))
    named = [str(context[k]) for k in ("table", "ref_table") if context.get(k)]
    before = {t: await describe(conn, schema, t) for t in named}
    d = before.get(str(context.get("table") or ""))
    if d and context.get("column"):
        wanted = str(context["column"])
        same = [c["name"] for c in d["columns"] if c["name"].lower() == wanted.lower()]
        if wanted not in [c["name"] for c in d["columns"]] and len(same) == 1:
            context["column"] = same[0]
    op = context.get("db_op")
    if op == "restore_column":
        context.update(await _backup_of(conn, target, context, before))
    if op == "seed":
        context.update(await _seed_columns(conn, target, context, before))
    rows = {t: d["rows_estimate"] for t, d in before.items() if d}
    migration = build_migration(context, schema=schema, rows=rows)
    before = {t: before.get(t) or await describe(conn, schema, t) for t in migration.tables}
    await conn.rollback()
    missing = [t for t, d in before.items() if d is None and t not in migration.new_tables]
    if missing:
        raise Refusal(await no_table(conn, target, missing[0]))
    exists = [t for t in migration.new_tables if before.get(t) is not None]
    if exists:
        raise Refusal(f"table {exists[0]} already exists in the {target.label}")
    if migration.backup:
        d = before[migration.backup["table"]] or {}
        key = [
            c.split("(")[1].rstrip(")").split(", ")
            for c in [
                k["definition"] for k in d.get("constraints", []) if k["kind"] == "primary key"
            ]
        ]
        col = migration.backup["column"]
        if not any(c["name"] == col for c in d.get("columns", [])):
            raise Refusal(f"{migration.backup['table']} has no column {col}")
        migration.backup = {
            **migration.backup,
            "key": key[0] if key else [],
            "name": f"{migration.backup['table']}__{col}__{fingerprint(before)[7:15]}"[:63],
        }
    sql = sql_text(migration)
    findings, lint_note = lint(sql)
    rehearsal = await rehearse(
        conn,
        migration,
        schema,
        lock_timeout_s=settings.lock_timeout_s,
        statement_timeout_s=settings.rehearsal_timeout_s,
    )
    after_names = tables_after(migration)
    plan_ms = (time.perf_counter() - started) * 1000
    timing = {"plan_ms": round(plan_ms, 1), "rehearsal_ms": round(rehearsal.ms, 1)}
    if pr is not None:  # nothing is applied by the bot: no copy aside either
        migration.backup = None
    preview = _preview(target, migration, before, rehearsal, findings, lint_note, sql)
    if rehearsal.error and not rehearsal.timed_out:
        summary = (
            f"the rehearsal of {migration.title} failed on the {target.label}: "
            f"{rehearsal.error}; it was rolled back and nothing changed"
        )
        return Answer(
            "failed",
            scrub(summary),
            output=timing,
            parts=[parts.preview(scrub(preview), title="Rehearsal")],
            errors=[scrub(rehearsal.error)],
            final=True,
        )
    risk = _risk(migration, before, rehearsal, findings)
    if rehearsal.timed_out:  # valid so far, but slow: holds its lock at least that long
        risk += [t for t in ("rehearsal_incomplete", "high_risk") if t not in risk]
    if pr is not None:
        return _pull_request_plan(
            target, migration, context, before, rehearsal, sql, preview, risk, pr, timing
        )
    plan = Plan(
        action="seed" if migration.op == "seed" else "migrate",
        kind="Migration",
        name=f"{target.service}-{target.environment}-{migration.op}",
        environment=target.environment,
        backend=BACKEND,
        target=f"{', '.join(migration.tables)} on the {target.label}",
        body={
            "service": target.service,
            "environment": target.environment,
            "op": migration.op,
            "title": migration.title,
            "steps": [s.to_dict() for s in migration.steps],
            "tables": migration.tables,
            "tables_after": after_names,
            "fingerprint_after": None if rehearsal.timed_out else fingerprint(rehearsal.after),
            "backup": migration.backup,
        },
        resource_version=fingerprint(before),
        before={"tables": {t: _summary(d) for t, d in before.items()}},
        after={"tables": {t: _summary(d) for t, d in rehearsal.after.items()}},
        preview=scrub(preview),
        dry_run=True,
        risk=risk,
        files=[PlanFile(path=_file_name(target, migration), content=sql, media_type="text/x-sql")],
    ).with_hash()
    summary = (
        f"planned {migration.title} on the {target.label}: rehearsed in "
        f"{rehearsal.ms:.0f} ms and rolled back; {len(findings)} lint finding(s)"
    )
    if rehearsal.timed_out:
        summary += (
            f"; the rehearsal was STOPPED after {settings.rehearsal_timeout_s:g} s "
            "(statement_timeout): it is slow on this table"
        )
    data = plan.model_dump(mode="json")
    return Answer(
        "planned",
        summary,
        output={"plan": data, **timing, "findings": len(findings)},
        parts=[parts.preview(plan.preview, title="Migration plan")]
        + (
            [
                parts.table(
                    "Sample of the rows (from the rehearsal)",
                    rehearsal.sample,
                    rehearsal.sample_rows,
                )
            ]
            if rehearsal.sample
            else []
        ),
        plan=data,
    )


async def _repository_of(
    deps: WorkflowDeps, target: Target, context: dict[str, Any]
) -> dict[str, Any] | None:
    """For a `migrations: pull_request` database: the service's repository and the layout
    of its migrations folder (read on the forge). Seeds and restores are data, not schema
    changes: they are applied directly, as for `apply`."""
    if target.entry.migrations != "pull_request" or context.get("db_op") in DATA_OPS:
        return None
    from workflow.agents.database_agent.pull_request import FORGE, read_layout

    entry = deps.catalog.services.get(target.service)
    repository = entry.repository if entry is not None else None
    if not repository:
        raise Refusal(
            f"{target.service}'s migrations go through its repository (`migrations: "
            f"pull_request`), but the catalog names no `repository:` for {target.service}"
        )
    forge = deps.backend(FORGE)
    if forge is not None:
        import asyncio

        from workflow.agents.database_agent.pull_request import seed_sandbox_repository
        from workflow.agents.database_agent.sandbox import BILLING_SCHEMA

        await asyncio.to_thread(seed_sandbox_repository, forge, repository, BILLING_SCHEMA)
    layout = await read_layout(forge, repository, target.entry.migrations_path)
    return {"repository": repository, "layout": layout}


def _pull_request_plan(
    target: Target,
    migration: Migration,
    context: dict[str, Any],
    before: dict[str, Any],
    rehearsal: Rehearsal,
    sql: str,
    preview: str,
    risk: list[str],
    pr: dict[str, Any],
    timing: dict[str, Any],
) -> Answer:
    from workflow.agents.database_agent.pull_request import MODE, down_sql, migration_file

    layout = pr["layout"]
    repository = pr["repository"]
    note = (
        f"Generated by devops-bot: linted with squawk and rehearsed on the {target.label} "
        "(rolled back)."
    )
    down = down_sql(migration, context, target.schema)
    path, content = migration_file(layout, migration, down, note)
    style = "an Alembic revision" if layout.alembic else "a numbered SQL file"
    head = [
        f"Pull request to {repository}: {path} ({style} in {layout.folder}/"
        f"{'' if layout.found else ', a new folder'})",
        f"Nothing runs on the {target.label}: the migration runs when the pull request is "
        "merged and deployed.",
    ]
    if layout.note:
        head.append(f"Note: {layout.note}.")
    preview = "\n".join(head) + "\n\n" + preview
    plan = Plan(
        action="open_pull_request",
        kind="PullRequest",
        name=f"{target.service}-{target.environment}-{migration.op}",
        environment=target.environment,
        backend=BACKEND,
        target=f"{repository} ({path}), for the {target.label}",
        body={
            "mode": MODE,
            "service": target.service,
            "environment": target.environment,
            "op": migration.op,
            "title": migration.title,
            "repository": repository,
            "base": "main",
            "path": path,
            "sql": sql,
            "steps": [s.to_dict() for s in migration.steps],
            "tables": migration.tables,
        },
        resource_version=fingerprint(before),
        before={"tables": {t: _summary(d) for t, d in before.items()}},
        after={"tables": {t: _summary(d) for t, d in rehearsal.after.items()}},
        preview=scrub(preview),
        dry_run=True,
        risk=risk,
        files=[
            PlanFile(
                path=path,
                content=content,
                media_type="text/x-python" if layout.alembic else "text/x-sql",
            )
        ],
    ).with_hash()
    summary = (
        f"planned a pull request to {repository} adding {path} ({migration.title}), "
        f"rehearsed on the {target.label} in {rehearsal.ms:.0f} ms and rolled back; nothing "
        "runs on the database"
    )
    data = plan.model_dump(mode="json")
    return Answer(
        "planned",
        summary,
        output={"plan": data, **timing, "path": path},
        parts=[
            parts.preview(plan.preview, title="Migration pull request"),
            parts.file(path, content),
        ],
        plan=data,
    )


async def _backup_of(
    conn: psycopg.AsyncConnection, target: Target, context: dict[str, Any], before: dict[str, Any]
) -> dict[str, Any]:
    """The newest copy of `table.column` in devops_bot_backup, its type and the table's key."""
    table, column = str(context.get("table") or ""), str(context.get("column") or "")
    prefix = f"{table}__{column}__"
    row = await (
        await conn.execute(
            "SELECT c.relname, format_type(a.atttypid, a.atttypmod) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON "
            "a.attrelid = c.oid AND a.attname = %s WHERE n.nspname = 'devops_bot_backup' "
            "AND starts_with(c.relname, %s) ORDER BY c.oid DESC LIMIT 1",
            (column, prefix),
        )
    ).fetchone()
    await conn.rollback()
    if row is None:
        raise Refusal(
            f"no copy of {table}.{column} in devops_bot_backup on the {target.label}: only "
            "columns dropped by the bot are copied aside"
        )
    d = before.get(table) or {}
    key = next(
        (
            k["definition"].split("(", 1)[1].rstrip(")").split(", ")
            for k in d.get("constraints", [])
            if k["kind"] == "primary key"
        ),
        [],
    )
    return {"backup_table": row[0], "column_type": row[1], "key": key}


async def _seed_columns(
    conn: psycopg.AsyncConnection, target: Target, context: dict[str, Any], before: dict[str, Any]
) -> dict[str, Any]:
    """The table's columns as the seed generator needs them (types, defaults, identity,
    unique, foreign keys); production only when the policy asks for approval of seeds."""
    if target.environment == "production":
        raise Refusal(
            "seeding is refused in production: set `actions: {seed: {require_approval: "
            "approval}}` in the policy file to allow it with approval"
        )
    table = str(context.get("table") or "")
    if before.get(table) is None:
        raise Refusal(await no_table(conn, target, table))
    rows = await (
        await conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attidentity <> '' OR "
            "a.attgenerated <> '', pg_get_expr(d.adbin, d.adrelid), "
            "(SELECT confrelid::regclass::text || ' ' || (SELECT attname FROM pg_attribute "
            " WHERE attrelid = k.confrelid AND attnum = k.confkey[1]) FROM pg_constraint k "
            " WHERE k.conrelid = a.attrelid AND k.contype = 'f' AND k.conkey = ARRAY[a.attnum] "
            " LIMIT 1), EXISTS (SELECT 1 FROM pg_constraint u WHERE u.conrelid = a.attrelid AND "
            " u.contype IN ('u', 'p') AND u.conkey = ARRAY[a.attnum]) "
            "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND "
            "d.adnum = a.attnum WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT "
            "a.attisdropped ORDER BY a.attnum",
            (f"{target.schema}.{table}",),
        )
    ).fetchall()
    await conn.rollback()
    columns = [
        {
            "name": name,
            "type": ctype,
            "identity": identity,
            "default": default,
            "references": ref.split(" ", 1) if ref else None,
            "unique": unique,
        }
        for name, ctype, identity, default, ref, unique in rows
    ]
    token = fingerprint(before)[7:13]
    return {"seed_columns": columns, "seed_token": token}


def _file_name(target: Target, migration: Migration) -> str:
    table = migration.tables[0] if migration.tables else "sql"
    return f"{target.service}-{target.environment}-{migration.op}-{table}.sql"


def _summary(d: dict[str, Any] | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "columns": len(d["columns"]),
        "indexes": len(d["indexes"]),
        "rows_estimate": d["rows_estimate"],
        "size": human_size(d["size_bytes"]),
    }


def _big(d: dict[str, Any] | None) -> bool:
    return bool(d) and (d["size_bytes"] >= BIG_BYTES or d["rows_estimate"] >= BIG_ROWS)


def _risk(
    migration: Migration,
    before: dict[str, Any],
    rehearsal: Rehearsal,
    findings: list[Finding],
) -> list[str]:
    tags: list[str] = []
    if migration.destructive:
        tags.append("destructive")
    for step, done in zip(migration.steps, rehearsal.steps, strict=False):
        locks = done.locks if not step.concurrent else []
        for table, mode in locks:
            if mode in {
                "AccessExclusiveLock",
                "ShareLock",
                "ShareRowExclusiveLock",
                "ExclusiveLock",
            }:
                tag = f"lock:{MODE_NAMES[mode].replace(' ', '_').lower()}:{table}"
                if tag not in tags:
                    tags.append(tag)
        for table in done.rewrote:
            tags.append(f"rewrites:{table}")
            if _big(before.get(table)) and "high_risk" not in tags:
                tags.append("high_risk")
    tags += list(dict.fromkeys(f.tag() for f in findings))
    return tags


def _preview(
    target: Target,
    migration: Migration,
    before: dict[str, Any],
    rehearsal: Rehearsal,
    findings: list[Finding],
    lint_note: str | None,
    sql: str,
) -> str:
    lines = [f"{migration.title} on the {target.label}"]
    for table, d in before.items():
        if d is None:
            lines.append(f"  {table}: new table")
        else:
            lines.append(f"  {table}: ~{d['rows_estimate']:,} rows, {human_size(d['size_bytes'])}")
    lines += ["", "SQL:"] + [f"  {line}" for line in sql.rstrip().splitlines()]
    lines += ["", "Locks, from the rehearsal (and what each blocks while held):"]
    for number, (step, done) in enumerate(zip(migration.steps, rehearsal.steps, strict=False), 1):
        first = step.sql.splitlines()[0][:90]
        lines.append(f"  {number}. {first}  ({done.ms:.0f} ms)")
        if step.concurrent:
            mode = documented_lock(step.sql) or "ShareUpdateExclusiveLock"
            lines.append(
                f"     {MODE_NAMES[mode]} on {step.table} (documented for CONCURRENTLY): blocks "
                f"{BLOCKS[mode]}"
            )
            lines.append(f"     {done.note}: {done.ran.splitlines()[0][:90]}")
        for table, mode in done.locks if not step.concurrent else []:
            d = before.get(table)
            size = f" ({human_size(d['size_bytes'])}, ~{d['rows_estimate']:,} rows)" if d else ""
            lines.append(
                f"     {MODE_NAMES.get(mode, mode)} on {table}{size}: blocks "
                f"{BLOCKS.get(mode, '?')}"
            )
        for table in done.rewrote:
            d = before.get(table)
            if d:
                lines.append(
                    f"     REWRITES {table} ({human_size(d['size_bytes'])}, "
                    f"~{d['rows_estimate']:,} rows) while holding its lock"
                )
        if step.batched:
            lines.append(f"     {done.note}")
    lines += ["", "Lint (squawk):"]
    if lint_note:
        lines.append(f"  {lint_note}")
    elif not findings:
        lines.append("  no finding")
    for f in findings:
        lines.append(f"  - statement {f.statement}: {f.rule}: {f.message}")
        if f.help:
            lines.append(f"    help: {f.help}")
    if rehearsal.timed_out:
        lines += [
            "",
            f"Rehearsal STOPPED: {rehearsal.error} (rolled back). Up to there the SQL ran; the "
            "statement that was stopped holds its lock for at least that long on this table, "
            "so the schema after is not shown.",
        ]
    elif rehearsal.error:
        lines += ["", f"Rehearsal FAILED: {rehearsal.error} (rolled back)"]
    else:
        lines += [
            "",
            f"Rehearsal: ran on the {target.label} in {rehearsal.ms:.0f} ms inside "
            "a transaction (lock_timeout and statement_timeout set) and was rolled back.",
        ]
        lines += ["", "Schema diff (before -> after):", schema_diff(before, rehearsal.after)]
    if migration.backup:
        lines += [
            "",
            f"Before the drop, {migration.backup['table']}.{migration.backup['column']}"
            f" is copied to devops_bot_backup.{migration.backup['name']}.",
        ]
    return "\n".join(lines)


database_agent = handler_agent(
    NAME,
    resolve_action,
    {"query": answer_read, "migrate": _migrate},
    failures=(DatabaseError,),
)
