"""Deterministic incident analysis: change points, ranked hypotheses, remediations, timeline.

Pure functions over the evidence `workflow.incident.evidence.gather` collected. Every sentence
of evidence quotes a number or an object that a backend returned; nothing is estimated or
filled in. The ranking is plain rules, so the same evidence always gives the same answer.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from workflow.durations import ago

__all__ = [
    "WATCHED",
    "ChangePoint",
    "change_point",
    "fmt_value",
    "hypotheses",
    "iso",
    "parse_ts",
    "remediation",
    "severity_of",
    "timeline",
]

# Metrics an incident looks at, whether a rise or a fall is bad, and the smallest move that
# counts (in the metric's unit) so noise around zero is never called a change.
WATCHED: dict[str, tuple[str, str, float]] = {
    "error_ratio": ("error ratio", "up", 0.01),
    "latency_p99": ("p99 latency", "up", 0.05),
    "request_rate": ("request rate", "both", 0.5),
}
_RELATIVE_MOVE = 0.5  # a move of half the baseline (or more) counts
_SIGMAS = 4.0
_STAY = 0.7  # share of the points after a change that must stay beyond the threshold

_DEPENDENCY_WORDS = (
    "upstream",
    "timeout",
    "timed out",
    "deadline exceeded",
    "connection refused",
    "unavailable",
    "reset by peer",
    "no route to host",
)


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    if unit == "s":
        return f"{value * 1000:.3g} ms" if value < 1 else f"{value:.3g} s"
    if unit == "bytes":
        return f"{value / 2**20:.4g} MiB"
    return f"{value:.3g} {unit}".strip()


def iso(ts: float) -> str:
    """UTC to the second, the one time format of incident records: 2026-11-27T08:43:47Z."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M:%S UTC")


def parse_ts(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# ---------------------------------------------------------------------------- change points


@dataclass(frozen=True)
class ChangePoint:
    at: float  # first sample of the new level
    before: float  # median before
    after: float  # median from `at` on
    direction: str  # up | down

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "ts": self.at,
            "before": self.before,
            "after": self.after,
            "direction": self.direction,
        }


def change_point(
    points: list[list[float]], baseline_end: float, *, direction: str, floor: float
) -> ChangePoint | None:
    """Where the series left its baseline (points before `baseline_end`) and stayed away.

    The threshold is the larger of 4 robust standard deviations, half the baseline, and
    `floor`; the change is the first sample beyond it after which at least 70% of the
    samples stay beyond it. None when there is no baseline or no lasting change.
    """
    finite = [(t, v) for t, v in points if v == v and abs(v) != float("inf")]
    baseline = [v for t, v in finite if t < baseline_end]
    if len(baseline) < 3:
        return None
    base = statistics.median(baseline)
    mad = statistics.median(abs(v - base) for v in baseline) * 1.4826
    margin = max(_SIGMAS * mad, _RELATIVE_MOVE * abs(base), floor)
    directions = ("up", "down") if direction == "both" else (direction,)
    for i, (t, _) in enumerate(finite):
        if t < baseline_end - 1e-9 and i < len(finite) - 1:
            # Changes inside the baseline are part of it.
            continue
        for d in directions:
            rest = [v for _, v in finite[i:]]

            def beyond(v: float, d: str = d) -> bool:
                return v > base + margin if d == "up" else v < base - margin

            if beyond(rest[0]) and sum(map(beyond, rest)) >= _STAY * len(rest):
                return ChangePoint(t, base, statistics.median(rest), d)
    return None


# ---------------------------------------------------------------------------- remediations


def remediation(
    rid: str, action: str, target: dict[str, Any], *, label: str, **extra: Any
) -> dict[str, Any]:
    """A step the bot can run in this thread: a typed command, never executed from here.

    `task_type` and `context` are exactly what the run will get; writes go through the
    plan -> approval -> apply path like a typed request.
    """
    service, env = target["service"], target.get("environment")
    where = f" in {env}" if env else ""
    context = {
        "service": service,
        "environment": env,
        "namespace": target.get("namespace"),
        "action": action,
        **extra,
    }
    if action in ("rollback", "restart", "scale"):
        task_type = "kubernetes"
        command = f"{action} {service}{where}"
        if action == "scale":
            command = f"scale {service} to {extra['replicas']}{where}"
    elif action == "silence":
        task_type = "alert"
        command = f"silence {extra['alert_name']} for {service}{where} for {extra['duration']}"
    else:  # a read: look at something else
        task_type = "incident_response"
        command = f"investigate {service}{where}"
    return {
        "id": rid,
        "label": label,
        "task_type": task_type,
        "context": {k: v for k, v in context.items() if v is not None},
        "command": command,
        "writes": task_type != "incident_response",
    }


