"""The stored objects of the sandbox cluster: plain JSON, resourceVersions, events."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from workflow.sandbox.kube.common import _iso
from workflow.sandbox.kube.errors import _not_found

_STATE_FORMAT = "devops-bot-kube-sandbox/1"

_MAX_EVENTS_PER_NAMESPACE = 1000


class _Store:
    """The cluster's objects as plain JSON (`data`, written to disk as is) and the
    bookkeeping every writer shares. Every method expects the caller to hold the server's
    lock.
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

    def list_objects(self, kind: str, namespace: str | None) -> list[dict]:
        if namespace is not None:
            return list(self.data[kind].get(namespace, {}).values())
        return [obj for ns in sorted(self.data[kind]) for obj in self.data[kind][ns].values()]
