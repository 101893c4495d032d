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

This module is the HTTP layer and the public face; the cluster it serves (the stored
objects, patches, selectors, validation, the deployment controller and the pods) lives in
the modules of `workflow.sandbox.kube`.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from workflow.sandbox._serve import ThreadedServer
from workflow.sandbox._state import SharedStateFile
from workflow.sandbox.kube import jobs as _jobs
from workflow.sandbox.kube.cluster import _Cluster
from workflow.sandbox.kube.common import _REVISION, _iso_nano, image_fault
from workflow.sandbox.kube.errors import _ApiError, _bad_request, _invalid, _not_found
from workflow.sandbox.kube.patch import _json_patch, _merge_patch, _strategic_merge
from workflow.sandbox.kube.pods import container_restarts
from workflow.sandbox.kube.rollouts import PodRecord, Rollout
from workflow.sandbox.kube.selectors import (
    _fields_match,
    _labels_match,
    _parse_field_selector,
    _parse_label_selector,
)
from workflow.sandbox.kube.store import _STATE_FORMAT
from workflow.sandbox.seed import seed_objects

__all__ = [
    "KubeApiServer",
    "PodRecord",
    "Rollout",
    "image_fault",
    "reset_cluster",
    "write_kubeconfig",
]

logger = logging.getLogger(__name__)

_PATCH_TYPES = {
    "application/strategic-merge-patch+json",
    "application/merge-patch+json",
    "application/json-patch+json",
}


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
        r.add_post("/api/v1/namespaces/{ns}/services", self._create_service)
        r.add_get("/api/v1/namespaces/{ns}/services/{name}", self._get_service)
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
        # batch/v1 Jobs: simulated test runs (workflow/sandbox/kube/jobs.py)
        r.add_post("/apis/batch/v1/namespaces/{ns}/jobs", self._create_job)
        r.add_get("/apis/batch/v1/namespaces/{ns}/jobs/{name}", self._get_job)
        r.add_get("/apis/batch/v1/namespaces/{ns}/jobs/{name}/status", self._get_job)
        return app

    async def _create_job(self, request: web.Request) -> web.Response:
        self._require_json(request)
        namespace, dry_run = request.match_info["ns"], self._dry_run(request)
        body = await self._json_body(request)
        return _json_response(
            self._run(
                lambda now: _jobs.create_job(
                    self._cluster, namespace, body, dry_run=dry_run, now=now
                )
            ),
            201,
        )

    async def _get_job(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["ns"], request.match_info["name"]
        return _json_response(
            self._run(lambda now: _jobs.get_job(self._cluster, namespace, name, now))
        )

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

    async def _get_service(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["ns"], request.match_info["name"]
        return _json_response(self._run(lambda now: self._cluster.get_service(namespace, name)))

    async def _create_service(self, request: web.Request) -> web.Response:
        self._require_json(request)
        namespace = request.match_info["ns"]
        dry_run, manager = self._dry_run(request), self._manager(request)
        body = await self._json_body(request)
        result = self._run(
            lambda now: self._cluster.create_service(
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
            for rendered in _jobs.job_pods(self._cluster, namespace, now):
                labelled = _labels_match(rendered["metadata"]["labels"], labels)
                if labelled and _fields_match(rendered, fields):
                    items.append(rendered)
            body = _list_body("PodList", "v1", items, self._cluster.list_rv)
            return _paginate(request, items, body)

        return _json_response(self._run(fn))

    async def _get_pod(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["ns"], request.match_info["name"]

        def fn(now: float) -> dict:
            job_pod = _jobs.find_job_pod(self._cluster, namespace, name, now)
            if job_pod is not None:
                return job_pod
            return self._cluster.render_pod(self._find_pod(namespace, name), now)

        return _json_response(self._run(fn))

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
            job_pod = _jobs.find_job_pod(self._cluster, namespace, name, now)
            if job_pod is not None:
                out = _jobs.job_log(self._cluster, job_pod, now)
            else:
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


def reset_cluster(state_file: Path) -> dict[str, int]:
    """Replace the cluster kept in `state_file` with a freshly seeded one, whatever it held
    (even something unreadable); a server serving it reloads it at its next request.
    Returns what the new cluster has: {"namespaces": n, "deployments": m}."""
    seeded = KubeApiServer(None)
    SharedStateFile(
        Path(state_file), format=_STATE_FORMAT, what="sandbox cluster", on_reload=_ignore
    ).overwrite(seeded._cluster.data, separators=(",", ":"))
    snapshot = seeded.snapshot()
    return {
        "namespaces": len(snapshot),
        "deployments": sum(len(deployments) for deployments in snapshot.values()),
    }


def _ignore(_data: dict[str, Any]) -> None:
    pass
