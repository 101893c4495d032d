"""Exactly-once bookkeeping for approvals: claims, per-thread locks, the pending index.

Open-source LangGraph lets two concurrent resumes of one thread both run, so the
caller takes `thread_lock(thread)` and `claim("interrupt:<id>")` (SET NX) before it
resumes: one interrupt is consumed by exactly one vote, whatever the number of
replicas, processes or double clicks. The pending index lets `pending` and a
restarted bot find paused approvals without scanning checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import LockError

__all__ = [
    "ApprovalStore",
    "InMemoryApprovalStore",
    "LockTimeoutError",
    "RedisApprovalStore",
    "SqliteApprovalStore",
]

CLAIM_TTL_SECONDS = 30 * 24 * 3600


class LockTimeoutError(TimeoutError):
    """Another process holds this thread's lock for longer than we are willing to wait."""


class ApprovalStore(Protocol):
    def thread_lock(
        self, thread_id: str, *, timeout: float = 30.0, hold: float = 600.0
    ) -> contextlib.AbstractAsyncContextManager[None]: ...
    async def claim(self, key: str, value: dict[str, Any]) -> bool: ...
    async def claimed(self, key: str) -> dict[str, Any] | None: ...
    async def add_pending(self, thread_id: str, summary: dict[str, Any]) -> None: ...
    async def remove_pending(self, thread_id: str) -> None: ...
    async def list_pending(self) -> dict[str, dict[str, Any]]: ...


class InMemoryApprovalStore:
    """One process only: for tests and the in-memory checkpointer."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._claims: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, dict[str, Any]] = {}

    @contextlib.asynccontextmanager
    async def thread_lock(
        self, thread_id: str, *, timeout: float = 30.0, hold: float = 600.0
    ) -> AsyncIterator[None]:
        lock = self._locks.setdefault(thread_id, asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), timeout)
        except TimeoutError:
            raise LockTimeoutError(f"thread {thread_id} is busy") from None
        try:
            yield
        finally:
            lock.release()

    async def claim(self, key: str, value: dict[str, Any]) -> bool:
        if key in self._claims:
            return False
        self._claims[key] = value
        return True

    async def claimed(self, key: str) -> dict[str, Any] | None:
        return self._claims.get(key)

    async def add_pending(self, thread_id: str, summary: dict[str, Any]) -> None:
        self._pending[thread_id] = summary

    async def remove_pending(self, thread_id: str) -> None:
        self._pending.pop(thread_id, None)

    async def list_pending(self) -> dict[str, dict[str, Any]]:
        return dict(self._pending)


class RedisApprovalStore:
    """Shared by every replica: SET NX claims, redis-py locks, a hash of pending threads.

    A thread lock is a lease of `lease` seconds that its holder renews every third of it
    while it works (an apply, a rollout followed for minutes): a replica killed while it
    holds one frees the thread within `lease` seconds instead of blocking it for as long as
    the longest step could take.
    """

    def __init__(self, client: Redis, *, prefix: str = "devops-bot", lease: float = 30.0) -> None:
        self._r = client
        self._prefix = prefix
        self.lease = lease

    @contextlib.asynccontextmanager
    async def thread_lock(
        self, thread_id: str, *, timeout: float = 30.0, hold: float = 600.0
    ) -> AsyncIterator[None]:
        # `hold` is kept for the protocol; here the lease is renewed instead.
        lock = self._r.lock(
            f"{self._prefix}:lock:{thread_id}", timeout=self.lease, blocking_timeout=timeout
        )
        if not await lock.acquire():
            raise LockTimeoutError(f"thread {thread_id} is busy")
        renewal = asyncio.create_task(self._renew(lock), name=f"lock-renewal:{thread_id}")
        try:
            yield
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            with contextlib.suppress(LockError):
                await lock.release()

    async def _renew(self, lock: Any) -> None:
        """Reset the lease to its full length every third of it, for as long as it is held."""
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await lock.reacquire()
            except LockError:  # lost (expired while this process was stalled): stop renewing
                return
            except Exception:  # Redis unreachable for a moment: the next round tries again
                continue

    async def claim(self, key: str, value: dict[str, Any]) -> bool:
        return bool(
            await self._r.set(
                f"{self._prefix}:claim:{key}", json.dumps(value), nx=True, ex=CLAIM_TTL_SECONDS
            )
        )

    async def claimed(self, key: str) -> dict[str, Any] | None:
        raw = await self._r.get(f"{self._prefix}:claim:{key}")
        return json.loads(raw) if raw else None

    async def add_pending(self, thread_id: str, summary: dict[str, Any]) -> None:
        await self._r.hset(f"{self._prefix}:approvals:pending", thread_id, json.dumps(summary))

    async def remove_pending(self, thread_id: str) -> None:
        await self._r.hdel(f"{self._prefix}:approvals:pending", thread_id)

    async def list_pending(self) -> dict[str, dict[str, Any]]:
        raw = await self._r.hgetall(f"{self._prefix}:approvals:pending")
        return {_text(k): json.loads(v) for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class SqliteApprovalStore:
    """The embedded default: claims in SQLite (INSERT OR IGNORE), flock per thread.

    Works across processes on one machine, which is what the CLI needs: two
    `devops-bot approve` commands racing on one thread apply the action once.
    """

    def __init__(self, db_path: Path, lock_dir: Path) -> None:
        self._lock_dir = lock_dir
        lock_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            db_path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._guard = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS pending (thread_id TEXT PRIMARY KEY, summary TEXT)"
        )

    def close(self) -> None:
        self._db.close()

    @contextlib.asynccontextmanager
    async def thread_lock(
        self, thread_id: str, *, timeout: float = 30.0, hold: float = 600.0
    ) -> AsyncIterator[None]:
        name = hashlib.sha256(thread_id.encode()).hexdigest()[:24]
        fd = os.open(self._lock_dir / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LockTimeoutError(f"thread {thread_id} is busy") from None
                    await asyncio.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # sqlite3 calls run in a worker thread: the database may be busy in another process
    # (a CLI next to the bot), and the event loop must not wait on it.
    def _execute(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._guard:
            return self._db.execute(sql, args)

    async def claim(self, key: str, value: dict[str, Any]) -> bool:
        cur = await asyncio.to_thread(
            self._execute,
            "INSERT OR IGNORE INTO claims (key, value) VALUES (?, ?)",
            (key, json.dumps(value)),
        )
        return cur.rowcount == 1

    async def claimed(self, key: str) -> dict[str, Any] | None:
        def row() -> tuple[str] | None:
            with self._guard:
                return self._db.execute("SELECT value FROM claims WHERE key = ?", (key,)).fetchone()

        found = await asyncio.to_thread(row)
        return json.loads(found[0]) if found else None

    async def add_pending(self, thread_id: str, summary: dict[str, Any]) -> None:
        await asyncio.to_thread(
            self._execute,
            "INSERT OR REPLACE INTO pending (thread_id, summary) VALUES (?, ?)",
            (thread_id, json.dumps(summary)),
        )

    async def remove_pending(self, thread_id: str) -> None:
        await asyncio.to_thread(
            self._execute, "DELETE FROM pending WHERE thread_id = ?", (thread_id,)
        )

    async def list_pending(self) -> dict[str, dict[str, Any]]:
        def rows() -> list[tuple[str, str]]:
            with self._guard:
                return self._db.execute("SELECT thread_id, summary FROM pending").fetchall()

        return {tid: json.loads(summary) for tid, summary in await asyncio.to_thread(rows)}