# ---------------------------------------------------------------------------- hypotheses


def _rollouts_in(history: list[dict[str, Any]], since: float) -> list[dict[str, Any]]:
    """Revisions created after `since`, each with its predecessor's images, newest first."""
    out = []
    for i, rev in enumerate(history):
        created = parse_ts(rev.get("created_at"))
        if created is None or created < since or i == 0:
            continue
        out.append({**rev, "ts": created, "previous_images": history[i - 1].get("images", {})})
    return sorted(out, key=lambda r: -r["ts"])


def _after(lag: float) -> str:
    # Samples are up to a step apart, so under a minute is as precise as it gets.
    return "within a minute after" if lag < 60 else f"{ago(lag)} after"


def _image_text(rev: dict[str, Any]) -> str:
    images = sorted(set((rev.get("images") or {}).values()))
    return ", ".join(images) or f"revision {rev.get('revision')}"


def _moved(metric: dict[str, Any]) -> str:
    cp = metric["change_point"]
    verb = "rose" if cp["direction"] == "up" else "fell"
    unit = metric["unit"]
    return f"{metric['title']} {verb} from {fmt_value(cp['before'], unit)} to " + fmt_value(
        cp["after"], unit
    )


def hypotheses(
    evidence: dict[str, Any], target: dict[str, Any], ops: Any, *, first_step: int = 1
) -> list[dict[str, Any]]:
    """Ranked likely causes, each with its evidence and the remediation steps the bot can run.

    Steps are numbered r<first_step>, r<first_step + 1>, ...: a thread never reuses an id, so
    a button or command naming a step always means the step it was shown for.
    """
    out: list[dict[str, Any]] = []
    metrics = evidence.get("metrics") or {}
    degraded = {
        name: m
        for name, m in metrics.items()
        if m.get("change_point")
        and (WATCHED[name][1] == "both" or m["change_point"]["direction"] == WATCHED[name][1])
    }
    kube = evidence.get("kubernetes") or {}
    history = kube.get("history") or []
    status = kube.get("status") or {}
    alerts = (evidence.get("alerts") or {}).get("alerts") or []
    log_groups = (evidence.get("logs") or {}).get("groups") or []
    correlation = ops.correlation_minutes * 60
    tolerance = 60.0  # samples are a step apart; a change "just before" the rollout still counts
    counter = iter(range(first_step, first_step + 100))

    # 1. A rollout shortly before the metrics moved.
    since = min([parse_ts(m["change_point"]["at"]) or 0 for m in degraded.values()] or [0])
    for rev in _rollouts_in(history, since - correlation - tolerance):
        linked = []
        for m in degraded.values():
            lag = m["change_point"]["ts"] - rev["ts"]
            if -tolerance <= lag <= correlation:
                linked.append((m, lag))
        if not linked:
            continue
        linked.sort(key=lambda pair: pair[1])
        image = _image_text(rev)
        lines = [
            f"{_moved(m)} {_after(lag)} {target['service']} {image} rolled out "
            f"(revision {rev['revision']} at {_clock(rev['ts'])})"
            for m, lag in linked
        ]
        lines += [f"change in revision {rev['revision']}: {c}" for c in rev.get("changes") or []]
        score = min(0.5 + 0.15 * len(linked), 0.9)
        errors_after = [g for g in log_groups if (parse_ts(g.get("first_ts")) or 0) >= rev["ts"]]
        if errors_after:
            top = errors_after[0]
            lines.append(
                f'{top["count"]} error log lines like "{top["example"][:160]}" since the rollout'
            )
            score += 0.05
        started = [a for a in alerts if (parse_ts(a.get("startsAt")) or 0) >= rev["ts"] - tolerance]
        if started:
            names = ", ".join(sorted({a["labels"].get("alertname", "?") for a in started}))
            lines.append(f"alerts started firing after the rollout: {names}")
            score += 0.05
        steps = []
        if any(not r.get("current") for r in history):
            steps.append(
                remediation(
                    f"r{next(counter)}",
                    "rollback",
                    target,
                    label=f"Roll back {target['service']} to the previous revision",
                )
            )
        steps += _silence_steps(alerts, target, counter)
        out.append(
            {
                "kind": "rollout",
                "title": f"the rollout of {image} (revision {rev['revision']}) "
                f"broke {target['service']}",
                "score": round(min(score, 0.95), 2),
                "evidence": lines,
                "remediations": steps,
            }
        )
        break  # the newest linked rollout; older ones are listed in the timeline

    # 2. Pods crashing or killed for memory.
    unhealthy = [p for p in status.get("pods") or [] if p.get("reason")]
    if unhealthy:
        reasons = sorted({p["reason"] for p in unhealthy})
        total = sum(int(p.get("restart_count") or 0) for p in unhealthy)
        lines = [
            f"{len(unhealthy)} of {len(status.get('pods') or [])} pods are {', '.join(reasons)} "
            f"({total} restarts in all)"
        ]
        lines += [
            f"pod {p['name']}: {p['reason']}, {p.get('restart_count', 0)} restarts"
            for p in unhealthy[:3]
        ]
        recent = _rollouts_in(history, 0)
        steps = []
        if recent and any(not r.get("current") for r in history):
            steps.append(
                remediation(
                    f"r{next(counter)}",
                    "rollback",
                    target,
                    label=f"Roll back {target['service']} to the previous revision",
                )
            )
        if "OOMKilled" in reasons or not steps:
            steps.append(
                remediation(
                    f"r{next(counter)}", "restart", target, label=f"Restart {target['service']}"
                )
            )
        out.append(
            {
                "kind": "pods",
                "title": f"{target['service']} pods are {' / '.join(reasons)}",
                "score": 0.75 if "CrashLoopBackOff" in reasons or "OOMKilled" in reasons else 0.6,
                "evidence": lines,
                "remediations": steps,
            }
        )

    # 3. More traffic than the pods can take.
    rate = degraded.get("request_rate")
    slow = degraded.get("latency_p99") or degraded.get("error_ratio")
    if rate and rate["change_point"]["direction"] == "up" and slow:
        desired = int((status.get("replicas") or {}).get("desired") or 0)
        lines = [_moved(rate), _moved(slow)]
        steps = []
        if desired:
            replicas = min(desired * 2, desired + 10)
            lines.append(f"{desired} replicas serve it now")
            steps.append(
                remediation(
                    f"r{next(counter)}",
                    "scale",
                    target,
                    label=f"Scale {target['service']} to {replicas} replicas",
                    replicas=replicas,
                )
            )
        out.append(
            {
                "kind": "traffic",
                "title": f"a traffic surge is saturating {target['service']}",
                "score": 0.55,
                "evidence": lines,
                "remediations": steps,
            }
        )

    # 4. Errors calling something else.
    for group in log_groups[:3]:
        text = group["example"].lower()
        if not any(word in text for word in _DEPENDENCY_WORDS):
            continue
        upstream = _upstream_of(group["example"])
        lines = [f'{group["count"]} error log lines like "{group["example"][:200]}"']
        steps = []
        if upstream and upstream != target["service"]:
            lines.append(f"the errors name {upstream} as the failing upstream")
            steps.append(
                remediation(
                    f"r{next(counter)}",
                    "investigate",
                    {**target, "service": upstream},
                    label=f"Investigate {upstream}",
                )
            )
        out.append(
            {
                "kind": "dependency",
                "title": f"{target['service']} fails calling "
                f"{upstream or 'a dependency'} (timeouts/refused connections)",
                "score": 0.45,
                "evidence": lines,
                "remediations": steps,
            }
        )
        break

    if not out:
        lines = []
        if alerts:
            lines.append(
                f"{len(alerts)} alert(s) firing: "
                + ", ".join(sorted({a["labels"].get("alertname", "?") for a in alerts}))
            )
        if not degraded and metrics:
            lines.append("no watched metric left its baseline in the window")
        # What moved, with no change on record to pin it on.
        lines += [f"{_moved(m)} at {_clock(m['change_point']['ts'])}" for m in degraded.values()]
        out.append(
            {
                "kind": "unknown",
                "title": "no clear cause in the evidence gathered",
                "score": 0.1,
                "evidence": lines or ["the backends returned nothing unusual"],
                "remediations": _silence_steps(alerts, target, counter),
            }
        )
    out.sort(key=lambda h: -h["score"])
    for rank, h in enumerate(out, 1):
        h["rank"] = rank
    return out


