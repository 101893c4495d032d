"""The namespace-aware memory bus that nodes and agents share.

Three namespaces: `workflow` (routing and reflection notes, written by workflow
nodes), `agent` (each agent's own `<agent>.*` keys) and `org` (organisation-wide data
such as the service catalog, written only by loaders). Reads are open to everybody;
writes are checked against the caller's `AccessContext`. `workflow` and `agent` keys
live per graph thread (`scope` = thread id), `org` keys are global.

Redis layout: one hash per (namespace, scope), `{prefix}:mem:{namespace}:{scope}`
(scope `_` for org), field = key, value = the JSON text. A hash, not one string per
key, because thread ids contain `:` and a key-per-string SCAN pattern for thread
`a` would also match thread `a:b`. Thread-scoped hashes expire `thread_ttl_seconds`
after their last write; org hashes never expire.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

import redis.asyncio as aioredis

__all__ = [
    "DEFAULT_THREAD_TTL_SECONDS",
    "AccessContext",
    "ActorKind",
    "InMemoryBackend",
    "MemoryAccessError",
    "MemoryBackend",
    "MemoryBus",
    "Namespace",
    "RedisBackend",
]

DEFAULT_THREAD_TTL_SECONDS = 14 * 24 * 3600

ActorKind = Literal["workflow", "agent", "loader"]

_KEY_RE = re.compile(r"[A-Za-z0-9_.:-]+")
_ORG_SCOPE = "_"
_MAX_SCOPE_LEN = 512


class Namespace(StrEnum):
    WORKFLOW = "workflow"
    AGENT = "agent"
    ORG = "org"


class MemoryAccessError(PermissionError):
    """A write the caller's access context does not allow."""


@dataclass(frozen=True)
class AccessContext:
    """Who is writing: a workflow node, an agent, or a loader of org data."""

    actor_kind: ActorKind
    actor: str

    def __post_init__(self) -> None:
        if self.actor_kind not in ("workflow", "agent", "loader"):
            raise ValueError(
                f"actor_kind must be 'workflow', 'agent' or 'loader', not {self.actor_kind!r}"
            )
        if not isinstance(self.actor, str) or not _KEY_RE.fullmatch(self.actor):
            raise ValueError(f"actor name must match [A-Za-z0-9_.:-]+, got {self.actor!r}")

    @classmethod
    def for_workflow(cls, name: str) -> AccessContext:
        return cls("workflow", name)

    @classmethod
    def for_agent(cls, name: str) -> AccessContext:
        return cls("agent", name)

    @classmethod
    def for_loader(cls, name: str = "catalog") -> AccessContext:
        return cls("loader", name)


# --- backends ---------------------------------------------------------------------

_Bucket = tuple[str, str]  # (namespace, scope); scope is "_" for org


@runtime_checkable
class MemoryBackend(Protocol):
    """Storage for JSON texts, grouped in buckets of (namespace, scope)."""

    async def get(self, bucket: _Bucket, key: str) -> str | None: ...

    async def set(self, bucket: _Bucket, key: str, raw: str, ttl_seconds: int | None) -> None: ...

    async def delete(self, bucket: _Bucket, key: str) -> bool: ...

    async def items(self, bucket: _Bucket) -> dict[str, str]: ...

    async def aclose(self) -> None: ...


