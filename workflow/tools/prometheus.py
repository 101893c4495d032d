"""Prometheus backend: a client of the HTTP API (`/api/v1/query`, `/api/v1/query_range`).

Named queries (request rate, error ratio, latency quantiles, CPU, memory, restarts) are built
from templates whose label and metric names come from `MetricLabels`, so a deployment with its
own naming scheme configures names instead of editing PromQL. Every result is summarised from
the points Prometheus returned (current, min, max, mean, trend); an empty answer says "no data"
and is never filled in.

HTTP, retries of transient failures and errors come from `HttpBackend`; an error answer
becomes a `BackendError` carrying Prometheus's own error message (and errorType).

The label settings and the PromQL of the named queries are in `workflow.tools.promql`
(re-exported here).
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

from workflow.tools.errors import BackendError, InvalidRequestError
from workflow.tools.http import HttpBackend
from workflow.tools.promql import _DURATION, BACKEND, NAMED_QUERIES, MetricLabels, build_promql

__all__ = [
    "NAMED_QUERIES",
    "MetricComparison",
    "MetricLabels",
    "MetricResult",
    "MetricSummary",
    "PrometheusClient",
    "Series",
    "summarize_points",
]

# Relative change under which a trend counts as flat.
FLAT_THRESHOLD = 0.05


# ---------------------------------------------------------------------------- results


class MetricSummary(BaseModel):
    """Figures computed from the returned points only; `no_data` when there were none."""

    no_data: bool
    points: int = 0
    current: float | None = None
    first: float | None = None
    last: float | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    trend: Literal["rising", "falling", "flat"] | None = None
    # (last - first) / |first|; None when first is 0 (the change is then not a ratio).
    change: float | None = None
    start: float | None = None
    end: float | None = None
    # How the summary was formed when there were several series.
    aggregation: str | None = None
    # Points whose value was NaN or infinite (e.g. 0/0): kept in the series, left out here.
    non_finite_points: int = 0
    text: str = ""


class Series(BaseModel):
    labels: dict[str, str]
    points: list[list[float]]
    summary: MetricSummary


class MetricResult(BaseModel):
    name: str
    promql: str
    unit: str
    start: float | None = None
    end: float | None = None
    step: str | None = None
    series: list[Series] = Field(default_factory=list)
    summary: MetricSummary


class MetricComparison(BaseModel):
    """Mean of one metric over an incident window versus the window before it."""

    name: str
    promql: str
    unit: str
    window: tuple[float, float]
    previous: tuple[float, float]
    window_mean: float | None
    previous_mean: float | None
    # (window_mean - previous_mean) / |previous_mean|; None when not defined.
    change: float | None
    window_summary: MetricSummary
    previous_summary: MetricSummary
    text: str


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    suffix = f" {unit}" if unit else ""
    return f"{value:.4g}{suffix}"


def summarize_points(
    points: list[list[float]], *, unit: str = "", aggregation: str | None = None
) -> MetricSummary:
    """Summary of `[[ts, value], ...]`: current/first/last/min/max/mean and the trend."""
    finite = [(t, v) for t, v in points if math.isfinite(v)]
    skipped = len(points) - len(finite)
    if not finite:
        text = "no data" if not points else "no finite values (all NaN/Inf)"
        return MetricSummary(
            no_data=True,
            points=len(points),
            non_finite_points=skipped,
            text=text,
            aggregation=aggregation,
        )
    values = [v for _, v in finite]
    first, last = values[0], values[-1]
    if first != 0:
        change: float | None = (last - first) / abs(first)
        moved = abs(change) >= FLAT_THRESHOLD
    else:
        change = None
        moved = last != 0
    trend: Literal["rising", "falling", "flat"] = (
        "flat" if not moved else ("rising" if last > first else "falling")
    )
    mean = sum(values) / len(values)
    change_text = f" ({change * 100:+.1f}%)" if change is not None else ""
    text = (
        f"current {_fmt(last, unit)}, min {_fmt(min(values), unit)}, "
        f"max {_fmt(max(values), unit)}, mean {_fmt(mean, unit)}, "
        f"{trend}{change_text} from {_fmt(first, unit)} over {len(finite)} points"
    )
    return MetricSummary(
        no_data=False,
        points=len(points),
        current=last,
        first=first,
        last=last,
        min=min(values),
        max=max(values),
        mean=mean,
        trend=trend,
        change=change,
        start=finite[0][0],
        end=finite[-1][0],
        aggregation=aggregation,
        non_finite_points=skipped,
        text=text,
    )


# ---------------------------------------------------------------------------- client


def _timestamp(value: datetime | float | int | str) -> str:
    if isinstance(value, datetime):
        return f"{value.timestamp():.3f}"
    if isinstance(value, int | float):
        return f"{float(value):.3f}"
    return value


def _seconds(value: datetime | float | int) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _series_points(entry: dict[str, Any]) -> list[list[float]]:
    raw = entry.get("values")
    if raw is None:
        raw = [entry["value"]] if "value" in entry else []
    return [[float(ts), float(value)] for ts, value in raw]


class PrometheusClient(HttpBackend):
    """Async client of one Prometheus server. Use as `async with` or call `aclose()`."""

    name = BACKEND
    backend_name = BACKEND
    not_configured = (
        "PROMETHEUS_URL is not set: set it to the Prometheus base URL "
        "(e.g. http://prometheus:9090) to query metrics"
    )

    def __init__(
        self,
        base_url: str | None,
        *,
        labels: MetricLabels | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        super().__init__(
            base_url, timeout=timeout, retries=retries, backoff=backoff, transport=transport
        )
        self.labels = labels or MetricLabels()

    # -- HTTP

    def _error_text(self, response: httpx.Response) -> tuple[str, str | None]:
        """Prometheus's own error message (and errorType) from an error response."""
        body = self._json_or_none(response)
        if isinstance(body, dict) and body.get("error"):
            return str(body["error"]), body.get("errorType")
        return super()._error_text(response)

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        what = f"the query {params['query']}"
        body = await self.request_json("GET", path, params=params, what=what)
        if isinstance(body, dict) and body.get("status") == "success":
            return body.get("data") or {}
        if not isinstance(body, dict):
            body = {"error": f"unexpected answer {body!r:.200}"}
        kind = body.get("errorType")
        raise BackendError(
            f"Prometheus at {self.base_url} answered an error to {what}"
            f"{f' ({kind})' if kind else ''}: {body.get('error')}",
            backend=BACKEND,
            error_type=kind,
        )

    @staticmethod
    def _result(data: dict[str, Any]) -> list[dict[str, Any]]:
        kind, result = data.get("resultType"), data.get("result")
        if kind in ("scalar", "string"):
            # [ts, value]: shaped like one vector sample without labels.
            return [{"metric": {}, "value": result}]
        return list(result or [])

    # -- API

    async def query(
        self, promql: str, *, at: datetime | float | None = None
    ) -> list[dict[str, Any]]:
        """Instant query: Prometheus's `result` list (`{"metric": ..., "value": [ts, "v"]}`)."""
        params = {"query": promql}
        if at is not None:
            params["time"] = _timestamp(at)
        return self._result(await self._get("/api/v1/query", params))

    async def query_range(
        self,
        promql: str,
        *,
        start: datetime | float,
        end: datetime | float,
        step: str | float = "30s",
    ) -> list[dict[str, Any]]:
        """Range query: Prometheus's `result` list (`{"metric": ..., "values": [[ts, "v"]...]}`)."""
        params = {
            "query": promql,
            "start": _timestamp(start),
            "end": _timestamp(end),
            "step": _timestamp(step) if not isinstance(step, str) else step,
        }
        return self._result(await self._get("/api/v1/query_range", params))

    def promql(
        self, name: str, *, service: str, namespace: str | None = None, window: str = "5m"
    ) -> str:
        """The PromQL a named query runs (from the configured label names)."""
        return build_promql(name, self.labels, service=service, namespace=namespace, window=window)

    async def named(
        self,
        name: str,
        *,
        service: str,
        namespace: str | None = None,
        window: str = "5m",
        range_minutes: float = 60,
        step: str = "30s",
        end: datetime | float | None = None,
    ) -> MetricResult:
        """One of NAMED_QUERIES for a service over the last `range_minutes` (up to `end`)."""
        promql = self.promql(name, service=service, namespace=namespace, window=window)
        unit, additive = NAMED_QUERIES[name]
        end_s = time.time() if end is None else _seconds(end)
        start_s = end_s - range_minutes * 60
        return await self._range_result(
            name, promql, unit, start=start_s, end=end_s, step=step, additive=additive
        )

    async def raw(
        self,
        promql: str,
        *,
        range_minutes: float = 60,
        step: str = "30s",
        end: datetime | float | None = None,
        unit: str = "",
    ) -> MetricResult:
        """User PromQL over the last `range_minutes`, summarised like a named query."""
        if not isinstance(promql, str) or not promql.strip():
            raise InvalidRequestError("empty PromQL query", backend=BACKEND)
        end_s = time.time() if end is None else _seconds(end)
        return await self._range_result(
            "raw",
            promql,
            unit,
            start=end_s - range_minutes * 60,
            end=end_s,
            step=step,
            additive=False,
        )

    async def compare(
        self,
        name: str,
        service: str,
        window_start: datetime | float,
        window_end: datetime | float,
        previous_start: datetime | float,
        previous_end: datetime | float,
        *,
        namespace: str | None = None,
        window: str = "5m",
        step: str = "30s",
    ) -> MetricComparison:
        """Mean of a named query over [window_start, window_end] vs the previous window."""
        promql = self.promql(name, service=service, namespace=namespace, window=window)
        unit, additive = NAMED_QUERIES[name]
        now = await self._range_result(
            name,
            promql,
            unit,
            start=_seconds(window_start),
            end=_seconds(window_end),
            step=step,
            additive=additive,
        )
        before = await self._range_result(
            name,
            promql,
            unit,
            start=_seconds(previous_start),
            end=_seconds(previous_end),
            step=step,
            additive=additive,
        )
        a, b = now.summary.mean, before.summary.mean
        change = (a - b) / abs(b) if a is not None and b not in (None, 0) else None
        change_text = f" ({change * 100:+.1f}%)" if change is not None else ""
        text = f"{name} of {service}: mean {_fmt(a, unit)} vs {_fmt(b, unit)} before{change_text}"
        return MetricComparison(
            name=name,
            promql=promql,
            unit=unit,
            window=(_seconds(window_start), _seconds(window_end)),
            previous=(_seconds(previous_start), _seconds(previous_end)),
            window_mean=a,
            previous_mean=b,
            change=change,
            window_summary=now.summary,
            previous_summary=before.summary,
            text=text,
        )

    async def _range_result(
        self,
        name: str,
        promql: str,
        unit: str,
        *,
        start: float,
        end: float,
        step: str,
        additive: bool,
    ) -> MetricResult:
        if end <= start:
            raise InvalidRequestError("the range end must be after its start", backend=BACKEND)
        if not _DURATION.match(step):
            raise InvalidRequestError(
                f"invalid step {step!r}: expected a Prometheus duration such as 30s",
                backend=BACKEND,
            )
        result = await self.query_range(promql, start=start, end=end, step=step)
        series = []
        for entry in result:
            points = _series_points(entry)
            series.append(
                Series(
                    labels=dict(entry.get("metric") or {}),
                    points=points,
                    summary=summarize_points(points, unit=unit),
                )
            )
        return MetricResult(
            name=name,
            promql=promql,
            unit=unit,
            start=start,
            end=end,
            step=step,
            series=series,
            summary=self._overall(series, unit=unit, additive=additive),
        )

    @staticmethod
    def _overall(series: list[Series], *, unit: str, additive: bool) -> MetricSummary:
        if not series:
            return summarize_points([], unit=unit)
        if len(series) == 1:
            return series[0].summary
        if additive:
            totals: dict[float, float] = {}
            for s in series:
                for ts, value in s.points:
                    totals[ts] = totals.get(ts, 0.0) + value
            points = [[ts, totals[ts]] for ts in sorted(totals)]
            return summarize_points(points, unit=unit, aggregation=f"sum of {len(series)} series")
        with_data = [s for s in series if not s.summary.no_data]
        if not with_data:
            return summarize_points([], unit=unit, aggregation=f"{len(series)} series")
        top = max(with_data, key=lambda s: s.summary.current or 0.0)
        summary = top.summary.model_copy()
        summary.aggregation = (
            f"series with the highest current value of {len(series)}: {top.labels}"
        )
        return summary