def _silence_steps(alerts: list[dict[str, Any]], target: dict[str, Any], counter: Any) -> list:
    firing = [a for a in alerts if (a.get("status") or {}).get("state") != "suppressed"]
    names = sorted({a["labels"]["alertname"] for a in firing if a["labels"].get("alertname")})
    return [
        remediation(
            f"r{next(counter)}",
            "silence",
            target,
            label=f"Silence {name} for 1h while you work",
            alert_name=name,
            duration="1h",
            duration_minutes=60,
        )
        for name in names[:1]
    ]


def _upstream_of(message: str) -> str | None:
    import re

    match = re.search(r"\bupstream[=:]\s*\"?([a-z0-9][a-z0-9-]*)", message, re.I)
    if match:
        return match.group(1).lower()
    match = re.search(r"https?://([a-z0-9][a-z0-9-]*)", message, re.I)
    return match.group(1).lower() if match else None


# ---------------------------------------------------------------------------- severity


def severity_of(evidence: dict[str, Any], given: str | None) -> str:
    """The user's severity if they gave one, else from the alerts and the error ratio."""
    if given:
        return given
    alerts = (evidence.get("alerts") or {}).get("alerts") or []
    labels = {str(a.get("labels", {}).get("severity", "")).lower() for a in alerts}
    errors = ((evidence.get("metrics") or {}).get("error_ratio") or {}).get("window_mean") or 0
    if labels & {"critical", "page", "p1"} or errors >= 0.2:
        return "critical"
    if labels & {"high", "error"} or errors >= 0.05:
        return "high"
    if alerts or any(m.get("change_point") for m in (evidence.get("metrics") or {}).values()):
        return "medium"
    return "low"


