"""harness_expert: pipelines authored, changed and run on Harness, always through a plan.

Reads (a pipeline's recent executions) complete here. Everything that changes Harness is
only planned, with what Harness itself said about it:

- create: the pipeline YAML generated from the request and the catalog, checked by the
  product's rules and by Harness's own validate endpoint; the YAML is the plan's file;
- update: the current YAML fetched, changed as asked, checked the same way, previewed as a
  unified diff; the plan pins the version it was made against (stale plans are refused);
- deploy: an execution of the service's pipeline with runtime inputs filled from the request
  against the pipeline's input template (a missing input is a question, not a guess);
- rerun (the last failed execution, same inputs) and abort (a running execution).
"""

from __future__ import annotations

import re
import time
from typing import Any

import yaml

from workflow import parts
from workflow.agents.base import Answer, Refusal, handler_agent, tag_conflict
from workflow.agents.harness_expert import NAME, SPEC
from workflow.agents.harness_expert.answers import (
    ENVIRONMENT_INPUTS,
    IMAGE_TAG_INPUTS,
    RequestAnswers,
    fill_inputs,
    given_inputs,
    plain,
)
from workflow.agents.harness_expert.authoring import (
    DesignError,
    design_pipeline,
    render_pipeline,
    stages_of,
    unified_diff,
)
from workflow.agents.harness_expert.client import (
    BACKEND,
    Execution,
    HarnessClient,
    HarnessError,
    StoredPipeline,
)
from workflow.agents.harness_expert.editing import edit_pipeline
from workflow.agents.harness_expert.inputs import RuntimeInput
from workflow.agents.harness_expert.rules import check_pipeline, problems_sentence
from workflow.agents.spec import BackendMissing
from workflow.catalog import ServiceEntry
from workflow.deps import WorkflowDeps
from workflow.environments import canonical_environment
from workflow.plan import Plan, PlanFile
from workflow.state import DevOpsAgentState

__all__ = ["harness_expert", "resolve_action"]

_EXAMPLES = {
    "create": "create a pipeline for ledger: build, test, deploy to staging then prod",
    "update": "add an approval step before production to payment-service's pipeline",
    "deploy": "deploy payment-service:v2.3.0 prod",
    "status": "status of payment-service's pipeline",
    "rerun": "re-run the last failed payment-service pipeline",
    "abort": "abort the running payment-service pipeline",
}


def resolve_action(task_type: str, context: dict[str, Any]) -> str:
    action = context.get("action") or SPEC.default_action(task_type, "create")
    if task_type == "deploy":
        return "deploy" if action in {"deploy", "create", "trigger"} else action
    if action in {"stop", "delete", "abort"}:
        return "abort"
    if action == "trigger":
        return "deploy" if context.get("image_tag") or context.get("image") else "rerun"
    if context.get("pipeline_change") or action in {"update", "edit"}:
        return "update"
    if action in {"status", "investigate", "logs"}:
        return "status"
    return action


# ------------------------------------------------------------------ helpers


def _client(deps: WorkflowDeps) -> HarnessClient:
    client = deps.backend(BACKEND)
    if client is None:
        # Not a question to the user: a deploy may still go ahead on the Kubernetes agent.
        raise BackendMissing(deps.why_missing(BACKEND))
    return client


def _service(deps: WorkflowDeps, context: dict[str, Any], action: str) -> tuple[str, Any]:
    service = deps.catalog.canonical_name(context.get("service"))
    repository = str(context.get("repository") or "")
    if not service and action == "create" and repository:
        # "create a pipeline for https://github.com/org/microservice": the repository's name
        name = repository.rstrip("/").removesuffix(".git").rsplit("/", 1)[-1].lower()
        service = name if re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name) else None
    if not service:
        raise Refusal(f"which service? say e.g. '{_EXAMPLES[action]}'")
    return service, deps.catalog.resolve(service)


