"""Rollout: follow a Deployment change the `apply` node made, and give the run its final word.

The apply already happened (its outcome, stage "rolling_out", was streamed to whoever is
watching); this node waits until the rollout of that generation completes, fails or times
out, and replaces the outcome with one of stage "rolled_out":

- complete: status "applied", "... (rollout complete)";
- failed (the Deployment reports ProgressDeadlineExceeded) or timed out: status "failed",
  saying that the change was applied but did not roll out, so someone looks at it.

A change of another backend (a Harness pipeline execution) is followed by the follower its
agent declares for the plan's backend (`AgentSpec.followers`), which gives the final word
the same way.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from workflow.agents.registry import REGISTRY
from workflow.agents.spec import Lazy
from workflow.apply import ROLLOUT_NODE, outcome_update
from workflow.deps import WorkflowDeps, deps_of
from workflow.memory import AccessContext
from workflow.state import DevOpsAgentState
from workflow.tools.kubernetes import KubernetesError

__all__ = ["NODE", "rollout"]

NODE = ROLLOUT_NODE

# plan backend -> the follower of the agent that owns it (Kubernetes: `_follow` below)
FOLLOWERS: dict[str, Lazy] = {b: f for spec in REGISTRY for b, f in spec.followers.items()}


async def rollout(
    state: DevOpsAgentState, config: RunnableConfig, runtime: Runtime[WorkflowDeps]
) -> dict[str, Any]:
    deps = deps_of(runtime)
    applied = state.get("outcome") or {}
    follower = FOLLOWERS.get((state.get("plan") or {}).get("backend", "kubernetes"))
    outcome = await (follower.load()(applied, deps) if follower else _follow(applied, deps))
    await deps.remember(config, AccessContext.for_workflow(NODE), "rollout.result", outcome)
    return outcome_update(state, deps, outcome)


async def _follow(applied: dict[str, Any], deps: WorkflowDeps) -> dict[str, Any]:
    result = dict(applied.get("result") or {})
    head = f"applied {applied.get('action')} of {applied.get('target')}"
    voters = applied.get("approved_by") or []
    by = f", approved by {', '.join(voters)}" if voters else ""
    base = {
        **{k: v for k, v in applied.items() if k not in {"summary", "status", "result"}},
        "stage": "rolled_out",
        "applied_summary": applied.get("summary"),
    }
    if deps.kubernetes is None:  # the apply had one; a restart may not
        summary = f"{head}, but its rollout cannot be followed: {deps.why_missing('kubernetes')}"
        return {**base, "status": "failed", "summary": summary, "result": result}
    cluster = deps.kubernetes.cluster_label
    head += f" on {cluster}"
    try:
        followed = await deps.kubernetes.follow_rollout(
            result["namespace"], result["name"], int(result["generation"]), details=False
        )
    except (KubernetesError, KeyError, ValueError) as exc:
        summary = (
            f"{head}{by}, but following its rollout failed ({exc}); check it with "
            "`kubectl rollout status`"
        )
        return {**base, "status": "failed", "summary": summary, "result": result}
    result.update(followed)
    state = followed["rollout"]
    if state == "complete":
        summary = f"{head} (rollout complete){by}"
        return {**base, "status": "applied", "summary": summary, "result": result}
    if state == "timed_out":
        why = f"did not complete within {deps.kubernetes.rollout_timeout:g} s"
    else:
        why = "failed: the Deployment exceeded its progress deadline"
    summary = f"{head}{by}, but the rollout {why}"
    return {**base, "status": "failed", "summary": summary, "result": result}
