"""The testing node: API tests against a live service (schemathesis) and its coverage."""

from __future__ import annotations

import importlib.util
import random
from typing import Any

from workflow import parts
from workflow.agents.base import Answer, Refusal, handler_agent
from workflow.agents.codegen_agent.client import directory_of
from workflow.agents.codegen_agent.documents import (
    Document,
    DocumentError,
    locate_document,
    missing_tools,
)
from workflow.agents.testing_agent import NAME
from workflow.agents.testing_agent.apitest import (
    CHECKS,
    SAFE_METHODS,
    ApiRun,
    junit_xml,
    run_api_tests,
)
from workflow.agents.testing_agent.coverage import CoverageError, fetch_coverage
from workflow.agents.testing_agent.settings import BACKEND, ApiTestSettings
from workflow.deps import WorkflowDeps
from workflow.plan import Plan
from workflow.state import DevOpsAgentState

__all__ = ["report_run", "resolve_action", "testing_agent"]

NO_PULL_REQUEST = (
    "an API test run is not a pull request: ask `scaffold tests for the orders endpoints of "
    "checkout and open a pull request` for a test module in the service's repository"
)
TESTS_DIR = "tests/api"  # where a scaffolded module goes in the service's repository


def resolve_action(task_type: str, context: dict[str, Any]) -> str:
    kind = context.get("test_kind")
    if kind in {"api", "coverage", "scaffold", "unit"}:
        return kind
    if context.get("spec_url"):
        return "api"
    return "api" if context.get("environment") else "unsupported"


def _progress_writer() -> Any:
    """Each tested operation as a progress line in the thread (LangGraph's custom stream)."""
    try:
        from langgraph.config import get_stream_writer

        write = get_stream_writer()
    except (RuntimeError, ImportError):  # called outside a graph run
        return None
    return lambda line: write({"progress": line})


def _settings(deps: WorkflowDeps) -> ApiTestSettings:
    found = deps.backend(BACKEND)
    return found if isinstance(found, ApiTestSettings) else ApiTestSettings()


async def _api(deps: WorkflowDeps, context: dict[str, Any], _: DevOpsAgentState) -> Answer:
    missing = missing_tools()
    if missing or importlib.util.find_spec("schemathesis") is None:
        return Answer.failed(
            missing
            or "schemathesis is not installed here: install devops-bot's `api` extra "
            "(pip install 'devops-bot[api]')"
        )
    if deps.backend(BACKEND) is None and BACKEND in deps.unavailable:
        return Answer.failed(deps.why_missing(BACKEND))
    settings = _settings(deps)
    context = {**context}
    context.setdefault("environment", "staging" if not context.get("spec_url") else None)
    service, env, document = await locate_document(
        directory_of(deps), context, "run the API tests against", deps=deps
    )
    _answers_somewhere(service, document)
    base = document.base_url()
    if base is None:
        return Answer.failed(f"no API tests were run against {service}: {document.no_live_url()}")
    production = env == "production"
    seed = _seed(context, settings)
    if production and context.get("include_writes"):
        if document.in_repository or context.get("spec_text") is not None:
            where = "is in its repository" if document.in_repository else "was uploaded"
            raise Refusal(
                f"a run that writes to {service} in production is approved against a document "
                f"URL, and {document.url} {where}: give the catalog's `openapi:` "
                "URL for production, or paste the document's URL"
            )
        return _plan_writes(service, env, document, seed, settings)
    run = await run_api_tests(
        document.data,
        base,
        seed=seed,
        max_examples=settings.max_examples,
        time_budget_s=settings.time_budget_s,
        safe_only=production,
        request_timeout_s=settings.request_timeout_s,
        progress=_progress_writer(),
    )
    return report_run(run, service, env, settings, context)


def _answers_somewhere(service: str, document: Document) -> None:
    """An uploaded document of a service the catalog does not know, without an absolute
    server URL, says nothing about where to send the requests (a repository document's
    own sentence is `no_live_url`)."""
    if not document.in_repository and not document.base_url():
        raise Refusal(
            f"where does {service}'s API answer? {document.url} names no absolute server URL "
            "and the request names no service the catalog knows: name it, e.g. `run the API "
            "tests against checkout in staging`"
        )


