"""The codegen node: a checked Python client or pydantic models from a service's OpenAPI
document, and what changed between two versions of it. Generated files are offered as a zip
(uploaded in the thread, written by `--out`); a client asked "and open a pull request to web"
is also planned as a pull request on that consumer's repository (catalog `repository:`), with
the file tree and the diff against its current content, pushed only once confirmed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from workflow import parts
from workflow.agents.base import Answer, Refusal, handler_agent
from workflow.agents.codegen_agent import NAME
from workflow.agents.codegen_agent.client import directory_of
from workflow.agents.codegen_agent.compare import compare_documents
from workflow.agents.codegen_agent.documents import (
    Document,
    DocumentError,
    fetch_document,
    locate_document,
    missing_tools,
)
from workflow.agents.codegen_agent.generate import (
    Generated,
    GenerationError,
    generate_client,
    generate_models,
    package_name,
)
from workflow.deps import WorkflowDeps
from workflow.state import DevOpsAgentState

__all__ = ["CLIENTS_DIR", "NO_PULL_REQUEST", "codegen_agent", "resolve_action"]

NO_PULL_REQUEST = (
    "a pull request is offered for a python client only (e.g. `generate a python client for "
    "checkout and open a pull request to web`): take the files attached here"
)
CLIENTS_DIR = "clients"  # where a client goes in the consumer's repository: clients/<service>/


def resolve_action(task_type: str, context: dict[str, Any]) -> str:
    kind = context.get("codegen_kind")
    if kind in {"client", "models", "diff"}:
        return kind
    return "client"


def _checks_table(generated: Generated) -> dict[str, Any]:
    shown = {True: "passed", False: "FAILED", None: "skipped"}
    return parts.table(
        "Checks before it is offered",
        ["check", "result", "detail"],
        [[c.name, shown[c.ok], c.detail] for c in generated.checks],
    )


def _offered(
    generated: Generated,
    *,
    service: str,
    document: Document,
    name: str,
    context: dict[str, Any],
    what: str,
) -> Answer:
    from workflow.agents.codegen_agent.generate import zip_part

    output = {
        "service": service,
        "package": name,
        "document": document.url,
        "api_version": document.version,
        "tool": generated.tool,
        "files": sorted(generated.files),
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in generated.checks],
    }
    if not generated.ok:
        failed = [c for c in generated.checks if c.ok is False]
        why = "; ".join(f"{c.name}: {c.detail.splitlines()[-1] if c.detail else 'failed'}"
                        for c in failed)  # fmt: skip
        answer = Answer(
            "failed",
            f"the {what} generated for {service} did not pass its checks, so it is not "
            f"offered: {why}",
            output=output,
            parts=[_checks_table(generated)],
            errors=[f"{c.name} failed" for c in failed],
        )
        answer.final = True
        return answer
    call = next((c for c in generated.checks if c.name == "safe call"), None)
    called = f"; {call.detail}" if call is not None and call.ok else ""
    summary = (
        f"{what} `{name}` for {service} ({document.title} {document.version}), made with "
        f"{generated.tool}: {len(generated.files)} file(s), imports and ruff pass{called}"
    )
    if document.in_repository:
        summary += f" (from {document.url})"
    warnings = []
    if context.get("pull_request") and what != "python client":
        warnings.append(NO_PULL_REQUEST)
    try:
        archive = zip_part(generated, name)
    except parts.PartError as exc:
        return Answer.failed(
            f"the {what} for {service} passed its checks but is too large to attach ({exc}): "
            "ask for the models of one schema instead"
        )
    return Answer(
        "completed",
        summary,
        output=output,
        parts=[parts.text(summary), _checks_table(generated), archive],
        warnings=warnings,
    )


def _python_only(context: dict[str, Any]) -> None:
    language = context.get("target_language")
    if language and language != "python":
        raise Refusal(
            f"only Python is generated here (openapi-python-client, datamodel-code-generator), "
            f"not {language}: ask for a python client"
        )


async def _client(deps: WorkflowDeps, context: dict[str, Any], _: DevOpsAgentState) -> Answer:
    _python_only(context)
    missing = missing_tools("client")
    if missing:
        return Answer.failed(missing)
    directory = directory_of(deps)
    service, _env, document = await locate_document(
        directory, context, "generate a python client for", deps=deps
    )
    base = document.base_url()
    with tempfile.TemporaryDirectory(prefix="devops-bot-client-") as work:
        generated = await generate_client(document.data, service, base, Path(work))
    answer = _offered(
        generated,
        service=service,
        document=document,
        name=package_name(service),
        context=context,
        what="python client",
    )
    if base is None and answer.status == "completed":
        answer.warnings.append(f"no safe call: {document.no_live_url()}")
    if answer.status == "completed":
        directory.remember("client", service, {"url": document.url, "document": document.data})
        if context.get("pull_request"):
            return await _client_pull_request(deps, context, service, document, generated, answer)
    return answer


async def _client_pull_request(
    deps: WorkflowDeps,
    context: dict[str, Any],
    service: str,
    document: Document,
    generated: Generated,
    offered: Answer,
) -> Answer:
    """The checked client, planned as a pull request on the consumer's repository."""
    from workflow.tools.changes import ChangeError
    from workflow.tools.changes.proposal import pull_request_plan

    consumer = context.get("pr_target")
    entry = deps.catalog.resolve(str(consumer)) if consumer else None
    why = ""
    if not consumer:
        why = (
            f"to which service's repository? ask e.g. `generate a python client for {service} "
            "and open a pull request to web`"
        )
    elif entry is None:
        known = ", ".join(sorted(deps.catalog.services)) or "none"
        why = f"{consumer} is not in the catalog (known: {known})"
    elif not entry.repository:
        why = f"the catalog names no repository for {entry.name} (its `repository:`)"
    if entry is None or not entry.repository or why:
        offered.warnings.append(f"no pull request: {why}")
        return offered
    folder = f"{CLIENTS_DIR}/{service}"
    files = {f"{folder}/{path}": text for path, text in generated.files.items()}
    name = package_name(service)
    checks = ", ".join(f"{c.name} {'passed' if c.ok else 'skipped'}" for c in generated.checks)
    description = (
        f"A Python client of {service}'s API (`{name}`), generated by devops-bot with "
        f"{generated.tool} from {document.url} ({document.title} {document.version}), in "
        f"`{folder}/`.\n\nChecked before it was offered: {checks}.\n"
    )
    try:
        plan, summary = await pull_request_plan(
            deps,
            name=f"{entry.name}-{name}",
            repository=entry.repository,
            files=files,
            title=f"{entry.name}: add the {service} API client ({document.version})",
            description=description,
            requester=str(context.get("requester") or ""),
        )
    except ChangeError as exc:
        offered.warnings.append(f"no pull request: {exc.message}")
        return offered
    data = plan.model_dump(mode="json")
    return Answer(
        "planned",
        f"{offered.summary}; {summary}",
        output={**offered.output, "plan": data},
        parts=[parts.preview(plan.preview, title="Plan preview"), *offered.parts[1:]],
        plan=data,
    )


