"""Log search on Loki: LogQL over `/loki/api/v1/query_range`, every value escaped."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx

from workflow.tools.errors import BackendError
from workflow.tools.http import HttpBackend
from workflow.tools.logs.model import (
    _LABEL_NAME,
    _SEVERITY,
    LogLine,
    LogQuery,
    LogResult,
    _finish,
    _level_regex,
    detect_level,
    logql_string,
    re2_escape,
)


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
