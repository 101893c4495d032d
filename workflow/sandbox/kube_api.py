"""A local Kubernetes API server for the sandbox cluster and the tests.

It speaks the REST endpoints a Kubernetes client uses for namespaces, Deployments,
ReplicaSets, Pods (with logs) and Events, and keeps the semantics that matter to a
plan/approve/apply workflow: 404/409/415/422 `Status` errors, `dryRun=All` that persists
nothing, strategic-merge and merge patches, `resourceVersion` optimistic concurrency, and
a deployment controller that rolls out new ReplicaSets with revisions. The controller is
evaluated lazily from elapsed wall-clock time on every request, so there is no background
task and a persisted cluster picks up where it left off after a restart.

Fault injection for incident drills goes by image tag: `crashloop` in the tag gives pods
stuck in CrashLoopBackOff (the rollout never completes); `oom` gives containers that keep
getting OOMKilled and restarted; `slow` gives pods that run and are Ready but log upstream
timeouts at a steady rate. The images of `seed.KNOWN_BAD_IMAGES` (e.g. checkout v2.4.1)
have their listed fault whatever their tag.

Every rollout the controller makes is also kept in a small per-deployment log (which
ReplicaSet, image and pods were current from when), read with `rollout_history()`: the
sandbox Prometheus and Alertmanager model their metrics and alerts from it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import math
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from workflow.sandbox._serve import ThreadedServer
from workflow.sandbox._state import SharedStateFile
from workflow.sandbox.seed import KNOWN_BAD_IMAGES, seed_objects

__all__ = ["KubeApiServer", "PodRecord", "Rollout", "image_fault", "write_kubeconfig"]

logger = logging.getLogger(__name__)

_STATE_FORMAT = "devops-bot-kube-sandbox/1"

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)

# Kubernetes' "safe" alphabet for generated names (no vowels, no look-alikes).
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

_REVISION = "deployment.kubernetes.io/revision"
_HASH_LABEL = "pod-template-hash"
_PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
_MAX_EVENTS_PER_NAMESPACE = 1000
_MAX_ROLLOUT_LOG = 50  # rollouts kept per deployment
# A `slow` pod logs one request every this many seconds, for at most the last hour.
_SLOW_LOG_INTERVAL = 15.0
_SLOW_LOG_SPAN = 3600.0

# Strategic-merge-patch merge keys (patchMergeKey in the Kubernetes API types).
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "ownerReferences": "uid",
    "conditions": "type",
}

_PATCH_TYPES = {
    "application/strategic-merge-patch+json",
    "application/merge-patch+json",
    "application/json-patch+json",
}

_FIELD_SELECTORS = {
    "namespaces": {"metadata.name", "status.phase"},
    "deployments": {"metadata.name", "metadata.namespace"},
    "replicasets": {"metadata.name", "metadata.namespace", "status.replicas"},
    "pods": {
        "metadata.name",
        "metadata.namespace",
        "spec.nodeName",
        "spec.restartPolicy",
        "status.phase",
        "status.podIP",
    },
    "events": {
        "metadata.name",
        "metadata.namespace",
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
}


# ---------------------------------------------------------------------------- errors


class _ApiError(Exception):
    """An error the API answers with a `Status` object."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        return status


def _resource_ref(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def _not_found(resource: str, group: str, name: str) -> _ApiError:
    return _ApiError(
        404,
        "NotFound",
        f'{_resource_ref(resource, group)} "{name}" not found',
        {"name": name, "group": group, "kind": resource},
    )


def _already_exists(resource: str, group: str, name: str) -> _ApiError:
    return _ApiError(
        409,
        "AlreadyExists",
        f'{_resource_ref(resource, group)} "{name}" already exists',
        {"name": name, "group": group, "kind": resource},
    )


def _conflict(resource: str, group: str, name: str, why: str | None = None) -> _ApiError:
    why = why or (
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    return _ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_resource_ref(resource, group)} "{name}": {why}',
        {"name": name, "group": group, "kind": resource},
    )


