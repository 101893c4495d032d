"""Apply an approved `forge` plan: exactly the files previewed, on the forge.

- create_repository: the repository created (or found, on a retried click or after a crash)
  and the files pushed as its first commit; then the service registered in the catalog
  (persisted in the data directory, published on the memory bus) so it can be deployed;
- open_pull_request: the files committed on the plan's branch (named after the plan hash)
  and one pull request for it, found again rather than opened twice.
"""

from __future__ import annotations

from workflow.agents.scaffold_agent.client import FORGE, SCAFFOLD
from workflow.agents.spec import Applied, ApplyError, BackendMissing
from workflow.catalog import ServiceEntry, load_into_bus
from workflow.deps import WorkflowDeps
from workflow.plan import Plan
from workflow.tools.changes import ChangeError, ChangeRequest, branch_for, request_noun

__all__ = ["apply_forge"]


def _message(plan: Plan, title: str) -> str:
    body = plan.body or {}
    thread = ""
    try:
        from langgraph.config import get_config

        thread = str((get_config().get("configurable") or {}).get("thread_id") or "")
    except RuntimeError:
        pass
    return (
        f"{title}\n\nRequested by {body.get('requester') or 'unknown'} in thread "
        f"{thread or 'unknown'} through devops-bot (plan {plan.plan_hash})."
    )


async def apply_forge(plan: Plan, deps: WorkflowDeps) -> Applied:
    forge = deps.backend(FORGE)
    if forge is None:
        raise BackendMissing(deps.why_missing(FORGE))
    body = plan.body or {}
    op, repository = body.get("op"), str(body.get("repository") or "")
    files = {f.path: f.content for f in plan.files}
    where = f" on {forge.label}"
    try:
        if op == "create_repository":
            title = f"{plan.name}: scaffolded from template {body.get('template')}"
            request = ChangeRequest(
                repository=repository,
                files=files,
                branch="main",
                title=title,
                message=_message(plan, title),
                new_repository=True,
                description=f"{plan.name} (scaffolded by devops-bot)",
            )
            result = await forge.submit(request)
            await _register(plan, deps)
            out = result.as_dict() | {"registered": plan.name}
            said = (
                f"created repository {result.repository} ({result.url}), commit "
                f"{result.commit[:12]} on {result.branch}; {plan.name} is registered in the "
                f"catalog (owners, repository, image), so 'create a pipeline for {plan.name}' "
                f"works now, and 'deploy {plan.name}:<tag> staging' creates its Deployment and "
                "Service from the repository's k8s/ manifests"
            )
            return Applied(out, where=where, said=said)
        if op == "open_pull_request":
            title = body.get("title") or (
                f"{plan.name}: add {' and '.join(body.get('parts') or ['files'])}"
            )
            request = ChangeRequest(
                repository=repository,
                files=files,
                branch=branch_for(plan.name, plan.plan_hash),
                title=title,
                message=_message(plan, title),
                body=str(body.get("description") or plan.preview[:4000])[:60000],
            )
            result = await forge.submit(request)
            # GitLab's are merge requests, numbered !N; GitHub's and the sandbox's #N
            noun = request_noun(forge)
            mark = "!" if noun == "merge request" else "#"
            said = (
                f"{noun} {mark}{result.pull_request} on {result.repository}: {result.url} "
                f"(branch {result.branch}, commit {result.commit[:12]})"
            )
            return Applied(result.as_dict(), where=where, said=said)
    except ChangeError as exc:
        raise ApplyError(exc.message) from exc
    raise ApplyError(f"unknown forge plan operation {op!r}")


async def _register(plan: Plan, deps: WorkflowDeps) -> None:
    from workflow.registered import publish_registered, register_service

    entry = ServiceEntry.model_validate({"name": plan.name, **(plan.body or {})["catalog"]})
    config = deps.backend(SCAFFOLD)
    data_dir = getattr(config, "data_dir", None)
    if data_dir is not None:
        deps.catalog = register_service(deps.catalog, data_dir, entry)
    else:
        merged = {**deps.catalog.to_dict()["services"], entry.name: entry.to_dict()}
        deps.catalog = type(deps.catalog).from_dict({"services": merged})
    await publish_registered(deps.memory, entry)
    await load_into_bus(deps.catalog, deps.memory)