class InMemoryBackend:
    """A process-local backend for tests, the CLI and single-replica installs.

    No method awaits between reading and writing, so each operation is atomic on
    the event loop without a lock. Bucket TTLs behave as in Redis (checked lazily).
    """

    def __init__(self) -> None:
        self._data: dict[_Bucket, dict[str, str]] = {}
        self._expires_at: dict[_Bucket, float] = {}

    def _live(self, bucket: _Bucket) -> dict[str, str] | None:
        deadline = self._expires_at.get(bucket)
        if deadline is not None and time.monotonic() >= deadline:
            self._data.pop(bucket, None)
            self._expires_at.pop(bucket, None)
        return self._data.get(bucket)

    async def get(self, bucket: _Bucket, key: str) -> str | None:
        values = self._live(bucket)
        return None if values is None else values.get(key)

    async def set(self, bucket: _Bucket, key: str, raw: str, ttl_seconds: int | None) -> None:
        values = self._live(bucket)
        if values is None:
            values = self._data[bucket] = {}
        values[key] = raw
        if ttl_seconds is not None:
            self._expires_at[bucket] = time.monotonic() + ttl_seconds

    async def delete(self, bucket: _Bucket, key: str) -> bool:
        values = self._live(bucket)
        if values is None or key not in values:
            return False
        del values[key]
        if not values:
            self._data.pop(bucket, None)
            self._expires_at.pop(bucket, None)
        return True

    async def items(self, bucket: _Bucket) -> dict[str, str]:
        return dict(self._live(bucket) or {})

    async def aclose(self) -> None:
        return None


