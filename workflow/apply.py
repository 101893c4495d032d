"""Apply: execute exactly the approved plan, then report what really happened.

A plan names the backend that executes it: `kubernetes` (deployments, namespaces) or
`alertmanager` (silences). Each backend's `apply(plan)` sends exactly what was previewed.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from workflow.deps import WorkflowDeps, deps_of
from workflow.incident.report import record_action
from workflow.memory import AccessContext
from workflow.plan import Plan, compute_plan_hash
from workflow.state import DevOpsAgentState
from workflow.tools.errors import BackendError
from workflow.tools.kubernetes import KubernetesError

__all__ = ["NODE", "apply"]

NODE = "apply"


async def apply(
    state: DevOpsAgentState, config: RunnableConfig, runtime: Runtime[WorkflowDeps]
) -> dict[str, Any]:
    deps = deps_of(runtime)
    outcome = await _apply(state, deps)
    await deps.remember(config, AccessContext.for_workflow(NODE), "apply.result", outcome)
    update: dict[str, Any] = {"outcome": outcome, "current_phase": "done", "next_action": "end"}
    incident = state.get("incident")
    if incident and state.get("plan"):  # a remediation in an incident thread: keep the record
        update["incident"] = record_action(incident, state["plan"], outcome, deps.clock())
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
    backend = deps.alertmanager if plan.backend == "alertmanager" else deps.kubernetes
    if backend is None:
        return {"status": "failed", "summary": f"cannot apply: {deps.why_missing(plan.backend)}"}
    try:
        result = await backend.apply(plan)
    except (KubernetesError, BackendError) as exc:
        return {
            "status": "failed",
            "summary": f"{plan.action} {plan.target} failed: {exc}",
            "plan_hash": plan.plan_hash,
        }
    by = _approved_by(approval)
    if plan.backend == "alertmanager":
        where = f" ({result['silence_id']})" if result.get("silence_id") else ""
        summary = f"applied {plan.action} of {plan.target}{where}{by}"
    else:
        rollout = result.get("rollout")
        cluster = deps.kubernetes.cluster_label  # type: ignore[union-attr]
        if rollout == "timed_out":
            return {
                "status": "failed",
                "summary": f"applied {plan.action} of {plan.target} on {cluster}, but the "
                f"rollout did not complete within {result.get('elapsed_s', '?')} s",
                "result": result,
                "plan_hash": plan.plan_hash,
            }
        done = f" (rollout {rollout})" if rollout and rollout != "not_applicable" else ""
        summary = f"applied {plan.action} of {plan.target} on {cluster}{done}{by}"
    return {"status": "applied", "summary": summary, "result": result, "plan_hash": plan.plan_hash}


def _approved_by(approval: dict[str, Any] | None) -> str:
    voters = [v["user"] for v in (approval or {}).get("votes", []) if v["decision"] == "approve"]
    return f", approved by {', '.join(voters)}" if voters else ""
