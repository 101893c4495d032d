"""scaffold_agent: new services from templates, parts for existing repositories, templates
listed. Everything that changes a forge is only planned: the plan carries every file (the
tree, the key files shown, the plan hash) after each was checked by its authority; the
applier pushes and opens the pull request or creates the repository after the click.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from workflow import parts
from workflow.agents.base import Answer, Refusal, handler_agent
from workflow.agents.scaffold_agent.checks import check_files, dns1123_problem, server_dry_run
from workflow.agents.scaffold_agent.client import FORGE, SCAFFOLD, ScaffoldConfig
from workflow.agents.scaffold_agent.templates import (
    Template,
    TemplateError,
    available_templates,
    render,
)
from workflow.agents.scaffold_agent.updates import (
    latest_version,
    mirror,
    read_answers,
    update_project,
)
from workflow.catalog import ServiceEntry
from workflow.deps import WorkflowDeps
from workflow.plan import Plan, PlanFile
from workflow.state import DevOpsAgentState
from workflow.tools.changes import ChangeError, request_noun
from workflow.tools.changes.git import read_remote_file

__all__ = ["resolve_action", "scaffold_agent"]

NAME = "scaffold_agent"
EXAMPLE = "scaffold a python service invoice-api for the billing team"
KEY_FILES = ("README.md", "k8s/deployment.yaml", "Dockerfile")
_LANG_OF_CATALOG = {"typescript": "node", "javascript": "node", "golang": "go"}


def resolve_action(task_type: str, context: dict[str, Any]) -> str:
    return str(context.get("scaffold_action") or "create")


def _config(deps: WorkflowDeps) -> ScaffoldConfig:
    config = deps.backend(SCAFFOLD)
    if config is None:  # deps built without the assembly (tests, Studio): the defaults
        config = ScaffoldConfig(None, None, "acme", "registry.example.com", deps.sandbox, "")
    return config


def _templates(config: ScaffoldConfig) -> dict[str, Template]:
    if config.templates_error:
        raise Refusal(config.templates_error)
    try:
        return available_templates(config.templates_dir)
    except TemplateError as exc:
        raise Refusal(str(exc)) from None


# ------------------------------------------------------------------ handlers


async def _list(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    templates = _templates(_config(deps))
    rows = [
        [
            t.name,
            t.kind,
            t.source,
            t.description,
            ", ".join(q.name + ("" if q.has_default else " (required)") for q in t.questions),
        ]
        for t in templates.values()
    ]
    summary = f"{len(rows)} template(s): " + "; ".join(t.describe() for t in templates.values())
    return Answer(
        "completed",
        summary,
        output={"templates": [{"name": r[0], "kind": r[1], "source": r[2]} for r in rows]},
        parts=[parts.table("Templates", ["template", "kind", "from", "what", "asks"], rows)],
    )


def _pick_template(templates: dict[str, Template], context: dict[str, Any]) -> Template:
    services = {n: t for n, t in templates.items() if t.kind == "service"}
    names = ", ".join(f"{n} ({t.language or 'any language'})" for n, t in services.items())
    wanted = context.get("template")
    if wanted:
        if wanted in templates:
            return templates[wanted]
        raise Refusal(f"there is no template {wanted!r}; the templates are: {names}")
    language = context.get("language")
    if language:
        fit = [t for t in services.values() if t.language == language]
        if not fit:
            raise Refusal(
                f"there is no template for a {language} service yet; the templates are: {names}."
                " An organisation can add its own copier templates (DEVOPS_BOT_TEMPLATES)."
            )
        if len(fit) == 1:
            return fit[0]
        raise Refusal(f"which template? {', '.join(t.name for t in fit)}")
    if len(services) == 1:
        return next(iter(services.values()))
    raise Refusal(f"which template (or language) should it use? the templates are: {names}")


def _ask_back(template: Template, answers: dict[str, Any], example: str) -> None:
    missing = [q for q in template.required() if answers.get(q.name) in (None, "")]
    if missing:
        asks = "; ".join(f"{q.name}: {q.help}" for q in missing)
        raise Refusal(
            f"template {template.name} needs answers I was not given (I do not invent them): "
            f"{asks}. Say e.g. '{example}'"
        )


def _pipeline(service: str, entry: ServiceEntry, deps: WorkflowDeps) -> tuple[str, str]:
    """The Harness pipeline for a service, written by the harness_expert's authoring."""
    from workflow.agents.harness_expert.authoring import (
        DesignError,
        design_pipeline,
        render_pipeline,
    )

    harness = deps.backend("harness")
    config = getattr(harness, "config", None)
    org = getattr(config, "org", None) or "default"
    project = getattr(config, "project", None) or "default"
    try:
        design = design_pipeline({}, entry, service)
        text = render_pipeline(design, entry, org=org, project=project)
    except DesignError as exc:
        raise Refusal(f"the pipeline for {service} could not be written: {exc}") from None
    return f".harness/{design.identifier}.yaml", text


