"""Apply an approved `postgres` plan exactly once, and leave a record of it.

1. The plan's advisory lock (`pg_try_advisory_lock`): a second replica applying the same
   plan at the same moment is told so and does nothing.
2. The ledger row of the plan hash: `applied` -> already done, not run again; `running`
   (found while nobody holds the lock: the replica applying it died) -> the schema is
   checked against the plan's before/after fingerprints and the finding reported, never
   re-run; `refused`/`interrupted` stay final.
3. The affected tables' fingerprint must still be the one approved ("changed since it was
   approved" otherwise).
4. The steps: transactional ones together in one transaction with `SET LOCAL lock_timeout`
   (and the ledger's progress in the same transaction); a lock timeout rolls back and is
   retried (`DATABASE_APPLY_RETRIES`), then fails saying who holds the lock. Batched
   backfills one transaction per batch. `CONCURRENTLY` statements outside a transaction; an
   index they leave INVALID is dropped. Before a column is dropped its data is copied into
   `devops_bot_backup`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from psycopg import AsyncConnection, errors

from workflow.agents.database_agent.client import (
    BACKEND,
    DatabaseError,
    Databases,
    Target,
    scrub,
)
from workflow.agents.database_agent.inspect import describe, fingerprint
from workflow.agents.database_agent.ledger import LEDGER, ensure_ledger, lock_key
from workflow.agents.database_agent.migrations import Step, qident
from workflow.agents.spec import Applied, ApplyError, BackendMissing
from workflow.deps import WorkflowDeps
from workflow.plan import Plan

__all__ = ["apply_postgres"]

BACKUP_SCHEMA = "devops_bot_backup"


async def apply_postgres(plan: Plan, deps: WorkflowDeps) -> Applied:
    databases: Databases | None = deps.backend(BACKEND)
    if databases is None:
        raise BackendMissing(deps.why_missing(BACKEND))
    body = plan.body or {}
    from workflow.agents.base import Refusal

    try:
        target = databases.target(body.get("service"), body.get("environment"))
    except Refusal as exc:
        raise ApplyError(str(exc)) from None
    if body.get("mode") == "pull_request":  # `migrations: pull_request`: the file, in a PR
        from workflow.agents.database_agent.pull_request import apply_pull_request

        try:
            return await apply_pull_request(plan, deps, target)
        except psycopg.Error as exc:
            raise ApplyError(scrub(f"the {target.label} said: {exc}")) from None
        except DatabaseError as exc:
            raise ApplyError(exc.message) from None
    from workflow.apply import APPLYING

    who = APPLYING.get() or {}
    try:
        return await _apply(plan, target, databases, who)
    except psycopg.Error as exc:
        raise ApplyError(scrub(f"the {target.label} said: {exc}")) from None
    except DatabaseError as exc:
        raise ApplyError(exc.message) from None


async def _apply(plan: Plan, target: Target, dbs: Databases, who: dict[str, Any]) -> Applied:
    body = plan.body or {}
    steps = [Step.from_dict(s) for s in body.get("steps") or []]
    schema = target.schema
    where = f" on the {target.label}"
    ledger = await target.open()
    await ledger.set_autocommit(True)
    try:
        await ensure_ledger(ledger)
        key = lock_key(plan.plan_hash)
        got = await (
            await ledger.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,))
        ).fetchone()
        if not got or not got[0]:
            raise ApplyError(
                f"this migration ({plan.plan_hash}) is being applied right now by another "
                f"replica{where}; it is not applied twice"
            )
        row = await (
            await ledger.execute(
                f"SELECT id, outcome, started_at, ended_at, detail FROM {LEDGER} "
                "WHERE plan_hash = %s",
                (plan.plan_hash,),
            )
        ).fetchone()
        if row is not None:
            done = await _already(ledger, row, plan, target, schema, where)
            if done is not None:
                return done
        described = {t: await describe(ledger, schema, t) for t in body.get("tables") or []}
        now = fingerprint(described)
        if now != plan.resource_version:
            changed = ", ".join(body.get("tables") or [])
            text = (
                f"refused: the schema of {changed}{where} changed since it was approved "
                f"(planned against {plan.resource_version}, now {now}); nothing was changed. "
                "Ask again to plan against the current schema."
            )
            await _record(ledger, plan, body, who, row, "refused", text)
            raise ApplyError(text)
        ledger_id = await _record(ledger, plan, body, who, row, "running", None, start=True)
        work = await target.open()
        started = time.perf_counter()
        try:
            await _run_steps(work, target, steps, body, dbs, schema, ledger_id)
        except ApplyError as exc:
            await _finish(ledger, ledger_id, "failed", str(exc))
            raise
        except psycopg.Error as exc:
            text = scrub(f"{_diag(exc)}; the transaction was rolled back")
            await _finish(ledger, ledger_id, "failed", text)
            raise ApplyError(text) from None
        finally:
            await work.close()
        after = {
            t: await describe(ledger, schema, t)
            for t in body.get("tables_after") or body.get("tables") or []
        }
        got_after = fingerprint(after)
        detail = None
        if body.get("fingerprint_after") and got_after != body["fingerprint_after"]:
            detail = "the schema after differs from the rehearsal's (see the schema read)"
        await _finish(ledger, ledger_id, "applied", detail, fingerprint_after=got_after)
        ms = (time.perf_counter() - started) * 1000
        result = {
            "ledger_id": ledger_id,
            "plan_hash": plan.plan_hash,
            "statements": len(steps),
            "ms": round(ms, 1),
            "fingerprint_after": got_after,
        }
        if body.get("backup"):
            result["backup"] = body["backup"].get("table")
        by = ", ".join(who.get("approvers") or [])
        said = (
            f"applied {body.get('title') or plan.action}{where} in {ms:.0f} ms "
            f"(ledger #{ledger_id}{', approved by ' + by if by else ''})"
        )
        backup = body.get("backup")
        if backup:
            env = body.get("environment")
            said += (
                f"; the dropped data is kept in devops_bot_backup.{backup['name']}: say "
                f"'restore {backup['table']}.{backup['column']} in {body.get('service')} {env}' "
                "to put it back"
            )
        if detail:
            said += f"; note: {detail}"
        return Applied(result, where=where, said=said)
    finally:
        await ledger.close()


async def _already(
    ledger: AsyncConnection, row: Any, plan: Plan, target: Target, schema: str, where: str
) -> Applied | None:
    ledger_id, outcome, started_at, ended_at, detail = row
    body = plan.body or {}
    if outcome == "applied":
        said = (
            f"already applied{where} at {ended_at:%Y-%m-%d %H:%M:%S} UTC (ledger #{ledger_id}); "
            "not applied again"
        )
        return Applied({"ledger_id": ledger_id, "already": True}, where=where, said=said)
    if outcome == "running":  # we hold its lock: whoever was applying it is gone
        after = {
            t: await describe(ledger, schema, t)
            for t in body.get("tables_after") or body.get("tables") or []
        }
        before = {t: await describe(ledger, schema, t) for t in body.get("tables") or []}
        if fingerprint(after) == body.get("fingerprint_after"):
            state = "the schema is the planned one: it was applied"
        elif fingerprint(before) == plan.resource_version:
            state = "the schema is unchanged: it was not applied"
        else:
            state = "the schema is neither the one before nor the planned one: check it"
        text = (
            f"an earlier apply of this migration started at {started_at:%Y-%m-%d %H:%M:%S} UTC "
            f"was interrupted (ledger #{ledger_id}); checked now: {state}. It is not run again."
        )
        await _finish(ledger, ledger_id, "interrupted", text)
        raise ApplyError(text)
    if outcome in {"refused", "interrupted"}:
        raise ApplyError(f"this migration was {outcome} before (ledger #{ledger_id}): {detail}")
    return None  # failed before (nothing changed): may be tried again


async def _record(
    ledger: AsyncConnection,
    plan: Plan,
    body: dict[str, Any],
    who: dict[str, Any],
    row: Any,
    outcome: str,
    detail: str | None,
    *,
    start: bool = False,
) -> int:
    values = {
        "hash": plan.plan_hash,
        "title": str(body.get("title") or plan.action),
        "sql": (plan.files[0].content if plan.files else ""),
        "service": body.get("service"),
        "environment": body.get("environment"),
        "requester": who.get("requester"),
        "approvers": list(who.get("approvers") or []),
        "thread": who.get("thread"),
        "before": plan.resource_version,
        "total": len(body.get("steps") or []),
        "outcome": outcome,
        "detail": detail,
    }
    if row is not None:
        await ledger.execute(
            f"UPDATE {LEDGER} SET outcome = %(outcome)s, detail = %(detail)s, started_at = now(),"
            " ended_at = CASE WHEN %(outcome)s = 'running' THEN NULL ELSE now() END, "
            "steps_done = 0, requester = %(requester)s, approvers = %(approvers)s, "
            "thread = %(thread)s WHERE plan_hash = %(hash)s",
            values,
        )
        return int(row[0])
    cur = await ledger.execute(
        f"INSERT INTO {LEDGER} (plan_hash, title, sql, service, environment, requester, "
        "approvers, thread, fingerprint_before, steps_total, outcome, detail, ended_at) VALUES "
        "(%(hash)s, %(title)s, %(sql)s, %(service)s, %(environment)s, %(requester)s, "
        "%(approvers)s, %(thread)s, %(before)s, %(total)s, %(outcome)s, %(detail)s, "
        "CASE WHEN %(outcome)s = 'running' THEN NULL ELSE now() END) RETURNING id",
        values,
    )
    got = await cur.fetchone()
    return int(got[0]) if got else 0


async def _finish(
    ledger: AsyncConnection,
    ledger_id: int,
    outcome: str,
    detail: str | None,
    *,
    fingerprint_after: str | None = None,
) -> None:
    await ledger.execute(
        f"UPDATE {LEDGER} SET outcome = %s, detail = %s, ended_at = now(), "
        "fingerprint_after = coalesce(%s, fingerprint_after) WHERE id = %s",
        (outcome, detail, fingerprint_after, ledger_id),
    )


def _groups(steps: list[Step]) -> list[list[Step]]:
    """Consecutive transactional steps together; a concurrent or batched step alone."""
    groups: list[list[Step]] = []
    for step in steps:
        if (
            step.concurrent
            or step.batched
            or not groups
            or groups[-1][-1].concurrent
            or (groups[-1][-1].batched)
        ):
            groups.append([step])
        else:
            groups[-1].append(step)
    return groups


async def _run_steps(
    work: AsyncConnection,
    target: Target,
    steps: list[Step],
    body: dict[str, Any],
    dbs: Databases,
    schema: str,
    ledger_id: int,
) -> None:
    settings = dbs.settings
    lock_ms = int(settings.lock_timeout_s * 1000)
    done = 0
    backup = body.get("backup")

    async def holders(table: str | None) -> str:
        return await _holders(target, table)

    for group in _groups(steps):
        first = group[0]
        if first.concurrent:
            await work.set_autocommit(True)
            await work.execute(f"SET lock_timeout = '{lock_ms}ms'")
            await _retrying(
                work, first, settings, lambda s=first: _concurrent(work, s, schema), holders
            )
            await work.set_autocommit(False)
        elif first.batched:
            while True:
                changed = await _retrying(
                    work, first, settings, lambda s=first: _batch(work, s), holders
                )
                if changed == 0:
                    break
        else:

            async def run(group: list[Step] = group, done: int = done, copy: Any = backup) -> int:
                async with work.transaction():
                    await work.execute(f"SET LOCAL lock_timeout = '{lock_ms}ms'")
                    if copy:
                        await _backup(work, copy, schema)
                    for step in group:
                        await work.execute(step.sql)
                    await work.execute(
                        f"UPDATE {LEDGER} SET steps_done = %s WHERE id = %s",
                        (done + len(group), ledger_id),
                    )
                return 0

            await _retrying(work, first, settings, run, holders)
            backup = None
        done += len(group)
        if first.concurrent or first.batched:
            await work.execute(
                f"UPDATE {LEDGER} SET steps_done = %s WHERE id = %s", (done, ledger_id)
            )
            await work.commit()


async def _retrying(
    work: AsyncConnection, step: Step, settings: Any, attempt: Any, holders: Any
) -> int:
    for number in range(1, settings.apply_retries + 1):
        try:
            return int(await attempt() or 0)
        except errors.LockNotAvailable:
            if not work.autocommit:
                await work.rollback()
            if number == settings.apply_retries:
                held = await holders(step.table)
                raise ApplyError(
                    f"could not get the lock on {step.table} within {settings.lock_timeout_s:g}s"
                    f", {number} attempts: {held}; nothing of this statement was applied "
                    f"({step.sql.splitlines()[0][:100]})"
                ) from None
            await asyncio.sleep(settings.retry_pause_s * number)
    return 0


async def _batch(work: AsyncConnection, step: Step) -> int:
    async with work.transaction():
        await work.execute("SET LOCAL lock_timeout = '5s'")
        cur = await work.execute(step.sql)
        return max(cur.rowcount, 0)


async def _concurrent(work: AsyncConnection, step: Step, schema: str) -> int:
    if step.index:
        await _drop_invalid(work, step.index, schema)
    try:
        await work.execute(step.sql)
    except psycopg.Error:
        if step.index:
            await _drop_invalid(work, step.index, schema)
        raise
    return 0


async def _drop_invalid(work: AsyncConnection, index: str, schema: str) -> None:
    row = await (
        await work.execute(
            "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (schema, index),
        )
    ).fetchone()
    if row and row[0]:
        await work.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {qident(schema)}.{qident(index)}")


async def _backup(work: AsyncConnection, backup: dict[str, Any], schema: str) -> None:
    table, column, name = backup["table"], backup["column"], backup["name"]
    await work.execute(f"CREATE SCHEMA IF NOT EXISTS {BACKUP_SCHEMA}")
    await work.execute(
        f"CREATE TABLE {BACKUP_SCHEMA}.{qident(name)} AS SELECT ctid::text AS row_ctid, "
        f"{_key(backup)}{qident(column)} FROM {qident(schema)}.{qident(table)}"
    )


def _key(backup: dict[str, Any]) -> str:
    keys = backup.get("key") or []
    return "".join(f"{qident(k)}, " for k in keys)


async def _holders(target: Target, table: str | None) -> str:
    if not table:
        return "another session holds it"
    try:
        conn = await target.open()
        await conn.set_autocommit(True)
        async with conn:
            rows = await (
                await conn.execute(
                    "SELECT l.pid, l.mode, a.state, a.application_name, "
                    "extract(epoch FROM now() - a.xact_start)::int FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid JOIN pg_class c ON "
                    "c.oid = l.relation WHERE c.relname = %s AND l.granted AND l.pid <> "
                    "pg_backend_pid()",
                    (table,),
                )
            ).fetchall()
    except (psycopg.Error, DatabaseError):
        rows = []
    if not rows:
        return "another session held it"
    held = "; ".join(
        f"pid {pid} holds {mode} ({state or 'idle'}"
        f"{', ' + app if app else ''}, transaction open {age or 0}s)"
        for pid, mode, state, app, age in rows[:3]
    )
    return f"held by {held}"


def _diag(exc: psycopg.Error) -> str:
    return (exc.diag.message_primary or str(exc)).strip()
