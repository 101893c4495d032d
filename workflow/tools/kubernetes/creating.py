"""First deploy of a service: create its Deployment and Service from the manifests in its
repository, with the requested image, checked by a server-side dry-run; applied as created.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import yaml
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Service

from workflow.plan import Plan, PlanFile
from workflow.tools.kubernetes.errors import (
    AlreadyExistsError,
    InvalidInputError,
    KubernetesError,
    StalePlanError,
)
from workflow.tools.kubernetes.names import resolve_image, validate_image, validate_name
from workflow.tools.kubernetes.shapes import _main_container, _render_spec

__all__ = ["CREATE_KINDS", "manifest_objects"]

CREATE_KINDS = {"Deployment": ("apps/v1", Deployment), "Service": ("v1", Service)}


def manifest_objects(manifests: dict[str, str]) -> list[tuple[str, dict]]:
    """(path, object) of every Deployment and Service in the manifests; others refused."""
    found: list[tuple[str, dict]] = []
    for path, text in manifests.items():
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"{path} is not valid YAML: {exc}") from None
        for doc in docs:
            kind = doc.get("kind") if isinstance(doc, dict) else None
            if kind not in CREATE_KINDS:
                raise InvalidInputError(
                    f"{path}: only Deployment and Service objects can be created on a first "
                    f"deploy, not {kind!r}"
                )
            if doc.get("apiVersion") != CREATE_KINDS[kind][0]:
                raise InvalidInputError(f"{path}: {kind} must be {CREATE_KINDS[kind][0]}")
            found.append((path, doc))
    return found


def _contains(actual: Any, wanted: Any) -> bool:
    """Whether `actual` (as the server keeps it, with defaults) holds everything in `wanted`."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            _contains(actual.get(k), v) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(wanted)
            and all(_contains(a, w) for a, w in zip(actual, wanted, strict=True))
        )
    return actual == wanted or str(actual) == str(wanted)


class _Creating:
    """Mixed into the backend: plans and applies of a first deploy (objects created)."""

    async def _create(self, obj: dict, namespace: str, *, dry_run: bool) -> Any:
        name = obj["metadata"]["name"]
        client = self.client  # type: ignore[attr-defined]
        if obj["kind"] == "Deployment":
            call = client.create(Deployment.from_dict(obj), namespace=namespace, dry_run=dry_run)
        else:
            call = client.create(Service.from_dict(obj), namespace=namespace, dry_run=dry_run)
        return await self._call(call, obj["kind"].lower(), name, namespace)  # type: ignore[attr-defined]

    async def _read(self, kind: str, name: str, namespace: str) -> Any:
        client = self.client  # type: ignore[attr-defined]
        if kind == "Deployment":
            call = client.get(Deployment, name, namespace=namespace)
        else:
            call = client.get(Service, name, namespace=namespace)
        return await self._call(call, kind.lower(), name, namespace)  # type: ignore[attr-defined]

    async def plan_first_deploy(
        self,
        *,
        namespace: str,
        name: str,
        environment: str | None,
        image: str,
        manifests: dict[str, str],
        source: str = "",
    ) -> Plan:
        """Create the objects of `manifests` in `namespace`, the Deployment `name` running
        `image` (a tag keeps the manifest's repository); dry-run by the API server."""
        validate_name(namespace, "namespace")
        validate_name(name, "deployment")
        validate_image(image)
        objects = manifest_objects(manifests)
        deployments = [o for _, o in objects if o["kind"] == "Deployment"]
        if [d.get("metadata", {}).get("name") for d in deployments] != [name]:
            raise InvalidInputError(
                f"the manifests must hold exactly one Deployment named '{name}'"
            )
        files: list[PlanFile] = []
        bodies: list[dict] = []
        lines: list[str] = []
        new_image = ""
        for path, obj in objects:
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            if meta.get("namespace") not in (None, "", namespace):
                raise InvalidInputError(
                    f"{path}: {obj['kind']} is for namespace {meta['namespace']!r}, "
                    f"not '{namespace}'"
                )
            meta["namespace"] = namespace
            validate_name(meta.get("name") or "", obj["kind"].lower())
            if obj["kind"] == "Deployment":
                container = _main_container(obj, name)
                new_image = resolve_image(container.get("image", ""), image)
                container["image"] = new_image
            await self._create(obj, namespace, dry_run=True)
            bodies.append(obj)
            files.append(PlanFile(path=path, content=yaml.safe_dump(obj, sort_keys=False)))
            lines.append(f"+ {obj['kind'].lower()}/{meta['name']} -n {namespace}")
            if obj["kind"] == "Deployment":
                lines.extend(f"+   {line}" for line in _render_spec(obj))
        target = f"deployment/{name} -n {namespace}"
        preview = "\n".join(
            [
                f"{target}: deploy (first deploy: the objects are created)",
                *([f"  manifests: {source}"] if source else []),
                *lines,
                "server-side dry-run: accepted",
            ]
        )
        replicas = deployments[0].get("spec", {}).get("replicas", 1)
        plan = Plan(
            action="deploy",
            kind="Deployment",
            name=name,
            namespace=namespace,
            environment=environment,
            backend=self.backend_name,  # type: ignore[attr-defined]
            target=target,
            body={"create": bodies},
            before={},
            after={"image": new_image, "replicas": replicas, "revision": 1},
            preview=preview,
            files=files,
            risk=["creates"],
        )
        return plan.with_hash()

    async def _apply_create(self, plan: Plan, started: float) -> dict[str, Any]:
        """Create the planned objects; one already there is fine only when it matches."""
        assert plan.body is not None
        namespace = plan.namespace
        generation = 1
        created: list[str] = []
        for obj in plan.body.get("create") or []:
            kind = obj.get("kind")
            if kind not in CREATE_KINDS:
                raise KubernetesError(f"the plan creates a {kind!r}, which is not allowed")
            name = obj["metadata"]["name"]
            try:
                made = await self._create(obj, namespace, dry_run=False)
                created.append(f"{kind.lower()}/{name}")
            except AlreadyExistsError:
                made = await self._read(kind, name, namespace)
                current = made.to_dict()
                labels = current["metadata"].get("labels") or {}
                if not (
                    _contains(current.get("spec"), obj.get("spec"))
                    and _contains(labels, obj["metadata"].get("labels") or {})
                ):
                    raise StalePlanError(
                        f"{kind.lower()} '{name}' in namespace '{namespace}' was created "
                        "meanwhile and differs from the approved plan; nothing was changed "
                        "for it: look at it (status) and plan a deploy again",
                        code=409,
                    ) from None
            if kind == "Deployment":
                generation = made.metadata.generation or 1
        return {
            "applied": True,
            "action": plan.action,
            "target": plan.target,
            "namespace": namespace,
            "name": plan.name,
            "generation": generation,
            "created": created,
            "rollout": "in_progress",
            "status": None,
            "elapsed_s": round(time.monotonic() - started, 3),
        }
