"""Every migration kind planned (linted, rehearsed, rolled back) then applied, on a real
PostgreSQL; the rehearsal leaves the catalog tables exactly as they were."""

from __future__ import annotations

import psycopg
import pytest

from tests.agents.database_agent.helpers import apply, plan_for, snapshot
from workflow.agents.base import Refusal
from workflow.agents.database_agent.inspect import describe, fingerprint
from workflow.plan import compute_plan_hash

# (request, what the applied schema shows, risk tags the plan must carry)
KINDS = [
    (
        "add a nullable memo text column to invoices in billing prod",
        "SELECT is_nullable FROM information_schema.columns WHERE table_name = 'invoices' "
        "AND column_name = 'memo'",
        ("YES",),
        [],
    ),
    (
        "add column status2 text not null default 'open' to invoices in billing prod",
        "SELECT is_nullable, column_default FROM information_schema.columns WHERE "
        "table_name = 'invoices' AND column_name = 'status2'",
        ("NO", "'open'::text"),
        ["squawk:ban-drop-constraint"],
    ),
    (
        "add column token uuid not null default gen_random_uuid() to payments in billing prod",
        "SELECT count(*) FILTER (WHERE token IS NULL), count(DISTINCT token) > 1 FROM payments",
        (0, True),
        [],
    ),
    (
        "drop column name from accounts in billing prod",
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND "
        "column_name = 'name'",
        (0,),
        ["destructive", "squawk:ban-drop-column"],
    ),
    (
        "rename column method to kind on payments in billing prod",
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'payments' AND "
        "column_name = 'kind'",
        (1,),
        ["destructive", "squawk:renaming-column"],
    ),
    (
        "rename table invoices to bills in billing prod",
        "SELECT to_regclass('bills') IS NOT NULL, to_regclass('invoices') IS NULL",
        (True, True),
        ["destructive", "squawk:renaming-table"],
    ),
    (
        "change type of invoices.amount_cents to bigint in billing prod",
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'invoices' AND "
        "column_name = 'amount_cents'",
        ("bigint",),
        ["destructive", "squawk:changing-column-type", "rewrites:invoices"],
    ),
    (
        "create table refunds (id bigint, payment_id bigint not null, reason text) in billing prod",
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'refunds'",
        (3,),
        [],
    ),
    (
        "add an index on payments(account_id) in billing prod",
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'payments_account_id_idx'::regclass",
        (True,),
        [],
    ),
    (
        "add a foreign key from payments.account_id to accounts.id in billing prod",
        "SELECT convalidated FROM pg_constraint WHERE conname = 'payments_account_id_fkey'",
        (True,),
        [],
    ),
    (
        "add a check (amount_cents >= 0) on payments in billing prod",
        "SELECT convalidated FROM pg_constraint WHERE conrelid = 'payments'::regclass AND "
        "contype = 'c'",
        (True,),
        [],
    ),
    (
        "add a unique constraint on invoices(id, account_id) in billing prod",
        "SELECT count(*) FROM pg_constraint WHERE conname = 'invoices_id_account_id_key'",
        (1,),
        [],
    ),
    (
        "run in billing prod: ```CREATE INDEX payments_paid_at ON payments (paid_at);\n"
        "COMMENT ON TABLE payments IS 'money in';```",
        "SELECT obj_description('payments'::regclass)",
        ("money in",),
        ["squawk:require-concurrent-index-creation", "lock:share:payments"],
    ),
]


@pytest.mark.parametrize(
    ("text", "check", "expected", "tags"), KINDS, ids=[k[0][:50] for k in KINDS]
)
async def test_each_kind_is_rehearsed_untouched_then_applied(
    deps, database, text, check, expected, tags
):
    before = snapshot(database)
    answer = await plan_for(deps, text)
    assert answer.status == "planned", answer.summary
    plan = answer.plan
    assert snapshot(database) == before, "the rehearsal must leave the schema untouched"
    assert "rolled back" in plan["preview"] and "Schema diff" in plan["preview"]
    assert plan["files"][0]["content"].strip().endswith(";")
    assert plan["plan_hash"] and plan["resource_version"].startswith("sha256:")
    for tag in tags:
        assert tag in plan["risk"], (tag, plan["risk"])
    done = await apply(deps, plan)
    assert "applied" in done.said, done.said
    assert "note" not in done.said, "the applied schema is the previewed one"
    with psycopg.connect(database) as conn:
        assert conn.execute(check).fetchone() == expected


async def test_drop_index(deps, database):
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE INDEX payments_method_idx ON payments (method)")
    answer = await plan_for(deps, "drop index payments_method_idx in billing prod")
    assert answer.status == "planned", answer.summary
    assert "DROP INDEX CONCURRENTLY" in answer.plan["files"][0]["content"]
    assert "destructive" in answer.plan["risk"]
    assert "rehearsed as its non-concurrent equivalent" in answer.plan["preview"]
    await apply(deps, answer.plan)
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT to_regclass('payments_method_idx')").fetchone() == (None,)


async def test_the_preview_names_each_lock_and_what_it_blocks(deps):
    answer = await plan_for(deps, "change type of payments.amount_cents to bigint in billing prod")
    preview = answer.plan["preview"]
    assert "ACCESS EXCLUSIVE on payments" in preview
    assert "blocks everything, reads (SELECT) included" in preview
    assert "REWRITES payments" in preview
    assert "payments: ~5,000 rows" in preview
    assert "statement 1: changing-column-type: Changing a column type requires" in preview


