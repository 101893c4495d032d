"""Graph runs this bot is driving right now, so a crash mid-run is noticed, not forgotten.

Each replica writes `{prefix}:slack:inflight` (hash: thread id -> owner, channel, status
ts, started at) before it drives a thread (a new request or a resume after a vote) and
removes the entry when the drive returns. Each replica also keeps a heartbeat key
`{prefix}:slack:instance:{id}` alive. An entry whose owner has no heartbeat any more was
left by a process that died mid-run: `orphans()` hands it to exactly one surviving
replica (HDEL decides who), which reports it in the Slack thread.

Without Redis nothing survives a restart, so there is nothing to recover: `orphans()`
is always empty in that mode.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import Any

__all__ = ["InFlight"]

# Remove the entry only if it is still the one we read (a live replica may have replaced it).
_TAKE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


class InFlight:
    def __init__(
        self,
        redis_url: str | None = None,
        *,
        prefix: str = "devops-bot",
        lease: float = 90.0,
        instance_id: str | None = None,
    ) -> None:
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        self.lease = lease
        self._key = f"{prefix}:slack:inflight"
        self._instance = f"{prefix}:slack:instance:"
        self._local: dict[str, dict[str, Any]] = {}
        self._beat_at = -math.inf  # monotonic time of the last heartbeat written
        self._redis = None
        if redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(redis_url)

    async def begin(self, thread_id: str, **info: Any) -> None:
        entry = {**info, "owner": self.instance_id, "started_at": time.time()}
        if self._redis is None:
            self._local[thread_id] = entry
            return
        if time.monotonic() - self._beat_at > self.lease / 4:  # else it is fresh enough
            await self.heartbeat()
        await self._redis.hset(self._key, thread_id, json.dumps(entry))

    async def end(self, thread_id: str) -> None:
        if self._redis is None:
            self._local.pop(thread_id, None)
        else:
            await self._redis.hdel(self._key, thread_id)

    async def heartbeat(self) -> None:
        if self._redis is not None:
            beat = time.monotonic()
            await self._redis.set(
                self._instance + self.instance_id, "1", px=max(1, int(self.lease * 1000))
            )
            self._beat_at = beat

    async def orphans(self) -> list[tuple[str, dict[str, Any]]]:
        """Entries of dead owners, each claimed for this replica (and removed) exactly once."""
        if self._redis is None:
            return []
        found = []
        for raw_thread, raw in (await self._redis.hgetall(self._key)).items():
            thread_id = raw_thread.decode() if isinstance(raw_thread, bytes) else str(raw_thread)
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = {}
            owner = str(entry.get("owner") or "")
            if owner == self.instance_id:
                continue
            if owner and await self._redis.exists(self._instance + owner):
                continue  # a live replica is driving it
            if await self._redis.eval(_TAKE, 1, self._key, thread_id, raw):  # one replica wins
                found.append((thread_id, entry))
        return found

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.delete(self._instance + self.instance_id)
            await self._redis.aclose()
