"""incident_agent: investigate an incident, say what changed, draft the postmortem.

- `investigate` (incident_response / incident / debug): evidence from every configured backend
  in parallel, deterministic ranking of likely causes, remediation steps the bot can run. The
  thread's incident record (`state["incident"]`) keeps it for follow-ups and the postmortem,
  and the timeline goes to the memory bus for other agents and replicas.
- `changes`: rollouts, config changes, alerts and warnings of the service in a time range.
- `postmortem`: a Markdown draft from the thread's incident record.

It only reads. Remediations are offered as commands; running one starts a normal run in the
same thread, whose plan goes through reflection and the approval gate.
"""

from __future__ import annotations

import re
from typing import Any

from langgraph.config import get_config, get_stream_writer

from workflow import parts
from workflow.agents.base import Answer, Refusal, handler_agent
from workflow.agents.incident_agent import NAME, SPEC
from workflow.deps import WorkflowDeps, thread_id_of
from workflow.durations import human_minutes, minutes_of
from workflow.incident import (
    Target,
    changes,
    findings_text,
    fold_related,
    investigate,
    next_step_number,
    postmortem_markdown,
)
from workflow.incident.analysis import iso
from workflow.incident.report import merge_timeline
from workflow.memory import AccessContext, Namespace
from workflow.state import DevOpsAgentState

__all__ = ["NAME", "incident_agent"]


def resolve_action(task_type: str, context: dict[str, Any]) -> str:
    action = context.get("action")
    if action in SPEC.actions:
        return action
    return SPEC.default_action(task_type, "investigate")  # type: ignore[return-value]


async def _postmortem(
    deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState
) -> Answer:
    previous = state.get("incident")
    if not previous:
        raise Refusal(
            "no incident has been investigated in this thread yet; start with "
            "'investigate checkout in production'"
        )
    markdown = postmortem_markdown(previous)
    lines = len(markdown.splitlines())
    summary = f"postmortem draft for {previous['id']} ({lines} lines)"
    draft = parts.file(
        f"{_file_safe(str(previous['id']))}-postmortem.md",
        markdown,
        title=f"Postmortem draft {previous['id']}",
        note=f"Postmortem draft for {previous['id']}. Review and complete it before publishing.",
    )
    return Answer(
        "completed", summary, output={"incident_id": previous["id"], "lines": lines}, parts=[draft]
    )


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80] or "incident"


async def _changes(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    previous = state.get("incident")
    target = _target(deps, context, previous, "changes")
    found = await changes(deps, target)
    # What this thread's incident already knows (remediations applied, related looks):
    # the thread's record, else the timeline another replica left on the memory bus.
    known = (previous or {}).get("timeline") or await deps.memory.get(
        Namespace.AGENT, f"{NAME}.timeline", scope=thread_id_of(get_config()), default=[]
    )
    since = iso(target.start)
    found["changes"] = merge_timeline(
        found["changes"], [e for e in known if e["at"] >= since and e["source"] != "logs"]
    )
    if not found["sources"]:
        why = "; ".join(found["unavailable"].values())
        return Answer("failed", f"cannot tell what changed: {why}", errors=[why])
    span = human_minutes(target.length / 60)
    lines = [f"• {e['at']} [{e['source']}] {e['text']}" for e in found["changes"]]
    head = f"{len(lines)} change(s) to {target.service} in the last {span}"
    summary = head + (":\n" + "\n".join(lines) if lines else ": nothing recorded")
    if found["unavailable"]:
        summary += "\nNot checked: " + "; ".join(found["unavailable"].values())
    return Answer("completed", summary, output=found, warnings=list(found["unavailable"].values()))


async def _investigate(
    deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState
) -> Answer:
    previous = state.get("incident")
    target = _target(deps, context, previous, "investigate")
    writer = get_stream_writer()
    # A look at another service (say the failing upstream) in an incident's thread is a
    # related investigation: it does not take the thread's incident over.
    related = bool(previous) and previous["service"] != target.service
    record = await investigate(
        deps,
        target,
        incident_id=context.get("incident_id"),
        severity=context.get("severity"),
        requester=context.get("requester", "unknown"),
        previous=None if related else previous,
        first_step=next_step_number(previous),
        report=lambda source, line: writer({"evidence": source, "summary": line}),
    )
    if not record["sources"]:
        why = "; ".join(record["unavailable"].values())
        return Answer("failed", f"nothing to investigate with: {why}", errors=[why])
    actor, config = AccessContext.for_agent(NAME), get_config()
    await deps.remember(config, actor, f"{NAME}.timeline", record["timeline"])
    await deps.remember(config, actor, f"{NAME}.incident", _brief(record))
    warnings = [f"not checked: {why}" for key, why in record["unavailable"].items() if key != "web"]
    return Answer(
        "completed",
        findings_text(record),
        output={"incident_id": record["id"], "state": record.get("state")},
        parts=[parts.findings(record)],
        warnings=warnings,
        state={
            "incident": fold_related(previous, record) if related else record,
            "alerts": record["firing_alerts"],
            "retrieved_docs": record["runbooks"],
            "search_queries": [f"runbooks: {target.service}"] if record["runbooks"] else [],
            "metrics": {f"{target.service}/{target.namespace}": {"impact": record["impact"]}},
        },
    )


incident_agent = handler_agent(
    NAME,
    resolve_action,
    {"postmortem": _postmortem, "changes": _changes, "investigate": _investigate},
)
incident_agent.__doc__ = "Investigate an incident, list what changed, or draft the postmortem."


def _target(
    deps: WorkflowDeps,
    context: dict[str, Any],
    previous: dict[str, Any] | None,
    action: str,
) -> Target:
    """The service and window to look at; a `Refusal` says what is missing."""
    service = context.get("service") or (previous or {}).get("service")
    if not service:
        raise Refusal(
            "which service? e.g. 'investigate checkout latency in production' "
            "or 'what changed in checkout in the last hour'"
        )
    environment = context.get("environment") or (previous or {}).get("environment")
    namespace = context.get("namespace")
    if not namespace and environment:
        namespace = deps.catalog.namespace_for(service, environment)
    default = 60.0 if action == "changes" else deps.ops.incident_window_minutes
    minutes = minutes_of(context.get("time_range")) or default
    end = deps.clock().timestamp()
    return Target(service, environment, namespace, end - minutes * 60, end)


def _brief(record: dict[str, Any]) -> dict[str, Any]:
    """What other agents and replicas need of the incident (the full record is in state)."""
    keys = ("id", "service", "environment", "namespace", "severity", "state", "updated_at")
    top = (record.get("hypotheses") or [{}])[0]
    return {**{k: record.get(k) for k in keys}, "top_hypothesis": top.get("title")}
