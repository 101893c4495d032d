"""Append-only audit trail: who asked, who voted, what was decided, what was applied.

Three backends behind one small protocol: a Redis stream (`{prefix}:audit`, shared by
every replica, trimmed at about 100 000 entries), a SQLite table in the data directory
(the embedded default) and an in-memory list (tests, `persistence="memory"`).
Entries hold identifiers and short text only; `detail` is truncated and scrubbed of
token-shaped strings so a secret pasted into a request never lands in the trail.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from redis.asyncio import Redis

__all__ = [
    "EVENTS",
    "FIELDS",
    "AuditEntry",
    "AuditLog",
    "InMemoryAuditLog",
    "RedisAuditLog",
    "SqliteAuditLog",
]

# "apply": the backend accepted the change; "rollout": a Deployment change finished rolling out.
# "click_refused": a button or modal that does not belong to the request it names.
# "cancel": a run's read-only stretch stopped from its thread (who, what was stopped).
EVENTS = frozenset(
    {
        "request",
        "vote",
        "vote_refused",
        "click_refused",
        "decision",
        "apply",
        "rollout",
        "failure",
        "run",
        "cancel",
    }
)
FIELDS = (
    "at",
    "event",
    "thread_id",
    "user",
    "action",
    "target",
    "environment",
    "plan_hash",
    "approval_id",
    "detail",
)
STREAM_MAXLEN = 100_000
DETAIL_MAX = 300
_PAGE = 500

# Slack tokens, OpenAI-style keys, bearer tokens, and key=value secrets.
_SECRETS = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|sk-[A-Za-z0-9_-]{16,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|(?i:password|passwd|secret|token|api[_-]?key)\s*[=:]\s*\S+)"
)


def _now() -> str:
    return _iso(datetime.now(UTC))


def _iso(at: datetime) -> str:
    """One fixed UTC format, so stored timestamps compare correctly as text."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _scrub(text: str) -> str:
    text = _SECRETS.sub("[redacted]", " ".join(text.split()))
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 1] + "…"


@dataclass
class AuditEntry:
    event: str
    thread_id: str = ""
    user: str = ""
    action: str = ""
    target: str = ""
    environment: str = ""
    plan_hash: str = ""
    approval_id: str = ""
    detail: str = ""
    at: str = field(default_factory=_now)

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"unknown audit event {self.event!r}")

    @classmethod
    def of(cls, entry: AuditEntry | Mapping[str, Any]) -> AuditEntry:
        if isinstance(entry, AuditEntry):
            values = asdict(entry)
        else:
            values = {k: entry.get(k) for k in FIELDS if k in entry}
        at = values.pop("at", None)
        clean = {k: "" if v is None else str(v) for k, v in values.items()}
        clean["detail"] = _scrub(clean.get("detail", ""))
        if isinstance(at, datetime):
            at = _iso(at)
        elif at:
            at = _iso(datetime.fromisoformat(str(at).replace("Z", "+00:00")))
        return cls(**clean, at=at or _now())

    def as_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in FIELDS}


class AuditLog(Protocol):
    async def append(self, entry: AuditEntry | Mapping[str, Any]) -> None: ...
    async def read(
        self,
        thread_id: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]: ...


def _matches(row: Mapping[str, Any], thread_id: str | None, since: str | None) -> bool:
    if thread_id is not None and row.get("thread_id") != thread_id:
        return False
    return since is None or str(row.get("at", "")) >= since


class InMemoryAuditLog:
    """One process only."""

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []

    async def append(self, entry: AuditEntry | Mapping[str, Any]) -> None:
        row = AuditEntry.of(entry).as_dict()
        self._rows.append({"id": str(len(self._rows) + 1), **row})

    async def read(
        self,
        thread_id: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        floor = _iso(since) if since else None
        rows = [dict(r) for r in self._rows if _matches(r, thread_id, floor)]
        return rows[-limit:] if limit > 0 else []


class RedisAuditLog:
    """`XADD {prefix}:audit MAXLEN ~ 100000`: shared by every replica, bounded in size."""

    def __init__(self, client: Redis, prefix: str = "devops-bot") -> None:
        self._r = client
        self.key = f"{prefix}:audit"

    async def append(self, entry: AuditEntry | Mapping[str, Any]) -> None:
        row = AuditEntry.of(entry).as_dict()
        await self._r.xadd(self.key, row, maxlen=STREAM_MAXLEN, approximate=True)

    async def read(
        self,
        thread_id: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """The newest `limit` matching entries, oldest first.

        Stream ids are the server's milliseconds, so `since` gives the range's lower
        bound; `at` is then compared exactly (the two clocks may differ by a little).
        """
        if limit <= 0:
            return []
        floor = _iso(since) if since else None
        low = "-"
        if since is not None:
            # A second of slack for clock skew between this host and Redis.
            low = f"{max(0, int(since.timestamp() * 1000) - 1000)}-0"
        out: list[dict[str, Any]] = []
        high = "+"
        while len(out) < limit:
            page = await self._r.xrevrange(self.key, max=high, min=low, count=_PAGE)
            if not page:
                break
            for raw_id, raw in page:
                row = {"id": _text(raw_id), **{_text(k): _text(v) for k, v in raw.items()}}
                if _matches(row, thread_id, floor):
                    out.append(row)
                    if len(out) >= limit:
                        break
            if len(page) < _PAGE:
                break
            high = "(" + _text(page[-1][0])
        out.reverse()
        return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class SqliteAuditLog:
    """The embedded default: a table with an autoincrement id, written off the event loop."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, check_same_thread=False
        )
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                + ", ".join(f"{name} TEXT NOT NULL" for name in FIELDS)
                + ")"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS audit_thread ON audit (thread_id, id)")
            self._db.execute("CREATE INDEX IF NOT EXISTS audit_at ON audit (at)")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    async def append(self, entry: AuditEntry | Mapping[str, Any]) -> None:
        row = AuditEntry.of(entry).as_dict()
        await asyncio.to_thread(self._insert, row)

    def _insert(self, row: dict[str, str]) -> None:
        sql = f"INSERT INTO audit ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))})"
        with self._lock:
            self._db.execute(sql, [row[k] for k in FIELDS])

    async def read(
        self,
        thread_id: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """The newest `limit` matching entries, oldest first."""
        if limit <= 0:
            return []
        return await asyncio.to_thread(self._select, thread_id, since, limit)

    def _select(
        self, thread_id: str | None, since: datetime | None, limit: int
    ) -> list[dict[str, Any]]:
        where, params = [], []
        if thread_id is not None:
            where.append("thread_id = ?")
            params.append(thread_id)
        if since is not None:
            where.append("at >= ?")
            params.append(_iso(since))
        sql = f"SELECT id, {', '.join(FIELDS)} FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, [*params, limit]).fetchall()
        return [{"id": str(r[0]), **dict(zip(FIELDS, r[1:], strict=True))} for r in reversed(rows)]
