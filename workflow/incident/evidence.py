"""Gather an incident's evidence from every configured backend at once.

Alerts (Alertmanager), the watched metrics before and during the incident (Prometheus), error
log clusters (Loki or pod logs), pods, restarts, events and the rollout history (Kubernetes):
all asked in parallel. A backend that is missing or fails leaves its part out and says why in
`unavailable`; the investigation goes on with the rest.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from workflow.deps import WorkflowDeps
from workflow.durations import human_minutes
from workflow.incident.analysis import WATCHED, change_point, fmt_value, parse_ts
from workflow.tools.errors import BackendError
from workflow.tools.kubernetes import KubernetesError
from workflow.tools.logs import LogQuery
from workflow.tools.prometheus import MetricResult

__all__ = ["Report", "Target", "gather", "metric_lines", "no_report", "runbooks"]

log = structlog.get_logger("devops-bot.incident")

_MAX_POINTS = 240
_RUNBOOK_RELEVANCE = 0.5  # of the best match's score
_KNOWN_ERRORS = (BackendError, KubernetesError, ValueError)


@dataclass(frozen=True)
class Target:
    """What is investigated, and over which window (epoch seconds)."""

    service: str
    environment: str | None
    namespace: str | None
    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "environment": self.environment,
            "namespace": self.namespace,
        }


class _Missing(Exception):
    """The backend is not configured; the message says which setting would provide it."""


Report = Callable[[str, str], None]


def no_report(source: str, summary: str) -> None:
    return None


async def gather(
    deps: WorkflowDeps, target: Target, report: Report = no_report
) -> tuple[dict[str, Any], dict[str, str]]:
    """(evidence by source, why each missing source is missing).

    `report(source, one_line)` is called as each source answers (or fails), for progress.
    """

    async def guarded(name: str, coro: Any) -> tuple[Any, str | None]:
        value, why = await _guard(name, coro)
        report(name, why or _one_line(name, value))
        return value, why

    kubernetes = await guarded("kubernetes", _kubernetes(deps, target))
    # The metrics' baseline ends at the newest recent rollout, so "before" is before that
    # change whether it happened in the window or an hour before it.
    baseline_end = target.start
    history = (kubernetes[0] or {}).get("history") or []
    newest = max(
        (parse_ts(r.get("created_at")) or 0.0 for r in history[1:] if r.get("current")),
        default=0.0,
    )
    lookback = deps.ops.changes_minutes * 60
    if newest and target.end - lookback <= newest < target.end:
        baseline_end = newest
    parts = {
        "alerts": _alerts(deps, target),
        "metrics": _metrics(deps, target, baseline_end),
        "logs": _logs(deps, target),
    }
    results = await asyncio.gather(*(guarded(name, coro) for name, coro in parts.items()))
    evidence: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    for name, (value, why) in zip(["kubernetes", *parts], [kubernetes, *results], strict=True):
        if why is not None:
            unavailable[name] = why
        else:
            evidence[name] = value
    return evidence, unavailable


async def _guard(name: str, coro: Any) -> tuple[Any, str | None]:
    try:
        return await coro, None
    except _Missing as exc:
        return None, str(exc)
    except _KNOWN_ERRORS as exc:
        return None, f"{name} query failed: {exc}"
    except Exception as exc:  # one broken source must not sink the investigation
        log.warning("incident.evidence_failed", source=name, exc_info=True)
        return None, f"{name} query failed unexpectedly: {type(exc).__name__}: {exc}"


def _one_line(name: str, value: dict[str, Any]) -> str:
    """What a source found, in a few words."""
    if name == "kubernetes":
        status = value["status"]
        unhealthy = [p for p in status.get("pods") or [] if p.get("reason")]
        replicas = status.get("replicas") or {}
        return (
            f"revision {status.get('revision')}, {replicas.get('ready', 0)}/"
            f"{replicas.get('desired', 0)} ready, {len(unhealthy)} unhealthy pod(s), "
            f"{len(value['history'])} revision(s) on record"
        )
    if name == "alerts":
        return f"{len(value['alerts'])} alert(s) active"
    if name == "metrics":
        moved = [m["title"] for m in value.values() if m.get("change_point")]
        return "changed: " + ", ".join(moved) if moved else "no watched metric changed"
    if name == "logs":
        return f"{value['lines']} error line(s) in {len(value['groups'])} group(s)"
    return "done"


def _need(deps: WorkflowDeps, backend: str) -> Any:
    client = getattr(deps, backend)
    if client is None:
        raise _Missing(deps.why_missing(backend))
    return client


# ---------------------------------------------------------------------------- sources


async def _kubernetes(deps: WorkflowDeps, target: Target) -> dict[str, Any]:
    kube = _need(deps, "kubernetes")
    if not target.namespace:
        raise _Missing("kubernetes: no namespace (say the environment, e.g. 'in production')")
    status, history = await asyncio.gather(
        kube.status(target.namespace, target.service, log_lines=0),
        kube.rollout_history(target.namespace, target.service),
    )
    status.pop("logs", None)
    return {"status": status, "history": history, "cluster": kube.cluster_label}


async def _alerts(deps: WorkflowDeps, target: Target) -> dict[str, Any]:
    alertmanager = _need(deps, "alertmanager")
    filters = {deps.labels.service_label: target.service}
    if target.namespace:
        filters[deps.labels.namespace_label] = target.namespace
    alerts = await alertmanager.matching(filters, may_lack=[deps.labels.namespace_label])
    kept = [
        {k: a.get(k) for k in ("labels", "annotations", "startsAt", "status", "fingerprint")}
        for a in alerts[:50]
    ]
    return {"alerts": kept, "filters": filters, "source": alertmanager.base_url}


def _points(result: MetricResult, additive: bool) -> list[list[float]]:
    if len(result.series) == 1 or not additive:
        return result.series[0].points if result.series else []
    totals: dict[float, float] = {}
    for series in result.series:
        for ts, value in series.points:
            totals[ts] = totals.get(ts, 0.0) + value
    return [[ts, totals[ts]] for ts in sorted(totals)]


def _mean(points: list[list[float]], start: float, end: float) -> float | None:
    values = [v for t, v in points if start <= t <= end and math.isfinite(v)]
    return sum(values) / len(values) if values else None


async def _metrics(deps: WorkflowDeps, target: Target, baseline_end: float) -> dict[str, Any]:
    prometheus = _need(deps, "prometheus")
    begin = min(baseline_end, target.start) - target.length
    range_minutes = (target.end - begin) / 60
    step_seconds = max(
        (_seconds(deps.ops.step) or 30.0), math.ceil((target.end - begin) / _MAX_POINTS)
    )
    names = (*WATCHED, "cpu", "memory")

    async def one(name: str) -> tuple[str, MetricResult]:
        result = await prometheus.named(
            name,
            service=target.service,
            namespace=target.namespace,
            window=deps.ops.rate_window,
            range_minutes=range_minutes,
            step=f"{step_seconds:g}s",
            end=target.end,
        )
        return name, result

    answers = await asyncio.gather(*(one(n) for n in names))
    out: dict[str, Any] = {}
    for name, result in answers:
        additive = name in ("request_rate", "cpu", "memory")
        points = _points(result, additive)
        window = _mean(points, target.start, target.end)
        # "Before" ends where the baseline ends: at the window's start, or at the newest
        # rollout when that came earlier.
        previous = _mean(points, baseline_end - target.length, baseline_end - 1e-6)
        change = (window - previous) / abs(previous) if window is not None and previous else None
        entry: dict[str, Any] = {
            "name": name,
            "title": WATCHED.get(name, (name,))[0] if name in WATCHED else name,
            "unit": result.unit,
            "promql": result.promql,
            "window_mean": window,
            "previous_mean": previous,
            "change": change,
            "no_data": not points,
            "points": points,
            "change_point": None,
            "previous_window": [baseline_end - target.length, baseline_end],
        }
        if name in WATCHED and points:
            _, direction, floor = WATCHED[name]
            cp = change_point(points, baseline_end, direction=direction, floor=floor)
            entry["change_point"] = cp.as_dict() if cp else None
        out[name] = entry
    return out


async def _logs(deps: WorkflowDeps, target: Target) -> dict[str, Any]:
    search = _need(deps, "logs")
    if not target.namespace and search.backend_name == "kubernetes":
        raise _Missing("logs: pod logs need a namespace (say the environment)")
    minutes = max(1, math.ceil(target.length / 60))
    result = await search.search(
        LogQuery(
            service=target.service,
            namespace=target.namespace,
            level="error",
            since_minutes=minutes,
            limit=deps.ops.log_lines,
        )
    )
    groups = [g.model_dump(mode="json") for g in result.groups[:10]]
    return {
        "source": result.source,
        "lines": len(result.lines),
        "truncated": result.truncated,
        "groups": groups,
        "since": human_minutes(minutes),
    }


async def runbooks(
    deps: WorkflowDeps, target: Target, words: list[str]
) -> tuple[list[dict[str, Any]], str | None]:
    """Runbooks matching the symptoms found, best first; or why they could not be searched."""
    if deps.docs is None:
        return [], deps.why_missing("docs")
    query = " ".join(dict.fromkeys([target.service, *words]))
    try:
        found = await deps.docs.search(query, limit=3, service=target.service)
    except Exception as exc:
        return [], f"runbook search failed: {type(exc).__name__}: {exc}"
    # Scores only compare within one answer: keep what is close to the best match.
    best = max((doc["score"] for doc in found), default=0.0)
    return [doc for doc in found if doc["score"] >= _RUNBOOK_RELEVANCE * best], None


def _seconds(step: str) -> float | None:
    from workflow.durations import minutes_of

    minutes = minutes_of(step)
    return minutes * 60 if minutes else None


def metric_lines(metrics: dict[str, Any]) -> list[str]:
    """`p99 latency: 1.9 s in the window vs 250 ms before (+660%)` per metric with data."""
    lines = []
    for m in metrics.values():
        if m["no_data"]:
            lines.append(f"{m['title']}: no data (PromQL `{m['promql']}`)")
            continue
        change = f" ({m['change'] * 100:+.0f}%)" if m.get("change") is not None else ""
        lines.append(
            f"{m['title']}: {fmt_value(m['window_mean'], m['unit'])} in the window vs "
            f"{fmt_value(m['previous_mean'], m['unit'])} before{change}"
        )
    return lines