async def test_drop_column_copies_the_data_aside_first(deps, database):
    answer = await plan_for(deps, "drop column email from accounts in billing prod")
    backup = answer.plan["body"]["backup"]
    assert backup["key"] == ["id"]
    await apply(deps, answer.plan)
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            f'SELECT count(*), count(email) FROM devops_bot_backup."{backup["name"]}"'
        )
        assert rows.fetchone() == (200, 200)


async def test_not_null_without_default_on_a_table_with_rows_is_refused(deps):
    with pytest.raises(Refusal, match="needs a default"):
        await plan_for(deps, "add a required note text column to invoices in billing prod")


async def test_a_rehearsal_that_fails_is_reported_and_nothing_changes(deps, database):
    before = snapshot(database)
    text = "run in billing prod: ```ALTER TABLE invoices ADD COLUMN n int NOT NULL;```"
    answer = await plan_for(deps, text)
    assert answer.status == "failed" and answer.plan is None
    assert "rehearsal" in answer.summary and "contains null values" in answer.summary
    assert snapshot(database) == before


async def test_unknown_table_and_unsupported_ask_say_how_to_ask(deps):
    with pytest.raises(Refusal, match=r"no table ledgers .*tables: accounts, invoices, payments"):
        await plan_for(deps, "add a nullable memo text column to ledgers in billing prod")
    with pytest.raises(Refusal, match="I can plan these migrations") as refused:
        await plan_for(deps, "please partition payments by month in billing prod")
    assert "add an index on payments(account_id) in billing prod" in str(refused.value)


async def test_plan_hash_covers_the_sql_and_the_fingerprint(deps):
    answer = await plan_for(deps, "add an index on payments(account_id) in billing prod")
    from workflow.plan import Plan

    plan = Plan.model_validate(answer.plan)
    assert compute_plan_hash(plan) == plan.plan_hash
    other = plan.model_copy(update={"resource_version": "sha256:0000"})
    assert compute_plan_hash(other) != plan.plan_hash
    files = [f.model_copy(update={"content": f.content + "-- x\n"}) for f in plan.files]
    assert compute_plan_hash(plan.model_copy(update={"files": files})) != plan.plan_hash


async def test_fingerprint_reads_the_catalog(database):
    async with await psycopg.AsyncConnection.connect(database) as conn:
        a = {"payments": await describe(conn, "public", "payments")}
        await conn.execute("ALTER TABLE payments ADD COLUMN x int")
        b = {"payments": await describe(conn, "public", "payments")}
        await conn.rollback()
    assert fingerprint(a) != fingerprint(b)


async def test_a_dropped_column_is_restored_from_its_copy(deps, database):
    with psycopg.connect(database) as conn:
        names = conn.execute("SELECT id, name FROM accounts ORDER BY id").fetchall()
    dropped = await plan_for(deps, "drop column name from accounts in billing prod")
    done = await apply(deps, dropped.plan)
    assert "say 'restore accounts.name in billing production' to put it back" in done.said
    answer = await plan_for(deps, "restore accounts.name in billing prod")
    assert answer.status == "planned", answer.summary
    assert (
        "UPDATE accounts AS t SET name = b.name FROM devops_bot_backup."
        in (answer.plan["files"][0]["content"])
    )
    await apply(deps, answer.plan)
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT id, name FROM accounts ORDER BY id").fetchall() == names
    with pytest.raises(Refusal, match=r"no copy of accounts\.email"):
        await plan_for(deps, "restore accounts.email in billing prod")


async def test_seeding_honours_types_not_null_unique_and_foreign_keys(deps, database):
    answer = await plan_for(
        deps, "seed the invoices table in billing staging with 500 rows", environment="staging"
    )
    assert answer.status == "planned", answer.summary
    assert answer.plan["action"] == "seed"
    (sample,) = [p for p in answer.parts if p.get("kind") == "table"]
    assert len(sample["rows"]) == 5 and "account_id" in sample["columns"]
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM invoices").fetchone() == (400,)
    await apply(deps, answer.plan)
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM invoices").fetchone() == (900,)
        orphans = conn.execute(
            "SELECT count(*) FROM invoices i LEFT JOIN accounts a ON a.id = i.account_id "
            "WHERE a.id IS NULL"
        )
        assert orphans.fetchone() == (0,)
    accounts = await plan_for(
        deps, "seed accounts with 50 rows in billing staging", environment="staging"
    )
    await apply(deps, accounts.plan)  # email is NOT NULL UNIQUE: generated distinct
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(DISTINCT email) FROM accounts").fetchone() == (250,)


async def test_seeding_production_is_refused_by_default(deps):
    with pytest.raises(Refusal, match="seeding is refused in production"):
        await plan_for(deps, "seed the invoices table in billing prod with 10 rows")


async def test_a_rehearsal_stopped_by_its_timeout_still_plans_and_says_so(database):
    from tests.agents.database_agent.conftest import make_deps

    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO payments (account_id, amount_cents) SELECT 1, g FROM "
            "generate_series(1, 300000) g"
        )
    deps = make_deps(database, rehearsal_timeout_s=0.01)
    before = snapshot(database)
    answer = await plan_for(deps, "change type of payments.amount_cents to bigint in billing prod")
    assert answer.status == "planned", answer.summary
    assert "STOPPED" in answer.summary and "STOPPED" in answer.plan["preview"]
    assert {"rehearsal_incomplete", "high_risk"} <= set(answer.plan["risk"])
    assert snapshot(database) == before
