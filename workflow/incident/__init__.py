"""Incident investigation: gather evidence in parallel, rank causes, keep a record per thread.

`investigate()` returns the incident record (see `workflow.incident.report`); `changes()`
answers "what changed recently?". Both only read; remediation steps are offered as commands
that run through the normal plan -> approval -> apply path.
"""

from __future__ import annotations

import secrets
from typing import Any

from workflow.deps import WorkflowDeps
from workflow.incident import analysis, narrative
from workflow.incident.evidence import Report, Target, gather, metric_lines, no_report, runbooks
from workflow.incident.report import findings_text, merge_timeline, postmortem_markdown

__all__ = [
    "Target",
    "changes",
    "findings_text",
    "investigate",
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
) -> dict[str, Any]:
    """A fresh look at the service; merged into the thread's earlier record when there is one."""
    evidence, unavailable = await gather(deps, target, report)
    where = target.as_dict()
    ranked = analysis.hypotheses(evidence, where, deps.ops)
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
        "id": (previous or {}).get("id") or incident_id or _new_id(deps),
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
    record["narrative"], record["narrative_source"] = await narrative.write(deps.llm, record)
    return record


async def changes(deps: WorkflowDeps, target: Target) -> dict[str, Any]:
    """Rollouts, config changes, alerts and warnings of the service since `target.start`."""
    evidence, unavailable = await gather(deps, target)
    entries = analysis.timeline(evidence, target.as_dict(), target.start)
    kept = [e for e in entries if e["source"] != "logs"]
    return {"changes": kept, "unavailable": unavailable, "sources": sorted(evidence)}


def _new_id(deps: WorkflowDeps) -> str:
    return f"INC-{deps.clock():%Y%m%d}-{secrets.token_hex(2)}"
