"""Apply an approved `alertmanager` plan: create the silence, or expire it."""

from __future__ import annotations

from workflow.agents.spec import Applied, BackendMissing
from workflow.deps import WorkflowDeps
from workflow.plan import Plan

__all__ = ["apply_alertmanager"]


async def apply_alertmanager(plan: Plan, deps: WorkflowDeps) -> Applied:
    if deps.alertmanager is None:
        raise BackendMissing(deps.why_missing(plan.backend))
    result = await deps.alertmanager.apply(plan)
    where = f" ({result['silence_id']})" if result.get("silence_id") else ""
    return Applied(result, where=where)