async def _models(deps: WorkflowDeps, context: dict[str, Any], _: DevOpsAgentState) -> Answer:
    _python_only(context)
    missing = missing_tools("models")
    if missing:
        return Answer.failed(missing)
    service, _env, document = await locate_document(
        directory_of(deps), context, "pydantic models from the orders schema of", deps=deps
    )
    schema = context.get("schema_name")
    with tempfile.TemporaryDirectory(prefix="devops-bot-models-") as work:
        generated = await generate_models(document.data, service, schema, Path(work))
    what = f"pydantic models of {schema}" if schema else "pydantic models"
    return _offered(
        generated,
        service=service,
        document=document,
        name=package_name(service, "models"),
        context=context,
        what=what,
    )


async def _diff(deps: WorkflowDeps, context: dict[str, Any], _: DevOpsAgentState) -> Answer:
    missing = missing_tools()
    if missing:
        return Answer.failed(missing)
    directory = directory_of(deps)
    service, _env, new = await locate_document(
        directory, context, "is the new spec breaking of", deps=deps
    )
    if context.get("spec_url_old"):
        try:
            old = await fetch_document(context["spec_url_old"])
        except DocumentError as exc:
            raise Refusal(str(exc)) from None
        old_data, old_label = old.data, f"{old.url} ({old.version})"
    else:
        seen = directory.remembered("client", service)
        served = directory.document_url(service, _env) if context.get("spec_text") else None
        if not seen and served:
            # An uploaded document is the new version of the one the service serves now.
            try:
                current = await fetch_document(served)
            except DocumentError as exc:
                raise Refusal(str(exc)) from None
            seen = {"document": current.data, "label": f"{current.url} ({current.version})"}
        if not seen:
            raise Refusal(
                f"no client of {service} was generated here yet, so there is no earlier "
                "version to compare with: generate one first, or paste both documents' URLs "
                "(old first)"
            )
        old_data = seen["document"]
        old_label = seen.get("label") or (
            f"the document of the last client ({(old_data.get('info') or {}).get('version', '?')})"
        )
    changes = compare_documents(old_data, new.data)
    breaking = [c for c in changes if c.breaking]
    rows = [["BREAKING" if c.breaking else "compatible", c.kind, c.where, c.detail]
            for c in changes]  # fmt: skip
    new_label = f"{new.url} ({new.version})"
    if not changes:
        summary = f"{service}'s API: no changes between {old_label} and {new_label}"
    elif breaking:
        named = "; ".join(c.line() for c in breaking[:10])
        summary = (
            f"yes: {len(breaking)} breaking change(s) in {service}'s API from {old_label} to "
            f"{new_label}: {named}"
        )
    else:
        summary = (
            f"no breaking change in {service}'s API from {old_label} to {new_label}: "
            f"{len(changes)} compatible change(s)"
        )
    shown = [parts.text(summary)]
    if rows:
        shown.append(parts.table("API changes", ["impact", "change", "where", "detail"], rows))
    return Answer(
        "completed",
        summary,
        output={
            "service": service,
            "breaking": [c.__dict__ for c in breaking],
            "changes": [c.__dict__ for c in changes],
            "old": old_label,
            "new": new_label,
        },
        parts=shown,
    )


codegen_agent = handler_agent(
    NAME,
    resolve_action,
    {"client": _client, "models": _models, "diff": _diff},
    failures=(GenerationError, DocumentError),
)
