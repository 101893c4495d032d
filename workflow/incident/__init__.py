"""Incident investigation: gather evidence in parallel, rank causes, keep a record per thread.

`investigate()` returns the incident record (see `workflow.incident.report`); `changes()`
answers "what changed recently?". Both only read; remediation steps are offered as commands
that run through the normal plan -> approval -> apply path.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from workflow.deps import WorkflowDeps
from workflow.incident import analysis, narrative
from workflow.incident.evidence import Report, Target, gather, metric_lines, no_report, runbooks
from workflow.incident.report import findings_text, merge_timeline, postmortem_markdown

__all__ = [
    "Target",
    "changes",
    "findings_text",
    "fold_related",
    "investigate",
    "new_incident_id",
    "next_step_number",
    "postmortem_markdown",
]

_SYMPTOM_WORDS = {
    "error_ratio": ["error", "rate", "5xx"],
    "latency_p99": ["latency", "slow"],
    "request_rate": ["traffic"],
}
_KIND_WORDS = {
    "rollout": ["rollback", "deploy"],
    "pods": ["crashloopbackoff", "oomkilled", "restart"],
    "traffic": ["scale", "traffic"],
    "dependency": ["timeout", "upstream"],
}


async def investigate(
    deps: WorkflowDeps,
    target: Target,
    *,
    incident_id: str | None,
    severity: str | None,
    requester: str,
    previous: dict[str, Any] | None,
    report: Report = no_report,
    first_step: int | None = None,
) -> dict[str, Any]:
    """A fresh look at the service; merged into the thread's earlier record when there is one."""
    evidence, unavailable = await gather(deps, target, report)
    where = target.as_dict()
    first = first_step or next_step_number(previous)
    ranked = analysis.hypotheses(evidence, where, deps.ops, first_step=first)
    steps = {s["id"]: s for h in ranked for s in h["remediations"]}
    metrics = evidence.get("metrics") or {}
    words = [
        w
        for name, m in metrics.items()
        if m.get("change_point")
        for w in _SYMPTOM_WORDS.get(name, [])
    ]
    words += [w for h in ranked[:2] for w in _KIND_WORDS.get(h["kind"], [])]
    found, docs_missing = await runbooks(deps, target, words)
    if docs_missing:
        unavailable["runbooks"] = docs_missing
    web = deps.web
    if web is None or not getattr(web, "enabled", False):
        unavailable["web"] = "web search is not configured (no provider is set up)"
    since = target.end - deps.ops.changes_minutes * 60
    now = analysis.iso(deps.clock().timestamp())
    alerts = (evidence.get("alerts") or {}).get("alerts") or []
    record = {
        "id": (previous or {}).get("id") or incident_id or new_incident_id(deps.clock()),
        "service": target.service,
        "environment": target.environment,
        "namespace": target.namespace,
        "severity": analysis.severity_of(evidence, severity or (previous or {}).get("severity")),
        "state": "cause identified" if ranked[0]["kind"] != "unknown" else "no clear cause",
        "opened_at": (previous or {}).get("opened_at") or now,
        "opened_by": (previous or {}).get("opened_by") or requester,
        "updated_at": now,
        "window": {
            "start": analysis.iso(target.start),
            "end": analysis.iso(target.end),
        },
        "impact": metric_lines({k: v for k, v in metrics.items() if k in analysis.WATCHED}),
        # The evidence itself; points only of the watched metrics (charts, postmortem).
        "metrics": {
            k: v if k in analysis.WATCHED else {**v, "points": []} for k, v in metrics.items()
        },
        "alerts": sorted(
            {
                f"{a['labels'].get('alertname')} ({a['labels'].get('severity', 'no severity')})"
                for a in alerts
            }
        ),
        "firing_alerts": [
            {k: a.get(k) for k in ("labels", "startsAt", "status")} for a in alerts[:20]
        ],
        "hypotheses": ranked,
        "remediations": steps,
        "runbooks": found,
        "unavailable": unavailable,
        "timeline": merge_timeline(
            (previous or {}).get("timeline", []), analysis.timeline(evidence, where, since)
        ),
        "actions": (previous or {}).get("actions", []),
        "sources": sorted(evidence),
    }
    if previous and previous.get("state") == "mitigation applied":
        record["state"] = "mitigation applied"
    if previous:  # steps offered earlier in the thread stay valid (their ids are never reused)
        record["remediations"] = {**previous.get("remediations", {}), **steps}
    record["narrative"], record["narrative_source"] = await narrative.write(deps.llm, record)
    return record


def fold_related(incident: dict[str, Any], related: dict[str, Any]) -> dict[str, Any]:
    """The thread's incident after a look at another service (e.g. its failing upstream).

    The incident stays about its own service; the other service's findings join as a related
    investigation, its steps become runnable in the thread, its events join the timeline.
    """
    top = related["hypotheses"][0]
    where = related["service"] + (f" in {related['environment']}" if related["environment"] else "")
    entry = {
        "at": related["updated_at"],
        "source": "devops-bot",
        "text": f"investigated {where}: {top['title']}",
    }
    return {
        **incident,
        "remediations": {**incident.get("remediations", {}), **related["remediations"]},
        "timeline": merge_timeline(incident.get("timeline", []), [*related["timeline"], entry]),
        "related": [
            *incident.get("related", []),
            {
                "service": related["service"],
                "environment": related["environment"],
                "at": related["updated_at"],
                "top": top["title"],
            },
        ],
        "updated_at": related["updated_at"],
    }


def new_incident_id(now: datetime) -> str:
    """A fresh incident id: INC-<yyyymmdd>-<4 hex>."""
    return f"INC-{now:%Y%m%d}-{secrets.token_hex(2)}"


def next_step_number(previous: dict[str, Any] | None) -> int:
    """The number of the next remediation step id in a thread (r1 in a new one)."""
    numbers = [int(k[1:]) for k in (previous or {}).get("remediations", {}) if k[1:].isdigit()]
    return max(numbers, default=0) + 1


async def changes(deps: WorkflowDeps, target: Target) -> dict[str, Any]:
    """Rollouts, config changes, alerts and warnings of the service since `target.start`."""
    evidence, unavailable = await gather(deps, target)
    entries = analysis.timeline(evidence, target.as_dict(), target.start)
    kept = [e for e in entries if e["source"] != "logs"]
    return {"changes": kept, "unavailable": unavailable, "sources": sorted(evidence)}
