"""Apply exactly once: stale plans refused, lock timeouts retried then failed clearly, racing
approvals applied once, the ledger read again after a restart, a crash reported not re-run;
reads; and no database URL or password in anything the bot says."""

from __future__ import annotations

import asyncio
import logging
import threading

import psycopg
import pytest

from tests.agents.database_agent.conftest import make_deps
from tests.agents.database_agent.helpers import apply, plan_for, query
from workflow.agents.base import Refusal
from workflow.agents.spec import ApplyError


def ledger(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT outcome, steps_done, steps_total, detail FROM devops_bot.migrations ORDER BY id"
        ).fetchall()


async def test_a_schema_change_between_plan_and_apply_is_refused(deps, database):
    answer = await plan_for(deps, "add a nullable memo text column to invoices in billing prod")
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("ALTER TABLE invoices ADD COLUMN sneaky int")
    with pytest.raises(ApplyError, match="changed since it was approved"):
        await apply(deps, answer.plan)
    with psycopg.connect(database) as conn:
        cols = conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE column_name = 'memo'"
        )
        assert cols.fetchone() == (0,)
    assert ledger(database)[0][0] == "refused"


def hold_lock(url: str, table: str, release: threading.Event, held: threading.Event) -> None:
    with psycopg.connect(url, application_name="long-report") as conn:
        conn.execute(f"LOCK TABLE {table} IN ACCESS SHARE MODE")
        held.set()
        release.wait(30)
        conn.rollback()


async def test_a_lock_held_by_another_session_times_out_retries_then_fails_clearly(database):
    deps = make_deps(database, lock_timeout_s=0.2, apply_retries=3)
    answer = await plan_for(deps, "add a nullable memo text column to invoices in billing prod")
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_lock, args=(database, "invoices", release, held))
    holder.start()
    try:
        assert held.wait(10)
        with pytest.raises(ApplyError) as failed:
            await apply(deps, answer.plan)
    finally:
        release.set()
        holder.join()
    text = str(failed.value)
    assert "could not get the lock on invoices within 0.2s, 3 attempts" in text
    assert "AccessShareLock" in text and "long-report" in text
    assert "nothing of this statement was applied" in text
    assert ledger(database)[0][:2] == ("failed", 0)
    # once the lock is gone the same approved plan goes through
    done = await apply(deps, answer.plan)
    assert "applied" in done.said


async def test_a_lock_released_during_the_retries_lets_the_apply_through(database):
    deps = make_deps(database, lock_timeout_s=0.2, apply_retries=5)
    answer = await plan_for(deps, "add a nullable memo text column to invoices in billing prod")
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_lock, args=(database, "invoices", release, held))
    holder.start()
    assert held.wait(10)
    threading.Timer(0.5, release.set).start()
    try:
        done = await apply(deps, answer.plan)
    finally:
        holder.join()
    assert "applied" in done.said
    assert ledger(database)[0][0] == "applied"


async def test_two_racing_approvals_apply_once(database):
    first, second = make_deps(database), make_deps(database)  # two replicas
    answer = await plan_for(first, "add an index on payments(account_id) in billing prod")
    results = await asyncio.gather(
        apply(first, answer.plan), apply(second, answer.plan), return_exceptions=True
    )
    applied = [r for r in results if not isinstance(r, Exception)]
    said = [r.said for r in applied] + [str(r) for r in results if isinstance(r, Exception)]
    fresh = [s for s in said if s.startswith("applied")]
    assert len(fresh) == 1, said
    assert all(
        s.startswith("applied") or "not applied again" in s or "not applied twice" in s
        for s in said
    ), said
    assert [row[0] for row in ledger(database)] == ["applied"]


async def test_the_ledger_survives_a_restart_and_a_plan_is_never_applied_twice(database):
    answer = await plan_for(make_deps(database), "drop column name from accounts in billing prod")
    await apply(make_deps(database), answer.plan)
    again = await apply(make_deps(database), answer.plan)  # a new process: new clients
    assert "already applied" in again.said and "not applied again" in again.said
    assert len(ledger(database)) == 1


async def test_a_crash_mid_apply_is_found_from_the_ledger_and_not_run_again(deps, database):
    answer = await plan_for(deps, "add a nullable memo text column to invoices in billing prod")
    plan = answer.plan
    # what a replica that died mid-apply left: its ledger row (running) and its change
    from workflow.agents.database_agent.ledger import _CREATE

    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(_CREATE)
        conn.execute(
            "INSERT INTO devops_bot.migrations (plan_hash, title, sql, steps_total) "
            "VALUES (%s, 'x', 'x', 1)",
            (plan["plan_hash"],),
        )
        conn.execute("ALTER TABLE invoices ADD COLUMN memo text")
    with pytest.raises(ApplyError) as failed:
        await apply(deps, plan)
    text = str(failed.value)
    assert "was interrupted" in text and "it was applied" in text and "not run again" in text
    assert ledger(database)[0][0] == "interrupted"
    with pytest.raises(ApplyError, match="interrupted before"):
        await apply(deps, plan)