def _unsafe_operations(document: Document) -> list[str]:
    return [
        f"{method.upper()} {path}"
        for path, item in (document.data.get("paths") or {}).items()
        if isinstance(item, dict)
        for method in item
        if method.upper() in {"POST", "PUT", "PATCH", "DELETE"}
    ]


def _plan_writes(
    service: str, env: str | None, document: Document, seed: int, settings: ApiTestSettings
) -> Answer:
    """API tests that send unsafe methods to production: a plan, approved before it runs."""
    unsafe = _unsafe_operations(document)
    base = document.base_url()
    preview = (
        f"schemathesis will send generated requests to {base} ({env}), up to "
        f"{settings.max_examples} per operation, seed {seed}, including these writes:\n"
        + "\n".join(f"  {op}" for op in unsafe or ["(none: the document has no unsafe method)"])
    )
    plan = Plan(
        action="api_writes",
        kind="ApiTestRun",
        name=service,
        environment=env,
        backend=BACKEND,
        target=f"{service} API in {env}",
        body={
            "document": document.url,
            "seed": seed,
            "max_examples": settings.max_examples,
            "unsafe": unsafe,
        },
        preview=preview,
        dry_run=False,
        risk=["writes to production"],
    ).with_hash()
    summary = (
        f"API tests of {service} in {env} that send {len(unsafe)} unsafe operation(s) are "
        "planned: they run once approved"
    )
    return Answer.planned(plan, summary)


def report_run(
    run: ApiRun,
    service: str,
    env: str | None,
    settings: ApiTestSettings,
    context: dict[str, Any],
) -> Answer:
    """A finished run as the answer: failures with curl lines, what was not sent, JUnit."""
    base = run.base_url
    production = env == "production"
    where = f"{service} in {env}" if env else service
    sent = sum(run.requests.values())
    head = (
        f"API tests of {where} ({base}): {len(run.operations)} operation(s), {sent} "
        f"request(s), {run.seconds:.1f} s, seed {run.seed} (schemathesis, up to "
        f"{run.max_examples} examples per operation)"
    )
    lines = [head]
    if run.failures:
        lines.append(f"{len(run.failures)} failure(s):")
        for f in run.failures:
            lines.append(f"- {f.operation}: {f.check}: {f.message}\n  {f.curl}")
    elif sent:
        lines.append(f"no failures: every response passed {', '.join(CHECKS)}")
    if run.skipped and production and not context.get("approved_writes"):
        lines.append(
            f"not sent in production (only {', '.join(sorted(SAFE_METHODS))} run there; ask "
            f"for the API tests 'including writes' to plan a run that sends them, approved "
            f"first): {', '.join(run.skipped)}"
        )
    elif run.skipped:
        lines.append(f"not tested (out of time): {', '.join(run.skipped)}")
    if run.timed_out:
        lines.append(f"stopped at the time bound ({settings.time_budget_s:.0f} s)")
    lines += [f"could not test: {e}" for e in run.errors]
    if context.get("pull_request"):
        lines.append(NO_PULL_REQUEST)
    body = "\n".join(lines)
    shown: list[dict[str, Any]] = [parts.text(body)]
    if run.failures:
        shown.append(
            parts.table(
                "API test failures",
                ["operation", "check", "message", "reproduce"],
                [[f.operation, f.check, f.message, f.curl] for f in run.failures],
            )
        )
    name = f"{service}-api-tests-junit.xml"
    shown.append(parts.file(name, junit_xml(run, f"{service} API"),
                            media_type="application/xml", title=name))  # fmt: skip
    output = {
        "service": service,
        "environment": env,
        "base_url": base,
        "seed": run.seed,
        "operations": run.operations,
        "skipped": run.skipped,
        "requests": run.requests,
        "failures": [f.__dict__ for f in run.failures],
        "errors": run.errors,
        "seconds": run.seconds,
    }
    if not sent and run.errors:
        answer = Answer("failed", body, output=output, parts=shown, errors=run.errors)
        answer.final = True
        return answer
    summary = head + (
        f": {len(run.failures)} failure(s) — " + "; ".join(
            f"{f.operation} {f.check}" for f in run.failures
        ) if run.failures else ": no failures"
    )  # fmt: skip
    return Answer("completed", summary, output=output, parts=shown)


