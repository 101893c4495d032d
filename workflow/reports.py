"""What a run's checkpoint says, as the service reports it: `RunReport` and its summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunReport:
    thread_id: str
    status: str  # done | applied | awaiting_approval | failed | rejected | expired
    summary: str
    routing_trace: list[dict[str, Any]] = field(default_factory=list)
    approval: dict[str, Any] | None = None
    interrupt_id: str | None = None
    result: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    note: str | None = None
    # The thread's checkpointed values this report was made from (not part of as_dict).
    values: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "values"}


def _not_pending(thread_id: str, values: dict[str, Any]) -> str:
    approval = values.get("approval") or {}
    if approval.get("status") in {"approved", "rejected", "expired"}:
        by = f" by {approval['decided_by']}" if approval.get("decided_by") else ""
        return f"thread {thread_id} was already decided ({approval['status']}{by}): nothing changed"
    status = (values.get("outcome") or {}).get("status", "running")
    return f"thread {thread_id} is not awaiting approval (it is {status})"


def _summary(thread_id: str, request: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "action",
        "target",
        "environment",
        "requester",
        "plan_hash",
        "expires_at",
        "min_approvals",
        "sandbox",
    )
    votes = [v["user"] for v in request.get("votes", []) if v.get("decision") == "approve"]
    return {"thread_id": thread_id, **{k: request.get(k) for k in keys}, "approvals": votes}


def _report(thread_id: str, snapshot: Any) -> RunReport:
    values = snapshot.values
    agent = values.get("last_agent")
    result = (values.get("subagent_results") or {}).get(agent) if agent else None
    if snapshot.interrupts:
        request = snapshot.interrupts[0].value
        got = len([v for v in request.get("votes", []) if v.get("decision") == "approve"])
        return RunReport(
            thread_id=thread_id,
            status="awaiting_approval",
            summary=f"{request['action']} {request['target']} is waiting for approval "
            f"({got}/{request.get('min_approvals', 1)} approvals)",
            routing_trace=values.get("routing_trace", []),
            approval=request,
            interrupt_id=snapshot.interrupts[0].id,
            result=result,
            values=dict(values),
        )
    approval = values.get("approval") or {}
    if not values.get("outcome") and approval.get("status") == "approved":
        return RunReport(  # decided; its apply is running (or was cut short: see `next`)
            thread_id=thread_id,
            status="approved",
            summary=f"{approval.get('action')} {approval.get('target')} was approved by "
            f"{approval.get('decided_by')} and is being applied",
            routing_trace=values.get("routing_trace", []),
            approval=approval,
            result=result,
            values=dict(values),
        )
    outcome = values.get("outcome") or {"status": "failed", "summary": "the run did not finish"}
    return RunReport(
        thread_id=thread_id,
        status=outcome.get("status", "failed"),
        summary=outcome.get("summary", ""),
        routing_trace=values.get("routing_trace", []),
        approval=values.get("approval"),
        result=result,
        outcome=outcome,
        values=dict(values),
    )
