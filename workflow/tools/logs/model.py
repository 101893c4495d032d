"""What both log backends share: the query and result models, levels, grouping, escaping."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, field_validator
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

Level = Literal["error", "warn", "info"]
MAX_LIMIT = 2000
MAX_GROUPS = 50

# Severities a level filter accepts (minimum severity).
_ERROR_WORDS = ("error", "fatal", "critical", "panic")
_LEVEL_WORDS: dict[str, tuple[str, ...]] = {
    "error": _ERROR_WORDS,
    "warn": ("warn", "warning", *_ERROR_WORDS),
    "info": ("info", "warn", "warning", *_ERROR_WORDS),
}
_SEVERITY = {
    "fatal": "error",
    "panic": "error",
    "critical": "error",
    "crit": "error",
    "err": "error",
    "error": "error",
    "warning": "warn",
    "warn": "warn",
    "info": "info",
    "debug": "debug",
    "trace": "debug",
}
_LEVEL_FIELD = re.compile(r"""(?ix)(?:\blevel|\blvl|\bseverity)["']?\s*[=:]\s*["']?([a-z]+)""")
_LEVEL_WORD = re.compile(r"(?i)\b(fatal|panic|critical|error|warning|warn|info|debug|trace)\b")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ---------------------------------------------------------------------------- models


class LogQuery(BaseModel):
    """What to search: one service's logs, optionally by level and search term."""

    service: str = Field(min_length=1, max_length=253)
    namespace: str | None = Field(default=None, max_length=253)
    level: Level | None = None
    term: str | None = Field(default=None, max_length=500)
    since_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    limit: int = Field(default=200, ge=1, le=MAX_LIMIT)

    @field_validator("level", mode="before")
    @classmethod
    def _level_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower() or None
            return {"warning": "warn", "err": "error", "errors": "error"}.get(value, value)
        return value

    @field_validator("term", mode="before")
    @classmethod
    def _empty_term(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value


class LogLine(BaseModel):
    ts: datetime
    pod: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    level: str | None = None
    message: str


class LogGroup(BaseModel):
    pattern: str
    count: int
    first_ts: datetime
    last_ts: datetime
    example: str


class LogResult(BaseModel):
    source: Literal["loki", "kubernetes"]
    lines: list[LogLine]
    groups: list[LogGroup]
    truncated: bool
    query: str
    warnings: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------------------- helpers


def detect_level(line: str) -> str | None:
    """The line's level (error/warn/info/debug) from a level field, else a level word."""
    match = _LEVEL_FIELD.search(line)
    if match and match.group(1).lower() in _SEVERITY:
        return _SEVERITY[match.group(1).lower()]
    match = _LEVEL_WORD.search(line)
    return _SEVERITY[match.group(1).lower()] if match else None


def _level_matches(line: str, level: str | None) -> bool:
    if level is None:
        return True
    found = detect_level(line)
    if found is None:
        return False
    return found in {_SEVERITY[w] for w in _LEVEL_WORDS[level]}


_NORMALISERS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<uuid>",
    ),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
        "<ts>",
    ),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\b(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+\b"), "<duration>"),
    # ids: long tokens mixing letters and digits (request ids, pod-name hashes, ...)
    (re.compile(r"\b(?=[A-Za-z0-9_]*\d[A-Za-z0-9_]*\d)(?=[A-Za-z0-9_]*[A-Za-z])\w{8,}\b"), "<id>"),
    (re.compile(r"(?<![A-Za-z])\d+(?:\.\d+)?"), "<n>"),
]


def normalise_message(message: str) -> str:
    """The message with variable parts replaced, so repeats of one message compare equal."""
    text = message.strip()
    for pattern, repl in _NORMALISERS:
        text = pattern.sub(repl, text)
    return re.sub(r"\s+", " ", text)[:300]


def group_messages(lines: list[LogLine], *, max_groups: int = MAX_GROUPS) -> list[LogGroup]:
    """Repeated messages grouped by normalised pattern, most frequent first."""
    groups: dict[str, LogGroup] = {}
    for line in lines:
        key = normalise_message(line.message)
        group = groups.get(key)
        if group is None:
            groups[key] = LogGroup(
                pattern=key, count=1, first_ts=line.ts, last_ts=line.ts, example=line.message
            )
            continue
        group.count += 1
        if line.ts < group.first_ts:
            group.first_ts = line.ts
        if line.ts >= group.last_ts:
            group.last_ts = line.ts
            group.example = line.message
    ordered = sorted(groups.values(), key=lambda g: (-g.count, -g.last_ts.timestamp()))
    return ordered[:max_groups]


def logql_string(value: str) -> str:
    """`value` as a double-quoted LogQL (Go) string literal."""
    # JSON string escaping is a subset of Go's: \" \\ \n \r \t \b \f \uXXXX.
    return json.dumps(value, ensure_ascii=False)


_RE2_SPECIAL = set(r"\.+*?()|[]{}^$-#&~")


def re2_escape(text: str) -> str:
    """`text` as an RE2 pattern matching it literally (only punctuation is escaped)."""
    return "".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in text)


def _level_regex(level: str) -> str:
    return "(?i)\\b(" + "|".join(sorted(set(_LEVEL_WORDS[level]))) + ")\\b"


def _finish(
    source: Literal["loki", "kubernetes"],
    lines: list[LogLine],
    query: LogQuery,
    query_text: str,
    *,
    truncated: bool,
    warnings: list[str] | None = None,
) -> LogResult:
    lines.sort(key=lambda line: line.ts)
    if len(lines) > query.limit:
        truncated = True
        lines = lines[-query.limit :]
    return LogResult(
        source=source,
        lines=lines,
        groups=group_messages(lines),
        truncated=truncated,
        query=query_text,
        warnings=warnings or [],
    )


T = TypeVar("T")


async def _with_retries(
    call: Callable[[], Awaitable[T]], transient: Callable[[BaseException], bool], attempts: int
) -> T:
    retrying = AsyncRetrying(
        stop=stop_after_attempt(max(attempts, 1)),
        wait=wait_exponential(multiplier=0.1, max=2),
        retry=retry_if_exception(transient),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover
