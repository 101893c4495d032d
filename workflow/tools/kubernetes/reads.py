"""The read side of the backend: deployments, rollout history, status with pods/events/logs."""

from __future__ import annotations

import asyncio
from typing import Any

from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event, Pod

from workflow.tools.kubernetes.client import _ApiCalls, _HTTPError
from workflow.tools.kubernetes.errors import InvalidInputError
from workflow.tools.kubernetes.names import validate_name
from workflow.tools.kubernetes.shapes import (
    _HASH_LABEL,
    _containers,
    _is_unhealthy,
    _main_container,
    _pod_summary,
    _revision,
    _rollout_state,
    _summary,
    _template_changes,
)


class _Reads(_ApiCalls):
    """Status of deployments as the reports and the follow-up of a rollout show it."""

    async def rollout_history(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The deployment's revisions, oldest first, each with what changed from the one before.

        One entry per ReplicaSet: revision, when it was created, its images and the changes of
        its pod template against the previous revision (image, env, resources). A rollback
        re-uses an old ReplicaSet under a new revision, so its `created_at` is the old one;
        `current` marks the revision the deployment runs now.
        """
        validate_name(namespace, "namespace")
        validate_name(name, "deployment")
        dep = await self._get_deployment(namespace, name)
        current = _revision(dep)
        history: list[dict[str, Any]] = []
        previous: dict | None = None
        for rs in await self._owned_replicasets(dep):
            template = rs.get("spec", {}).get("template", {})
            containers = template.get("spec", {}).get("containers", []) or []
            history.append(
                {
                    "revision": _revision(rs),
                    "replicaset": rs["metadata"]["name"],
                    "created_at": rs["metadata"].get("creationTimestamp"),
                    "images": {c.get("name", ""): c.get("image", "") for c in containers},
                    "replicas": rs.get("spec", {}).get("replicas", 0),
                    "current": _revision(rs) == current,
                    "changes": _template_changes(previous, template) if previous else [],
                }
            )
            previous = template
        return history

    async def list_deployments(self, namespace: str) -> list[dict[str, Any]]:
        """Deployments in a namespace with image, replica counts and rollout state."""
        validate_name(namespace, "namespace")
        items = await self._list(Deployment, namespace)
        if not items:
            await self._require_namespace(namespace)
        out = []
        for dep in sorted(items, key=lambda d: d["metadata"]["name"]):
            status = dep.get("status") or {}
            complete, state = _rollout_state(dep)
            out.append(
                {
                    "name": dep["metadata"]["name"],
                    "namespace": namespace,
                    **_summary(dep),
                    "ready_replicas": status.get("readyReplicas") or 0,
                    "available_replicas": status.get("availableReplicas") or 0,
                    "updated_replicas": status.get("updatedReplicas") or 0,
                    "rollout_complete": complete,
                    "rollout_state": state,
                }
            )
        return out

    async def status(self, namespace: str, name: str, *, log_lines: int = 20) -> dict[str, Any]:
        """Deployment summary, pods, recent events and log lines of one (unhealthy) pod."""
        validate_name(namespace, "namespace")
        validate_name(name, "deployment")
        if isinstance(log_lines, bool) or not isinstance(log_lines, int) or log_lines < 0:
            raise InvalidInputError("log_lines must be a whole number >= 0")
        dep = await self._get_deployment(namespace, name)
        return await self._status_of(dep, log_lines=min(log_lines, 1000))

    async def _status_of(self, dep: dict, *, log_lines: int) -> dict[str, Any]:
        meta, spec = dep["metadata"], dep.get("spec", {})
        namespace, name = meta["namespace"], meta["name"]
        replicasets = await self._owned_replicasets(dep)
        rs_by_uid = {rs["metadata"]["uid"]: rs for rs in replicasets}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        pod_items = await self._list(Pod, namespace, labels=selector or None)
        pods_raw = [
            p
            for p in pod_items
            if any(
                ref.get("uid") in rs_by_uid
                for ref in p.get("metadata", {}).get("ownerReferences") or []
            )
        ]
        current_revision = _revision(dep)
        current_hash = next(
            (
                (rs["metadata"].get("labels") or {}).get(_HASH_LABEL)
                for rs in replicasets
                if _revision(rs) == current_revision
            ),
            None,
        )
        pods = [_pod_summary(p) for p in pods_raw]
        for pod in pods:
            pod["current_revision"] = pod.pop("pod_template_hash") == current_hash
        pods.sort(key=lambda p: (not p["current_revision"], p["name"]))

        # Events are per object; ask for the deployment, its scaled ReplicaSets and a few pods
        # (unhealthy first) rather than the whole namespace.
        names = {name}
        names.update(rs["metadata"]["name"] for rs in replicasets if rs["spec"].get("replicas"))
        names.update(p["name"] for p in sorted(pods, key=lambda p: not _is_unhealthy(p))[:10])
        event_lists = await asyncio.gather(
            *(
                self._list(Event, namespace, fields={"involvedObject.name": n})
                for n in sorted(names)
            )
        )
        events = [e for batch in event_lists for e in batch]
        events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
        recent = [
            {
                "type": e.get("type"),
                "reason": e.get("reason"),
                "message": e.get("message"),
                "count": e.get("count") or 1,
                "object": f"{e['involvedObject'].get('kind')}/{e['involvedObject'].get('name')}",
                "last_seen": e.get("lastTimestamp"),
            }
            for e in events[-20:]
        ]

        logs: dict[str, Any] = {"pod": None, "container": None, "lines": []}
        if pods and log_lines:
            target = next((p for p in pods if p["current_revision"] and _is_unhealthy(p)), None)
            target = target or next((p for p in pods if _is_unhealthy(p)), None) or pods[0]
            try:
                container = _main_container(dep, name).get("name")
            except InvalidInputError:
                container = (_containers(dep) or [{}])[0].get("name")
            logs.update(pod=target["name"], container=container)
            try:
                logs["lines"] = [
                    line.rstrip("\n")
                    async for line in self.client.log(
                        target["name"],
                        namespace=namespace,
                        container=container,
                        tail_lines=log_lines,
                    )
                ]
            except _HTTPError as exc:
                # A container that has not started has no logs; say so instead of failing.
                error = self._translate(exc, "pod", target["name"], namespace)
                logs["error"] = exc.status.message if isinstance(exc, ApiError) else error.message

        return {
            **self._deployment_status(dep),
            "pods": pods,
            "events": recent,
            "logs": logs,
        }

    def _deployment_status(self, dep: dict) -> dict[str, Any]:
        """What the Deployment object itself says: image, revision, replicas, rollout state."""
        meta, spec = dep["metadata"], dep.get("spec", {})
        status = dep.get("status") or {}
        complete, state = _rollout_state(dep)
        conditions = [
            {
                "type": c.get("type"),
                "status": c.get("status"),
                "reason": c.get("reason"),
                "message": c.get("message"),
            }
            for c in status.get("conditions") or []
        ]
        summary = _summary(dep)
        return {
            "cluster": self.cluster_label,
            "kind": "Deployment",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "image": summary["image"],
            "images": summary["images"],
            "revision": summary["revision"],
            "generation": meta.get("generation"),
            "observed_generation": status.get("observedGeneration"),
            "resource_version": meta.get("resourceVersion"),
            "replicas": {
                "desired": spec.get("replicas", 1),
                "updated": status.get("updatedReplicas") or 0,
                "ready": status.get("readyReplicas") or 0,
                "available": status.get("availableReplicas") or 0,
                "total": status.get("replicas") or 0,
            },
            "rollout_complete": complete,
            "rollout_state": state,
            "conditions": conditions,
        }