def _pipeline_id(deps: WorkflowDeps, context: dict[str, Any], action: str) -> str:
    """The pipeline a request is about: named in it, or the service's in the catalog."""
    named = context.get("pipeline_name")
    service = deps.catalog.canonical_name(context.get("service"))
    entry = deps.catalog.resolve(str(named)) if named else None
    if entry is not None and entry.harness_pipeline:
        # "the payment-service pipeline": the service's pipeline, not one called so
        return entry.harness_pipeline
    if named:
        return str(named).replace("-", "_")
    pipeline = deps.catalog.harness_pipeline_for(service) if service else None
    if pipeline:
        return pipeline
    if service:
        raise Refusal(
            f"the catalog names no Harness pipeline for {service}: add `harness_pipeline:` to "
            f"its entry, or name the pipeline, e.g. 'status of pipeline {service.replace('-', '_')}"
            "_cicd'"
        )
    raise Refusal(f"which pipeline? say e.g. '{_EXAMPLES[action]}'")


async def _stored(client: HarnessClient, pipeline: str) -> StoredPipeline:
    stored = await client.get_pipeline(pipeline)
    if stored is None:
        raise Refusal(
            f"{client.label} has no pipeline {pipeline} in project {client.config.project}"
        )
    return stored


async def _checked_yaml(client: HarnessClient, text: str) -> list[str]:
    """Check YAML with the product's rules, then with Harness's validate endpoint; returns
    what was checked, or raises Refusal saying which paths are wrong."""
    problems = check_pipeline(text)
    if problems:
        raise Refusal(
            f"the generated pipeline breaks Harness's rules: {problems_sentence(problems)}"
        )
    await client.validate(text)  # HarnessError names the YAML paths Harness refused
    return ["devops-bot's pipeline rules", f"{client.label}'s validate endpoint"]


def _stage_lines(text: str) -> list[str]:
    lines = []
    for i, stage in enumerate(stages_of(text), 1):
        env = stage.get("environment")
        if env and "<+input>" in str(env):
            env = "the environment given at run time"
        where = f" -> {env}" if env else ""
        lines.append(f"  {i}. {stage['name']} ({stage['type']}{where})")
    return lines


def _ago(ms: int | None, now: float) -> str:
    if not ms:
        return "-"
    seconds = max(0, int(now - ms / 1000))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _duration(execution: Execution) -> str:
    if not execution.started_ms:
        return "-"
    end = execution.ended_ms or int(time.time() * 1000)
    return f"{max(0, end - execution.started_ms) / 1000:.0f}s"


def _executions_table(title: str, executions: list[Execution]) -> dict[str, Any]:
    now = time.time()
    rows = []
    for e in executions:
        failed = e.failed_stage()
        rows.append(
            (
                f"#{e.run_sequence}" if e.run_sequence is not None else e.id,
                e.status,
                e.trigger or "-",
                e.triggered_by or "-",
                _ago(e.started_ms, now),
                _duration(e),
                f"{failed['name']}: {failed.get('failure') or e.failure}" if failed else "",
            )
        )
    columns = ("run", "status", "trigger", "by", "started", "duration", "failed stage")
    return parts.table(title, columns, rows)


def _plan_answer(plan: Plan, summary: str, warnings: list[str] | None = None) -> Answer:
    return Answer.planned(plan, summary, title="Plan preview", warnings=warnings)


def _environments_of(text: str, entry: ServiceEntry | None, *, runtime: bool = True) -> list[str]:
    """The canonical environments a pipeline's stages deploy to (a stage whose environment
    is a runtime input counts as any, unless `runtime` is False)."""
    found: list[str] = []
    for stage in stages_of(text):
        ref = stage.get("environment")
        if not ref:
            continue
        if "<+" in str(ref):  # a runtime input or an expression: could be any environment
            if runtime:
                found += ["production", "staging", "dev"]
            continue
        canonical = None
        if entry and entry.harness:
            canonical = next(
                (e for e, refs in entry.harness.environments.items() if refs.environment == ref),
                None,
            )
        canonical = canonical or canonical_environment(str(ref))
        if canonical:
            found.append(canonical)
    return list(dict.fromkeys(found))


def _environment_of(text: str, entry: ServiceEntry | None) -> str | None:
    """The most sensitive environment a pipeline deploys to (production first)."""
    found = _environments_of(text, entry)
    return next((env for env in ("production", "staging", "dev") if env in found), None)


# ------------------------------------------------------------------ handlers


