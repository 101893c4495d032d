"""Run an approved API test run that writes (production, unsafe methods included): the
document, seed and bound the plan named, every method sent."""

from __future__ import annotations

from workflow.agents.codegen_agent.documents import DocumentError, fetch_document
from workflow.agents.spec import Applied, ApplyError
from workflow.agents.testing_agent.apitest import run_api_tests
from workflow.agents.testing_agent.node import _settings, report_run
from workflow.deps import WorkflowDeps
from workflow.plan import Plan

__all__ = ["apply_api_tests", "apply_unit_tests", "apply_unit_tests_in_pipeline"]


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
    """Create the planned Job (found again on a retried click), follow it, read its log; a
    plan through the service's pipeline runs its CI stage(s) instead."""
    from workflow.agents.spec import BackendMissing

    if (plan.body or {}).get("via") == "harness":
        return await apply_unit_tests_in_pipeline(plan, deps)
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


MESSAGE_CUT = 300  # a failure's message is cut to this many characters in the thread
FAILURES_SHOWN = 10


def _cut(text: str, limit: int = MESSAGE_CUT) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def apply_unit_tests_in_pipeline(plan: Plan, deps: WorkflowDeps) -> Applied:
    """Start only the planned CI stage(s) of the service's pipeline, follow the execution to
    its end (progress per stage), then read the stages' published test results."""
    import time

    from workflow.agents.harness_expert.ci import HarnessError, run_ci_stages, still_planned
    from workflow.agents.spec import BackendMissing
    from workflow.agents.testing_agent.node import HARNESS

    client = deps.backend(HARNESS)
    if client is None:
        raise BackendMissing(deps.why_missing(HARNESS))
    body = plan.body or {}
    service, pipeline = str(body.get("service") or plan.name), str(body["pipeline"])
    stages = [str(s) for s in body.get("stages") or []]
    names = body.get("stage_names") or {}
    where = f" on {client.label}"
    began = time.monotonic()
    try:
        stale = await still_planned(client, pipeline, plan.resource_version)
        if stale:
            raise ApplyError(stale)
        started, run = await run_ci_stages(client, pipeline, stages, str(body.get("inputs") or ""))
    except HarnessError as exc:
        raise ApplyError(exc.message) from exc
    seconds = time.monotonic() - began
    execution = run.execution
    link = (execution.url if execution else "") or started.url
    number = "the execution"
    if execution and execution.run_sequence:
        number = f"execution #{execution.run_sequence}"
    head = f"unit tests of {service} (pipeline {pipeline}, {number}, {seconds:.0f} s)"
    if execution is None:
        raise ApplyError(f"{head}: following the execution failed ({run.why}); see {link}")
    reports = run.reports
    counts = {
        key: sum(getattr(r, key) for r in reports.values())
        for key in ("passed", "failed", "skipped")
    }
    failures = [f for r in reports.values() for f in r.failures]
    out = {
        "service": service,
        "pipeline": pipeline,
        "stages": stages,
        "execution": execution.id,
        "run": execution.run_sequence,
        "url": link,
        "status": execution.status,
        "outcome": "failed" if counts["failed"] or execution.status != "Success" else "passed",
        **({k: counts[k] for k in counts} if reports else dict.fromkeys(counts)),
        "failures": [{**f, "message": _cut(f["message"])} for f in failures],
        "source": "Harness test reports" if reports else "none",
        "seconds": round(seconds, 1),
    }
    if not execution.final:
        state = f"is still {execution.status} after {client.config.follow_timeout:g} s"
        if execution.waiting:
            state = "waits on a person in Harness"
        raise ApplyError(f"{head}: {number} {state}; no longer followed here: {link}")
    if not reports:
        failed = execution.failed_stage()
        if execution.status == "Success":
            why = "succeeded but its CI stage(s) published no test results (JUnit reports)"
        elif failed:
            stage = names.get(failed["identifier"], failed["name"])
            message = failed.get("failure") or execution.failure or "no message"
            why = f"failed at stage {stage}: {message}; no test results were published"
        else:
            why = f"{execution.status.lower()}: {execution.failure or 'no message'}"
        if run.why:
            why += f" ({run.why})"
        raise ApplyError(f"{head}: {why}: {link}")
    verdict = "FAILED" if out["outcome"] == "failed" else "passed"
    lines = [
        f"{head}: {verdict}: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped (from Harness's test reports)"
    ]
    for f in failures[:FAILURES_SHOWN]:
        name = f"{f['class_name']}.{f['name']}" if f["class_name"] else f["name"]
        lines.append(f"- {name}: {_cut(f['message']) or 'no message'}")
    if len(failures) > FAILURES_SHOWN:
        lines.append(f"- and {len(failures) - FAILURES_SHOWN} more")
    if counts["failed"] > len(failures):
        lines.append(f"({counts['failed'] - len(failures)} failure(s) not listed by Harness)")
    if execution.status != "Success" and not counts["failed"]:
        failed = execution.failed_stage()
        if failed:
            lines.append(f"stage {failed['name']} failed: {failed.get('failure') or 'no message'}")
    if run.why:
        lines.append(run.why)
    lines.append(link)
    return Applied(out, where=where, said="\n".join(lines))
