"""A migration from Slack, over real HTTP with signed requests, on the sandbox's real
PostgreSQL: the card shows the SQL, the lock and squawk's findings, the SQL file is uploaded
into the thread, nothing changes before a second person approves, then it is applied once."""

from __future__ import annotations

import shutil

import psycopg
import pytest

from tests.slack.harness import running_bot, text_of
from workflow.agents.database_agent.sandbox import _cluster_dir, stop_sandbox

ASK = "change type of invoices.amount_cents to bigint in billing prod"


@pytest.fixture
async def bot(tmp_path, key_prefix):
    try:
        async with running_bot(tmp_path, key_prefix=key_prefix) as running:
            yield running
    finally:
        stop_sandbox(tmp_path)
        shutil.rmtree(_cluster_dir(tmp_path), ignore_errors=True)


def _button(card: dict, action: str) -> dict:
    return next(
        e
        for b in card["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action
    )


def _column_type(bot) -> str:
    dbs = bot.runtime.service.deps.backend("postgres")
    url = dbs.target("billing", "production").url.get_secret_value()
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'invoices' "
            "AND column_name = 'amount_cents'"
        ).fetchone()[0]


async def test_a_migration_card_with_its_sql_findings_and_approval(bot):
    status, _ = await bot.send.command(ASK, user="U1")
    assert status == 200
    card = await bot.wait_card()
    text = text_of(card["blocks"])
    assert "ALTER TABLE invoices ALTER COLUMN amount_cents TYPE bigint" in text
    assert "ACCESS EXCLUSIVE on invoices" in text
    assert "changing-column-type" in text and "destructive" in text
    uploads = await bot.slack.wait_for(lambda: list(bot.slack.uploads.values()))
    assert uploads[0]["filename"] == "billing-production-change_type-invoices.sql"
    assert _column_type(bot) == "integer", "nothing before approval"
    _button(card, "approval_approve")

    await bot.send.click(card, "approval_approve", user="U2")
    done = await bot.slack.wait_for(
        lambda: [p for p in bot.posted() if "applied change type" in p.get("text", "")],
        timeout=30,
    )
    assert "approved by U2" in done[0]["text"]
    assert _column_type(bot) == "bigint"
    everything = "\n".join(str(p) for p in bot.posted())
    assert "postgresql://" not in everything
