"""Run an approved API test run that writes (production, unsafe methods included): the
document, seed and bound the plan named, every method sent."""

from __future__ import annotations

from workflow.agents.codegen_agent.documents import DocumentError, fetch_document
from workflow.agents.spec import Applied, ApplyError
from workflow.agents.testing_agent.apitest import run_api_tests
from workflow.agents.testing_agent.node import _settings, report_run
from workflow.deps import WorkflowDeps
from workflow.plan import Plan

__all__ = ["apply_api_tests"]


async def apply_api_tests(plan: Plan, deps: WorkflowDeps) -> Applied:
    body = plan.body or {}
    try:
        document = await fetch_document(str(body["document"]))
    except DocumentError as exc:
        raise ApplyError(str(exc)) from exc
    settings = _settings(deps)
    run = await run_api_tests(
        document.data,
        document.base_url(),
        seed=int(body["seed"]),
        max_examples=int(body.get("max_examples") or settings.max_examples),
        time_budget_s=settings.time_budget_s,
        safe_only=False,
        request_timeout_s=settings.request_timeout_s,
    )
    answer = report_run(run, plan.name, plan.environment, settings, {"approved_writes": True})
    if answer.status == "failed":
        raise ApplyError(answer.summary)
    text = next((p["body"] for p in answer.parts if p["kind"] == "text"), answer.summary)
    return Applied(answer.output, where=f" on {run.base_url}", said=text)
