"""Small key-value records the Slack side keeps: in Redis (shared by replicas, surviving a
restart) when REDIS_URL is set, otherwise in this process.

- `RetryDeduper`: ids seen within a TTL (Events API retries; short claims on clicks).
- `CardIndex`: thread id -> where its open approval card is (the expiry sweeper needs it).
- `IncidentHeaders`: thread id -> the message that is an incident thread's header.
- `InFlight`: the graph runs this replica is driving right now (see its docstring).
- `CancelRequests`: "stop this run", asked in its thread on any replica, for the replica
  driving it to notice.

`build_app` opens ONE Redis client (`redis_client`) and hands it to all of them; the runtime
closes it once, after them. A store built from a URL instead opens a client of its own and
closes it in its `aclose` (a test playing a replica that died, for one).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "CancelRequests",
    "CardIndex",
    "CardRef",
    "HeaderRef",
    "InFlight",
    "IncidentHeaders",
    "RetryDeduper",
    "redis_client",
]


def redis_client(redis_url: str | None) -> Any:
    """An asyncio Redis client for `redis_url`, or None without one (no connection yet)."""
    if not redis_url:
        return None
    from redis.asyncio import Redis

    return Redis.from_url(redis_url)


class _Backed:
    """A store on a Redis client (shared: the caller closes it) or a URL (its own), or none."""

    def __init__(self, redis: Any) -> None:
        self._owns_redis = isinstance(redis, str)
        self._redis = redis_client(redis) if isinstance(redis, str) else redis

    @property
    def shared(self) -> bool:
        return self._redis is not None

    async def aclose(self) -> None:
        if self._redis is not None and self._owns_redis:
            await self._redis.aclose()


# -- retry de-duplication --------------------------------------------------------------------


class RetryDeduper(_Backed):
    """Remembers ids for `ttl` seconds: Redis SET NX (shared by replicas) or in this process.

    Events API event ids (retries), and short claims on clicks (`namespace="claim"`).
    """

    def __init__(
        self,
        redis: Any = None,
        *,
        prefix: str = "devops-bot",
        ttl: int = 3600,
        namespace: str = "event",
    ) -> None:
        super().__init__(redis)
        self._ttl = ttl
        self._prefix = f"{prefix}:slack:{namespace}"
        self._seen: OrderedDict[str, float] = OrderedDict()

    async def first_time(self, event_id: str) -> bool:
        """True the first time `event_id` is seen (within the TTL), False afterwards."""
        if self._redis is not None:
            key = f"{self._prefix}:{event_id}"
            return bool(await self._redis.set(key, "1", nx=True, ex=self._ttl))
        now = time.monotonic()
        while self._seen:  # entries are in expiry order: the TTL is the same for all
            oldest, expires = next(iter(self._seen.items()))
            if expires > now:
                break
            del self._seen[oldest]
        if event_id in self._seen:
            return False
        self._seen[event_id] = now + self._ttl
        return True


# -- open approval cards ------------------------------------------------------------------------


@dataclass(frozen=True)
class CardRef:
    channel: str
    card_ts: str
    status_ts: str = ""


class CardIndex(_Backed):
    """thread_id -> CardRef: a Redis hash `{prefix}:slack:cards`, or a dict in this process.

    Without Redis a restarted bot does not know the old cards: it closes an expired request
    with a note in its thread instead of editing the card.
    """

    def __init__(self, redis: Any = None, *, prefix: str = "devops-bot") -> None:
        super().__init__(redis)
        self._local: dict[str, CardRef] = {}
        self._key = f"{prefix}:slack:cards"

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


# -- incident headers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HeaderRef:
    """An incident status message: where it is, and its lines under the header line."""

    channel: str
    ts: str
    body: str


class IncidentHeaders(_Backed):
    """thread id -> HeaderRef: a Redis key per thread (shared by replicas), or a dict here."""

    TTL = 14 * 24 * 3600  # incidents older than this keep their last header text

    def __init__(self, redis: Any = None, *, prefix: str = "devops-bot") -> None:
        super().__init__(redis)
        self._prefix = f"{prefix}:slack:incident-header:"
        self._local: dict[str, HeaderRef] = {}

    async def put(self, thread_id: str, ref: HeaderRef) -> None:
        if self._redis is None:
            self._local[thread_id] = ref
        else:
            await self._redis.set(self._prefix + thread_id, json.dumps(asdict(ref)), ex=self.TTL)

    async def get(self, thread_id: str) -> HeaderRef | None:
        if self._redis is None:
            return self._local.get(thread_id)
        raw = await self._redis.get(self._prefix + thread_id)
        try:
            data = json.loads(raw) if raw is not None else None
            return HeaderRef(str(data["channel"]), str(data["ts"]), str(data["body"]))
        except (ValueError, KeyError, TypeError):
            return None


# -- runs in flight --------------------------------------------------------------------------------

# Remove the entry only if it is still the one we read (a live replica may have replaced it).
_TAKE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


class InFlight(_Backed):
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

    def __init__(
        self,
        redis: Any = None,
        *,
        prefix: str = "devops-bot",
        lease: float = 90.0,
        instance_id: str | None = None,
    ) -> None:
        super().__init__(redis)
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        self.lease = lease
        self._key = f"{prefix}:slack:inflight"
        self._instance = f"{prefix}:slack:instance:"
        self._local: dict[str, dict[str, Any]] = {}
        self._beat_at = -math.inf  # monotonic time of the last heartbeat written

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

    async def get(self, thread_id: str) -> dict[str, Any] | None:
        """The thread's entry (any replica's), or None when nothing drives it."""
        if self._redis is None:
            return self._local.get(thread_id)
        raw = await self._redis.hget(self._key, thread_id)
        if raw is None:
            return None
        try:
            entry = json.loads(raw)
        except ValueError:
            return None
        return entry if isinstance(entry, dict) else None

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
        await super().aclose()


# -- cancel requests -----------------------------------------------------------------------------


class CancelRequests(_Backed):
    """run id -> who asked to stop it: a Redis key per run (any replica writes it, the one
    driving the run takes it), or a dict in this process.

    Keyed by the run's id (its in-flight entry's `run`), not the thread, so a request that
    arrives as a run ends can never stop the thread's next run; it expires after `ttl` s.
    """

    def __init__(self, redis: Any = None, *, prefix: str = "devops-bot", ttl: int = 120) -> None:
        super().__init__(redis)
        self._prefix = f"{prefix}:slack:cancel:"
        self._ttl = ttl
        self._local: dict[str, tuple[float, dict[str, Any]]] = {}

    async def ask(self, run_id: str, **who: Any) -> None:
        entry = {**who, "at": time.time()}
        if self._redis is not None:
            await self._redis.set(self._prefix + run_id, json.dumps(entry), ex=self._ttl)
        else:
            self._local[run_id] = (time.monotonic() + self._ttl, entry)

    async def take(self, run_id: str) -> dict[str, Any] | None:
        """The request to stop `run_id`, removed as it is read (None: nobody asked)."""
        if self._redis is None:
            expires, entry = self._local.pop(run_id, (0.0, None))
            return entry if entry is not None and expires > time.monotonic() else None
        raw = await self._redis.getdel(self._prefix + run_id)
        try:
            entry = json.loads(raw) if raw is not None else None
        except ValueError:
            return None
        return entry if isinstance(entry, dict) else None
