"""Run an approved API test run that writes (production, unsafe methods included): the
document, seed and bound the plan named, every method sent."""

from __future__ import annotations

from workflow.agents.codegen_agent.documents import DocumentError, fetch_document
from workflow.agents.spec import Applied, ApplyError
from workflow.agents.testing_agent.apitest import run_api_tests
from workflow.agents.testing_agent.node import _settings, report_run
from workflow.deps import WorkflowDeps
from workflow.plan import Plan

__all__ = ["apply_api_tests", "apply_unit_tests"]


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


async def apply_unit_tests(plan: Plan, deps: WorkflowDeps) -> Applied:
    """Create the planned Job (found again on a retried click), follow it, read its log."""
    from workflow.agents.spec import BackendMissing
    from workflow.agents.testing_agent.node import KUBERNETES, _progress_writer
    from workflow.agents.testing_agent.unit import UnitTestError, run_test_job

    kube = deps.kubernetes
    if kube is None:
        raise BackendMissing(deps.why_missing(KUBERNETES))
    body = plan.body or {}
    manifest = body["manifest"]
    try:
        run = await run_test_job(
            kube.client,
            manifest,
            poll_s=max(0.05, float(getattr(kube, "poll_interval", 1.0))),
            progress=_progress_writer(),
        )
    except UnitTestError as exc:
        raise ApplyError(str(exc)) from exc
    service = body.get("service") or plan.name
    where = f" on {getattr(kube, 'cluster_label', 'kubernetes')}"
    out = {
        "service": service,
        "job": run.name,
        "namespace": run.namespace,
        "outcome": run.outcome,
        "passed": run.passed,
        "failed": run.failed,
        "skipped": run.skipped,
        "source": run.source,
        "seconds": round(run.seconds, 1),
        "pod": run.pod,
        "log_tail": run.log_tail,
    }
    head = f"unit tests of {service} (Job {run.namespace}/{run.name}, {run.seconds:.0f} s)"
    if run.outcome in ("deadline", "gave up"):
        raise ApplyError(
            f"{head}: stopped at the deadline ({manifest['spec']['activeDeadlineSeconds']} s) "
            f"before they finished; {run.counts()}"
        )
    if run.passed is None:
        tail = "\n".join(run.log_tail[-5:]) or "(empty log)"
        raise ApplyError(f"{head}: {run.outcome}, but no test counts in its log:\n{tail}")
    verdict = "FAILED" if run.outcome == "failed" else "passed"
    said = f"{head}: {verdict}: {run.counts()} (from its {run.source})"
    return Applied(out, where=where, said=said)
