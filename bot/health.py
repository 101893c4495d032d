"""Is the state store (Redis) reachable? And what a replica tells Slack users when it is not.

`StateStore` keeps one flag per replica: a probe PINGs Redis every `interval` seconds (with a
timeout, so a hung server counts as down), and any request that meets a Redis connection
error marks it down at once. The Slack edge (`bot.app`) checks it before anything else:
while it is down, every request gets a clear ephemeral answer and nothing starts, so nothing
was changed. The probe marks it up again when Redis answers: recovery needs nobody.

Without REDIS_URL (the embedded SQLite store) the flag is always up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog

__all__ = ["StateStore", "is_store_error"]

log = structlog.get_logger("devops-bot.health")

# Redis answers these when it is up but cannot keep state: full under `noeviction`, a
# replica in read-only mode, persistence failing (MISCONF), still loading its data.
_REFUSALS = ("OOM ", "READONLY ", "MISCONF ", "LOADING ", "MASTERDOWN ")


def is_store_error(exc: BaseException | None) -> bool:
    """Whether `exc` (or anything in its chain or group) says Redis is unreachable or
    refusing writes."""
    from redis import exceptions as redis_errors

    seen: set[int] = set()
    stack = [exc]
    while stack:
        err = stack.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, redis_errors.ConnectionError | redis_errors.TimeoutError):
            return True
        if isinstance(err, redis_errors.ResponseError) and str(err).startswith(_REFUSALS):
            return True
        if isinstance(err, BaseExceptionGroup):
            stack.extend(err.exceptions)
        stack.extend([err.__cause__, err.__context__])
    return False


class StateStore:
    """Reachability of the Redis the replicas share (always "embedded" without one)."""

    def __init__(self, redis: Any = None, *, interval: float = 1.0, timeout: float = 1.0) -> None:
        self._redis = redis
        self.interval = interval
        self.timeout = timeout
        self.available = True
        self.error: str | None = None
        self.since = time.time()
        self._probe: asyncio.Task[None] | None = None

    @property
    def state(self) -> str:
        if self._redis is None:
            return "embedded"
        return "ok" if self.available else "unavailable"

    def mark_down(self, exc: BaseException | str) -> None:
        error = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"[:200]
        if self.available:
            log.warning("state_store.unavailable", error=error)
            self.since = time.time()
        self.available, self.error = False, error

    def mark_up(self) -> None:
        if not self.available:
            log.warning("state_store.available_again", down_s=round(time.time() - self.since, 1))
            self.since = time.time()
        self.available, self.error = True, None

    async def check(self) -> bool:
        """PING Redis now (bounded by `timeout`); updates and returns the flag."""
        if self._redis is None:
            return True
        try:
            async with asyncio.timeout(self.timeout):
                await self._redis.ping()
        except TimeoutError:
            self.mark_down("TimeoutError: no answer to PING")
        except Exception as exc:
            if not is_store_error(exc):
                raise
            self.mark_down(exc)
        else:
            self.mark_up()
        return self.available

    def start(self) -> None:
        if self._redis is not None and (self._probe is None or self._probe.done()):
            self._probe = asyncio.create_task(self._probe_forever(), name="state-store-probe")

    async def stop(self) -> None:
        task, self._probe = self._probe, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _probe_forever(self) -> None:
        while True:
            try:
                await self.check()
            except Exception as exc:  # keep probing whatever happens
                log.warning("state_store.probe_failed", error=repr(exc)[:200])
            await asyncio.sleep(self.interval)
