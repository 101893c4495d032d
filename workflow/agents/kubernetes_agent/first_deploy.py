"""The first deploy of a service: its Deployment does not exist yet, so it is created from
the manifests in the service's repository (the catalog's `repository:`, read on the forge),
with the requested image; the Service beside it is created too."""

from __future__ import annotations

from typing import Any

from workflow.agents.base import Answer
from workflow.deps import WorkflowDeps
from workflow.plan import Plan
from workflow.tools.changes import read_repository_file

__all__ = ["MANIFESTS", "first_deploy_plan"]

FORGE = "forge"
# Where the scaffold templates write them (workflow/agents/scaffold_agent/templates/*/k8s/).
MANIFESTS = ("k8s/deployment.yaml", "k8s/service.yaml")


async def first_deploy_plan(
    deps: WorkflowDeps,
    context: dict[str, Any],
    namespace: str,
    name: str,
    environment: str | None,
) -> Plan | Answer:
    """The plan that creates `name` in `namespace`, or the answer saying why it can't."""
    missing = f"deployment '{name}' not found in namespace '{namespace}'"
    entry = deps.catalog.resolve(name)
    if entry is None or not entry.repository:
        return Answer.failed(
            f"{missing}, and the catalog names no repository for '{name}' to create it from: "
            f"register its repository in the catalog (`repository:`) with its manifests in "
            f"{' and '.join(MANIFESTS)}, or create the Deployment once yourself"
        )
    forge = deps.backend(FORGE)
    if forge is None or not hasattr(forge, "read_file"):
        why = deps.why_missing(FORGE) if forge is None else "the forge cannot read files"
        return Answer.failed(
            f"{missing}; its manifests would come from {entry.repository}, but {why}"
        )
    manifests: dict[str, str] = {}
    try:
        for path in MANIFESTS:
            text = await read_repository_file(forge, entry.repository, path)
            if text is not None:
                manifests[path] = text
    except Exception as exc:  # the forge's ChangeError (its message names no token)
        message = getattr(exc, "message", None) or type(exc).__name__
        return Answer.failed(f"{missing}; reading its manifests from {entry.repository}: {message}")
    if MANIFESTS[0] not in manifests:
        return Answer.failed(
            f"{missing}, and {entry.repository} on {forge.label} has no {MANIFESTS[0]} on main "
            f"to create it from: add its Kubernetes manifests (e.g. 'add a Dockerfile and "
            f"Kubernetes manifests to {name}'), merge the pull request, then deploy again"
        )
    return await deps.kubernetes.plan_first_deploy(
        namespace=namespace,
        name=name,
        environment=environment,
        image=context.get("image") or context.get("image_tag"),
        manifests=manifests,
        source=f"{entry.repository}@main ({', '.join(manifests)}) on {forge.label}",
    )
