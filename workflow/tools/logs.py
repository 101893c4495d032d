"""Log search: Loki (LogQL over `/loki/api/v1/query_range`) or Kubernetes pod logs.

Both backends take a `LogQuery` (service, namespace, level, search term, time range, bounded
number of lines) and return a `LogResult` with the matching lines (oldest first, the newest
`limit` of them), the repeated messages grouped after normalising numbers, ids, uuids, hex
strings and durations, and whether the result was cut off.

The level filter is a minimum severity: `error` matches error/fatal/critical/panic lines,
`warn` adds warnings, `info` adds info lines (so it only drops debug/trace lines).
The search term is matched case-insensitively as literal text.

Everything the user types ends up in LogQL only as an escaped string literal (label values,
the term as an escaped regular expression), so user input cannot change the query's shape.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import httpx
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod
from pydantic import BaseModel, Field, field_validator
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from workflow.tools.errors import BackendError
from workflow.tools.http import HttpBackend

__all__ = [
    "KubernetesLogSearch",
    "LogGroup",
    "LogLine",
    "LogQuery",
    "LogResult",
    "LokiLogSearch",
    "detect_level",
    "group_messages",
    "logql_string",
    "normalise_message",
    "re2_escape",
]

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


# ---------------------------------------------------------------------------- Loki


class LokiLogSearch(HttpBackend):
    """Log search on Loki's HTTP API (`/loki/api/v1/query_range`).

    Holds one HTTP client: use as `async with` or call `aclose()`."""

    name = "Loki"
    backend_name = "loki"
    not_configured = (
        "LOKI_URL is not set: set it to the Loki base URL (e.g. http://loki:3100) to search logs"
    )
    # Loki answers 429 when too many queries are outstanding.
    transient_status = frozenset({429, 502, 503, 504})

    def __init__(
        self,
        base_url: str | None,
        *,
        labels: str = "app",
        namespace_label: str = "namespace",
        timeout: float = 10,
        retries: int = 3,
        backoff: float = 0.1,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        for name in (labels, namespace_label):
            if not _LABEL_NAME.match(name):
                raise ValueError(f"invalid Loki label name {name!r}")
        super().__init__(
            base_url, timeout=timeout, retries=retries, backoff=backoff, transport=transport
        )
        self.service_label = labels
        self.namespace_label = namespace_label

    def build_logql(self, query: LogQuery) -> str:
        """The LogQL for `query`: stream selector plus line filters, all values escaped."""
        matchers = [f"{self.service_label}={logql_string(query.service)}"]
        if query.namespace:
            matchers.append(f"{self.namespace_label}={logql_string(query.namespace)}")
        logql = "{" + ",".join(matchers) + "}"
        if query.level:
            logql += f" |~ {logql_string(_level_regex(query.level))}"
        if query.term:
            logql += f" |~ {logql_string('(?i)' + re2_escape(query.term))}"
        return logql

    async def search(self, query: LogQuery) -> LogResult:
        logql = self.build_logql(query)
        end_ns = time.time_ns()
        start_ns = end_ns - query.since_minutes * 60 * 1_000_000_000
        params = {
            "query": logql,
            "start": str(start_ns),
            "end": str(end_ns),
            # one more than asked for tells whether there was more
            "limit": str(query.limit + 1),
            "direction": "backward",
        }
        body = await self.request_json(
            "GET", "/loki/api/v1/query_range", params=params, what=f"the query {logql}"
        )
        try:
            if body.get("status") != "success":
                raise BackendError(
                    f"Loki answered status {body.get('status')!r}: {body}", backend="loki"
                )
            data = body["data"]
            if data.get("resultType") != "streams":
                raise BackendError(
                    f"Loki answered resultType {data.get('resultType')!r}", backend="loki"
                )
            lines = [
                self._line(stream.get("stream") or {}, value)
                for stream in data.get("result") or []
                for value in stream.get("values") or []
            ]
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            raise BackendError(
                f"Loki answered an unexpected response: {exc}", backend="loki"
            ) from exc
        # direction=backward: Loki returns the newest `limit` entries; keep the newest.
        lines.sort(key=lambda line: line.ts)
        return _finish("loki", lines, query, logql, truncated=False)

    @staticmethod
    def _line(labels: dict[str, str], value: list[Any]) -> LogLine:
        ns, text = int(value[0]), str(value[1])
        return LogLine(
            ts=datetime.fromtimestamp(ns / 1e9, tz=UTC),
            pod=labels.get("pod") or labels.get("pod_name"),
            labels={str(k): str(v) for k, v in labels.items()},
            level=_SEVERITY.get(str(labels.get("level", "")).lower()) or detect_level(text),
            message=text,
        )


# ---------------------------------------------------------------------------- Kubernetes

# lightkube's ApiError derives from its HTTP library's HTTPStatusError; find HTTPError.
_KubeHTTPError: type[Exception] = next(
    (c for c in ApiError.__mro__ if c.__name__ == "HTTPError"), Exception
)


def _kube_transient(exc: BaseException) -> bool:
    if isinstance(exc, ApiError):
        return (exc.status.code or 0) in (429, 500, 502, 503, 504)
    return isinstance(exc, _KubeHTTPError) and getattr(exc, "response", None) is None


def _kube_message(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        return f"HTTP {exc.status.code}: {exc.status.message or exc.status.reason}"
    return type(exc).__name__


_TS_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2}) ")


def _parse_ts(line: str) -> tuple[datetime | None, str]:
    match = _TS_PREFIX.match(line)
    if not match:
        return None, line
    base, frac, zone = match.groups()
    stamp = base + "." + (frac or "0")[:6].ljust(6, "0") + ("+00:00" if zone == "Z" else zone)
    return datetime.fromisoformat(stamp), line[match.end() :]


class KubernetesLogSearch:
    """Log search over a deployment's pod logs, through the KubernetesBackend's client.

    Reads the last lines of each pod (`tailLines`, `sinceSeconds`, with timestamps) and
    filters level and term here; used when no Loki is configured.
    """

    backend_name = "kubernetes"

    def __init__(
        self,
        kubernetes_backend: Any,
        *,
        default_namespace: str = "default",
        retries: int = 3,
        max_pods: int = 20,
    ):
        self.backend = kubernetes_backend
        self.default_namespace = default_namespace
        self.retries = retries
        self.max_pods = max_pods

    async def _retry(self, make: Callable[[], Awaitable[T]]) -> T:
        return await _with_retries(make, _kube_transient, self.retries)

    async def search(self, query: LogQuery) -> LogResult:
        from workflow.tools.kubernetes import InvalidNameError, validate_name

        client = self.backend.client
        namespace = query.namespace or self.default_namespace
        try:
            validate_name(namespace, "namespace")
            validate_name(query.service, "deployment")
        except InvalidNameError as exc:
            raise BackendError(str(exc), backend="kubernetes") from exc
        try:
            dep = await self._retry(
                lambda: client.get(Deployment, query.service, namespace=namespace)
            )
        except ApiError as exc:
            if exc.status.code == 404:
                raise BackendError(
                    f"deployment '{query.service}' not found in namespace '{namespace}'",
                    backend="kubernetes",
                    status=404,
                ) from exc
            raise BackendError(
                f"Kubernetes API error reading deployment '{query.service}': {_kube_message(exc)}",
                backend="kubernetes",
                status=exc.status.code,
            ) from exc
        except _KubeHTTPError as exc:
            raise BackendError(
                f"cannot reach the Kubernetes API: {_kube_message(exc)}", backend="kubernetes"
            ) from exc

        spec = dep.to_dict().get("spec") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        container = next(
            (c["name"] for c in containers if c.get("name") == query.service),
            containers[0]["name"] if containers else None,
        )

        async def list_pods() -> list[dict]:
            return [
                p.to_dict()
                async for p in client.list(Pod, namespace=namespace, labels=selector or None)
            ]

        try:
            pods = await self._retry(list_pods)
        except _KubeHTTPError as exc:
            raise BackendError(
                f"cannot list pods of '{query.service}': {_kube_message(exc)}",
                backend="kubernetes",
            ) from exc
        pods.sort(key=lambda p: p["metadata"]["name"])
        warnings: list[str] = []
        if len(pods) > self.max_pods:
            warnings.append(f"{len(pods)} pods; read the logs of the first {self.max_pods}")
            pods = pods[: self.max_pods]
        filtering = bool(query.level or query.term)
        tail = min(max(query.limit * 5, 500), 5000) if filtering else query.limit + 1
        since = query.since_minutes * 60
        cutoff = datetime.now(UTC).timestamp() - since

        async def read(pod: dict) -> tuple[str, list[str] | None, str | None]:
            name = pod["metadata"]["name"]

            async def fetch() -> list[str]:
                return [
                    line.rstrip("\n")
                    async for line in client.log(
                        name,
                        namespace=namespace,
                        container=container,
                        tail_lines=tail,
                        since=since,
                        timestamps=True,
                    )
                ]

            try:
                return name, await self._retry(fetch), None
            except _KubeHTTPError as exc:
                return name, None, f"logs of pod {name}: {_kube_message(exc)}"

        results = await asyncio.gather(*(read(p) for p in pods))
        term = query.term.lower() if query.term else None
        lines: list[LogLine] = []
        truncated = False
        for name, raw, error in results:
            if error:
                warnings.append(error)
                continue
            assert raw is not None
            if len(raw) >= tail:
                truncated = True  # the pod has older lines than the tail read
            for entry in raw:
                ts, text = _parse_ts(entry)
                if ts is None or ts.timestamp() < cutoff:
                    continue
                if term and term not in text.lower():
                    continue
                if not _level_matches(text, query.level):
                    continue
                lines.append(
                    LogLine(
                        ts=ts,
                        pod=name,
                        labels={"namespace": namespace, "pod": name, "container": container or ""},
                        level=detect_level(text),
                        message=text,
                    )
                )
        described = (
            f"pods {', '.join(f'{namespace}/{n}' for n, _, _ in results) or '(none)'} "
            f"(container={container}, tailLines={tail}, sinceSeconds={since})"
        )
        if not pods:
            warnings.append(f"no pods match the selector of deployment '{query.service}'")
        return _finish(
            "kubernetes", lines, query, described, truncated=truncated, warnings=warnings
        )