async def _coverage(deps: WorkflowDeps, context: dict[str, Any], _: DevOpsAgentState) -> Answer:
    directory = directory_of(deps)
    service = directory.service_name(context.get("service"))
    if not service:
        raise Refusal("coverage of which service? e.g. `what is the test coverage of ledger`")
    url = directory.coverage_url(service)
    if not url:
        raise Refusal(
            f"the catalog names no coverage report for {service}: add `coverage: <URL of the "
            "coverage.py JSON or Cobertura XML its CI publishes>` to its entry"
        )
    try:
        report = await fetch_coverage(url)
    except CoverageError as exc:
        raise Refusal(str(exc)) from None
    before = directory.remembered("coverage", service)
    directory.remember("coverage", service, report.to_dict())
    lines = [f"{service}: {report.percent:.1f}% of lines covered ({report.format}, {url})"]
    if report.statements is not None and report.covered is not None:
        lines[0] += f"; {report.covered} of {report.statements} statements"
    change = None
    if before:
        change = round(report.percent - float(before.get("percent", 0.0)), 2)
        lines.append(
            f"since the last report seen: {change:+.1f} points (was {before['percent']:.1f}%)"
            if change
            else "unchanged since the last report seen"
        )
    else:
        lines.append("the first report seen of it: no change to show yet")
    lowest = report.lowest(5)
    rows = []
    for name, percent in lowest:
        was = ((before or {}).get("modules") or {}).get(name)
        rows.append([name, f"{percent:.1f}%", "" if was is None else f"{percent - was:+.1f}"])
    summary = "; ".join(lines) + (
        "; lowest: " + ", ".join(f"{n} {p:.0f}%" for n, p in lowest) if lowest else ""
    )
    return Answer(
        "completed",
        summary,
        output={
            "service": service,
            "report": url,
            "percent": report.percent,
            "change": change,
            "lowest": [{"module": n, "percent": p} for n, p in lowest],
        },
        parts=[
            parts.text("\n".join(lines)),
            parts.table(
                f"Lowest-covered modules of {service}", ["module", "covered", "change"], rows
            ),
        ],
    )


def _seed(context: dict[str, Any], settings: ApiTestSettings) -> int:
    """The run's seed: the one asked for, else the configured one, else a new one (printed
    either way, so any run can be repeated)."""
    for seed in (context.get("seed"), settings.seed):
        if seed is not None:
            return int(seed)
    return random.SystemRandom().randrange(1, 2**31)


async def _scaffold(deps: WorkflowDeps, context: dict[str, Any], _: DevOpsAgentState) -> Answer:
    from workflow.agents.testing_agent.scaffold import run_module, scaffold_module

    missing = missing_tools()
    if missing or importlib.util.find_spec("schemathesis") is None:
        return Answer.failed(
            missing or "schemathesis is not installed here: install the `api` extra"
        )
    settings = _settings(deps)
    context = {**context}
    context.setdefault("environment", "staging" if not context.get("spec_url") else None)
    service, env, document = await locate_document(
        directory_of(deps), context, "scaffold tests for the orders endpoints of", deps=deps
    )
    if document.in_repository:
        raise Refusal(
            f"a scaffolded test module loads its document from a URL, and {service}'s is "
            f"{document.url} in its repository: give the catalog's `openapi:` URL for "
            f"{env or 'staging'}, or paste the document's URL"
        )
    _answers_somewhere(service, document)
    word = context.get("endpoints")
    made = scaffold_module(document.data, document.url, document.base_url(), service, word)
    if not made.operations:
        raise Refusal(f"{service}'s API has no operation whose path or tag names {word!r}")
    seed = _seed(context, settings)
    code, result = await run_module(
        made.text, document.url, document.base_url(), settings.time_budget_s, seed
    )
    ran = f"run once against {service} in {env or 'the URL given'} (seed {seed}): {result}"
    summary = (
        f"API tests of {len(made.operations)} {word or ''} operation(s) of {service} "
        f"(schemathesis property tests, {made.examples} documented example(s)); {ran}"
    ).replace("  ", " ")
    name = f"test_{service.replace('-', '_')}_api.py"
    if code not in (0, 1):
        return Answer.failed(f"the generated tests could not run: {result}")
    answer = Answer(
        "completed",
        summary,
        output={
            "service": service,
            "operations": made.operations,
            "run": result,
            "exit": code,
            "seed": seed,
        },
        parts=[parts.text(summary), parts.file(name, made.text, title=name)],
    )
    if not context.get("pull_request"):
        return answer
    return await _scaffold_pull_request(deps, context, service, env, document, made, name, answer)


