"""The sandbox cluster: namespaces and Deployments as the API reads and writes them."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

from workflow.sandbox.kube.common import _canonical, _iso, _random_suffix
from workflow.sandbox.kube.errors import (
    _already_exists,
    _ApiError,
    _bad_request,
    _conflict,
    _invalid,
    _not_found,
)
from workflow.sandbox.kube.pods import _Kubelet
from workflow.sandbox.kube.rollouts import _DeploymentController
from workflow.sandbox.kube.validation import (
    _DNS1123_LABEL,
    _LABEL_MSG,
    _check_kind,
    _default_deployment,
    _validate_deployment,
)

_PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})


def _prune_empty(value: Any) -> Any:
    """Drop None values, as the API server's typed decoding does."""
    if isinstance(value, dict):
        return {k: _prune_empty(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_empty(v) for v in value]
    return value


class _Cluster(_DeploymentController, _Kubelet):
    """The stored objects plus the controllers, with no HTTP in sight.

    `data` is plain JSON so it can be written to disk as is. Every method expects the
    caller to hold the server's lock.
    """

    # -- namespaces

    def get_namespace(self, name: str) -> dict:
        ns = self.data["namespaces"].get(name)
        if ns is None:
            raise _not_found("namespaces", "", name)
        return ns

    def create_namespace(
        self, body: dict, *, dry_run: bool, manager: str | None, now: float
    ) -> dict:
        _check_kind(body, "v1", "Namespace")
        meta = body.get("metadata") or {}
        name = meta.get("name") or ""
        if meta.get("resourceVersion"):
            raise _bad_request("resourceVersion should not be set on objects to be created")
        if not name:
            raise _invalid(
                "Namespace", "", name, [("metadata.name", "Required value: name is required")]
            )
        if len(name) > 63 or not _DNS1123_LABEL.match(name):
            raise _invalid(
                "Namespace", "", name, [("metadata.name", f'Invalid value: "{name}": {_LABEL_MSG}')]
            )
        if name in self.data["namespaces"]:
            raise _already_exists("namespaces", "", name)
        labels = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": name}
        ns = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": _iso(now),
                "labels": labels,
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }
        if meta.get("annotations"):
            ns["metadata"]["annotations"] = dict(meta["annotations"])
        ns["metadata"]["managedFields"] = self._managed_fields(ns, manager, "v1", now)
        if dry_run:
            return ns
        self._touch(ns)
        self.data["namespaces"][name] = ns
        return ns

    def delete_namespace(self, name: str, *, dry_run: bool, now: float) -> dict:
        ns = copy.deepcopy(self.get_namespace(name))
        if name in _PROTECTED_NAMESPACES:
            raise _ApiError(
                403,
                "Forbidden",
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                {"name": name, "kind": "namespaces"},
            )
        ns["metadata"]["deletionTimestamp"] = _iso(now)
        ns["status"] = {"phase": "Terminating"}
        if dry_run:
            return ns
        # The namespace controller empties a terminating namespace; do it at once.
        for kind in ("deployments", "replicasets", "pods", "events", "services"):
            self.data.setdefault(kind, {}).pop(name, None)
        for key in [k for k in self.data["controller"] if k.startswith(f"{name}/")]:
            del self.data["controller"][key]
        rollouts = self.data.get("rollouts", {})
        for key in [k for k in rollouts if k.startswith(f"{name}/")]:
            del rollouts[key]
        del self.data["namespaces"][name]
        self._touch(ns)
        return ns

    def _creatable(self, body: dict, namespace: str) -> dict:
        """The metadata of an object to create in `namespace`, refused as the API server
        refuses it: another namespace in the body, a resourceVersion, no such namespace."""
        meta = body.get("metadata") or {}
        if meta.get("namespace") not in (None, "", namespace):
            raise _bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        if meta.get("resourceVersion"):
            raise _bad_request("resourceVersion should not be set on objects to be created")
        self._require_namespace(namespace)
        return meta

    # -- services (stored as created: no endpoints, no cluster IP allocation beyond a label)

    def get_service(self, namespace: str, name: str) -> dict:
        svc = self.data.setdefault("services", {}).get(namespace, {}).get(name)
        if svc is None:
            raise _not_found("services", "", name)
        return svc

    def create_service(
        self, namespace: str, body: dict, *, dry_run: bool, manager: str | None, now: float
    ) -> dict:
        _check_kind(body, "v1", "Service")
        meta = self._creatable(body, namespace)
        name = meta.get("name") or ""
        spec = copy.deepcopy(body.get("spec") or {})
        if not name or not spec.get("ports"):
            raise _bad_request("a Service needs metadata.name and spec.ports")
        spec.setdefault("type", "ClusterIP")
        for port in spec["ports"]:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        svc = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": _iso(now),
            },
            "spec": spec,
            "status": {"loadBalancer": {}},
        }
        for key in ("labels", "annotations"):
            if meta.get(key):
                svc["metadata"][key] = dict(meta[key])
        bucket = self.data.setdefault("services", {}).setdefault(namespace, {})
        if name in bucket:
            raise _already_exists("services", "", name)
        if dry_run:
            return svc
        self._touch(svc)
        bucket[name] = svc
        return svc

    # -- deployments

    def get_deployment(self, namespace: str, name: str) -> dict:
        # Like the real API: a missing namespace reads as a missing object (and lists as
        # empty); only creating in it reports the namespace.
        dep = self.data["deployments"].get(namespace, {}).get(name)
        if dep is None:
            raise _not_found("deployments", "apps", name)
        return dep

    def create_deployment(
        self, namespace: str, body: dict, *, dry_run: bool, manager: str | None, now: float
    ) -> dict:
        _check_kind(body, "apps/v1", "Deployment")
        meta = self._creatable(body, namespace)
        name = meta.get("name") or ""
        if not name and meta.get("generateName"):
            name = meta["generateName"] + _random_suffix()
        dep = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "generation": 1,
                "creationTimestamp": _iso(now),
            },
            "spec": copy.deepcopy(body.get("spec") or {}),
            "status": {},
        }
        for key in ("labels", "annotations"):
            if meta.get(key):
                dep["metadata"][key] = dict(meta[key])
        _default_deployment(dep)
        _validate_deployment(dep, None)
        if name in self._bucket("deployments", namespace):
            raise _already_exists("deployments", "apps", name)
        dep["metadata"]["managedFields"] = self._managed_fields(dep, manager, "apps/v1", now)
        if dry_run:
            return dep
        self._touch(dep)
        self._bucket("deployments", namespace)[name] = dep
        self.data["controller"][f"{namespace}/{name}"] = {"changed_at": now}
        return dep

    def update_deployment(
        self,
        namespace: str,
        name: str,
        mutate: Callable[[dict], dict],
        *,
        dry_run: bool,
        manager: str | None,
        now: float,
    ) -> dict:
        """Shared by PATCH and PUT: `mutate` turns the stored object into the wanted one."""
        current = self.get_deployment(namespace, name)
        wanted = mutate(copy.deepcopy(current))
        if not isinstance(wanted, dict):
            raise _bad_request("the patched object is not a JSON object")
        wanted = _prune_empty(wanted)
        _check_kind(wanted, "apps/v1", "Deployment")
        meta = wanted.get("metadata")
        if not isinstance(meta, dict):
            raise _bad_request("metadata must be an object")
        if meta.get("name") not in (None, name):
            raise _bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the "
                f"URL ({name})"
            )
        if meta.get("namespace") not in (None, "", namespace):
            raise _bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        sent_rv = meta.get("resourceVersion")
        if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
            raise _conflict("deployments", "apps", name)

        cur_meta = current["metadata"]
        new = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                k: cur_meta[k]
                for k in (
                    "name",
                    "namespace",
                    "uid",
                    "resourceVersion",
                    "generation",
                    "creationTimestamp",
                    "managedFields",
                )
                if k in cur_meta
            },
            "spec": wanted.get("spec") if isinstance(wanted.get("spec"), dict) else {},
            # The main resource ignores status writes; only the controller sets it.
            "status": copy.deepcopy(current.get("status", {})),
        }
        for key in ("labels", "annotations", "finalizers"):
            if meta.get(key):
                new["metadata"][key] = copy.deepcopy(meta[key])
        _default_deployment(new)
        _validate_deployment(new, current)
        spec_changed = _canonical(new["spec"]) != _canonical(current["spec"])
        if spec_changed:
            new["metadata"]["generation"] = cur_meta.get("generation", 1) + 1
        if _canonical(_without(new, "managedFields")) == _canonical(
            _without(current, "managedFields")
        ):
            return copy.deepcopy(current)  # a no-op write is not persisted
        new["metadata"]["managedFields"] = self._managed_fields(current, manager, "apps/v1", now)
        if dry_run:
            return new
        self._touch(new)
        self._bucket("deployments", namespace)[name] = new
        if spec_changed:
            self.data["controller"][f"{namespace}/{name}"] = {"changed_at": now}
        return new

    def delete_deployment(
        self, namespace: str, name: str, *, dry_run: bool, preconditions: dict | None
    ) -> dict:
        dep = self.get_deployment(namespace, name)
        meta = dep["metadata"]
        if preconditions:
            want_rv = preconditions.get("resourceVersion")
            if want_rv and want_rv != meta["resourceVersion"]:
                raise _conflict(
                    "deployments",
                    "apps",
                    name,
                    f"Precondition failed: ResourceVersion in precondition: {want_rv}, "
                    f"ResourceVersion in object meta: {meta['resourceVersion']}",
                )
            want_uid = preconditions.get("uid")
            if want_uid and want_uid != meta["uid"]:
                raise _conflict(
                    "deployments",
                    "apps",
                    name,
                    f"Precondition failed: UID in precondition: {want_uid}, "
                    f"UID in object meta: {meta['uid']}",
                )
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "group": "apps", "kind": "deployments", "uid": meta["uid"]},
        }
        if dry_run:
            return status
        # Background cascading deletion: the garbage collector removes the dependents.
        for rs in self._owned_replicasets(dep):
            for pod_name in [p["metadata"]["name"] for p in self._rs_pods(rs)]:
                del self.data["pods"][namespace][pod_name]
            del self.data["replicasets"][namespace][rs["metadata"]["name"]]
        del self.data["deployments"][namespace][name]
        self.data["controller"].pop(f"{namespace}/{name}", None)
        self.data.get("rollouts", {}).pop(f"{namespace}/{name}", None)
        self._next_rv()
        return status


def _without(obj: dict, meta_key: str) -> dict:
    out = dict(obj)
    out["metadata"] = {k: v for k, v in obj["metadata"].items() if k != meta_key}
    return out
