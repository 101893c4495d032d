"""Checkpointer, approval-store and audit-log factory: Redis when REDIS_URL is set, SQLite
otherwise.

Both modes keep a paused approval across process restarts. The Redis checkpointer's
TTL (minutes) is kept well above the longest approval wait, so a pending approval
never loses its thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver

from workflow.approval.store import ApprovalStore, RedisApprovalStore, SqliteApprovalStore
from workflow.audit import AuditLog, InMemoryAuditLog, RedisAuditLog, SqliteAuditLog

__all__ = ["CHECKPOINT_TTL_MINUTES", "Persistence", "PersistenceError", "open_persistence"]

# 14 days: far above the longest approval TTL the policy allows (7 days), so a read
# never needs to refresh it (refresh_on_read costs one EXPIRE per key on every read).
CHECKPOINT_TTL_MINUTES = 14 * 24 * 60


class PersistenceError(RuntimeError):
    """The configured store cannot be used; the message says which and why."""


@dataclass
class Persistence:
    checkpointer: BaseCheckpointSaver
    approvals: ApprovalStore
    mode: str  # "redis" | "sqlite"
    where: str  # redacted URL or file path, safe to print
    audit: AuditLog = field(default_factory=InMemoryAuditLog)


def redact_url(url: str) -> str:
    """The URL without its password, for logs and messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{parts.username}:***@{netloc}"
    else:
        netloc = f":***@{netloc}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@asynccontextmanager
async def open_persistence(
    *, redis_url: str | None, data_dir: Path, key_prefix: str = "devops-bot"
) -> AsyncIterator[Persistence]:
    if redis_url:
        from langgraph.checkpoint.redis.aio import AsyncRedisSaver
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        client = Redis.from_url(redis_url, socket_connect_timeout=5)
        try:
            try:
                await client.ping()
            except RedisError as exc:
                raise PersistenceError(
                    f"cannot reach Redis at REDIS_URL ({redact_url(redis_url)}): {exc}"
                ) from None
            saver = AsyncRedisSaver(
                redis_client=client,
                ttl={"default_ttl": CHECKPOINT_TTL_MINUTES, "refresh_on_read": False},
                checkpoint_prefix=f"{key_prefix}:checkpoint",
                checkpoint_write_prefix=f"{key_prefix}:checkpoint_write",
            )
            await saver.asetup()
            store = RedisApprovalStore(client, prefix=key_prefix)
            audit = RedisAuditLog(client, prefix=key_prefix)
            yield Persistence(saver, store, "redis", redact_url(redis_url), audit)
        finally:
            await client.aclose()
        return

    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    data_dir.mkdir(parents=True, exist_ok=True)
    db = data_dir / "checkpoints.sqlite"
    async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
        await saver.setup()
        store = SqliteApprovalStore(data_dir / "approvals.sqlite", data_dir / "locks")
        audit = SqliteAuditLog(data_dir / "audit.sqlite")
        try:
            yield Persistence(saver, store, "sqlite", str(db), audit)
        finally:
            audit.close()
            store.close()
