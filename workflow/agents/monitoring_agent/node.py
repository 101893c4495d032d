"""monitoring_agent: metrics, logs and alerts, answered from the backends' own numbers.

Reads complete here: metrics (Prometheus named queries or the user's PromQL), logs (Loki or
pod logs), firing alerts (Alertmanager) and a service health overview. Silencing an alert or
expiring a silence is a write: it is only planned here (the preview lists the alerts it would
silence now) and goes through reflection and the approval gate like any other plan.

A backend that is not configured, or that fails, is reported as such; no number in a summary
comes from anywhere but the backend's answer.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from workflow import parts
from workflow.agents.base import Answer, Handler, Refusal, handler_agent
from workflow.agents.monitoring_agent import NAME, SPEC
from workflow.deps import WorkflowDeps
from workflow.durations import human_minutes, minutes_of
from workflow.state import DevOpsAgentState
from workflow.tools.errors import BackendError
from workflow.tools.logs import LogQuery
from workflow.tools.metric_names import NAMED_METRICS
from workflow.tools.prometheus import NAMED_QUERIES, MetricResult

__all__ = ["METRIC_TITLES", "NAME", "metric_line", "monitoring_agent", "resolve_action"]


METRIC_TITLES = {name: metric.title for name, metric in NAMED_METRICS.items()}
_OVERVIEW = ("request_rate", "error_ratio", "latency_p99")
_MAX_POINTS = 240
_KEPT_LOG_LINES = 50


def resolve_action(task_type: str, context: dict[str, Any]) -> str:
    action = context.get("action")
    if action in SPEC.actions:
        return action
    if context.get("promql"):
        return "metrics"
    return SPEC.default_action(task_type, "health")  # type: ignore[return-value]


# ---------------------------------------------------------------------------- helpers


def _where(deps: WorkflowDeps, context: dict[str, Any]) -> tuple[str | None, str | None]:
    """(service, namespace) of the request; the namespace comes from the catalog per env."""
    service = context.get("service")
    namespace = context.get("namespace")
    if not namespace and service and context.get("environment"):
        namespace = deps.catalog.namespace_for(service, context["environment"])
    return service, namespace


def _label(service: str | None, namespace: str | None) -> str:
    if service and namespace:
        return f"{service} ({namespace})"
    return service or (f"namespace {namespace}" if namespace else "all services")


def _range_minutes(deps: WorkflowDeps, context: dict[str, Any]) -> float:
    return minutes_of(context.get("time_range")) or deps.ops.metrics_range_minutes


def _step_for(deps: WorkflowDeps, range_minutes: float) -> str:
    """The configured step, coarsened so a range never asks for more than _MAX_POINTS points."""
    configured = minutes_of(deps.ops.step) or 0.5
    needed = range_minutes / _MAX_POINTS
    seconds = max(configured, needed) * 60
    return f"{math.ceil(seconds)}s"


def _require(deps: WorkflowDeps, backend: str) -> Any:
    client = getattr(deps, backend)
    if client is None:
        raise Refusal(deps.why_missing(backend))
    return client


def metric_line(title: str, result: dict[str, Any]) -> str:
    """One line per metric, from the summary Prometheus's points gave (or "no data")."""
    summary = result.get("summary") or {}
    if summary.get("no_data"):
        return f"{title}: no data (PromQL `{result.get('promql')}`)"
    return f"{title}: {summary.get('text')}"


# ---------------------------------------------------------------------------- metrics