def _invalid(kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> _ApiError:
    texts = [f"{field}: {msg}" for field, msg in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    qualified = f"{kind}.{group}" if group else kind
    return _ApiError(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {joined}',
        {
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [
                {"reason": "FieldValueInvalid", "message": msg, "field": field}
                for field, msg in causes
            ],
        },
    )


def _bad_request(message: str) -> _ApiError:
    return _ApiError(400, "BadRequest", message)


# ---------------------------------------------------------------------------- helpers


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_nano(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _safe_encode(digest: bytes, length: int) -> str:
    n = int.from_bytes(digest, "big")
    out = []
    for _ in range(length):
        n, r = divmod(n, len(_SAFE_ALPHABET))
        out.append(_SAFE_ALPHABET[r])
    return "".join(out)


def _random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_SAFE_ALPHABET) for _ in range(length))


def _image_tag(image: str) -> str:
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def _image_fault(image: str) -> str | None:
    known = KNOWN_BAD_IMAGES.get(image.split("@", 1)[0])
    if known is not None:
        return known
    tag = _image_tag(image).lower()
    for fault in ("crashloop", "oom", "slow"):
        if fault in tag:
            return fault
    return None


def image_fault(image: str) -> str | None:
    """The sandbox fault of an image: "crashloop", "oom", "slow" or None (healthy)."""
    return _image_fault(image)


def _oom_interval(period: float) -> float:
    """Seconds between two OOM kills of an `oom` container."""
    return max(period, 0.01) * 4


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


def _get_path(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not k.startswith("$") and v is not None
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _prune_empty(value: Any) -> Any:
    """Drop None values, as the API server's typed decoding does."""
    if isinstance(value, dict):
        return {k: _prune_empty(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_empty(v) for v in value]
    return value


# ---------------------------------------------------------------------------- patches


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


_DELETE = object()


def _strategic_merge(target: Any, patch: dict) -> Any:
    """Strategic merge patch: maps merge, keyed lists merge by their merge key."""
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip_directives({k: v for k, v in patch.items() if k != "$patch"})
    if directive == "delete":
        return _DELETE
    if directive is not None:
        raise _bad_request(f"unknown patch type: {directive}")
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        if key.startswith("$"):
            raise _bad_request(f"unknown patch directive: {key}")
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = _strategic_merge(result.get(key), value)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and key in _MERGE_KEYS:
            current = result.get(key) if isinstance(result.get(key), list) else []
            result[key] = _strategic_merge_list(current, value, _MERGE_KEYS[key])
        else:
            result[key] = _strip_directives(value)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _strategic_merge_list(current: list, patch: list, merge_key: str) -> list:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [
            _strip_directives(item)
            for item in patch
            if not (isinstance(item, dict) and item.get("$patch") == "replace")
        ]
    result = copy.deepcopy(current)
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise _bad_request(f"map: {item!r} does not contain declared merge key: {merge_key}")
        index = next(
            (
                i
                for i, e in enumerate(result)
                if isinstance(e, dict) and e.get(merge_key) == item[merge_key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
            continue
        if index is None:
            result.append(_strip_directives(item))
        else:
            result[index] = _strategic_merge(result[index], item)
    return result


def _json_pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _bad_request(f"invalid JSON pointer: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _json_patch(doc: Any, ops: list) -> Any:
    """RFC 6902 JSON patch."""
    doc = copy.deepcopy(doc)

    def parent(parts: list[str]) -> tuple[Any, str]:
        node = doc
        for part in parts[:-1]:
            if isinstance(node, list):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                raise _ApiError(422, "Invalid", f"jsonpatch: path not found: /{part}")
        return node, parts[-1]

    def get(path: str) -> Any:
        node = doc
        for part in _json_pointer(path):
            try:
                node = node[int(part)] if isinstance(node, list) else node[part]
            except (KeyError, IndexError, ValueError, TypeError):
                raise _ApiError(422, "Invalid", f"jsonpatch: path not found: {path}") from None
        return node

    def add(path: str, value: Any) -> None:
        nonlocal doc
        parts = _json_pointer(path)
        if not parts:
            doc = copy.deepcopy(value)
            return
        node, last = parent(parts)
        if isinstance(node, list):
            if last == "-":
                node.append(copy.deepcopy(value))
            else:
                node.insert(int(last), copy.deepcopy(value))
        else:
            node[last] = copy.deepcopy(value)

    def remove(path: str) -> Any:
        parts = _json_pointer(path)
        node, last = parent(parts)
        try:
            return node.pop(int(last)) if isinstance(node, list) else node.pop(last)
        except (KeyError, IndexError, ValueError):
            raise _ApiError(422, "Invalid", f"jsonpatch: path not found: {path}") from None

    try:
        for op in ops:
            if not isinstance(op, dict) or "op" not in op or "path" not in op:
                raise _bad_request("json patch operations need 'op' and 'path'")
            kind, path = op["op"], op["path"]
            if kind == "add":
                add(path, op.get("value"))
            elif kind == "remove":
                remove(path)
            elif kind == "replace":
                get(path)
                if _json_pointer(path):
                    remove(path)
                add(path, op.get("value"))
            elif kind == "move":
                add(path, remove(op["from"]))
            elif kind == "copy":
                add(path, get(op["from"]))
            elif kind == "test":
                if get(path) != op.get("value"):
                    raise _ApiError(422, "Invalid", f"jsonpatch: test failed for path {path}")
            else:
                raise _bad_request(f"unknown json patch operation: {kind}")
    except (IndexError, ValueError, TypeError) as exc:
        raise _ApiError(422, "Invalid", f"jsonpatch: {exc}") from None
    return doc


# ---------------------------------------------------------------------------- selectors


def _split_terms(selector: str) -> list[str]:
    terms, depth, current = [], 0, []
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        terms.append("".join(current).strip())
    return [t for t in terms if t]


_SET_TERM = re.compile(r"^(\S+)\s+(in|notin)\s+\((.*)\)$")


def _parse_label_selector(selector: str) -> list[tuple[str, str, list[str]]]:
    reqs = []
    for term in _split_terms(selector):
        m = _SET_TERM.match(term)
        if m:
            values = [v.strip() for v in m.group(3).split(",") if v.strip()]
            reqs.append((m.group(1), m.group(2), values))
        elif "!=" in term:
            key, value = term.split("!=", 1)
            reqs.append((key.strip(), "!=", [value.strip()]))
        elif "==" in term:
            key, value = term.split("==", 1)
            reqs.append((key.strip(), "=", [value.strip()]))
        elif "=" in term:
            key, value = term.split("=", 1)
            reqs.append((key.strip(), "=", [value.strip()]))
        elif term.startswith("!"):
            reqs.append((term[1:].strip(), "!exists", []))
        elif re.fullmatch(r"[A-Za-z0-9_./-]+", term):
            reqs.append((term, "exists", []))
        else:
            raise _bad_request(f"unable to parse requirement: {term!r}")
    return reqs


def _labels_match(labels: dict[str, str], reqs: list[tuple[str, str, list[str]]]) -> bool:
    for key, op, values in reqs:
        present = key in labels
        value = labels.get(key)
        if (
            (op == "=" and value != values[0])
            or (op == "!=" and value == values[0])
            or (op == "in" and value not in values)
            or (op == "notin" and present and value in values)
            or (op == "exists" and not present)
            or (op == "!exists" and present)
        ):
            return False
    return True


def _parse_field_selector(selector: str, resource: str) -> list[tuple[str, bool, str]]:
    reqs = []
    for term in _split_terms(selector):
        if "!=" in term:
            key, value = term.split("!=", 1)
            negate = True
        elif "==" in term:
            key, value = term.split("==", 1)
            negate = False
        elif "=" in term:
            key, value = term.split("=", 1)
            negate = False
        else:
            raise _bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
        key = key.strip()
        if key not in _FIELD_SELECTORS.get(resource, set()):
            raise _bad_request(f"field label not supported: {key}")
        reqs.append((key, negate, value.strip()))
    return reqs


def _fields_match(obj: dict, reqs: list[tuple[str, bool, str]]) -> bool:
    for key, negate, value in reqs:
        actual = _get_path(obj, key)
        actual = "" if actual is None else str(actual)
        if (actual == value) == negate:
            return False
    return True


# ---------------------------------------------------------------------------- the cluster


class _Cluster:
    """The stored objects plus the controllers, with no HTTP in sight.

    `data` is plain JSON so it can be written to disk as is. Every method expects the
    caller to hold the server's lock.
    """

    def __init__(self, data: dict[str, Any], rollout_seconds: float):
        self.data = data
        self.rollout_seconds = max(float(rollout_seconds), 0.0)
        self.dirty = False

    @staticmethod
    def empty() -> dict[str, Any]:
        return {
            "format": _STATE_FORMAT,
            "resource_version": 1000,
            "namespaces": {},
            "deployments": {},
            "replicasets": {},
            "pods": {},
            "events": {},
            "controller": {},
        }

    # -- bookkeeping

    def _next_rv(self) -> str:
        self.data["resource_version"] += 1
        self.dirty = True
        return str(self.data["resource_version"])

    def _touch(self, obj: dict) -> None:
        obj["metadata"]["resourceVersion"] = self._next_rv()

    @property
    def list_rv(self) -> str:
        return str(self.data["resource_version"])

    def _bucket(self, kind: str, namespace: str) -> dict[str, dict]:
        return self.data[kind].setdefault(namespace, {})

    def _require_namespace(self, namespace: str) -> None:
        if namespace not in self.data["namespaces"]:
            raise _not_found("namespaces", "", namespace)

    @staticmethod
    def _managed_fields(obj: dict, manager: str | None, api_version: str, now: float) -> list[dict]:
        manager = manager or "unknown"
        entries = [
            e for e in obj["metadata"].get("managedFields", []) if e.get("manager") != manager
        ]
        entries.append(
            {
                "manager": manager,
                "operation": "Update",
                "apiVersion": api_version,
                "time": _iso(now),
                "fieldsType": "FieldsV1",
                "fieldsV1": {},
            }
        )
        return entries

    # -- events

    def _record_event(
        self,
        involved: dict,
        reason: str,
        message: str,
        now: float,
        *,
        event_type: str = "Normal",
        component: str = "deployment-controller",
    ) -> None:
        meta = involved["metadata"]
        namespace = meta["namespace"]
        bucket = self._bucket("events", namespace)
        for event in bucket.values():
            ref = event["involvedObject"]
            if (
                ref.get("uid") == meta["uid"]
                and event["reason"] == reason
                and event["message"] == message
            ):
                event["count"] += 1
                event["lastTimestamp"] = _iso(now)
                self._touch(event)
                return
        name = f"{meta['name']}.{secrets.token_hex(8)}"
        bucket[name] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "resourceVersion": self._next_rv(),
                "creationTimestamp": _iso(now),
            },
            "involvedObject": {
                "apiVersion": involved.get("apiVersion", "v1"),
                "kind": involved.get("kind", ""),
                "namespace": namespace,
                "name": meta["name"],
                "uid": meta["uid"],
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "reason": reason,
            "message": message,
            "type": event_type,
            "count": 1,
            "firstTimestamp": _iso(now),
            "lastTimestamp": _iso(now),
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": "",
        }
        if len(bucket) > _MAX_EVENTS_PER_NAMESPACE:
            for old in sorted(bucket, key=lambda n: bucket[n]["lastTimestamp"])[
                : len(bucket) - _MAX_EVENTS_PER_NAMESPACE
            ]:
                del bucket[old]

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
        for kind in ("deployments", "replicasets", "pods", "events"):
            self.data[kind].pop(name, None)
        for key in [k for k in self.data["controller"] if k.startswith(f"{name}/")]:
            del self.data["controller"][key]
        rollouts = self.data.get("rollouts", {})
        for key in [k for k in rollouts if k.startswith(f"{name}/")]:
            del rollouts[key]
        del self.data["namespaces"][name]
        self._touch(ns)
        return ns

    # -- deployments

    def get_deployment(self, namespace: str, name: str) -> dict:
        # Like the real API: a missing namespace reads as a missing object (and lists as
        # empty); only creating in it reports the namespace.
        dep = self.data["deployments"].get(namespace, {}).get(name)
        if dep is None:
            raise _not_found("deployments", "apps", name)
        return dep

    def list_objects(self, kind: str, namespace: str | None) -> list[dict]:
        if namespace is not None:
            return list(self.data[kind].get(namespace, {}).values())
        return [obj for ns in sorted(self.data[kind]) for obj in self.data[kind][ns].values()]

    def create_deployment(
        self, namespace: str, body: dict, *, dry_run: bool, manager: str | None, now: float
    ) -> dict:
        _check_kind(body, "apps/v1", "Deployment")
        meta = body.get("metadata") or {}
        if meta.get("namespace") not in (None, "", namespace):
            raise _bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        if meta.get("resourceVersion"):
            raise _bad_request("resourceVersion should not be set on objects to be created")
        self._require_namespace(namespace)
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

    # -- pods and events as the kubelet would report them

    def render_pod(self, pod: dict, now: float) -> dict:
        period = self.rollout_seconds
        out = {k: copy.deepcopy(v) for k, v in pod.items() if k != "_rt"}
        rt = pod["_rt"]
        statuses = [
            _container_status(pod, c, now, period) for c in pod["spec"].get("containers", [])
        ]
        all_ready = bool(statuses) and all(s["ready"] for s in statuses)
        started = any(s.get("started") or s["restartCount"] for s in statuses)
        phase = "Running" if started else "Pending"
        created = _iso(rt["created"])
        ready_status = "True" if all_ready else "False"
        out["status"] = {
            "phase": phase,
            "hostIP": "10.0.0.11",
            "podIP": rt["ip"],
            "podIPs": [{"ip": rt["ip"]}],
            "startTime": created,
            "qosClass": "Burstable",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": created},
                {"type": "Initialized", "status": "True", "lastTransitionTime": created},
                {"type": "ContainersReady", "status": ready_status, "lastTransitionTime": created},
                {"type": "Ready", "status": ready_status, "lastTransitionTime": created},
            ],
            "containerStatuses": statuses,
        }
        if not all_ready:
            for cond in out["status"]["conditions"][2:]:
                waiting = [s["name"] for s in statuses if not s["ready"]]
                cond["reason"] = "ContainersNotReady"
                cond["message"] = f"containers with unready status: [{' '.join(waiting)}]"
        return out

    def pod_events(self, pod: dict, now: float) -> list[dict]:
        """The kubelet's events for a pod, derived from its state."""
        meta = pod["metadata"]
        rendered = self.render_pod(pod, now)
        created = pod["_rt"]["created"]
        events = []

        def add(reason: str, message: str, at: float, *, kind: str = "Normal", count: int = 1):
            events.append(
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {
                        "name": f"{meta['name']}.{hashlib.sha1(reason.encode()).hexdigest()[:16]}",
                        "namespace": meta["namespace"],
                        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, meta["uid"] + reason)),
                        "resourceVersion": meta["resourceVersion"],
                        "creationTimestamp": _iso(at),
                    },
                    "involvedObject": {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "namespace": meta["namespace"],
                        "name": meta["name"],
                        "uid": meta["uid"],
                    },
                    "reason": reason,
                    "message": message,
                    "type": kind,
                    "count": count,
                    "firstTimestamp": _iso(at),
                    "lastTimestamp": _iso(now if count > 1 else at),
                    "source": {
                        "component": "default-scheduler" if reason == "Scheduled" else "kubelet",
                        "host": "sandbox-node-1",
                    },
                    "reportingComponent": "",
                    "reportingInstance": "",
                }
            )

        add(
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to sandbox-node-1",
            created,
        )
        for status in rendered["status"]["containerStatuses"]:
            if not (status.get("started") or status["restartCount"]):
                continue
            add(
                "Pulled",
                f'Container image "{status["image"]}" already present on machine',
                created,
                count=1 + status["restartCount"],
            )
            add("Created", f"Created container {status['name']}", created)
            add("Started", f"Started container {status['name']}", created)
            waiting = status["state"].get("waiting", {})
            if waiting.get("reason") == "CrashLoopBackOff":
                add(
                    "BackOff",
                    f"Back-off restarting failed container {status['name']} in pod "
                    f"{meta['name']}_{meta['namespace']}({meta['uid']})",
                    created + self.rollout_seconds * 0.5,
                    kind="Warning",
                    count=status["restartCount"],
                )
        return events

    def pod_log(
        self,
        pod: dict,
        container: str | None,
        now: float,
        *,
        previous: bool,
    ) -> list[tuple[float, str]]:
        meta = pod["metadata"]
        containers = pod["spec"].get("containers", [])
        if container is None:
            if len(containers) != 1:
                names = " ".join(c["name"] for c in containers)
                raise _bad_request(
                    f"a container name must be specified for pod {meta['name']}, "
                    f"choose one of: [{names}]"
                )
            spec = containers[0]
        else:
            spec = next((c for c in containers if c["name"] == container), None)
            if spec is None:
                raise _bad_request(f"container {container} is not valid for pod {meta['name']}")
        status = _container_status(pod, spec, now, self.rollout_seconds)
        if previous and not status["restartCount"]:
            raise _bad_request(
                f'previous terminated container "{spec["name"]}" in pod "{meta["name"]}" not found'
            )
        fault = _image_fault(spec["image"])
        if not (status.get("started") or status["restartCount"]):
            reason = status["state"].get("waiting", {}).get("reason", "ContainerCreating")
            raise _bad_request(
                f'container "{spec["name"]}" in pod "{meta["name"]}" is waiting to start: {reason}'
            )
        return _log_lines(pod, spec, fault, status, now, previous=previous)


def _without(obj: dict, meta_key: str) -> dict:
    out = dict(obj)
    out["metadata"] = {k: v for k, v in obj["metadata"].items() if k != meta_key}
    return out


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


def _crash_times(first_crash: float, now: float, period: float) -> list[float]:
    """Restart times of a crash-looping container: back-off doubles, then levels off."""
    base = max(period, 0.01)
    times, t, step = [], first_crash, base
    while t <= now and len(times) < 10_000:
        times.append(t)
        t += step
        step = min(step * 2, base * 16)
    return times


def _container_status(pod: dict, spec: dict, now: float, period: float) -> dict[str, Any]:
    rt = pod["_rt"]
    image = spec["image"]
    fault = _image_fault(image)
    repo = image.split("@", 1)[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    image_id = f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"
    status: dict[str, Any] = {
        "name": spec["name"],
        "image": image,
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": "ContainerCreating"}},
    }
    pod_name = pod["metadata"]["name"]
    if fault == "crashloop":
        crashes = _crash_times(rt["created"] + period * 0.5, now, period)
        if not crashes:
            return status
        last = crashes[-1]
        status.update(
            imageID=image_id,
            restartCount=len(crashes),
            containerID=f"containerd://{hashlib.sha256(f'{pod_name}{last}'.encode()).hexdigest()}",
            state={
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": (
                        f"back-off {min(10 * 2 ** (len(crashes) - 1), 300)}s restarting failed "
                        f"container={spec['name']} pod={pod_name}_{pod['metadata']['namespace']}"
                        f"({pod['metadata']['uid']})"
                    ),
                }
            },
            lastState={
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": _iso(max(last - period * 0.2, rt["created"])),
                    "finishedAt": _iso(last),
                }
            },
        )
        return status
    ready_at = rt["ready_at"]
    if ready_at is None or now < ready_at:
        return status
    started_at = ready_at
    restarts = 0
    if fault == "oom":
        interval = _oom_interval(period)
        restarts = 1 + int((now - ready_at) // interval)
        started_at = ready_at + (restarts - 1) * interval
        status["lastState"] = {
            "terminated": {
                "exitCode": 137,
                "reason": "OOMKilled",
                "startedAt": _iso(max(started_at - interval, rt["created"])),
                "finishedAt": _iso(started_at),
            }
        }
    status.update(
        imageID=image_id,
        ready=True,
        started=True,
        restartCount=restarts,
        containerID=f"containerd://{hashlib.sha256(f'{pod_name}{started_at}'.encode()).hexdigest()}",
        state={"running": {"startedAt": _iso(started_at)}},
    )
    return status


def container_restarts(
    image: str, created: float, ready_at: float | None, now: float, period: float
) -> tuple[int, float | None]:
    """(restartCount, when the running container started or None) of a pod's container,
    exactly as the pods of the sandbox cluster report them."""
    pod = {
        "metadata": {"name": "", "namespace": "", "uid": ""},
        "_rt": {"created": created, "ready_at": ready_at},
    }
    status = _container_status(pod, {"name": "main", "image": image}, now, period)
    running = status["state"].get("running")
    started = None
    if running:
        fault = _image_fault(image)
        if fault == "oom" and ready_at is not None:
            interval = _oom_interval(period)
            started = ready_at + (status["restartCount"] - 1) * interval
        else:
            started = ready_at
    return status["restartCount"], started


def _pod_ready(pod: dict, now: float, period: float) -> bool:
    containers = pod["spec"].get("containers", [])
    return bool(containers) and all(
        _container_status(pod, c, now, period)["ready"] for c in containers
    )


def _log_lines(
    pod: dict,
    spec: dict,
    fault: str | None,
    status: dict,
    now: float,
    *,
    previous: bool,
) -> list[tuple[float, str]]:
    name, image = spec["name"], spec["image"]
    env = {e.get("name"): e.get("value") for e in spec.get("env", []) if isinstance(e, dict)}
    port = next((p.get("containerPort") for p in spec.get("ports", [])), 8080)
    environment = env.get("ENVIRONMENT") or pod["metadata"]["namespace"]
    if previous or "running" not in status["state"]:
        started = status["lastState"]["terminated"]["startedAt"]
    else:
        started = status["state"]["running"]["startedAt"]
    start = datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    lines = [
        (start, f'level=info msg="starting {name}" image={image} version={_image_tag(image)}'),
        (start + 0.01, f'level=info msg="configuration loaded" environment={environment}'),
    ]
    if fault == "crashloop":
        lines += [
            (start + 0.02, 'level=info msg="connecting to database" host=postgres:5432'),
            (
                start + 0.03,
                'level=error msg="startup check failed" '
                'error="schema version 41 required, database is at 40"',
            ),
            (start + 0.04, f'level=fatal msg="{name} exiting" image={image} exit_code=1'),
        ]
        return lines
    if fault == "oom" and previous:
        lines += [
            (start + 0.02, f'level=info msg="listening" addr=:{port}'),
            (start + 0.5, 'level=warn msg="memory usage high" heap_mb=231 limit_mb=256'),
            (start + 0.9, 'level=warn msg="memory usage high" heap_mb=252 limit_mb=256'),
            (start + 1.0, "fatal error: runtime: out of memory"),
        ]
        return lines
    lines.append((start + 0.02, f'level=info msg="listening" addr=:{port}'))
    if fault == "slow":
        return lines + _slow_lines(pod["metadata"]["name"], env, start, now)
    if fault == "oom":
        lines.append((start + 0.5, 'level=warn msg="memory usage high" heap_mb=214 limit_mb=256'))
    ticks = min(int(max(now - start, 0) // 15) + 1, 20)
    for i in range(ticks):
        lines.append(
            (
                start + 1 + i * 15,
                f'level=info msg="request" method=GET path=/healthz status=200 '
                f"duration_ms={1 + i % 3}",
            )
        )
    return lines


def _slow_lines(pod_name: str, env: dict, start: float, now: float) -> list[tuple[float, str]]:
    """A `slow` pod's request log: a line every _SLOW_LOG_INTERVAL seconds, about 30% of
    them failing on an upstream timeout, the others slow; the same on every read."""
    upstream_url = next((v for k, v in env.items() if k and k.endswith("_URL") and v), "")
    upstream = upstream_url.split("//", 1)[-1].split(":", 1)[0].split("/", 1)[0] or "upstream"
    first = start + 1.0
    begin = max(0, math.ceil((now - _SLOW_LOG_SPAN - first) / _SLOW_LOG_INTERVAL))
    lines = []
    i = begin
    while (ts := first + i * _SLOW_LOG_INTERVAL) <= now:
        digest = hashlib.blake2b(f"{pod_name}/{i}".encode(), digest_size=8).digest()
        roll, spread = digest[0] / 256, int.from_bytes(digest[1:3], "big")
        if roll < 0.3:
            line = (
                f'level=error msg="upstream request failed" upstream={upstream} '
                f'error="context deadline exceeded" duration_ms={3000 + spread % 5}'
            )
        elif roll < 0.4:
            line = (
                f'level=warn msg="slow upstream response" upstream={upstream} '
                f"duration_ms={1500 + spread % 1400}"
            )
        else:
            line = (
                f'level=info msg="request" method=POST path=/api/v1/checkout status=200 '
                f"duration_ms={300 + spread % 2100}"
            )
        lines.append((ts, line))
        i += 1
    return lines


# ---------------------------------------------------------------------------- validation


def _check_kind(body: dict, api_version: str, kind: str) -> None:
    got_kind, got_version = body.get("kind"), body.get("apiVersion")
    if got_kind not in (None, "", kind) or got_version not in (None, "", api_version):
        raise _bad_request(
            f"the object provided is {got_version}, Kind={got_kind}; "
            f"expected {api_version}, Kind={kind}"
        )


def _default_deployment(dep: dict) -> None:
    spec = dep["spec"]
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxSurge", "25%")
                rolling.setdefault("maxUnavailable", "25%")
    template = spec.get("template")
    if not isinstance(template, dict):
        return
    pod_spec = template.get("spec")
    if not isinstance(pod_spec, dict):
        return
    pod_spec.setdefault("restartPolicy", "Always")
    pod_spec.setdefault("terminationGracePeriodSeconds", 30)
    pod_spec.setdefault("dnsPolicy", "ClusterFirst")
    pod_spec.setdefault("securityContext", {})
    pod_spec.setdefault("schedulerName", "default-scheduler")
    for container in pod_spec.get("containers", []) or []:
        if not isinstance(container, dict):
            continue
        image = container.get("image")
        if isinstance(image, str) and image:
            container.setdefault(
                "imagePullPolicy", "Always" if _image_tag(image) == "latest" else "IfNotPresent"
            )
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports", []) or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def _validate_deployment(dep: dict, current: dict | None) -> None:
    name = dep["metadata"]["name"]
    causes: list[tuple[str, str]] = []
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    elif len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        causes.append(("metadata.name", f'Invalid value: "{name}": {_SUBDOMAIN_MSG}'))
    spec = dep["spec"]
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise _bad_request(
            "json: cannot unmarshal value into Go struct field DeploymentSpec.spec.replicas "
            "of type int32"
        )
    if replicas < 0:
        causes.append(
            ("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")
        )
    selector = spec.get("selector")
    match_labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    if not match_labels or not isinstance(match_labels, dict):
        causes.append(("spec.selector", "Required value"))
    template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if match_labels and isinstance(match_labels, dict):
        if any(labels.get(k) != v for k, v in match_labels.items()):
            causes.append(
                (
                    "spec.template.metadata.labels",
                    f"Invalid value: {json.dumps(labels)}: `selector` does not match "
                    "template `labels`",
                )
            )
    if current is not None and _canonical(selector) != _canonical(current["spec"].get("selector")):
        causes.append(
            ("spec.selector", f"Invalid value: {json.dumps(selector)}: field is immutable")
        )
    pod_spec = template.get("spec") if isinstance(template.get("spec"), dict) else {}
    containers = pod_spec.get("containers")
    if not containers or not isinstance(containers, list):
        causes.append(("spec.template.spec.containers", "Required value"))
        containers = []
    seen: set[str] = set()
    for i, container in enumerate(containers):
        path = f"spec.template.spec.containers[{i}]"
        if not isinstance(container, dict):
            causes.append((path, "Invalid value: must be an object"))
            continue
        cname = container.get("name")
        if not cname:
            causes.append((f"{path}.name", "Required value"))
        elif not isinstance(cname, str) or len(cname) > 63 or not _DNS1123_LABEL.match(cname):
            causes.append((f"{path}.name", f'Invalid value: "{cname}": {_LABEL_MSG}'))
        elif cname in seen:
            causes.append((f"{path}.name", f'Duplicate value: "{cname}"'))
        else:
            seen.add(cname)
        image = container.get("image")
        if not image:
            causes.append((f"{path}.image", "Required value"))
        elif not isinstance(image, str) or image != image.strip():
            causes.append(
                (
                    f"{path}.image",
                    f'Invalid value: "{image}": must not have leading or trailing whitespace',
                )
            )
    restart_policy = pod_spec.get("restartPolicy", "Always")
    if restart_policy != "Always":
        causes.append(
            (
                "spec.template.spec.restartPolicy",
                f'Unsupported value: "{restart_policy}": supported values: "Always"',
            )
        )
    strategy = spec.get("strategy") or {}
    if isinstance(strategy, dict) and strategy.get("type") not in ("RollingUpdate", "Recreate"):
        causes.append(
            (
                "spec.strategy.type",
                f'Unsupported value: "{strategy.get("type")}": supported values: '
                '"Recreate", "RollingUpdate"',
            )
        )
    if causes:
        raise _invalid("Deployment", "apps", name, causes)


# ---------------------------------------------------------------------------- HTTP


def _json_response(body: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": lightkube only decodes a `Status` from an error response
    # whose Content-Type is that string, and the real API server sends it without charset.
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        headers={"Content-Type": "application/json"},
    )


def _list_body(kind: str, api_version: str, items: list[dict], rv: str) -> dict:
    stripped = []
    for item in items:
        item = {k: v for k, v in item.items() if k not in ("kind", "apiVersion", "_rt")}
        stripped.append(item)
    return {
        "kind": kind,
        "apiVersion": api_version,
        "metadata": {"resourceVersion": rv},
        "items": stripped,
    }


def _paginate(request: web.Request, items: list[dict], body: dict) -> dict:
    limit = request.query.get("limit")
    if not limit:
        return body
    try:
        size = int(limit)
        start = int(base64.urlsafe_b64decode(request.query.get("continue", "") or "MA==").decode())
    except ValueError:
        raise _bad_request("invalid limit or continue token") from None
    if size <= 0:
        return body
    body["items"] = body["items"][start : start + size]
    if start + size < len(items):
        token = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        body["metadata"]["continue"] = token
    return body


class KubeApiServer(ThreadedServer):
    """A Kubernetes API server for namespaces, Deployments, ReplicaSets, Pods and Events.

    `start()` serves it on 127.0.0.1 from a daemon thread with its own event loop (so it
    also works when the caller is inside a running loop) and returns the base URL.
    `clock` (default `time.time`) is the cluster's wall clock; the sandbox Prometheus and
    Alertmanager use the same one.
    """

    _label = "sandbox Kubernetes API server"

    def __init__(
        self,
        state_file: Path | None = None,
        *,
        rollout_seconds: float = 0.3,
        seed: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] | None = None,
    ):
        super().__init__(host=host, port=port)
        self.state_file = Path(state_file) if state_file else None
        self.rollout_seconds = rollout_seconds
        self.requests: list[dict[str, str]] = []  # every request seen, for tests
        self._lock = threading.RLock()
        self._clock: Callable[[], float] = clock or time.time
        self._shared = SharedStateFile(
            self.state_file, format=_STATE_FORMAT, what="sandbox cluster", on_reload=self._reload
        )
        if not self._shared.refresh():
            self._cluster = _Cluster(_Cluster.empty(), rollout_seconds)
            if seed:
                self._seed()
            self._save()

    # -- inspection

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """{namespace: {deployment: {image, replicas, revision, resourceVersion}}}."""
        with self._lock, self._shared.locked():
            self._cluster.reconcile(self._clock())
            self._persist_if_dirty()
            out: dict[str, dict[str, dict[str, Any]]] = {}
            for ns in sorted(self._cluster.data["namespaces"]):
                out[ns] = {}
                for name, dep in sorted(self._cluster.data["deployments"].get(ns, {}).items()):
                    containers = dep["spec"]["template"]["spec"]["containers"]
                    out[ns][name] = {
                        "image": containers[0]["image"] if containers else None,
                        "replicas": dep["spec"]["replicas"],
                        "revision": int(dep["metadata"].get("annotations", {}).get(_REVISION, "0")),
                        "resourceVersion": dep["metadata"]["resourceVersion"],
                    }
            return out

    def now(self) -> float:
        """The cluster's clock."""
        return self._clock()

    def rollout_history(self, namespace: str, name: str) -> list[Rollout]:
        """The rollouts of one deployment, oldest first ([] when there is no such one)."""
        return self.rollout_histories().get((namespace, name), [])

    def rollout_histories(self) -> dict[tuple[str, str], list[Rollout]]:
        """{(namespace, deployment): [Rollout, ...] oldest first} for every deployment.

        Thread-safe and up to date (the controllers run first; a state file another process
        saved is read again), so a rollback applied anywhere shows at once.
        """
        with self._lock, self._shared.locked():
            self._cluster.reconcile(self._clock())
            self._persist_if_dirty()
            return self._cluster.rollout_histories()

    def container_restarts(self, pod: PodRecord, image: str, at: float) -> tuple[int, float | None]:
        """(restartCount, start of the running container or None) of `pod` at time `at`,
        as this cluster's pods report them."""
        return container_restarts(image, pod.created, pod.ready_at, at, self.rollout_seconds)

    # -- persistence

    def _reload(self, data: dict[str, Any]) -> None:
        self._cluster = _Cluster(data, self.rollout_seconds)

    def _save(self) -> None:
        self._cluster.dirty = False
        self._shared.save(self._cluster.data, separators=(",", ":"))

    def _persist_if_dirty(self) -> None:
        if self._cluster.dirty:
            self._save()

    def _seed(self) -> None:
        """Create the seed objects through the normal write paths, converged long ago
        (except the seed's recent rollouts, which happen minutes before now)."""
        cluster = self._cluster
        period = max(self.rollout_seconds, 0.01)
        now = self._clock()
        t = now - 3600
        seed = seed_objects()

        def set_image(namespace: str, name: str, image: str, at: float) -> None:
            def mutate(obj: dict) -> dict:
                obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
                return obj

            cluster.update_deployment(
                namespace, name, mutate, dry_run=False, manager="sandbox-seed", now=at
            )

        for ns in seed["namespaces"]:
            cluster.create_namespace(ns, dry_run=False, manager="sandbox-seed", now=t)
        recent: list[tuple[float, str, str, str]] = []
        for entry in seed["deployments"]:
            manifest = entry["manifest"]
            namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
            wanted = manifest["spec"]["template"]["spec"]["containers"][0]["image"]
            images = [*entry.get("history", []), wanted]
            first = copy.deepcopy(manifest)
            first["spec"]["template"]["spec"]["containers"][0]["image"] = images[0]
            later = images[1:]
            ago = entry.get("rolled_out_seconds_ago")
            if ago is not None and later:
                # The last change happens `ago` seconds before now, after everything else.
                recent.append((now - float(ago), namespace, name, later.pop()))
            cluster.create_deployment(
                namespace, first, dry_run=False, manager="sandbox-seed", now=t
            )
            t += period * 2
            cluster.reconcile(t)
            for image in later:
                t += period
                set_image(namespace, name, image, t)
                t += period * 2
                cluster.reconcile(t)
        cluster.reconcile(t)
        # Events of the seeding happened "an hour ago" and have expired, as in a real cluster.
        cluster.data["events"] = {}
        for at, namespace, name, image in sorted(recent):
            at = min(max(at, t + period), now - period * 3)
            set_image(namespace, name, image, at)
            t = at + period * 2
            cluster.reconcile(t)
        cluster.reconcile(now)

    # -- HTTP plumbing

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=4 * 1024 * 1024)
        r = app.router
        r.add_get("/version", self._version)
        r.add_get("/healthz", self._healthz)
        r.add_get("/readyz", self._healthz)
        r.add_get("/api/v1/namespaces", self._list_namespaces)
        r.add_post("/api/v1/namespaces", self._create_namespace)
        r.add_get("/api/v1/namespaces/{name}", self._get_namespace)
        r.add_delete("/api/v1/namespaces/{name}", self._delete_namespace)
        r.add_get("/api/v1/pods", self._list_pods)
        r.add_get("/api/v1/namespaces/{ns}/pods", self._list_pods)
        r.add_get("/api/v1/namespaces/{ns}/pods/{name}", self._get_pod)
        r.add_get("/api/v1/namespaces/{ns}/pods/{name}/log", self._pod_log)
        r.add_get("/api/v1/events", self._list_events)
        r.add_get("/api/v1/namespaces/{ns}/events", self._list_events)
        r.add_get("/apis/apps/v1/deployments", self._list_deployments)
        r.add_get("/apis/apps/v1/namespaces/{ns}/deployments", self._list_deployments)
        r.add_post("/apis/apps/v1/namespaces/{ns}/deployments", self._create_deployment)
        base = "/apis/apps/v1/namespaces/{ns}/deployments/{name}"
        r.add_get(base, self._get_deployment)
        r.add_get(base + "/status", self._get_deployment)
        r.add_patch(base, self._patch_deployment)
        r.add_put(base, self._put_deployment)
        r.add_delete(base, self._delete_deployment)
        r.add_get("/apis/apps/v1/replicasets", self._list_replicasets)
        r.add_get("/apis/apps/v1/namespaces/{ns}/replicasets", self._list_replicasets)
        r.add_get("/apis/apps/v1/namespaces/{ns}/replicasets/{name}", self._get_replicaset)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(
            {"method": request.method, "path": request.path, "query": request.query_string}
        )
        try:
            if request.query.get("watch") in ("true", "1"):
                raise _ApiError(
                    405, "MethodNotAllowed", "watch is not supported by the sandbox API server"
                )
            return await handler(request)
        except _ApiError as exc:
            return _json_response(exc.body(), exc.code)
        except web.HTTPNotFound:
            return _json_response(
                _ApiError(
                    404, "NotFound", "the server could not find the requested resource"
                ).body(),
                404,
            )
        except web.HTTPMethodNotAllowed:
            return _json_response(
                _ApiError(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                ).body(),
                405,
            )
        except web.HTTPException:
            raise
        except Exception:
            logger.exception("sandbox API server: unexpected error")
            return _json_response(
                _ApiError(500, "InternalError", "internal error in the sandbox API server").body(),
                500,
            )

    def _run(self, fn: Callable[[float], Any]) -> Any:
        """Run one request against the cluster under the lock, controllers first."""
        with self._lock, self._shared.locked():
            now = self._clock()
            try:
                self._cluster.reconcile(now)
                return fn(now)
            finally:
                self._persist_if_dirty()

    @staticmethod
    def _dry_run(request: web.Request) -> bool:
        values = request.query.getall("dryRun", [])
        for value in values:
            if value != "All":
                raise _bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
        return bool(values)

    @staticmethod
    def _manager(request: web.Request) -> str | None:
        manager = request.query.get("fieldManager")
        if manager is not None and len(manager) > 128:
            raise _invalid(
                "Options", "", "", [("fieldManager", "Too long: may not be longer than 128")]
            )
        if manager:
            return manager
        agent = request.headers.get("User-Agent", "")
        return agent.split("/", 1)[0] or None

    @staticmethod
    async def _json_body(request: web.Request, *, allow_list: bool = False) -> Any:
        raw = await request.read()
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            raise _bad_request(f"the body of the request could not be decoded: {exc}") from None
        if isinstance(body, dict) or (allow_list and isinstance(body, list)):
            return body
        raise _bad_request("the body of the request must be a JSON object")

    @staticmethod
    def _require_json(request: web.Request) -> None:
        ctype = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if ctype not in ("application/json", ""):
            raise _ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types "
                f"include: application/json, application/yaml, "
                f"application/vnd.kubernetes.protobuf (got {ctype!r})",
            )

    @staticmethod
    def _selectors(request: web.Request, resource: str) -> tuple[list, list]:
        labels = _parse_label_selector(request.query.get("labelSelector", ""))
        fields = _parse_field_selector(request.query.get("fieldSelector", ""), resource)
        return labels, fields

    # -- handlers

    async def _version(self, request: web.Request) -> web.Response:
        return _json_response(
            {
                "major": "1",
                "minor": "30",
                "gitVersion": "v1.30.0-devops-bot-sandbox",
                "platform": "linux/amd64",
            }
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _list_namespaces(self, request: web.Request) -> web.Response:
        labels, fields = self._selectors(request, "namespaces")

        def fn(now: float) -> dict:
            items = [
                ns
                for ns in self._cluster.data["namespaces"].values()
                if _labels_match(ns["metadata"].get("labels", {}), labels)
                and _fields_match(ns, fields)
            ]
            body = _list_body("NamespaceList", "v1", items, self._cluster.list_rv)
            return _paginate(request, items, body)

        return _json_response(self._run(fn))

    async def _create_namespace(self, request: web.Request) -> web.Response:
        self._require_json(request)
        dry_run, manager = self._dry_run(request), self._manager(request)
        body = await self._json_body(request)
        result = self._run(
            lambda now: self._cluster.create_namespace(
                body, dry_run=dry_run, manager=manager, now=now
            )
        )
        return _json_response(result, 201)

    async def _get_namespace(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return _json_response(self._run(lambda now: self._cluster.get_namespace(name)))

    async def _delete_namespace(self, request: web.Request) -> web.Response:
        name, dry_run = request.match_info["name"], self._dry_run(request)
        result = self._run(
            lambda now: self._cluster.delete_namespace(name, dry_run=dry_run, now=now)
        )
        return _json_response(result)

    async def _list_deployments(self, request: web.Request) -> web.Response:
        namespace = request.match_info.get("ns")
        labels, fields = self._selectors(request, "deployments")

        def fn(now: float) -> dict:
            items = [
                d
                for d in self._cluster.list_objects("deployments", namespace)
                if _labels_match(d["metadata"].get("labels", {}), labels)
                and _fields_match(d, fields)
            ]
            body = _list_body("DeploymentList", "apps/v1", items, self._cluster.list_rv)
            return _paginate(request, items, body)

        return _json_response(self._run(fn))

    async def _get_deployment(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["ns"], request.match_info["name"]
        return _json_response(self._run(lambda now: self._cluster.get_deployment(namespace, name)))

    async def _create_deployment(self, request: web.Request) -> web.Response:
        self._require_json(request)
        namespace = request.match_info["ns"]
        dry_run, manager = self._dry_run(request), self._manager(request)
        body = await self._json_body(request)
        result = self._run(
            lambda now: self._cluster.create_deployment(
                namespace, body, dry_run=dry_run, manager=manager, now=now
            )
        )
        return _json_response(result, 201)

    async def _patch_deployment(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["ns"], request.match_info["name"]
        ctype = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if ctype not in _PATCH_TYPES:
            raise _ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                "application/strategic-merge-patch+json",
            )
        dry_run, manager = self._dry_run(request), self._manager(request)
        patch = await self._json_body(request, allow_list=ctype == "application/json-patch+json")
        if ctype == "application/json-patch+json":
            if not isinstance(patch, list):
                raise _bad_request("a JSON patch must be a JSON array of operations")
            mutate: Callable[[dict], Any] = lambda obj: _json_patch(obj, patch)  # noqa: E731
        elif ctype == "application/merge-patch+json":
            mutate = lambda obj: _merge_patch(obj, patch)  # noqa: E731
        else:
            mutate = lambda obj: _strategic_merge(obj, patch)  # noqa: E731
        result = self._run(
            lambda now: self._cluster.update_deployment(
                namespace,
                name,
                mutate,
                dry_run=dry_run,
                manager=manager,
                now=now,
            )
        )
        return _json_response(result)

    async def _put_deployment(self, request: web.Request) -> web.Response:
        self._require_json(request)
        namespace, name = request.match_info["ns"], request.match_info["name"]
        dry_run, manager = self._dry_run(request), self._manager(request)
        body = await self._json_body(request)
        result = self._run(
            lambda now: self._cluster.update_deployment(
                namespace,
                name,
                lambda _current: copy.deepcopy(body),
                dry_run=dry_run,
                manager=manager,
                now=now,
            )
        )
        return _json_response(result)

    async def _delete_deployment(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["ns"], request.match_info["name"]
        dry_run = self._dry_run(request)
        preconditions = None
        if request.can_read_body:
            options = await self._json_body(request)
            preconditions = options.get("preconditions")
            if options.get("dryRun"):
                dry_run = dry_run or options["dryRun"] == ["All"]
        result = self._run(
            lambda now: self._cluster.delete_deployment(
                namespace, name, dry_run=dry_run, preconditions=preconditions
            )
        )
        return _json_response(result)

    async def _list_replicasets(self, request: web.Request) -> web.Response:
        namespace = request.match_info.get("ns")
        labels, fields = self._selectors(request, "replicasets")

        def fn(now: float) -> dict:
            items = [
                rs
                for rs in self._cluster.list_objects("replicasets", namespace)
                if _labels_match(rs["metadata"].get("labels", {}), labels)
                and _fields_match(rs, fields)
            ]
            body = _list_body("ReplicaSetList", "apps/v1", items, self._cluster.list_rv)
            return _paginate(request, items, body)

        return _json_response(self._run(fn))

    async def _get_replicaset(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["ns"], request.match_info["name"]

        def fn(now: float) -> dict:
            rs = self._cluster.data["replicasets"].get(namespace, {}).get(name)
            if rs is None:
                raise _not_found("replicasets", "apps", name)
            return rs

        return _json_response(self._run(fn))

    def _find_pod(self, namespace: str, name: str) -> dict:
        pod = self._cluster.data["pods"].get(namespace, {}).get(name)
        if pod is None:
            raise _not_found("pods", "", name)
        return pod

    async def _list_pods(self, request: web.Request) -> web.Response:
        namespace = request.match_info.get("ns")
        labels, fields = self._selectors(request, "pods")

        def fn(now: float) -> dict:
            items = []
            for pod in self._cluster.list_objects("pods", namespace):
                if not _labels_match(pod["metadata"].get("labels", {}), labels):
                    continue
                rendered = self._cluster.render_pod(pod, now)
                if _fields_match(rendered, fields):
                    items.append(rendered)
            body = _list_body("PodList", "v1", items, self._cluster.list_rv)
            return _paginate(request, items, body)

        return _json_response(self._run(fn))

    async def _get_pod(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["ns"], request.match_info["name"]
        return _json_response(
            self._run(lambda now: self._cluster.render_pod(self._find_pod(namespace, name), now))
        )

    async def _pod_log(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["ns"], request.match_info["name"]
        container = request.query.get("container") or None
        previous = request.query.get("previous") in ("true", "1")
        timestamps = request.query.get("timestamps") in ("true", "1", "True")
        tail = request.query.get("tailLines")
        try:
            tail_lines = int(tail) if tail not in (None, "") else None
        except ValueError:
            raise _bad_request(f"invalid tailLines: {tail!r}") from None
        since = request.query.get("sinceSeconds")
        try:
            since_seconds = int(since) if since not in (None, "") else None
        except ValueError:
            raise _bad_request(f"invalid sinceSeconds: {since!r}") from None
        if since_seconds is not None and since_seconds < 1:
            raise _invalid(
                "PodLogOptions",
                "",
                "",
                [("sinceSeconds", "Invalid value: must be greater than 0")],
            )

        def read(now: float) -> list[tuple[float, str]]:
            out = self._cluster.pod_log(
                self._find_pod(namespace, name), container, now, previous=previous
            )
            if since_seconds is not None:
                out = [(ts, line) for ts, line in out if ts >= now - since_seconds]
            return out

        lines = self._run(read)
        if tail_lines is not None and tail_lines >= 0:
            lines = lines[-tail_lines:] if tail_lines else []
        text = "".join(
            (f"{_iso_nano(ts)} {line}\n" if timestamps else f"{line}\n") for ts, line in lines
        )
        return web.Response(body=text.encode(), headers={"Content-Type": "text/plain"})

    async def _list_events(self, request: web.Request) -> web.Response:
        namespace = request.match_info.get("ns")
        labels, fields = self._selectors(request, "events")

        def fn(now: float) -> dict:
            events = list(self._cluster.list_objects("events", namespace))
            for pod in self._cluster.list_objects("pods", namespace):
                events.extend(self._cluster.pod_events(pod, now))
            items = [
                e
                for e in events
                if _labels_match(e["metadata"].get("labels", {}), labels)
                and _fields_match(e, fields)
            ]
            items.sort(key=lambda e: (e.get("lastTimestamp") or "", e["metadata"]["name"]))
            body = _list_body("EventList", "v1", items, self._cluster.list_rv)
            return _paginate(request, items, body)

        return _json_response(self._run(fn))


def write_kubeconfig(path: Path, url: str) -> None:
    """A kubeconfig whose current context is the sandbox at `url` (no credentials)."""
    name = "devops-bot-sandbox"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": url}}],
        "users": [{"name": name, "user": {}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
