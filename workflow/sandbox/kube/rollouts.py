"""The deployment controller: rollouts to new ReplicaSets with revisions, and their log.

The controller is evaluated lazily, from the time elapsed since a Deployment's spec
changed, by `reconcile()` on every request.
"""

from __future__ import annotations

import copy
import hashlib
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from workflow.sandbox.kube.common import (
    _HASH_LABEL,
    _REVISION,
    _canonical,
    _image_fault,
    _iso,
    _random_suffix,
    _safe_encode,
)
from workflow.sandbox.kube.pods import _pod_ready
from workflow.sandbox.kube.store import _Store

_MAX_ROLLOUT_LOG = 50  # rollouts kept per deployment


@dataclass(frozen=True)
class PodRecord:
    """A pod of a rollout: its name, when it was created and when it became ready."""

    name: str
    created: float
    ready_at: float | None


@dataclass(frozen=True)
class Rollout:
    """From `started_at` on, `replicaset` (with `image`, `replicas` and `pods`) was current.

    One entry per change of the current ReplicaSet or its pods (a new image, a rollback, a
    restart, a scale); the entry ends where the next one starts.
    """

    started_at: float
    image: str
    revision: int
    replicaset: str
    replicas: int
    pods: tuple[PodRecord, ...]
    memory_limit: str | None = None

    @property
    def fault(self) -> str | None:
        return _image_fault(self.image)


