"""The human-approval gate: an `interrupt()` that waits for real people.

The node is pure before its interrupt (it re-runs from its first line on every
resume). Each resume carries one vote `{"decision", "user", "groups", "reason", "at"}`
that the caller has already checked; the node checks it again against the policy,
so a resume that bypassed the caller still cannot approve what the policy forbids
(LangGraph Studio resumes straight here: see `bot.studio`). A vote without "at" was cast
now (the deps' clock); a resume that is not a vote is refused, and the request waits on.
With `min_approvals: M` the node loops back to itself (a fresh interrupt) until M
distinct approvers said yes; any rejection ends the request; so does expiry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from workflow.deps import WorkflowDeps, deps_of
from workflow.state import DevOpsAgentState

__all__ = ["NODE", "human_approval"]

NODE = "human_approval"
_NOT_A_VOTE = (
    'a vote is {"decision": "approve" or "reject", "user": NAME} (optional: "groups", "reason")'
)


def _closed(approval: dict[str, Any], status: str, summary: str, **extra: Any) -> Command:
    approval = {**approval, "status": status, **extra}
    outcome = {"status": status, "summary": summary}
    return Command(
        goto=END,
        update={
            "approval": approval,
            "outcome": outcome,
            "current_phase": "done",
            "next_action": "end",
        },
    )


def _refused(approval: dict[str, Any], user: str, reason: str) -> Command:
    """The vote does not count: say why in the request, which waits on (a fresh pause)."""
    refusals = [*approval.get("refusals", []), {"user": user, "reason": reason}]
    return Command(goto=NODE, update={"approval": {**approval, "refusals": refusals}})


async def human_approval(state: DevOpsAgentState, runtime: Runtime[WorkflowDeps]) -> Command:
    deps = deps_of(runtime)
    approval = dict(state["approval"] or {})
    vote = interrupt({"kind": "approval_request", **approval})

    if not isinstance(vote, dict):
        return _refused(approval, "", f"{_NOT_A_VOTE}; got {vote!r:.80}")
    vote = {**vote, "at": vote.get("at") or deps.clock().isoformat()}
    at = datetime.fromisoformat(vote["at"])
    user = str(vote.get("user", ""))
    decision = vote.get("decision")
    if decision == "expire" or at >= datetime.fromisoformat(approval["expires_at"]):
        return _closed(
            approval,
            "expired",
            f"approval request {approval['id']} expired at {approval['expires_at']}; "
            "nothing was applied",
            decided_at=vote["at"],
        )
    if decision not in {"approve", "reject"}:
        return _refused(approval, user, f"{_NOT_A_VOTE}; got decision {decision!r:.40}")
    verdict = deps.policy.may_vote(
        user, approval, decision=decision, user_groups=frozenset(vote.get("groups", [])), now=at
    )
    if not verdict.allowed:
        return _refused(approval, user, verdict.reason)

    entry = {"user": user, "decision": decision, "at": vote["at"], "reason": vote.get("reason")}
    votes = [*approval.get("votes", []), entry]
    if decision == "reject":
        reason = vote.get("reason") or "no reason given"
        return _closed(
            {**approval, "votes": votes},
            "rejected",
            f"rejected by {user}: {reason}; nothing was applied",
            decided_by=user,
            decided_at=vote["at"],
            reason=reason,
        )
    if not deps.policy.closes(approval, vote):
        return Command(goto=NODE, update={"approval": {**approval, "votes": votes}})
    approved = {
        **approval,
        "votes": votes,
        "status": "approved",
        "decided_by": user,
        "decided_at": vote["at"],
    }
    return Command(goto="apply", update={"approval": approved, "next_action": "apply"})
