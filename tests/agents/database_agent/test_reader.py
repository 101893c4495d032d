"""The classifier reads database requests into context: held-out phrasings written the way
people write in Slack (none of them is in the reader's own examples), through the rules
classifier, routed to database_agent with the keys its node needs."""

from __future__ import annotations

import pytest

from workflow.agents.database_agent.migrations import EXAMPLES
from workflow.classify.rules import classify_rules
from workflow.routing import route_for

HELD_OUT = [
    (
        "add a nullable memo text column to invoices in billing staging",
        {
            "db_op": "add_column",
            "table": "invoices",
            "column": "memo",
            "column_type": "text",
            "nullable": True,
            "database": "billing",
            "environment": "staging",
        },
    ),
    (
        "index payments on account_id in prod",
        {
            "db_op": "add_index",
            "table": "payments",
            "index_columns": ["account_id"],
            "environment": "production",
        },
    ),
    (
        "hey can we get an index on invoices(account_id, status) in billing prod pls",
        {"db_op": "add_index", "table": "invoices", "index_columns": ["account_id", "status"]},
    ),
    (
        "need a new column `priority` integer not null default 0 on invoices, billing staging",
        {
            "db_op": "add_column",
            "column": "priority",
            "column_type": "integer",
            "nullable": False,
            "default": "0",
            "table": "invoices",
        },
    ),
    (
        "can we rename invoices.memo to note on billing staging?",
        {"db_op": "rename_column", "table": "invoices", "column": "memo", "new_name": "note"},
    ),
    (
        "pls make invoices.amount_cents a bigint in billing staging",
        {
            "db_op": "change_type",
            "table": "invoices",
            "column": "amount_cents",
            "column_type": "bigint",
        },
    ),
    (
        "drop the legacy_flag column from accounts in billing prod",
        {"db_op": "drop_column", "table": "accounts", "column": "legacy_flag"},
    ),
    (
        "add a unique constraint on accounts(email) in billing prod",
        {"db_op": "add_unique", "table": "accounts", "index_columns": ["email"]},
    ),
    (
        "hey can you add a foreign key from invoices.account_id to accounts.id on billing prod",
        {
            "db_op": "add_foreign_key",
            "table": "invoices",
            "column": "account_id",
            "ref_table": "accounts",
            "ref_column": "id",
        },
    ),
    (
        "run this on billing staging ```ALTER TABLE invoices ADD COLUMN memo text;```",
        {
            "db_op": "raw_sql",
            "sql": "ALTER TABLE invoices ADD COLUMN memo text;",
            "database": "billing",
        },
    ),
    (
        "what does the payments table look like? show the schema of payments in billing prod",
        {"db_op": "describe", "table": "payments", "database": "billing"},
    ),
    ("which tables in billing prod are biggest", {"db_op": "biggest", "database": "billing"}),
    # "describe" is also kubectl's word: a table named makes it a database read
    (
        "describe the payments table in billing staging",
        {"db_op": "describe", "table": "payments", "database": "billing"},
    ),
    (
        "show me the invoices table in billing prod",
        {"db_op": "describe", "table": "invoices", "database": "billing"},
    ),
    ("what changed in the billing schema this week", {"db_op": "changes", "days": 7.0}),
    ("slowest queries on billing prod?", {"db_op": "slow", "database": "billing"}),
    (
        "could you create table disputes (id bigint, payment_id bigint not null, opened_at "
        "timestamptz default now()) in billing staging",
        {"db_op": "create_table", "table": "disputes"},
    ),
]


@pytest.mark.parametrize(("text", "expected"), HELD_OUT, ids=[h[0][:50] for h in HELD_OUT])
def test_held_out_requests(text, expected):
    request = classify_rules(text)
    assert route_for(request.task_type).agent == "database_agent", request
    for key, value in expected.items():
        assert request.context.get(key) == value, (key, request.context)


def test_held_out_are_not_the_examples():
    assert not {h[0] for h in HELD_OUT} & set(EXAMPLES)


@pytest.mark.parametrize("text", EXAMPLES)
def test_every_example_the_bot_offers_is_understood(text):
    request = classify_rules(text)
    assert route_for(request.task_type).agent == "database_agent", request
    assert request.context.get("db_op"), request.context


def test_the_url_never_enters_the_context():
    request = classify_rules("show the schema of invoices in billing prod")
    assert not any("://" in str(v) for v in request.context.values())