async def _scaffold_pull_request(
    deps: WorkflowDeps,
    context: dict[str, Any],
    service: str,
    env: str | None,
    document: Document,
    made: Any,
    name: str,
    offered: Answer,
) -> Answer:
    """The scaffolded module, planned as a pull request on the service's own repository; its
    description carries the result of the one run."""
    from workflow.tools.changes import ChangeError
    from workflow.tools.changes.proposal import pull_request_plan

    entry = deps.catalog.resolve(service)
    repository = entry.repository if entry is not None else None
    if not repository:
        offered.warnings.append(
            f"no pull request: the catalog names no repository for {service} (its `repository:`)"
        )
        return offered
    run = offered.output["run"]
    description = (
        f"API tests of {len(made.operations)} operation(s) of {service}, scaffolded by "
        f"devops-bot from {document.url} ({document.title} {document.version}): schemathesis "
        f"property tests and {made.examples} documented example(s).\n\n"
        f"Run once against {service} in {env or 'the URL given'} ({document.base_url()}) "
        f"before this pull request was planned: **{run}**.\n\n"
        "Operations: " + ", ".join(f"`{op}`" for op in made.operations) + "\n"
    )
    try:
        plan, summary = await pull_request_plan(
            deps,
            name=f"{service}-api-tests",
            repository=repository,
            files={f"{TESTS_DIR}/{name}": made.text},
            title=f"{service}: API tests of {context.get('endpoints') or 'its'} endpoints",
            description=description,
            requester=str(context.get("requester") or ""),
        )
    except ChangeError as exc:
        offered.warnings.append(f"no pull request: {exc.message}")
        return offered
    return Answer.planned(
        plan,
        f"{offered.summary}; {summary}",
        title="Plan preview",
        parts_after=offered.parts,
        output=offered.output,
    )


UNIT_BACKEND = "unit_tests"  # the plan backend of a unit test run (applier.apply_unit_tests)
KUBERNETES = "kubernetes"
HARNESS = "harness"  # harness_expert's backend: the service's pipeline runs the unit tests


async def _unit_pipeline(client: Any, entry: Any, context: dict[str, Any]) -> Answer:
    """A plan to run only the CI stage(s) of the service's pipeline, inputs filled."""
    from workflow.agents.harness_expert.ci import HarnessError, plan_ci_run

    env = str(context.get("environment") or "staging")
    pipeline = str(entry.harness_pipeline)
    try:
        ci = await plan_ci_run(client, pipeline, entry, env, context.get("runtime_inputs") or {})
    except HarnessError as exc:
        return Answer.failed(exc.message)
    names = ", ".join(f"{s['name']} ({s['identifier']})" for s in ci.stages)
    ids = [s["identifier"] for s in ci.stages]
    preview = "\n".join(
        [
            f"Run {entry.name}'s unit tests in pipeline {pipeline} on {client.label}: only its "
            f"CI stage(s) {names}, followed to the end (at most {client.config.follow_timeout:g} "
            "s); results from Harness's test reports",
            "runtime inputs:",
            *([f"  {k} = {v}" for k, v in ci.used.items()] or ["  (none)"]),
        ]
    )
    plan = Plan(
        action="run_unit_tests",
        kind="Pipeline",
        name=pipeline,
        environment=env,
        backend=UNIT_BACKEND,
        target=f"unit tests of {entry.name} (pipeline {pipeline}, stage(s) {', '.join(ids)})",
        body={
            "service": entry.name,
            "via": "harness",
            "pipeline": pipeline,
            "stages": ids,
            "stage_names": {s["identifier"]: s["name"] for s in ci.stages},
            "inputs": ci.inputs,
        },
        resource_version=ci.version or None,
        preview=preview,
        dry_run=False,
    ).with_hash()
    return Answer.planned(
        plan,
        f"planned {entry.name}'s unit tests in pipeline {pipeline} on {client.label} (CI "
        f"stage(s) {names} only)",
    )


