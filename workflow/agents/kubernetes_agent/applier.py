"""Apply an approved `kubernetes` plan: send exactly what was previewed.

A Deployment change is reported as soon as the API server accepted it; `rolling_out` tells
the apply node to hand over to the `rollout` node, which follows it.
"""

from __future__ import annotations

from workflow.agents.spec import Applied, ApplyError, BackendMissing
from workflow.deps import WorkflowDeps
from workflow.plan import Plan
from workflow.tools.kubernetes import KubernetesError

__all__ = ["apply_kubernetes"]


async def apply_kubernetes(plan: Plan, deps: WorkflowDeps) -> Applied:
    if deps.kubernetes is None:
        raise BackendMissing(deps.why_missing(plan.backend))
    try:
        result = await deps.kubernetes.apply(plan, wait=False)
    except KubernetesError as exc:
        raise ApplyError(str(exc)) from exc
    return Applied(
        result,
        where=f" on {deps.kubernetes.cluster_label}",
        rolling_out=result.get("rollout") == "in_progress",
    )