def _render(template: Template, answers: dict[str, Any]) -> dict[str, str]:
    known = {q.name for q in template.questions}
    try:
        return render(template, {k: v for k, v in answers.items() if k in known})
    except TemplateError as exc:
        raise Refusal(str(exc)) from None


async def _render_versioned(
    template: Template, answers: dict[str, Any], config: ScaffoldConfig
) -> dict[str, str]:
    """Rendered from the template's git mirror (so the project records its version) when
    there is a data directory to keep it in."""
    if config.data_dir is None:
        return await asyncio.to_thread(_render, template, answers)
    known = {q.name for q in template.questions}
    try:
        src, tag = await asyncio.to_thread(mirror, template, config.data_dir)
        return await asyncio.to_thread(
            render,
            template,
            {k: v for k, v in answers.items() if k in known},
            src=src,
            vcs_ref=tag,
        )
    except (TemplateError, ChangeError) as exc:
        raise Refusal(getattr(exc, "message", None) or str(exc)) from None


async def _checked_on_cluster(
    deps: WorkflowDeps, files: dict[str, str], what: str, namespace: str
) -> tuple[list[str], list[str]]:
    """The static checks, then a server-side dry-run where a cluster is reachable."""
    checked = _checked(files, what)
    if deps.kubernetes is None:
        return checked, ["no cluster reachable: the manifests were not dry-run on a server"]
    problems, notes = await server_dry_run(deps.kubernetes, files, namespace)
    _refuse(problems, what)
    return [*checked, f"server-side dry-run in namespace {namespace}"], notes


def _refuse(problems: list[str], what: str) -> None:
    if problems:
        raise Refusal(
            f"{what} is invalid, so nothing was planned: "
            + "; ".join(problems[:10])
            + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else "")
        )


def _checked(files: dict[str, str], what: str) -> list[str]:
    problems, checked = check_files(files)
    _refuse(problems, what)
    return checked


def _tree(files: dict[str, str]) -> list[str]:
    return [f"  {path} ({len(text.splitlines())} lines)" for path, text in sorted(files.items())]


def _plan_files(files: dict[str, str]) -> list[PlanFile]:
    return [PlanFile(path=p, content=t) for p, t in sorted(files.items())]


def _answer(plan: Plan, summary: str) -> Answer:
    data = plan.model_dump(mode="json")
    return Answer(
        "planned",
        summary,
        output={"plan": data},
        parts=[parts.preview(plan.preview, title="Plan preview")],
        plan=data,
    )


