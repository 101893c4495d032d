"""Where each open approval card is: thread id -> channel, card ts, status message ts.

The expiry sweeper needs it to close a card nobody clicked. With Redis (REDIS_URL) the
index is one hash shared by every replica and survives restarts; without Redis it lives
in this process (a restarted bot then closes an expired request with a note in its
thread instead of editing the old card). Group membership lookups are cached here too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["CardIndex", "CardRef", "TtlCache"]


@dataclass(frozen=True)
class CardRef:
    channel: str
    card_ts: str
    status_ts: str = ""


class CardIndex:
    """thread_id -> CardRef: a Redis hash `{prefix}:slack:cards`, or a dict in this process."""

    def __init__(self, redis_url: str | None = None, *, prefix: str = "devops-bot") -> None:
        self._local: dict[str, CardRef] = {}
        self._key = f"{prefix}:slack:cards"
        self._redis = None
        if redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(redis_url)

    @property
    def shared(self) -> bool:
        return self._redis is not None

    async def put(self, thread_id: str, ref: CardRef) -> None:
        if self._redis is not None:
            await self._redis.hset(self._key, thread_id, json.dumps(asdict(ref)))
        else:
            self._local[thread_id] = ref

    async def get(self, thread_id: str) -> CardRef | None:
        if self._redis is None:
            return self._local.get(thread_id)
        raw = await self._redis.hget(self._key, thread_id)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return CardRef(
                str(data["channel"]), str(data["card_ts"]), str(data.get("status_ts", ""))
            )
        except (ValueError, KeyError, TypeError):
            return None

    async def remove(self, thread_id: str) -> None:
        if self._redis is not None:
            await self._redis.hdel(self._key, thread_id)
        else:
            self._local.pop(thread_id, None)

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


class TtlCache:
    """A small async memo with a per-entry lifetime (Slack user-group members); None is not kept."""

    def __init__(self, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._values: dict[str, tuple[float, Any]] = {}

    async def get(self, key: str, load: Callable[[], Awaitable[Any]]) -> Any:
        now = self._clock()
        hit = self._values.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await load()
        if value is not None:  # None: the lookup failed; ask again next time
            self._values[key] = (now + self.ttl, value)
        return value
