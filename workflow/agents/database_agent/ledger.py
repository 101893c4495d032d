"""The migration ledger: `devops_bot.migrations` in the target database itself.

One row per plan hash (unique): what ran (the SQL), for whom (requester, approvers, thread),
when (start, end), how it ended (running, applied, failed, refused, interrupted) and how far
it got (`steps_done`, updated in the same transaction as the steps). The row survives any
restart of the bot because it lives with the schema it describes.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

__all__ = ["LEDGER", "ensure_ledger", "ledger_rows", "lock_key"]

LEDGER = "devops_bot.migrations"

_CREATE = """
CREATE SCHEMA IF NOT EXISTS devops_bot;
CREATE TABLE IF NOT EXISTS devops_bot.migrations (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  plan_hash text NOT NULL UNIQUE,
  title text NOT NULL,
  sql text NOT NULL,
  service text,
  environment text,
  requester text,
  approvers text[] NOT NULL DEFAULT '{}',
  thread text,
  fingerprint_before text,
  fingerprint_after text,
  steps_total int NOT NULL DEFAULT 0,
  steps_done int NOT NULL DEFAULT 0,
  started_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  outcome text NOT NULL DEFAULT 'running',
  detail text
);
"""


async def ensure_ledger(conn: AsyncConnection) -> None:
    """Create the ledger once (serialised: two replicas may try at the same moment)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('devops_bot.migrations'))")
        exists = await (await conn.execute("SELECT to_regclass(%s)", (LEDGER,))).fetchone()
        if exists and exists[0] is None:
            await conn.execute(_CREATE)


def lock_key(plan_hash: str) -> str:
    return f"devops_bot.migration:{plan_hash}"


async def ledger_rows(
    conn: AsyncConnection, *, days: float | None = None, limit: int = 50
) -> list[dict[str, Any]] | None:
    """The ledger's rows, newest first (within `days`); None when there is no ledger."""
    exists = await (await conn.execute("SELECT to_regclass(%s)", (LEDGER,))).fetchone()
    if not exists or exists[0] is None:
        return None
    where = "WHERE started_at > now() - make_interval(secs => %s)" if days else ""
    params: tuple[Any, ...] = (days * 86400,) if days else ()
    cur = await conn.execute(
        f"SELECT id, plan_hash, title, sql, requester, approvers, thread, started_at, ended_at, "
        f"outcome, detail, steps_done, steps_total FROM {LEDGER} {where} "
        f"ORDER BY started_at DESC, id DESC LIMIT {int(limit)}",
        params,
    )
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]