async def _create(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    config = _config(deps)
    template = _pick_template(_templates(config), context)
    name = context.get("new_service") or context.get("service")
    if not name:
        raise Refusal(f"what should the new service be called? Say e.g. '{EXAMPLE}'")
    name = str(name)
    if why := dns1123_problem(name):
        raise Refusal(f"{why}; nothing was planned")
    existing = deps.catalog.resolve(name)
    if existing is not None:
        raise Refusal(
            f"{existing.name} is already in the catalog (repository {existing.repository or '?'})"
            f"; to add parts to it say e.g. 'add a Dockerfile and Kubernetes manifests to "
            f"{existing.name}'"
        )
    answers: dict[str, Any] = {
        "service_name": name,
        "team": context.get("team"),
        "owner": context.get("team"),
        "language": context.get("language") or template.language,
        "image_registry": config.image_registry,
    }
    if context.get("port"):
        answers["port"] = int(context["port"])
    if context.get("description"):
        answers["description"] = context["description"]
    _ask_back(template, answers, f"{EXAMPLE}")
    files = await _render_versioned(template, answers, config)
    repository = f"{config.org}/{name}"
    entry = ServiceEntry(
        name=name,
        owners=[str(answers["team"])] if answers.get("team") else [],
        repository=repository,
        image=f"{config.image_registry}/{name}",
        language=answers.get("language") or None,
    )
    if template.pipeline:
        path, text = _pipeline(name, entry, deps)
        files[path] = text
    checked, notes = await _checked_on_cluster(
        deps, files, f"the {template.name} template's output for {name}", "staging"
    )
    shown = [
        p for p in (*KEY_FILES, *[p for p in files if p.startswith(".harness/")]) if p in files
    ]
    where = config.forge_label or deps.why_missing(FORGE)
    preview = "\n".join(
        [
            f"Create repository {repository} from template {template.name} ({where}), "
            f"register {name} in the catalog (owners: {', '.join(entry.owners) or '-'}):",
            f"{len(files)} files:",
            *_tree(files),
            f"checked by: {', '.join(checked)}",
            *(f"note: {n}" for n in notes),
            *[f"\n--- {p}\n{files[p]}" for p in shown],
        ]
    )
    plan = Plan(
        action="create_repository",
        kind="Repository",
        name=name,
        backend=FORGE,
        target=f"repository {repository}",
        body={
            "op": "create_repository",
            "repository": repository,
            "template": template.name,
            "catalog": entry.to_dict(),
            "requester": context.get("requester") or "",
        },
        after={"files": len(files), "template": template.name},
        preview=preview,
        dry_run=False,
        files=_plan_files(files),
    ).with_hash()
    return _answer(
        plan,
        f"planned creating repository {repository} for {name} from template {template.name}: "
        f"{len(files)} files, every one checked ({', '.join(checked)}); nothing pushed yet",
    )


_PART_TEMPLATES = {
    "dockerfile": "dockerfile-k8s",
    "manifests": "dockerfile-k8s",
    "pipeline": "harness-pipeline",
}


_PART_WORDS = {
    "dockerfile": "a Dockerfile",
    "manifests": "Kubernetes manifests",
    "pipeline": "a Harness pipeline",
}
# Which files of a part template belong to which part (a template's other files: every part).
_PART_FILES = {"dockerfile": ("Dockerfile", ".dockerignore"), "manifests": ("k8s/",)}


def _part_of(path: str, asked: list[str], template: Template) -> bool:
    owners = [p for p, prefixes in _PART_FILES.items() if path.startswith(prefixes)]
    return not owners or any(p in asked for p in owners) or template.kind != "part"


async def _add(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    config = _config(deps)
    templates = _templates(config)
    service = context.get("service")
    entry = deps.catalog.resolve(service) if service else None
    if entry is None:
        known = ", ".join(sorted(deps.catalog.services)) or "none"
        raise Refusal(
            f"which service's repository? {service or 'no service'} is not in the catalog "
            f"(known: {known}). Say e.g. 'add a Dockerfile and Kubernetes manifests to checkout'"
        )
    if not entry.repository:
        raise Refusal(f"the catalog names no repository for {entry.name} (its `repository:`)")
    asked = [p for p in dict.fromkeys(context.get("parts") or ()) if p in _PART_TEMPLATES]
    wanted = list(dict.fromkeys(_PART_TEMPLATES[p] for p in asked))
    if not wanted:
        raise Refusal("which parts? a Dockerfile, Kubernetes manifests or a Harness pipeline")
    language = context.get("language") or entry.language
    language = _LANG_OF_CATALOG.get(str(language), language) if language else None
    answers: dict[str, Any] = {
        "service_name": entry.name,
        "team": context.get("team") or (entry.owners[0] if entry.owners else None),
        "language": language,
        "image_registry": (entry.image or "").rpartition("/")[0] or config.image_registry,
    }
    if context.get("port"):
        answers["port"] = int(context["port"])
    files: dict[str, str] = {}
    for name in wanted:
        template = templates[name]
        for q in template.questions:
            if q.choices and answers.get(q.name) not in (None, *q.choices):
                raise Refusal(
                    f"template {name} supports {q.name} {', '.join(q.choices)}, not "
                    f"{answers[q.name]!r}"
                )
        _ask_back(template, answers, f"add a Dockerfile to {entry.name}, team X, language python")
        rendered = await asyncio.to_thread(_render, template, answers)
        files.update({p: t for p, t in rendered.items() if _part_of(p, asked, template)})
        if template.pipeline:
            path, text = _pipeline(entry.name, entry, deps)
            files[path] = text
    namespace = entry.namespaces.get("staging") or "staging"
    checked, notes = await _checked_on_cluster(
        deps, files, f"the parts for {entry.name}", namespace
    )
    what = " and ".join(_PART_WORDS[p] for p in asked)
    noun = request_noun(deps.backend(FORGE))
    preview = "\n".join(
        [
            f"Open a {noun} on {entry.repository} adding {what} "
            f"({config.forge_label or deps.why_missing(FORGE)}):",
            *_tree(files),
            f"checked by: {', '.join(checked)}",
            *(f"note: {n}" for n in notes),
            *[f"\n--- {p}\n{t}" for p, t in sorted(files.items()) if not p.startswith(".copier")],
        ]
    )
    plan = Plan(
        action="open_pull_request",
        kind="PullRequest",
        name=entry.name,
        backend=FORGE,
        target=f"pull request on {entry.repository}",
        body={
            "op": "open_pull_request",
            "repository": entry.repository,
            "parts": asked,
            "requester": context.get("requester") or "",
        },
        after={"files": len(files)},
        preview=preview,
        dry_run=False,
        files=_plan_files(files),
    ).with_hash()
    return _answer(
        plan,
        f"planned a {noun} on {entry.repository} adding {what} ({len(files)} files, "
        f"checked: {', '.join(checked)}); nothing pushed yet",
    )


def _forge_and_dir(deps: WorkflowDeps) -> tuple[Any, Path]:
    forge = deps.backend(FORGE)
    if forge is None:
        raise Refusal(deps.why_missing(FORGE))
    data_dir = _config(deps).data_dir
    if data_dir is None:
        raise Refusal("template versions are kept in the data directory, and there is none here")
    return forge, data_dir


async def _project_template(
    forge: Any, templates: dict[str, Template], repository: str
) -> tuple[Any, dict[str, Any] | None, Template | None]:
    """The repository's remote, its copier answers and the template they name."""
    remote = await forge.remote_for(repository)
    if remote is None:
        return None, None, None
    text = await asyncio.to_thread(read_remote_file, remote, "main", ".copier-answers.yml")
    answers = read_answers(text)
    if not answers:
        return remote, None, None
    return remote, answers, templates.get(Path(str(answers.get("_src_path") or "")).name)


async def _behind(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    forge, data_dir = _forge_and_dir(deps)
    templates = _templates(_config(deps))
    rows: list[list[str]] = []
    unreadable: list[str] = []
    for name, entry in sorted(deps.catalog.services.items()):
        if not entry.repository:
            continue
        try:
            _, answers, template = await _project_template(forge, templates, entry.repository)
        except ChangeError as exc:
            unreadable.append(f"{name} ({exc.message})")
            continue
        if answers is None:
            continue  # not made from a template
        have = str(answers.get("_commit") or "?")
        if template is None:
            rows.append([name, Path(str(answers.get("_src_path"))).name, have, "?", "unknown"])
            continue
        latest = await asyncio.to_thread(latest_version, template, data_dir)
        rows.append([name, template.name, have, latest, "behind" if have != latest else "current"])
    behind = [r for r in rows if r[4] == "behind"]
    summary = (
        f"{len(behind)} service(s) behind their template: "
        + (", ".join(f"{r[0]} ({r[1]} {r[2]} -> {r[3]})" for r in behind) or "none")
        + f"; {len(rows)} service(s) made from a template checked"
        + (f"; could not read {', '.join(unreadable)}" if unreadable else "")
    )
    table = parts.table(
        "Services and their templates", ["service", "template", "has", "latest", "state"], rows
    )
    return Answer("completed", summary, output={"behind": [r[0] for r in behind]}, parts=[table])


async def _update(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    forge, data_dir = _forge_and_dir(deps)
    templates = _templates(_config(deps))
    entry = deps.catalog.resolve(context.get("service"))
    if entry is None or not entry.repository:
        raise Refusal(
            f"which service? {context.get('service') or 'none named'} is not in the catalog "
            "with a repository. Say e.g. 'update invoice-api from its template'"
        )
    try:
        remote, answers, template = await _project_template(forge, templates, entry.repository)
    except ChangeError as exc:
        raise Refusal(exc.message) from None
    if remote is None:
        raise Refusal(f"{entry.repository} is not on {forge.label}")
    if answers is None or template is None:
        raise Refusal(
            f"{entry.repository} was not made from a template I have (no .copier-answers.yml "
            "naming one), so there is nothing to update it from"
        )
    try:
        update = await asyncio.to_thread(update_project, remote, template, data_dir)
    except (TemplateError, ChangeError) as exc:
        raise Refusal(getattr(exc, "message", None) or str(exc)) from None
    if update is None:
        return Answer(
            "completed",
            f"{entry.name} is at the latest version of template {template.name}; nothing to do",
        )
    clean = {p: t for p, t in update.files.items() if p not in update.conflicts}
    checked = _checked(clean, f"the update of {entry.name}") if clean else []
    title = f"{entry.name}: update from template {template.name} {update.before} -> {update.after}"
    noun = request_noun(deps.backend(FORGE))
    preview = "\n".join(
        [
            f"Open a {noun} on {entry.repository}: {title}",
            *_tree(update.files),
            *(
                [
                    f"CONFLICTS (shown inline, to resolve in the {noun}): "
                    f"{', '.join(update.conflicts)}"
                ]
                if update.conflicts
                else []
            ),
            *(
                [f"deleted by the template (not applied): {', '.join(update.deleted)}"]
                if update.deleted
                else []
            ),
            f"checked by: {', '.join(checked) or '-'}",
            "",
            update.diff[:20000],
        ]
    )
    plan = Plan(
        action="open_pull_request",
        kind="PullRequest",
        name=entry.name,
        backend=FORGE,
        target=f"pull request on {entry.repository}",
        body={
            "op": "open_pull_request",
            "repository": entry.repository,
            "title": title,
            "template_update": [update.before, update.after],
            "conflicts": update.conflicts,
            "requester": context.get("requester") or "",
        },
        after={"files": len(update.files), "conflicts": len(update.conflicts)},
        preview=preview,
        dry_run=False,
        files=_plan_files(update.files),
    ).with_hash()
    conflicts = f", {len(update.conflicts)} with conflicts" if update.conflicts else ""
    return _answer(
        plan,
        f"planned a {noun} updating {entry.name} from template {template.name} "
        f"{update.before} -> {update.after} ({len(update.files)} files{conflicts}); nothing "
        "pushed yet",
    )


scaffold_agent = handler_agent(
    NAME,
    resolve_action,
    {
        "templates": _list,
        "create": _create,
        "add": _add,
        "update": _update,
        "behind": _behind,
    },
)