async def _metrics(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    prometheus = _require(deps, "prometheus")
    service, namespace = _where(deps, context)
    range_minutes = _range_minutes(deps, context)
    step = _step_for(deps, range_minutes)
    results: list[tuple[str, MetricResult]] = []
    if context.get("promql"):
        raw = await prometheus.raw(context["promql"], range_minutes=range_minutes, step=step)
        results.append(("PromQL", raw))
    else:
        if not service:
            raise Refusal(
                "which service? e.g. 'p99 latency of checkout in production', or give PromQL: "
                "'promql sum(rate(http_requests_total[5m]))'"
            )
        if context.get("metrics"):
            names = list(context["metrics"])
        elif context.get("metric"):
            names = [context["metric"]]
        else:
            names = list(_OVERVIEW)
        unknown = [n for n in names if n not in NAMED_QUERIES]
        if unknown:
            raise Refusal(
                f"unknown metric {unknown[0]!r}: ask for one of "
                + ", ".join(METRIC_TITLES.values())
            )
        for name in names:
            result = await prometheus.named(
                name,
                service=service,
                namespace=namespace,
                window=deps.ops.rate_window,
                range_minutes=range_minutes,
                step=step,
            )
            results.append((METRIC_TITLES[name], result))
    dumped = []
    for title, result in results:
        data = result.model_dump(mode="json")
        data["title"] = f"{title} of {_label(service, namespace)}" if service else title
        dumped.append(data)
    lines = [metric_line(title, data) for (title, _), data in zip(results, dumped, strict=True)]
    empty = [d["title"] for d in dumped if d["summary"]["no_data"]]
    head = f"{_label(service, namespace)}, last {human_minutes(range_minutes)}"
    summary = head + ":\n" + "\n".join(f"• {line}" for line in lines)
    warnings = [f"no data for {t}" for t in empty]
    key = f"{service or 'promql'}/{namespace or '*'}"
    return Answer(
        "completed",
        summary,
        output={  # the numbers; the points are in the chart parts
            "service": service,
            "namespace": namespace,
            "range_minutes": range_minutes,
            "metrics": [{k: v for k, v in d.items() if k != "series"} for d in dumped],
        },
        parts=[parts.chart(d) for d in dumped],
        warnings=warnings,
        state={"metrics": {key: {d["name"]: d["summary"] for d in dumped}}},
    )


# ---------------------------------------------------------------------------- logs


async def _logs(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    search = _require(deps, "logs")
    service, namespace = _where(deps, context)
    if not service:
        raise Refusal("whose logs? e.g. 'error logs of checkout in production for the last 1h'")
    if not namespace and search.backend_name == "kubernetes":
        raise Refusal(
            f"which environment? pod logs need a namespace, e.g. 'logs of {service} in production'"
        )
    try:
        query = LogQuery(
            service=service,
            namespace=namespace,
            level=context.get("level"),
            term=context.get("search_term"),
            since_minutes=max(1, round(_range_minutes(deps, context))),
            limit=deps.ops.log_lines,
        )
    except ValueError as exc:
        raise Refusal(f"cannot search those logs: {exc}") from exc
    result = await search.search(query)
    level = f"{query.level} " if query.level else ""
    term = f' containing "{query.term}"' if query.term else ""
    where = _label(service, namespace)
    count = f"{len(result.lines)}{'+' if result.truncated else ''}"
    head = (
        f"{count} {level}log lines{term} from {where} in the last "
        f"{human_minutes(query.since_minutes)} ({result.source})"
    )
    lines = [f"• {g.count} x {g.example[:200]}" for g in result.groups[:5]]
    summary = head + (":\n" + "\n".join(lines) if lines else "")
    data = result.model_dump(mode="json")
    data["lines"] = data["lines"][-_KEPT_LOG_LINES:]
    data["groups"] = data["groups"][:10]
    warnings = list(result.warnings)
    if not result.lines:
        warnings.append("no matching log lines")
    entries = [
        {"service": service, "namespace": namespace, "ts": line["ts"], "message": line["message"]}
        for line in data["lines"][-20:]
    ]
    shown = parts.table(
        f"Log lines of {where} ({result.source})",
        ["time", "message"],
        [(line.get("ts"), str(line.get("message", ""))[:300]) for line in data["lines"][-20:]],
    )
    return Answer(
        "completed",
        summary,
        output={"service": service, "namespace": namespace, "logs": data},
        parts=[shown] if data["lines"] else [],
        warnings=warnings,
        state={"logs": entries},
    )


# ---------------------------------------------------------------------------- alerts


def _alert_filters(deps: WorkflowDeps, context: dict[str, Any]) -> dict[str, str]:
    service, namespace = _where(deps, context)
    labels = deps.labels
    filters = {}
    if context.get("alert_name"):
        filters["alertname"] = str(context["alert_name"])
    if service:
        filters[labels.service_label] = service
    if namespace:
        filters[labels.namespace_label] = namespace
    return filters


def alert_line(alert: dict[str, Any], now: datetime) -> str:
    labels = alert.get("labels") or {}
    name = labels.get("alertname", "alert")
    rest = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
    since = ""
    if alert.get("startsAt"):
        started = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))
        since = f", firing for {human_minutes(max((now - started).total_seconds(), 0) / 60)}"
    summary = (alert.get("annotations") or {}).get("summary")
    state = (alert.get("status") or {}).get("state")
    silenced = " (silenced)" if state == "suppressed" else ""
    return f"{name} [{rest}]{since}{silenced}" + (f": {summary}" if summary else "")


_ALERT_COLUMNS = ("alert", "labels", "state", "since", "summary")


def _alert_row(alert: dict[str, Any], now: datetime) -> tuple[str, ...]:
    labels = alert.get("labels") or {}
    rest = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
    state = (alert.get("status") or {}).get("state")
    since = ""
    if alert.get("startsAt"):
        started = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))
        since = human_minutes(max((now - started).total_seconds(), 0) / 60)
    return (
        labels.get("alertname", "alert"),
        rest,
        "silenced" if state == "suppressed" else "firing",
        since,
        str((alert.get("annotations") or {}).get("summary") or ""),
    )