# ---------------------------------------------------------------------------- timeline


def timeline(evidence: dict[str, Any], target: dict[str, Any], since: float) -> list[dict]:
    """What happened, oldest first: rollouts, metric changes, alerts, warnings, first errors."""
    entries: list[tuple[float, str, str]] = []
    kube = evidence.get("kubernetes") or {}
    for rev in _rollouts_in(kube.get("history") or [], since):
        changes = "; ".join(rev.get("changes") or []) or _image_text(rev)
        entries.append(
            (rev["ts"], "kubernetes", f"revision {rev['revision']} rolled out: {changes}")
        )
    for m in (evidence.get("metrics") or {}).values():
        if m.get("change_point"):
            entries.append((m["change_point"]["ts"], "prometheus", _moved(m)))
    for alert in (evidence.get("alerts") or {}).get("alerts") or []:
        ts = parse_ts(alert.get("startsAt"))
        if ts is not None:
            labels = alert.get("labels") or {}
            severity = f" (severity {labels['severity']})" if labels.get("severity") else ""
            entries.append(
                (ts, "alertmanager", f"alert {labels.get('alertname')} started firing{severity}")
            )
    for event in (kube.get("status") or {}).get("events") or []:
        ts = parse_ts(event.get("last_seen"))
        if ts is not None and event.get("type") == "Warning" and ts >= since:
            entries.append(
                (ts, "kubernetes", f"{event['object']}: {event['reason']}: {event['message']}")
            )
    for group in ((evidence.get("logs") or {}).get("groups") or [])[:3]:
        ts = parse_ts(group.get("first_ts"))
        if ts is not None:
            entries.append(
                (ts, "logs", f'first of {group["count"]} log lines like "{group["example"][:120]}"')
            )
    entries.sort(key=lambda e: e[0])
    return [{"at": iso(ts), "source": source, "text": text} for ts, source, text in entries]