class _DeploymentController(_Store):
    # -- the deployment controller

    def _owned_replicasets(self, dep: dict) -> list[dict]:
        uid = dep["metadata"]["uid"]
        owned = [
            rs
            for rs in self.data["replicasets"].get(dep["metadata"]["namespace"], {}).values()
            if any(
                ref.get("uid") == uid and ref.get("controller")
                for ref in rs["metadata"].get("ownerReferences", [])
            )
        ]
        return sorted(owned, key=_revision)

    def _rs_pods(self, rs: dict) -> list[dict]:
        uid = rs["metadata"]["uid"]
        return [
            pod
            for pod in self.data["pods"].get(rs["metadata"]["namespace"], {}).values()
            if any(ref.get("uid") == uid for ref in pod["metadata"].get("ownerReferences", []))
        ]

    def _matching_rs(self, dep: dict) -> dict | None:
        key = _template_key(dep["spec"]["template"])
        for rs in self._owned_replicasets(dep):
            if _template_key(rs["spec"]["template"]) == key:
                return rs
        return None

    def reconcile(self, now: float) -> None:
        for namespace in list(self.data["deployments"]):
            for dep in list(self.data["deployments"][namespace].values()):
                self._sync_deployment(dep, now)

    def _sync_deployment(self, dep: dict, now: float) -> None:
        meta, spec = dep["metadata"], dep["spec"]
        key = f"{meta['namespace']}/{meta['name']}"
        ctl = self.data["controller"].setdefault(key, {"changed_at": now})
        period = self.rollout_seconds
        observe_at = ctl["changed_at"] + period * 0.2
        dirty = False
        if dep["status"].get("observedGeneration", 0) < meta["generation"]:
            if now < observe_at:
                return  # the controller has not seen this generation yet
            self._observe(dep, observe_at, ready_at=ctl["changed_at"] + period)
            dirty = True
        new_rs = self._matching_rs(dep)
        if new_rs is None:
            return
        new_pods = self._rs_pods(new_rs)
        done = len(new_pods) == spec["replicas"] and all(
            _pod_ready(p, now, period) for p in new_pods
        )
        if done:
            finished = max([observe_at] + [p["_rt"]["ready_at"] for p in new_pods])
            for old in self._owned_replicasets(dep):
                if old is not new_rs and old["spec"].get("replicas", 0) > 0:
                    self._scale_rs(dep, old, 0, finished, ready_at=finished)
                    dirty = True
            dirty |= self._prune_history(dep, new_rs)
        for rs in self._owned_replicasets(dep):
            self._refresh_rs_status(rs, now)
        dirty |= self._refresh_deployment_status(dep, new_rs, now, ctl["changed_at"])
        if dirty:
            self._touch(dep)

    def _observe(self, dep: dict, at: float, *, ready_at: float) -> None:
        """The controller notices a new generation: find or create its ReplicaSet."""
        meta = dep["metadata"]
        owned = self._owned_replicasets(dep)
        max_revision = max((_revision(rs) for rs in owned), default=0)
        rs = self._matching_rs(dep)
        if rs is None:
            rs = self._create_rs(dep, max_revision + 1, at)
        elif _revision(rs) < max_revision:
            # Rolling back to an old template re-uses its ReplicaSet under a new revision.
            rs["metadata"]["annotations"][_REVISION] = str(max_revision + 1)
            self._touch(rs)
        meta.setdefault("annotations", {})[_REVISION] = rs["metadata"]["annotations"][_REVISION]
        self._scale_rs(dep, rs, dep["spec"]["replicas"], at, ready_at=ready_at)
        dep["status"]["observedGeneration"] = meta["generation"]
        self._log_rollout(dep, rs, at)

    # -- the rollout log (for the sandbox's metrics and alerts)

    def _log_rollout(self, dep: dict, rs: dict, at: float) -> None:
        """Note that from `at` on `rs` (with its pods as they are now) is current."""
        meta = dep["metadata"]
        main = _main_container_of(rs["spec"]["template"], meta["name"])
        pods = sorted(
            [p["metadata"]["name"], p["_rt"]["created"], p["_rt"]["ready_at"]]
            for p in self._rs_pods(rs)
        )
        entry = {
            "at": at,
            "rs": rs["metadata"]["name"],
            "revision": _revision(rs),
            "image": main.get("image", ""),
            "replicas": rs["spec"].get("replicas", 0),
            "pods": pods,
            "memory_limit": ((main.get("resources") or {}).get("limits") or {}).get("memory"),
        }
        log = self.data.setdefault("rollouts", {}).setdefault(
            f"{meta['namespace']}/{meta['name']}", []
        )
        if log and {k: v for k, v in log[-1].items() if k != "at"} == {
            k: v for k, v in entry.items() if k != "at"
        }:
            return
        log.append(entry)
        del log[:-_MAX_ROLLOUT_LOG]
        self.dirty = True

    def rollout_histories(self) -> dict[tuple[str, str], list[Rollout]]:
        """{(namespace, deployment): its rollouts, oldest first}."""
        out: dict[tuple[str, str], list[Rollout]] = {}
        logs = self.data.get("rollouts", {})
        for namespace in sorted(self.data["deployments"]):
            for name, dep in sorted(self.data["deployments"][namespace].items()):
                entries = logs.get(f"{namespace}/{name}")
                if entries:
                    out[(namespace, name)] = [
                        Rollout(
                            started_at=e["at"],
                            image=e["image"],
                            revision=e["revision"],
                            replicaset=e["rs"],
                            replicas=e["replicas"],
                            pods=tuple(PodRecord(n, c, r) for n, c, r in e["pods"]),
                            memory_limit=e.get("memory_limit"),
                        )
                        for e in entries
                    ]
                else:
                    out[(namespace, name)] = self._derived_history(dep)
        return out

    def _derived_history(self, dep: dict) -> list[Rollout]:
        """Rollouts from the ReplicaSets alone (a state file written before the log)."""
        name, current = dep["metadata"]["name"], _revision(dep)
        out: list[Rollout] = []
        for rs in self._owned_replicasets(dep):  # by revision
            main = _main_container_of(rs["spec"]["template"], name)
            created = rs["metadata"].get("creationTimestamp")
            try:
                started = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ")
            except (TypeError, ValueError):
                continue
            live = _revision(rs) == current
            # A rolled-back-to ReplicaSet keeps its old creation time: keep the order.
            started_at = started.replace(tzinfo=UTC).timestamp()
            if out:
                started_at = max(started_at, out[-1].started_at)
            out.append(
                Rollout(
                    started_at=started_at,
                    image=main.get("image", ""),
                    revision=_revision(rs),
                    replicaset=rs["metadata"]["name"],
                    replicas=rs["spec"].get("replicas", 0) if live else dep["spec"]["replicas"],
                    pods=tuple(
                        PodRecord(p["metadata"]["name"], p["_rt"]["created"], p["_rt"]["ready_at"])
                        for p in sorted(self._rs_pods(rs), key=lambda p: p["metadata"]["name"])
                    )
                    if live
                    else (),
                    memory_limit=((main.get("resources") or {}).get("limits") or {}).get("memory"),
                )
            )
        return out

    def _create_rs(self, dep: dict, revision: int, at: float) -> dict:
        meta = dep["metadata"]
        template = copy.deepcopy(dep["spec"]["template"])
        pod_hash = _safe_encode(hashlib.sha256(_template_key(template).encode()).digest(), 10)
        name = f"{meta['name']}-{pod_hash}"
        template.setdefault("metadata", {}).setdefault("labels", {})[_HASH_LABEL] = pod_hash
        selector = copy.deepcopy(dep["spec"]["selector"])
        selector.setdefault("matchLabels", {})[_HASH_LABEL] = pod_hash
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "uid": str(uuid.uuid4()),
                "generation": 1,
                "creationTimestamp": _iso(at),
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {
                    _REVISION: str(revision),
                    "deployment.kubernetes.io/desired-replicas": str(dep["spec"]["replicas"]),
                    "deployment.kubernetes.io/max-replicas": str(
                        dep["spec"]["replicas"] + _max_surge(dep)
                    ),
                },
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
            "status": {"replicas": 0, "observedGeneration": 1},
        }
        self._touch(rs)
        self._bucket("replicasets", meta["namespace"])[name] = rs
        return rs

    def _scale_rs(self, dep: dict, rs: dict, replicas: int, at: float, *, ready_at: float) -> None:
        namespace = rs["metadata"]["namespace"]
        pods = self._rs_pods(rs)
        before = rs["spec"].get("replicas", 0)
        if before == replicas and len(pods) == replicas:
            return
        rs["spec"]["replicas"] = replicas
        rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = str(
            dep["spec"]["replicas"]
        )
        if before != replicas:
            rs["metadata"]["generation"] = rs["metadata"].get("generation", 1) + 1
        self._touch(rs)
        rs_name = rs["metadata"]["name"]
        if replicas > before:
            self._record_event(
                dep,
                "ScalingReplicaSet",
                f"Scaled up replica set {rs_name} to {replicas} from {before}",
                at,
            )
        elif replicas < before:
            self._record_event(
                dep,
                "ScalingReplicaSet",
                f"Scaled down replica set {rs_name} to {replicas} from {before}",
                at,
            )
        bucket = self._bucket("pods", namespace)
        # Unready pods go first, then the youngest, as the ReplicaSet controller prefers.
        pods.sort(key=lambda p: (p["_rt"]["ready_at"] is not None, -p["_rt"]["created"]))
        while len(pods) > replicas:
            victim = pods.pop(0)
            del bucket[victim["metadata"]["name"]]
            self._record_event(
                rs,
                "SuccessfulDelete",
                f"Deleted pod: {victim['metadata']['name']}",
                at,
                component="replicaset-controller",
            )
        while len(pods) < replicas:
            pod = self._create_pod(rs, at, ready_at)
            pods.append(pod)
            self._record_event(
                rs,
                "SuccessfulCreate",
                f"Created pod: {pod['metadata']['name']}",
                at,
                component="replicaset-controller",
            )

    def _create_pod(self, rs: dict, at: float, ready_at: float) -> dict:
        namespace = rs["metadata"]["namespace"]
        bucket = self._bucket("pods", namespace)
        while True:
            name = f"{rs['metadata']['name']}-{_random_suffix()}"
            if name not in bucket:
                break
        template = rs["spec"]["template"]
        digest = hashlib.sha256(name.encode()).digest()
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "generateName": f"{rs['metadata']['name']}-",
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": _iso(at),
                "labels": dict(template.get("metadata", {}).get("labels", {})),
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": rs["metadata"]["name"],
                        "uid": rs["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                **copy.deepcopy(template.get("spec", {})),
                "nodeName": "sandbox-node-1",
                "serviceAccountName": "default",
            },
            "_rt": {
                "created": at,
                "ready_at": ready_at,
                "ip": f"10.244.{digest[0] % 8}.{2 + digest[1] % 250}",
            },
        }
        if template.get("metadata", {}).get("annotations"):
            pod["metadata"]["annotations"] = dict(template["metadata"]["annotations"])
        self._touch(pod)
        bucket[name] = pod
        return pod

    def _prune_history(self, dep: dict, current: dict) -> bool:
        limit = dep["spec"].get("revisionHistoryLimit", 10)
        old = [
            rs
            for rs in self._owned_replicasets(dep)
            if rs is not current and rs["spec"].get("replicas", 0) == 0 and not self._rs_pods(rs)
        ]
        excess = old[: max(len(old) - limit, 0)]
        for rs in excess:
            del self.data["replicasets"][rs["metadata"]["namespace"]][rs["metadata"]["name"]]
        if excess:
            self._next_rv()
        return bool(excess)

    def _refresh_rs_status(self, rs: dict, now: float) -> None:
        pods = self._rs_pods(rs)
        ready = sum(1 for p in pods if _pod_ready(p, now, self.rollout_seconds))
        status = _omit_zero(
            {
                "replicas": len(pods),
                "fullyLabeledReplicas": len(pods),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": rs["metadata"].get("generation", 1),
            },
            keep=("replicas",),
        )
        if status != rs.get("status"):
            rs["status"] = status
            self._touch(rs)

    def _refresh_deployment_status(
        self, dep: dict, new_rs: dict, now: float, changed_at: float
    ) -> bool:
        spec, old_status = dep["spec"], dep["status"]
        period = self.rollout_seconds
        all_pods = [p for rs in self._owned_replicasets(dep) for p in self._rs_pods(rs)]
        new_pods = self._rs_pods(new_rs)
        ready = sum(1 for p in all_pods if _pod_ready(p, now, period))
        desired = spec["replicas"]
        counts = {
            "observedGeneration": old_status.get("observedGeneration", 0),
            "replicas": len(all_pods),
            "updatedReplicas": len(new_pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(desired - ready, 0),
        }
        rs_name = new_rs["metadata"]["name"]
        complete = (
            counts["observedGeneration"] >= dep["metadata"]["generation"]
            and counts["updatedReplicas"] == desired
            and counts["replicas"] == desired
            and counts["availableReplicas"] == desired
        )
        min_available = desired - _max_unavailable(dep)
        if ready >= min_available:
            available = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            available = (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        if complete:
            progressing = (
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        elif now - changed_at > spec.get("progressDeadlineSeconds", 600):
            progressing = (
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        previous = {c["type"]: c for c in old_status.get("conditions", [])}
        conditions = []
        for ctype, (cstatus, reason, message) in (
            ("Available", available),
            ("Progressing", progressing),
        ):
            prev = previous.get(ctype)
            if prev and (prev["status"], prev["reason"], prev["message"]) == (
                cstatus,
                reason,
                message,
            ):
                conditions.append(prev)
                continue
            transition = (
                prev["lastTransitionTime"] if prev and prev["status"] == cstatus else _iso(now)
            )
            conditions.append(
                {
                    "type": ctype,
                    "status": cstatus,
                    "lastUpdateTime": _iso(now),
                    "lastTransitionTime": transition,
                    "reason": reason,
                    "message": message,
                }
            )
        status = _omit_zero(counts)
        status["conditions"] = conditions
        if status == old_status:
            return False
        dep["status"] = status
        return True


def _omit_zero(values: dict[str, int], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v or k in keep}


def _main_container_of(template: dict, name: str) -> dict:
    containers = (template.get("spec") or {}).get("containers") or []
    return next(
        (c for c in containers if c.get("name") == name), containers[0] if containers else {}
    )


def _revision(rs: dict) -> int:
    try:
        return int(rs["metadata"].get("annotations", {}).get(_REVISION, "0"))
    except ValueError:
        return 0


def _template_key(template: dict) -> str:
    """The template's identity, ignoring the pod-template-hash label (no copy: hot path)."""
    meta = template.get("metadata")
    if meta and _HASH_LABEL in (meta.get("labels") or {}):
        labels = {k: v for k, v in meta["labels"].items() if k != _HASH_LABEL}
        template = {**template, "metadata": {**meta, "labels": labels}}
    return _canonical(template)


def _resolve_int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        try:
            fraction = int(value[:-1]) * total / 100
        except ValueError:
            return 0
        return math.ceil(fraction) if round_up else math.floor(fraction)
    return 0


def _max_surge(dep: dict) -> int:
    rolling = dep["spec"].get("strategy", {}).get("rollingUpdate", {})
    return _resolve_int_or_percent(
        rolling.get("maxSurge", "25%"), dep["spec"]["replicas"], round_up=True
    )


def _max_unavailable(dep: dict) -> int:
    strategy = dep["spec"].get("strategy", {})
    if strategy.get("type") == "Recreate":
        return dep["spec"]["replicas"]
    rolling = strategy.get("rollingUpdate", {})
    return _resolve_int_or_percent(
        rolling.get("maxUnavailable", "25%"), dep["spec"]["replicas"], round_up=False
    )