class RedisBackend:
    """Redis storage shared by every replica: one hash per (namespace, scope)."""

    def __init__(
        self, client: aioredis.Redis, prefix: str = "devops-bot", *, owns_client: bool = False
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._owns_client = owns_client

    def redis_key(self, bucket: _Bucket) -> str:
        namespace, scope = bucket
        return f"{self._prefix}:mem:{namespace}:{scope}"

    async def get(self, bucket: _Bucket, key: str) -> str | None:
        return _text(await self._client.hget(self.redis_key(bucket), key))

    async def set(self, bucket: _Bucket, key: str, raw: str, ttl_seconds: int | None) -> None:
        name = self.redis_key(bucket)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(name, key, raw)
            if ttl_seconds is not None:
                pipe.expire(name, ttl_seconds)
            await pipe.execute()

    async def delete(self, bucket: _Bucket, key: str) -> bool:
        return bool(await self._client.hdel(self.redis_key(bucket), key))

    async def items(self, bucket: _Bucket) -> dict[str, str]:
        raw = await self._client.hgetall(self.redis_key(bucket))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


# --- validation ---------------------------------------------------------------------


def _namespace(value: Namespace | str) -> Namespace:
    try:
        return Namespace(value)
    except ValueError:
        valid = ", ".join(n.value for n in Namespace)
        raise ValueError(f"unknown memory namespace {value!r} (expected {valid})") from None


def _check_key(key: str, what: str = "key") -> None:
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValueError(f"memory {what} must match [A-Za-z0-9_.:-]+, got {key!r}")


def _bucket(namespace: Namespace, scope: str | None) -> _Bucket:
    if namespace is Namespace.ORG:
        return (namespace.value, _ORG_SCOPE)
    if scope is None or scope == "":
        raise ValueError(
            f"scope (the graph thread id) is required for the {namespace.value} namespace"
        )
    if (
        not isinstance(scope, str)
        or len(scope) > _MAX_SCOPE_LEN
        or any(c.isspace() or not c.isprintable() for c in scope)
    ):
        raise ValueError(
            f"scope must be a thread id without whitespace, at most {_MAX_SCOPE_LEN} "
            f"characters, got {scope!r}"
        )
    return (namespace.value, scope)


def _check_write(ctx: AccessContext, namespace: Namespace, key: str) -> None:
    if not isinstance(ctx, AccessContext):
        raise TypeError(f"access_context must be an AccessContext, not {type(ctx).__name__}")
    who = f"{ctx.actor_kind} {ctx.actor!r} may not write {namespace.value}/{key}"
    if ctx.actor_kind == "loader":
        if namespace is not Namespace.ORG:
            raise MemoryAccessError(f"{who}: loaders write only the org namespace")
        return
    if namespace is Namespace.ORG:
        raise MemoryAccessError(f"{who}: org is read-only (only loaders write it)")
    if ctx.actor_kind == "workflow":
        if namespace is not Namespace.WORKFLOW:
            raise MemoryAccessError(f"{who}: workflow nodes write only the workflow namespace")
        return
    own = f"{ctx.actor}."
    if namespace is not Namespace.AGENT or not (key.startswith(own) and len(key) > len(own)):
        raise MemoryAccessError(f"{who}: agents write only their own keys ({ctx.actor}.*)")


def _check_json(value: Any, path: str = "$") -> None:
    """Accept exactly what round-trips through JSON unchanged."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"memory value at {path} is {value!r}, which JSON cannot hold")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise TypeError(
                    f"memory value at {path} has a {type(k).__name__} key {k!r}; "
                    "JSON object keys must be strings"
                )
            _check_json(item, f"{path}.{k}")
        return
    raise TypeError(
        f"memory value at {path} is a {type(value).__name__}, which is not JSON data "
        "(use dict, list, str, int, float, bool or None; dump models with "
        "model_dump(mode='json') first)"
    )


# --- the bus ------------------------------------------------------------------------


class MemoryBus:
    """Namespace-checked reads and writes of JSON data over a `MemoryBackend`."""

    def __init__(
        self,
        backend: MemoryBackend,
        *,
        thread_ttl_seconds: int | None = DEFAULT_THREAD_TTL_SECONDS,
    ) -> None:
        if thread_ttl_seconds is not None and thread_ttl_seconds <= 0:
            raise ValueError("thread_ttl_seconds must be positive or None")
        self.backend = backend
        self.thread_ttl_seconds = thread_ttl_seconds

    @classmethod
    def in_memory(cls, *, thread_ttl_seconds: int | None = DEFAULT_THREAD_TTL_SECONDS) -> MemoryBus:
        return cls(InMemoryBackend(), thread_ttl_seconds=thread_ttl_seconds)

    @classmethod
    def from_redis_url(
        cls,
        url: str,
        *,
        prefix: str = "devops-bot",
        thread_ttl_seconds: int | None = DEFAULT_THREAD_TTL_SECONDS,
    ) -> MemoryBus:
        client = aioredis.Redis.from_url(url, decode_responses=True)
        return cls(
            RedisBackend(client, prefix, owns_client=True),
            thread_ttl_seconds=thread_ttl_seconds,
        )

    async def set(
        self,
        namespace: Namespace | str,
        key: str,
        value: Any,
        *,
        access_context: AccessContext,
        scope: str | None = None,
    ) -> None:
        ns = _namespace(namespace)
        _check_key(key)
        _check_write(access_context, ns, key)
        bucket = _bucket(ns, scope)
        _check_json(value)
        raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        ttl = None if ns is Namespace.ORG else self.thread_ttl_seconds
        await self.backend.set(bucket, key, raw, ttl)

    async def get(
        self,
        namespace: Namespace | str,
        key: str,
        *,
        scope: str | None = None,
        default: Any = None,
    ) -> Any:
        ns = _namespace(namespace)
        _check_key(key)
        raw = await self.backend.get(_bucket(ns, scope), key)
        return default if raw is None else json.loads(raw)

    async def keys(
        self, namespace: Namespace | str, *, scope: str | None = None, prefix: str = ""
    ) -> list[str]:
        """Keys in one namespace (and thread), sorted, optionally starting with `prefix`."""
        ns = _namespace(namespace)
        found = await self.backend.items(_bucket(ns, scope))
        return sorted(k for k in found if k.startswith(prefix))

    async def delete(
        self,
        namespace: Namespace | str,
        key: str,
        *,
        access_context: AccessContext,
        scope: str | None = None,
    ) -> bool:
        """Remove a key under the same rules as `set`; True when it existed."""
        ns = _namespace(namespace)
        _check_key(key)
        _check_write(access_context, ns, key)
        return await self.backend.delete(_bucket(ns, scope), key)

    async def snapshot(
        self, namespace: Namespace | str, *, scope: str | None = None
    ) -> dict[str, Any]:
        """Every key of one namespace (and thread) with its decoded value."""
        ns = _namespace(namespace)
        found = await self.backend.items(_bucket(ns, scope))
        return {k: json.loads(found[k]) for k in sorted(found)}

    async def aclose(self) -> None:
        await self.backend.aclose()

    async def __aenter__(self) -> MemoryBus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