async def test_concurrent_index_failure_leaves_no_invalid_index(deps, database):
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE payments SET account_id = 1 WHERE id <= 2")
    answer = await plan_for(deps, "add a unique index on payments(account_id) in billing prod")
    assert answer.status == "failed", "the rehearsal already sees the duplicates"
    text = "run in billing prod: ```CREATE UNIQUE INDEX CONCURRENTLY pay_acc ON payments (id);```"
    answer = await plan_for(deps, text)
    assert answer.status == "planned", answer.summary
    with psycopg.connect(database, autocommit=True) as conn:  # duplicates appear meanwhile
        conn.execute("ALTER TABLE payments DROP CONSTRAINT payments_pkey")
        conn.execute("INSERT INTO payments (id, account_id, amount_cents) VALUES (1, 1, 1)")
        conn.execute(
            "ALTER TABLE payments ADD CONSTRAINT payments_pkey PRIMARY KEY (id, amount_cents)"
        )
    with pytest.raises(ApplyError):
        await apply(deps, answer.plan)
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT to_regclass('pay_acc')").fetchone() == (None,)


async def test_reads(deps, database):
    schema = await query(deps, "show the schema of invoices in billing prod")
    assert schema.status == "completed"
    titles = [p["title"] for p in schema.parts]
    assert titles == ["invoices: columns", "invoices: indexes", "invoices: constraints"]
    assert ["status", "text", "no", "'open'::text"] in schema.parts[0]["rows"]
    biggest = await query(deps, "which tables in billing prod are biggest")
    assert biggest.parts[0]["rows"][0][0] == "payments"
    none = await query(deps, "what changed in the billing prod schema this week")
    assert "no migration was ever applied by the bot" in none.summary
    answer = await plan_for(deps, "add a nullable memo text column to invoices in billing prod")
    from workflow.apply import APPLYING

    APPLYING.set({"requester": "U1", "approvers": ["U2"], "thread": "T1"})
    await apply(deps, answer.plan)
    changes = await query(deps, "what changed in the billing prod schema this week")
    row = changes.parts[0]["rows"][0]
    assert row[1:5] == ["applied", "add column memo text to invoices", "U1", "U2"]
    slow = await query(deps, "slowest queries on billing prod")
    assert slow.status == "completed" and slow.parts, slow.summary
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("DROP EXTENSION pg_stat_statements")
    plain = await query(deps, "slowest queries on billing prod")
    assert "pg_stat_statements is not installed" in plain.summary
    with pytest.raises(Refusal, match="no table nope"):
        await query(deps, "show the schema of nope in billing prod")


async def test_reads_are_read_only(deps, database):
    from workflow.agents.database_agent.reads import read_only as _read_only
    from workflow.agents.database_agent.reads import target_of as _target

    target = _target(deps, {"environment": "production"})
    conn = await _read_only(target, 5)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        await conn.execute("CREATE TABLE x (a int)")
    await conn.close()


async def test_secrets_never_in_output(pg_server, database, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    secret = "s3cr3t-Pa55"
    url = database.replace("postgres@", f"postgres:{secret}@")  # trust auth ignores it
    deps = make_deps(url)
    said = []
    answer = await plan_for(deps, "add a nullable memo text column to invoices in billing prod")
    said += [answer.summary, str(answer.plan), str(answer.parts)]
    done = await apply(deps, answer.plan)
    said += [done.said, str(done.result)]
    for text in ("show the schema of invoices in billing prod", "slowest queries on billing prod"):
        a = await query(deps, text)
        said += [a.summary, str(a.parts)]
    bad = make_deps(f"postgresql://postgres:{secret}@127.0.0.1:1/nope")
    with pytest.raises(Exception) as refused:
        await query(bad, "show the schema of invoices in billing prod")
    said.append(str(refused.value))
    said += [caplog.text, *capsys.readouterr()]
    said.append(repr(deps.extras["postgres"]))
    blob = "\n".join(said)
    assert secret not in blob
    assert "postgresql://" not in blob
    assert "BILLING_PROD_DATABASE_URL" in blob  # databases are named by their variable