async def _alerts(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    alertmanager = _require(deps, "alertmanager")
    filters = _alert_filters(deps, context)
    alerts = await alertmanager.matching(filters, may_lack=[deps.labels.namespace_label])
    firing = [a for a in alerts if (a.get("status") or {}).get("state") != "suppressed"]
    silenced = [a for a in alerts if (a.get("status") or {}).get("state") == "suppressed"]
    now = deps.clock().astimezone(UTC)
    scope = ", ".join(f"{k}={v}" for k, v in filters.items()) or "all alerts"
    if not alerts:
        summary = f"no alerts are firing ({scope}) in Alertmanager at {alertmanager.base_url}"
    else:
        head = f"{len(firing)} alert(s) firing, {len(silenced)} silenced ({scope}):"
        summary = head + "\n" + "\n".join(f"• {alert_line(a, now)}" for a in alerts[:20])
        if len(alerts) > 20:
            summary += f"\n… and {len(alerts) - 20} more"
    kept = [
        {k: a.get(k) for k in ("labels", "annotations", "startsAt", "status", "fingerprint")}
        for a in alerts[:50]
    ]
    rows = [_alert_row(a, now) for a in alerts[:50]]
    return Answer(
        "completed",
        summary,
        output={"filters": filters, "alerts": kept, "firing": len(firing)},
        parts=[parts.table(f"Alerts ({scope})", _ALERT_COLUMNS, rows)] if rows else [],
        state={"alerts": kept},
    )


# ---------------------------------------------------------------------------- health


async def _health(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    """Golden signals and firing alerts, from whichever of the two backends is configured."""
    answers: list[Answer] = []
    missing = []
    for backend, handler in (("prometheus", _metrics), ("alertmanager", _alerts)):
        if getattr(deps, backend) is None:
            missing.append(deps.why_missing(backend))
            continue
        answers.append(await handler(deps, {**context, "metric": None, "metrics": None}, state))
    if not answers:
        raise Refusal("; ".join(missing))
    output: dict[str, Any] = {}
    merged_state: dict[str, Any] = {}
    for answer in answers:
        output.update(answer.output)
        merged_state.update(answer.state)
    return Answer(
        "completed",
        "\n".join(a.summary for a in answers),
        output=output,
        parts=[p for a in answers for p in a.parts],
        warnings=[w for a in answers for w in a.warnings] + missing,
        state=merged_state,
    )


# ---------------------------------------------------------------------------- silences


def _silence_minutes(context: dict[str, Any]) -> float:
    minutes = minutes_of(context.get("duration_minutes")) or minutes_of(context.get("duration"))
    if minutes is None:
        raise Refusal(
            "for how long? e.g. 'silence HighErrorRate for checkout in production for 2h'"
        )
    return minutes


def _alertname_from_thread(state: DevOpsAgentState, filters: dict[str, str]) -> str | None:
    """ "silence that": the one alert name this thread listed for the same service, if unique."""
    names = set()
    for alert in state.get("alerts") or []:
        labels = alert.get("labels") or {}
        if all(labels.get(k) == v for k, v in filters.items()):
            names.add(labels.get("alertname"))
    names.discard(None)
    return names.pop() if len(names) == 1 else None


async def _silence(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    alertmanager = _require(deps, "alertmanager")
    minutes = _silence_minutes(context)
    filters = _alert_filters(deps, context)
    if "alertname" not in filters:
        name = _alertname_from_thread(state, filters)
        if name:
            filters["alertname"] = name
    namespace_label = deps.labels.namespace_label
    if namespace_label in filters:
        firing = await alertmanager.matching(filters, may_lack=[namespace_label])
        if any(namespace_label not in (a.get("labels") or {}) for a in firing):
            # These alerts carry no namespace: a namespace matcher would silence none of them.
            filters.pop(namespace_label)
    if "alertname" not in filters and len(filters) < 2:
        raise Refusal(
            "which alert? name it and its service, e.g. 'silence HighErrorRate for checkout in "
            "production for 2h' (or list them first: 'which alerts are firing for checkout')"
        )
    requester = context.get("requester", "unknown")
    comment = f"silenced via devops-bot by {requester}"
    if context.get("reason"):
        comment += f": {context['reason']}"
    plan = await alertmanager.plan_silence(
        matchers=filters,
        duration_minutes=minutes,
        comment=comment,
        created_by=f"devops-bot/{requester}",
        environment=context.get("environment"),
    )
    return _planned(plan)


async def _expire_silence(
    deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState
) -> Answer:
    alertmanager = _require(deps, "alertmanager")
    silence_id = context.get("silence_id")
    if not silence_id:
        raise Refusal("which silence? e.g. 'expire silence 8f4b1c2e-…' (ids are in the list)")
    plan = await alertmanager.plan_expire(silence_id, environment=context.get("environment"))
    return _planned(plan)


def _planned(plan: Any) -> Answer:
    data = plan.model_dump(mode="json")
    return Answer(
        "planned",
        f"planned {plan.action} of {plan.target}; nothing has changed yet",
        output={"plan": data},
        parts=[parts.preview(plan.preview)] if plan.preview else [],
        plan=data,
    )


_HANDLERS: dict[str, Handler] = {
    "metrics": _metrics,
    "logs": _logs,
    "alerts": _alerts,
    "health": _health,
    "silence": _silence,
    "expire_silence": _expire_silence,
}

monitoring_agent = handler_agent(
    NAME, resolve_action, _HANDLERS, failures=(BackendError,), kind_in_output=True
)
monitoring_agent.__doc__ = "Answer a metrics, logs or alerts question, or plan a silence."