async def _unit(deps: WorkflowDeps, context: dict[str, Any], _: DevOpsAgentState) -> Answer:
    """`run the unit tests of ledger`: the CI stage(s) of the service's Harness pipeline when
    the catalog names one (and Harness is there), else a Kubernetes Job with the catalog's
    image and command; planned (running them is a write) and applied per policy. "as a job" /
    "in the cluster" picks the Job, "in its pipeline" the pipeline."""
    import secrets

    import yaml

    from workflow.agents.testing_agent.unit import job_manifest

    name = context.get("service")
    entry = deps.catalog.resolve(str(name)) if name else None
    if entry is None:
        raise Refusal("the unit tests of which service? e.g. `run the unit tests of ledger`")
    via = context.get("unit_via")
    harness = deps.backend(HARNESS)
    if via == "pipeline" and not entry.harness_pipeline:
        raise Refusal(
            f"the catalog names no Harness pipeline for {entry.name} (`harness_pipeline:`), so "
            "its unit tests cannot run in one"
            + ("; ask without 'in its pipeline' for its Job" if entry.unit_tests else "")
        )
    if (
        entry.harness_pipeline
        and via != "job"
        and (harness is not None or via == "pipeline" or not entry.unit_tests)
    ):  # the pipeline first; without Harness, the Job when there is one
        if harness is None:
            return Answer.failed(deps.why_missing(HARNESS))
        return await _unit_pipeline(harness, entry, context)
    if entry.unit_tests is None:
        why = (
            f" as a Job (its Harness pipeline {entry.harness_pipeline} can run them: ask without "
            "'as a job')"
            if entry.harness_pipeline
            else ""
        )
        raise Refusal(
            f"the catalog does not say how {entry.name}'s unit tests run{why}: add `unit_tests: "
            "{image: <image holding the tests>, command: [pytest, -q]}` to its entry"
        )
    if context.get("runtime_inputs"):
        names = ", ".join(sorted(context["runtime_inputs"]))
        raise Refusal(
            f"{names}: a Job of {entry.name}'s unit tests takes no runtime inputs (they are for "
            "a Harness pipeline's CI stages); nothing was run"
        )
    if deps.kubernetes is None:
        return Answer.failed(deps.why_missing(KUBERNETES))
    env = str(context.get("environment") or "staging")
    namespace = entry.namespaces.get(env) or env
    tests = entry.unit_tests
    job = f"{entry.name}-unit-tests-{secrets.token_hex(3)}"[:63]
    manifest = job_manifest(
        job, namespace, entry.name, tests.image, list(tests.command), tests.deadline_s
    )
    preview = (
        f"Run {entry.name}'s unit tests as a Kubernetes Job in namespace {namespace} ({env}), "
        f"bounded by {tests.deadline_s} s, followed to its end; results read from its log:\n"
        + yaml.safe_dump(manifest, sort_keys=False)
    )
    plan = Plan(
        action="run_unit_tests",
        kind="Job",
        name=job,
        namespace=namespace,
        environment=env,
        backend=UNIT_BACKEND,
        target=f"unit tests of {entry.name} (Job {namespace}/{job})",
        body={"service": entry.name, "manifest": manifest},
        preview=preview,
        dry_run=False,
    ).with_hash()
    return Answer.planned(
        plan,
        f"planned {entry.name}'s unit tests as Job {job} in {namespace} ({tests.image}, "
        f"{' '.join(tests.command)}, deadline {tests.deadline_s} s)",
    )


def _unsupported(action: str) -> str:
    return (
        "which tests? e.g. `run the API tests against checkout in staging` or `what is the "
        "test coverage of checkout`"
    )


testing_agent = handler_agent(
    NAME,
    resolve_action,
    {"api": _api, "coverage": _coverage, "scaffold": _scaffold, "unit": _unit},
    unsupported=_unsupported,
    failures=(DocumentError, CoverageError),
)
