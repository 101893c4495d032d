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

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime

from workflow.agents.base import agent_update, make_result
from workflow.agents.incident_agent import NAME, SPEC
from workflow.deps import WorkflowDeps, deps_of, thread_id_of
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


async def incident_agent(
    state: DevOpsAgentState, config: RunnableConfig, runtime: Runtime[WorkflowDeps]
) -> dict[str, Any]:
    deps = deps_of(runtime)
    context = state.get("context", {})
    action = context.get("action")
    if action not in SPEC.actions:
        action = SPEC.default_action(state.get("task_type", ""), "investigate")
    previous = state.get("incident")

    def finish(status: str, summary: str, **kw: Any) -> dict[str, Any]:
        return make_result(NAME, status, summary, deps=deps, **kw)  # type: ignore[arg-type]

    async def done(result: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return await agent_update(result, deps=deps, config=config, state=state, plan=None, **extra)

    if action == "postmortem":
        if not previous:
            why = (
                "no incident has been investigated in this thread yet; start with "
                "'investigate checkout in production'"
            )
            return await done(finish("failed", why, errors=[why]))
        markdown = postmortem_markdown(previous)
        summary = f"postmortem draft for {previous['id']} ({len(markdown.splitlines())} lines)"
        return await done(finish("completed", summary, output={"markdown": markdown}))

    target = _target(deps, context, previous, action)
    if isinstance(target, str):
        return await done(finish("failed", target, errors=[target]))

    if action == "changes":
        found = await changes(deps, target)
        # What this thread's incident already knows (remediations applied, related looks):
        # the thread's record, else the timeline another replica left on the memory bus.
        known = (previous or {}).get("timeline") or await deps.memory.get(
            Namespace.AGENT, f"{NAME}.timeline", scope=thread_id_of(config), default=[]
        )
        since = iso(target.start)
        found["changes"] = merge_timeline(
            found["changes"], [e for e in known if e["at"] >= since and e["source"] != "logs"]
        )
        if not found["sources"]:
            why = "; ".join(found["unavailable"].values())
            return await done(finish("failed", f"cannot tell what changed: {why}", errors=[why]))
        span = human_minutes(target.length / 60)
        lines = [f"• {e['at']} [{e['source']}] {e['text']}" for e in found["changes"]]
        head = f"{len(lines)} change(s) to {target.service} in the last {span}"
        summary = head + (":\n" + "\n".join(lines) if lines else ": nothing recorded")
        if found["unavailable"]:
            summary += "\nNot checked: " + "; ".join(found["unavailable"].values())
        return await done(
            finish("completed", summary, output=found, warnings=list(found["unavailable"].values()))
        )

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
        return await done(finish("failed", f"nothing to investigate with: {why}", errors=[why]))
    actor = AccessContext.for_agent(NAME)
    await deps.remember(config, actor, f"{NAME}.timeline", record["timeline"])
    await deps.remember(config, actor, f"{NAME}.incident", _brief(record))
    warnings = [f"not checked: {why}" for key, why in record["unavailable"].items() if key != "web"]
    result = finish(
        "completed",
        findings_text(record),
        output={"incident": record},
        warnings=warnings,
    )
    return await done(
        result,
        incident=fold_related(previous, record) if related else record,
        alerts=record["firing_alerts"],
        retrieved_docs=record["runbooks"],
        search_queries=[f"runbooks: {target.service}"] if record["runbooks"] else [],
        metrics={f"{target.service}/{target.namespace}": {"impact": record["impact"]}},
    )


def _target(
    deps: WorkflowDeps,
    context: dict[str, Any],
    previous: dict[str, Any] | None,
    action: str,
) -> Target | str:
    """The service and window to look at, or a sentence saying what is missing."""
    service = context.get("service") or (previous or {}).get("service")
    if not service:
        return (
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
