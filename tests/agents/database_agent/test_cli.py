"""The issue's sandbox scenario through the installed CLI: `--sandbox` starts a real
PostgreSQL with the seeded billing databases; an index on payments is planned (SQL file,
locks, rehearsal, schema diff), nothing changes before approval, another user approves it
from another process, the ledger tells the story, and no URL is ever printed."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest

from tests.cli_helpers import Cli, no_traceback
from workflow.agents.database_agent.sandbox import _cluster_dir, stop_sandbox

EXIT_OK, EXIT_PAUSED, EXIT_REFUSED = 0, 10, 3


def thread_of(out: str) -> str:
    return re.search(r"^thread: (cli-\S+)$", out, re.M)[1]  # type: ignore[index]


@pytest.fixture
def cli(sqlite_cli: Cli) -> Iterator[Cli]:
    try:
        yield sqlite_cli
    finally:
        stop_sandbox(sqlite_cli.data_dir)
        shutil.rmtree(_cluster_dir(sqlite_cli.data_dir), ignore_errors=True)


def test_index_on_payments_planned_approved_and_recorded(cli: Cli, tmp_path) -> None:
    out_dir = tmp_path / "out"
    run = cli(
        "run",
        "add an index on payments(account_id) in billing prod",
        "--as",
        "U1",
        "--sandbox",
        "--out",
        str(out_dir),
    )
    no_traceback(run)
    assert run.code == EXIT_PAUSED, run
    assert "database_agent" in run.out
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS payments_account_id_idx ON payments" in run.out
    assert "payments: ~200,000 rows" in run.out
    assert "SHARE UPDATE EXCLUSIVE on payments" in run.out
    assert "rehearsed as its non-concurrent equivalent" in run.out
    assert "+  CREATE INDEX payments_account_id_idx ON public.payments" in run.out
    (sql,) = list(out_dir.rglob("*.sql"))
    assert "CREATE INDEX CONCURRENTLY" in sql.read_text()
    thread = thread_of(run.out)
    shown = cli("sandbox", "show")
    assert "billing_production:" in shown.out and "0 migration(s) applied" in shown.out

    mine = cli("approve", thread, "--as", "U1")
    assert mine.code == EXIT_REFUSED and "self-approval" in mine.both, mine
    done = cli("approve", thread, "--as", "U2")
    no_traceback(done)
    assert done.code == EXIT_OK, done
    assert "applied add index payments_account_id_idx" in done.out and "approved by U2" in done.out

    changes = cli(
        "run", "what changed in the billing prod schema this week", "--as", "U3", "--sandbox"
    )
    assert changes.code == EXIT_OK, changes
    assert re.search(r"applied\s+add index payments_account_id_idx .*U1\s+U2", changes.out)
    schema = cli("run", "show the schema of payments in billing prod", "--as", "U3", "--sandbox")
    assert "payments_account_id_idx" in schema.out
    for res in (run, done, changes, schema, shown):
        assert "postgresql://" not in res.both

    reset = cli("sandbox", "reset")
    assert reset.code == EXIT_OK, reset
    again = cli("run", "show the schema of payments in billing prod", "--as", "U3", "--sandbox")
    assert "payments_account_id_idx" not in again.out, "reset seeds the databases again"


def test_a_drop_needs_approval_and_is_backed_up(cli: Cli) -> None:
    run = cli("run", "drop column name from accounts in billing prod", "--as", "U1", "--sandbox")
    assert run.code == EXIT_PAUSED, run
    assert "destructive" in run.out and "ban-drop-column" in run.out
    assert "copied to devops_bot_backup" in run.out


def test_staging_migrations_go_through_a_sandbox_pull_request(cli: Cli) -> None:
    """billing staging says `migrations: pull_request` in the sandbox catalog: the approved
    plan opens one pull request on acme/billing in the sandbox forge; the database stays."""
    ask = "add a nullable memo text column to invoices in billing staging"
    run = cli("run", ask, "--as", "U1", "--sandbox")
    no_traceback(run)
    assert run.code == EXIT_PAUSED, run
    path = "migrations/0002_add_column_memo_text_to_invoices.sql"
    assert f"Pull request to acme/billing: {path}" in run.out
    assert "Rehearsal: ran on the billing staging database" in run.out
    thread = thread_of(run.out)
    done = cli("approve", thread, "--as", "U1")
    no_traceback(done)
    assert done.code == EXIT_OK, done
    assert "opened pull request #1 on acme/billing: sandbox://acme/billing/pull/1" in done.out
    twice = cli("approve", thread, "--as", "U1")
    no_traceback(twice)
    shown = cli("sandbox", "show")
    assert "pull request sandbox://acme/billing/pull/1 [sandbox] open" in shown.out, shown
    assert "sandbox://acme/billing/pull/2" not in shown.out
    assert "0 migration(s) applied, 1 sent as pull request(s) (not run here)" in shown.out
    schema = cli("run", "show the schema of invoices in billing staging", "--as", "U3", "--sandbox")
    assert schema.code == EXIT_OK and "memo" not in schema.out, "the database is unchanged"
    changes = cli(
        "run", "what changed in the billing staging schema this week", "--as", "U3", "--sandbox"
    )
    assert changes.code == EXIT_OK, changes
    assert "pull_request" in changes.out and "sandbox://acme/billing/pull/1" in changes.out
    for res in (run, done, twice, shown, schema, changes):
        assert "postgresql://" not in res.both
