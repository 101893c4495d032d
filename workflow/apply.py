"""Apply: execute exactly the approved plan, then report what really happened.

A plan names the backend that executes it (`kubernetes`: deployments, namespaces;
`alertmanager`: silences); the agent owning that backend declares its applier in its spec
(`AgentSpec.appliers`), which sends exactly what was previewed.

A Deployment change is reported as applied as soon as the API server has accepted it
(stage "rolling_out"); the `rollout` node then follows the rollout and gives the run its
final word (stage "rolled_out"). So people see at once that the change went in, and later
whether it rolled out.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from workflow.agents.registry import REGISTRY
from workflow.agents.spec import ApplyError, BackendMissing, Lazy
from workflow.deps import WorkflowDeps, deps_of, thread_id_of
from workflow.incident.report import record_action, record_rollout
from workflow.memory import AccessContext
from workflow.plan import Plan, compute_plan_hash
from workflow.state import DevOpsAgentState
from workflow.tools.errors import BackendError

__all__ = ["APPLYING", "NODE", "ROLLOUT_NODE", "apply", "approved_by", "outcome_update"]

NODE = "apply"
ROLLOUT_NODE = "rollout"

# Who asked for and approved the plan being applied, and in which thread: an applier that
# keeps its own record (a database's migration ledger) reads it. {requester, approvers, thread}
APPLYING: ContextVar[dict[str, Any] | None] = ContextVar("applying", default=None)

# plan backend -> the applier of the agent that owns it
APPLIERS: dict[str, Lazy] = {b: a for spec in REGISTRY for b, a in spec.appliers.items()}


async def apply(
    state: DevOpsAgentState, config: RunnableConfig, runtime: Runtime[WorkflowDeps]
) -> Command:
    deps = deps_of(runtime)
    APPLYING.set(
        {
            "requester": (state.get("context") or {}).get("requester"),
            "approvers": approved_by(state.get("approval")),
            "thread": thread_id_of(config),
        }
    )
    outcome = await _apply(state, deps)
    await deps.remember(config, AccessContext.for_workflow(NODE), "apply.result", outcome)
    if outcome.get("stage") == "rolling_out":
        update = outcome_update(state, deps, outcome, phase="rolling_out")
        return Command(goto=ROLLOUT_NODE, update={**update, "next_action": ROLLOUT_NODE})
    return Command(goto=END, update=outcome_update(state, deps, outcome))


def outcome_update(
    state: DevOpsAgentState, deps: WorkflowDeps, outcome: dict[str, Any], *, phase: str = "done"
) -> dict[str, Any]:
    """The state update that makes `outcome` the run's word (and the incident's record)."""
    update: dict[str, Any] = {"outcome": outcome, "current_phase": phase, "next_action": "end"}
    incident = state.get("incident")
    if incident and state.get("plan"):  # a remediation in an incident thread: keep the record
        record = record_rollout if outcome.get("stage") == "rolled_out" else record_action
        update["incident"] = record(incident, state["plan"], outcome, deps.clock())
    return update


async def _apply(state: DevOpsAgentState, deps: WorkflowDeps) -> dict[str, Any]:
    raw = state.get("plan")
    if not raw:
        return {"status": "failed", "summary": "nothing to apply: the run has no plan"}
    plan = Plan.model_validate(raw)
    approval = state.get("approval")
    need = deps.policy.needs_approval(plan.action, plan.environment, plan.risk)
    if need.required and (not approval or approval.get("status") != "approved"):
        return {"status": "failed", "summary": "refused to apply: the plan was not approved"}
    if compute_plan_hash(plan) != plan.plan_hash or (
        approval and approval.get("plan_hash") != plan.plan_hash
    ):
        return {
            "status": "failed",
            "summary": "refused to apply: the plan differs from the one that was approved",
        }
    which = {
        "action": plan.action,
        "target": plan.target,
        "environment": plan.environment,
        "plan_hash": plan.plan_hash,
        "approved_by": approved_by(approval),
    }
    by = f", approved by {', '.join(which['approved_by'])}" if which["approved_by"] else ""
    applier = APPLIERS.get(plan.backend)
    if applier is None:
        return {"status": "failed", "summary": f"cannot apply: no agent applies {plan.backend!r}"}
    try:
        done = await applier.load()(plan, deps)
    except BackendMissing as missing:
        return {"status": "failed", "summary": f"cannot apply: {missing}"}
    except (ApplyError, BackendError) as exc:
        summary = f"{plan.action} {plan.target} failed: {exc}"
        return {"status": "failed", "summary": summary, **which}
    summary = done.said or f"applied {plan.action} of {plan.target}{done.where}{by}"
    if done.rolling_out:
        return {
            "status": "applied",
            "stage": "rolling_out",
            "summary": summary if done.said else f"{summary}; rolling out",
            "result": done.result,
            **which,
        }
    return {"status": "applied", "summary": summary, "result": done.result, **which}


def approved_by(approval: dict[str, Any] | None) -> list[str]:
    return [v["user"] for v in (approval or {}).get("votes", []) if v["decision"] == "approve"]
