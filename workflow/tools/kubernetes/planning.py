"""Plans: the patch for an action, dry-run by the API server, with a before/after preview."""

from __future__ import annotations

import copy
from typing import Any

from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace

from workflow.plan import Plan
from workflow.tools.kubernetes.client import _ApiCalls
from workflow.tools.kubernetes.errors import ConflictError, InvalidInputError, KubernetesError
from workflow.tools.kubernetes.names import (
    resolve_image,
    validate_image,
    validate_name,
    validate_replicas,
)
from workflow.tools.kubernetes.shapes import (
    _HASH_LABEL,
    _RESTARTED_AT,
    _diff,
    _main_container,
    _now_iso,
    _render_spec,
    _revision,
    _summary,
    _template,
)

PLAN_ACTIONS = ("deploy", "scale", "restart", "rollback", "delete", "provision")
_DEPLOYMENT_PATCH_ACTIONS = frozenset({"deploy", "scale", "restart", "rollback"})


class _Planning(_ApiCalls):
    """Previews of writes; nothing is changed."""

    def _target(self, kind: str, name: str, namespace: str | None) -> str:
        where = f" -n {namespace}" if namespace and kind != "namespace" else ""
        return f"{kind}/{name}{where}"

    async def plan(
        self,
        action: str,
        *,
        namespace: str,
        name: str,
        environment: str | None,
        image: str | None = None,
        replicas: int | None = None,
    ) -> Plan:
        """Preview a write with a server-side dry-run; nothing is changed."""
        if action not in PLAN_ACTIONS:
            raise InvalidInputError(
                f"unknown action {action!r}: expected one of {', '.join(PLAN_ACTIONS)}"
            )
        validate_name(namespace, "namespace")
        if action == "provision":
            if name not in (None, "", namespace):
                raise InvalidInputError(
                    f"provision creates namespace '{namespace}'; name {name!r} does not match it"
                )
            return await self._plan_provision(namespace, environment)
        validate_name(name, "deployment")
        if action == "deploy":
            if image is None:
                raise InvalidInputError("deploy needs an image (a full reference or a tag)")
            if not isinstance(image, str) or not image:
                raise InvalidInputError("invalid image: must be a non-empty image reference")
            validate_image(image)  # the raw input, before any resolution
        if action == "scale":
            if replicas is None:
                raise InvalidInputError("scale needs a replica count")
            validate_replicas(replicas)
        try:
            return await self._plan_deployment(
                action, namespace, name, environment, image=image, replicas=replicas
            )
        except ConflictError:
            # Changed between our read and the dry-run: read again once.
            return await self._plan_deployment(
                action, namespace, name, environment, image=image, replicas=replicas
            )

    async def _plan_deployment(
        self,
        action: str,
        namespace: str,
        name: str,
        environment: str | None,
        *,
        image: str | None,
        replicas: int | None,
    ) -> Plan:
        dep = await self._get_deployment(namespace, name)
        rv = dep["metadata"]["resourceVersion"]
        before = _summary(dep)
        notes: list[str] = []
        if action == "delete":
            await self._call(
                self.client.delete(Deployment, name, namespace=namespace, dry_run=True),
                "deployment",
                name,
                namespace,
            )
            lines = [f"- {line}" for line in _render_spec(dep)]
            preview = "\n".join(
                [
                    f"{self._target('deployment', name, namespace)}: delete",
                    f"  revision: {before['revision']} (resourceVersion {rv})",
                    *lines,
                    "- deployment, its ReplicaSets and pods are deleted",
                    "server-side dry-run: accepted",
                ]
            )
            plan = Plan(
                action=action,
                kind="Deployment",
                name=name,
                namespace=namespace,
                environment=environment,
                backend=self.backend_name,
                target=self._target("deployment", name, namespace),
                resource_version=rv,
                before=before,
                after={},
                preview=preview,
                risk=["destructive"],
            )
            return plan.with_hash()

        patch = await self._patch_for(
            action, dep, name, image=image, replicas=replicas, notes=notes
        )
        patch.setdefault("metadata", {})["resourceVersion"] = rv
        result = await self._call(
            self.client.patch(Deployment, name, patch, namespace=namespace, dry_run=True),
            "deployment",
            name,
            namespace,
        )
        after_obj = result.to_dict()
        after = _summary(after_obj)
        template_changed = _template(dep) != _template(after_obj)
        if template_changed:
            after["revision"] = before["revision"] + 1
        unchanged = dep.get("spec") == after_obj.get("spec") and (
            dep["metadata"].get("labels"),
            dep["metadata"].get("annotations"),
        ) == (after_obj["metadata"].get("labels"), after_obj["metadata"].get("annotations"))
        risk = []
        if after["replicas"] == 0 and not unchanged:
            risk.append("scale_to_zero")
        if unchanged:
            risk.append("no_change")
        diff = _diff(_render_spec(dep), _render_spec(after_obj))
        revision_line = f"  revision: {before['revision']}"
        if template_changed:
            revision_line += f" -> {after['revision']} (new pods roll out)"
        preview = "\n".join(
            [
                f"{self._target('deployment', name, namespace)}: {action}",
                f"{revision_line} (resourceVersion {rv})",
                *notes,
                *diff,
                "server-side dry-run: accepted" + (" (no change)" if unchanged else ""),
            ]
        )
        plan = Plan(
            action=action,
            kind="Deployment",
            name=name,
            namespace=namespace,
            environment=environment,
            backend=self.backend_name,
            target=self._target("deployment", name, namespace),
            patch=patch,
            resource_version=rv,
            before=before,
            after=after,
            preview=preview,
            risk=risk,
        )
        return plan.with_hash()

    async def _patch_for(
        self,
        action: str,
        dep: dict,
        name: str,
        *,
        image: str | None,
        replicas: int | None,
        notes: list[str],
    ) -> dict[str, Any]:
        if action == "deploy":
            assert image is not None
            container = _main_container(dep, name)
            new_image = resolve_image(container.get("image", ""), image)
            return {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": container["name"], "image": new_image}]}
                    }
                }
            }
        if action == "scale":
            return {"spec": {"replicas": replicas}}
        if action == "restart":
            return {
                "spec": {"template": {"metadata": {"annotations": {_RESTARTED_AT: _now_iso()}}}}
            }
        if action == "rollback":
            current = _revision(dep)
            older = [rs for rs in await self._owned_replicasets(dep) if _revision(rs) < current]
            if not older:
                raise KubernetesError(
                    f"deployment '{name}' in namespace '{dep['metadata']['namespace']}' has no "
                    f"previous revision to roll back to (current revision {current})"
                )
            previous = older[-1]
            template = copy.deepcopy(previous["spec"]["template"])
            labels = template.get("metadata", {}).get("labels") or {}
            labels.pop(_HASH_LABEL, None)
            notes.append(
                f"  rolls back to revision {_revision(previous)} "
                f"(ReplicaSet {previous['metadata']['name']})"
            )
            # Replace the whole template, as `kubectl rollout undo` does: a plain merge
            # would keep fields the newer revision added.
            return {"spec": {"template": {"$patch": "replace", **template}}}
        raise InvalidInputError(f"unknown action {action!r}")

    async def _plan_provision(self, namespace: str, environment: str | None) -> Plan:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        await self._call(
            self.client.create(Namespace.from_dict(body), dry_run=True),
            "namespace",
            namespace,
            None,
        )
        target = self._target("namespace", namespace, None)
        preview = "\n".join(
            [f"{target}: provision", f"+ namespace: {namespace}", "server-side dry-run: accepted"]
        )
        plan = Plan(
            action="provision",
            kind="Namespace",
            name=namespace,
            namespace=namespace,
            environment=environment,
            backend=self.backend_name,
            target=target,
            body=body,
            before={},
            after={"namespace": namespace},
            preview=preview,
        )
        return plan.with_hash()