async def _create(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    service, entry = _service(deps, context, "create")
    try:
        design = design_pipeline(context, entry, service)
    except DesignError as exc:
        raise Refusal(str(exc)) from None
    client = deps.backend(BACKEND)
    org = client.config.org if client else "default"
    project = client.config.project if client else "default"
    text = render_pipeline(design, entry, org=org, project=project)
    path = f".harness/{design.identifier}.yaml"
    if client is None:
        why = deps.why_missing(BACKEND)
        return Answer(
            "failed",
            f"cannot create pipeline {design.identifier}: {why}. The YAML it would have is "
            f"attached ({path}).",
            parts=[parts.file(path, text, media_type="application/yaml")],
            errors=[why],
        )
    existing = await client.get_pipeline(design.identifier)
    if existing is not None:
        raise Refusal(
            f"{client.label} already has pipeline {design.identifier} (version "
            f"{existing.version}); to change it say e.g. 'add an approval step before "
            f"production to {service}'s pipeline'"
        )
    checked = await _checked_yaml(client, text)
    stages = _stage_lines(text)
    notes = list(design.notes)
    if design.environments and (entry is None or entry.harness_pipeline != design.identifier):
        # The catalog decides where a deploy goes; the bot does not rewrite the catalog file.
        notes.append(
            f"Deploys of {service} go through this pipeline once the catalog entry of "
            f"{service} says `harness_pipeline: {design.identifier}`; until then `deploy "
            f"{service} ...` changes the cluster directly."
        )
    preview = "\n".join(
        [
            f"Create pipeline {design.identifier} ({design.name}) in {client.label}, "
            f"project {project}",
            "stages:",
            *stages,
            f"checked by: {', '.join(checked)}",
            *(f"note: {n}" for n in notes),
            "",
            text,
        ]
    )
    plan = Plan(
        action="create_pipeline",
        kind="Pipeline",
        name=design.identifier,
        backend=BACKEND,
        environment=_environment_of(text, entry),
        target=f"pipeline {design.identifier}",
        body={"op": "create", "identifier": design.identifier},
        after={"stages": len(stages)},
        preview=preview,
        files=[PlanFile(path=path, content=text, media_type="application/yaml")],
    ).with_hash()
    return _plan_answer(
        plan,
        f"planned creating pipeline {design.identifier} for {service} with {len(stages)} "
        f"stage(s) (validated by {client.label}); nothing created yet",
        warnings=notes,
    )


async def _update(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    client = _client(deps)
    pipeline = _pipeline_id(deps, context, "update")
    stored = await _stored(client, pipeline)
    service = deps.catalog.canonical_name(context.get("service"))
    entry = deps.catalog.resolve(service) if service else None
    try:
        text, changes = edit_pipeline(stored.yaml, context, entry)
    except DesignError as exc:
        raise Refusal(str(exc)) from None
    checked = await _checked_yaml(client, text)
    path = f".harness/{pipeline}.yaml"
    diff = unified_diff(stored.yaml, text, path)
    preview = "\n".join(
        [
            f"Update pipeline {pipeline} in {client.label} (version {stored.version}):",
            *(f"  - {c}" for c in changes),
            f"checked by: {', '.join(checked)}",
            "",
            diff,
        ]
    )
    plan = Plan(
        action="update_pipeline",
        kind="Pipeline",
        name=pipeline,
        environment=_environment_of(text, entry),
        backend=BACKEND,
        target=f"pipeline {pipeline}",
        body={"op": "update", "identifier": pipeline},
        resource_version=stored.version,
        before={"version": stored.version},
        preview=preview,
        files=[
            PlanFile(path=path, content=text, media_type="application/yaml"),
            PlanFile(path=f"{pipeline}.diff", content=diff, media_type="text/x-diff"),
        ],
    ).with_hash()
    return _plan_answer(
        plan,
        f"planned changing pipeline {pipeline} ({'; '.join(changes)}) against version "
        f"{stored.version}; nothing changed yet",
    )


async def _deploy(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    client = _client(deps)
    service, entry = _service(deps, context, "deploy")
    environment = canonical_environment(context.get("environment") or "")
    if environment is None:
        raise Refusal(f"deploy needs an environment, e.g. '{_EXAMPLES['deploy']}'")
    conflict = tag_conflict(context, _EXAMPLES["deploy"])
    if conflict:
        raise Refusal(conflict)
    image = context.get("image") or ""
    tag = context.get("image_tag") or (image.rsplit(":", 1)[1] if ":" in image else None)
    if not tag:
        raise Refusal(f"deploy needs an image tag, e.g. '{_EXAMPLES['deploy']}'")
    pipeline = _pipeline_id(deps, context, "deploy")
    stored = await _stored(client, pipeline)
    template = await client.input_template(pipeline)
    answer = RequestAnswers(entry, environment, str(tag), given_inputs(context))
    inputs = fill_inputs(
        template,
        answer,
        whose=f"pipeline {pipeline}",
        example=_EXAMPLES["deploy"],
        or_else=", or add the refs to the catalog's harness entry",
    )
    used = answer.used
    if not any(
        RuntimeInput(tuple(k.split(".")), "<+input>").key.lower() in IMAGE_TAG_INPUTS for k in used
    ):
        raise Refusal(
            f"pipeline {pipeline} takes no image tag as a runtime input (a variable image_tag "
            f"with value <+input>), so it cannot deploy {tag}; change the pipeline or deploy "
            "straight to the cluster"
        )
    fixed = _environments_of(stored.yaml, entry, runtime=False)
    if fixed and environment not in fixed:
        raise Refusal(
            f"pipeline {pipeline} deploys to {', '.join(fixed)}, not to {environment}; pick one "
            "of those environments"
        )
    recent = await client.executions(pipeline, size=3)
    now = time.time()
    history = [
        f"  #{e.run_sequence} {e.status} {_ago(e.started_ms, now)}"
        + (f" by {e.triggered_by}" if e.triggered_by else "")
        for e in recent
    ] or ["  (none)"]
    preview = "\n".join(
        [
            f"Run pipeline {pipeline} on {client.label}: {service} {tag} to {environment}",
            "stages:",
            *_stage_lines(stored.yaml),
            "runtime inputs:",
            *(f"  {k} = {plain(v)}" for k, v in used.items()),
            "last executions:",
            *history,
        ]
    )
    plan = Plan(
        action="deploy",
        kind="PipelineExecution",
        name=pipeline,
        environment=environment,
        backend=BACKEND,
        target=f"{service} {tag} to {environment} (pipeline {pipeline})",
        body={"op": "execute", "identifier": pipeline, "inputs": inputs},
        resource_version=stored.version,
        after={"image_tag": str(tag), "environment": environment},
        preview=preview,
        dry_run=False,
        files=[PlanFile(path=f"{pipeline}-inputs.yaml", content=inputs or "{}\n")],
    ).with_hash()
    return _plan_answer(
        plan,
        f"planned deploying {service} {tag} to {environment} through Harness pipeline "
        f"{pipeline}; nothing started yet",
    )


async def _status(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    client = _client(deps)
    pipeline = _pipeline_id(deps, context, "status")
    await _stored(client, pipeline)
    executions = await client.executions(pipeline, size=5)
    if not executions:
        summary = f"pipeline {pipeline} on {client.label} has not run yet"
        return Answer("completed", summary, output={"pipeline": pipeline, "executions": []})
    last = executions[0]
    failed = last.failed_stage()
    summary = (
        f"pipeline {pipeline} on {client.label}: last run #{last.run_sequence} {last.status}"
        + (f" at stage {failed['name']}: {failed.get('failure') or last.failure}" if failed else "")
        + f"; {len(executions)} recent run(s)"
    )
    return Answer(
        "completed",
        summary,
        output={
            "pipeline": pipeline,
            "executions": [
                {"id": e.id, "run": e.run_sequence, "status": e.status, "url": e.url}
                for e in executions
            ],
        },
        parts=[_executions_table(f"Recent executions of {pipeline}", executions)],
    )


async def _rerun(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    if context.get("runtime_inputs"):
        raise Refusal(
            "a re-run runs with the failed run's own inputs, so "
            f"{', '.join(f'{k}=' for k in context['runtime_inputs'])} cannot be used; to run "
            f"with other inputs, say e.g. '{_EXAMPLES['deploy']} name=value'"
        )
    client = _client(deps)
    pipeline = _pipeline_id(deps, context, "rerun")
    stored = await _stored(client, pipeline)
    executions = await client.executions(pipeline, size=20)
    failed = next((e for e in executions if e.status in {"Failed", "Aborted", "Expired"}), None)
    if failed is None:
        raise Refusal(
            f"pipeline {pipeline} has no failed execution among its last {len(executions)}; to "
            f"run it, say e.g. '{_EXAMPLES['deploy']}'"
        )
    inputs = await client.execution_inputs(failed.id)
    service = deps.catalog.canonical_name(context.get("service"))
    entry = deps.catalog.resolve(service) if service else None
    environment = (
        _inputs_environment(inputs, entry) or _environment_of(stored.yaml, entry) or "production"
    )
    preview = "\n".join(
        [
            f"Re-run pipeline {pipeline} on {client.label} as run #{failed.run_sequence} ran "
            f"({failed.status}"
            + (f" at {failed.failed_stage()['name']}" if failed.failed_stage() else "")
            + ")",
            "stages:",
            *_stage_lines(stored.yaml),
            "runtime inputs (from that run):",
            *(f"  {line}" for line in (inputs or "(none)").splitlines()),
        ]
    )
    plan = Plan(
        action="rerun_pipeline",
        kind="PipelineExecution",
        name=pipeline,
        environment=environment,
        backend=BACKEND,
        target=f"pipeline {pipeline} (re-run of #{failed.run_sequence})",
        body={"op": "rerun", "identifier": pipeline, "of": failed.id, "inputs": inputs},
        preview=preview,
        dry_run=False,
    ).with_hash()
    return _plan_answer(
        plan, f"planned re-running pipeline {pipeline} run #{failed.run_sequence}; not started yet"
    )


def _inputs_environment(inputs: str, entry: ServiceEntry | None) -> str | None:
    """The environment an execution's runtime inputs deploy to, when they name one."""
    try:
        doc = yaml.safe_load(inputs or "") or {}
    except yaml.YAMLError:
        return None
    refs = entry.harness.environments if entry and entry.harness else {}
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            name = str(node.get("name") or "").lower()
            if name in ENVIRONMENT_INPUTS and isinstance(node.get("value"), str):
                found.append(node["value"])
            for key, value in node.items():
                if key == "environmentRef" and isinstance(value, str):
                    found.append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    for value in found:
        canonical = next((e for e, r in refs.items() if r.environment == value), None)
        canonical = canonical or canonical_environment(value)
        if canonical:
            return canonical
    return None


async def _execution_environment(
    client: HarnessClient, execution: Execution, text: str, entry: ServiceEntry | None
) -> str:
    """Where an execution deploys: from its inputs, else the pipeline's most sensitive
    environment; when nothing says, production (so the strictest policy applies)."""
    try:
        inputs = await client.execution_inputs(execution.id)
    except HarnessError:
        inputs = ""
    return _inputs_environment(inputs, entry) or _environment_of(text, entry) or "production"


async def _abort(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    client = _client(deps)
    pipeline = _pipeline_id(deps, context, "abort")
    stored = await _stored(client, pipeline)
    executions = await client.executions(pipeline, size=20)
    running = [e for e in executions if not e.final]
    if not running:
        raise Refusal(f"pipeline {pipeline} has no running execution to abort")
    target = running[0]
    service = deps.catalog.canonical_name(context.get("service"))
    entry = deps.catalog.resolve(service) if service else None
    stages = ", ".join(f"{s['name']}: {s['status']}" for s in target.stages) or "-"
    plan = Plan(
        action="abort_execution",
        kind="PipelineExecution",
        name=pipeline,
        environment=await _execution_environment(client, target, stored.yaml, entry),
        backend=BACKEND,
        target=f"execution #{target.run_sequence} of pipeline {pipeline}",
        body={"op": "abort", "identifier": pipeline, "execution": target.id},
        preview=(
            f"Abort execution #{target.run_sequence} of pipeline {pipeline} on {client.label} "
            f"({target.status}; stages: {stages})\n{target.url}"
        ),
        risk=["interrupts_a_running_deploy"],
        dry_run=False,
    ).with_hash()
    return _plan_answer(
        plan,
        f"planned aborting execution #{target.run_sequence} of {pipeline}; nothing aborted yet",
    )


harness_expert = handler_agent(
    NAME,
    resolve_action,
    {
        "create": _create,
        "update": _update,
        "deploy": _deploy,
        "status": _status,
        "rerun": _rerun,
        "abort": _abort,
    },
    unsupported=lambda action: (
        f"harness_expert cannot {action!r}; it can create or change a pipeline, deploy through "
        "one, show its recent runs, re-run the last failed run or abort a running one"
    ),
    failures=(HarnessError, BackendMissing),
)
harness_expert.__doc__ = "Author, change and run Harness pipelines; every change is planned."
