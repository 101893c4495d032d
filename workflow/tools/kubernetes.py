"""Kubernetes backend on lightkube's AsyncClient: status, plans from server-side dry-run, apply.

A write goes through `plan()` first: it reads the object, computes the strategic-merge patch
(pinned to the `resourceVersion` it read), has the API server dry-run it and returns a
`Plan` with a before/after preview and a hash. `apply()` sends exactly that patch; if the
object changed in between, the API server answers 409 and the plan is refused as stale.
"""

from __future__ import annotations

import asyncio
import copy
import difflib
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient, KubeConfig
from lightkube.config.models import Cluster, User
from lightkube.core.exceptions import ApiError, ConfigError
from lightkube.resources.apps_v1 import Deployment, ReplicaSet
from lightkube.resources.core_v1 import Event, Namespace, Pod

from workflow.plan import Plan, compute_plan_hash

__all__ = [
    "PLAN_ACTIONS",
    "AlreadyExistsError",
    "ConflictError",
    "InvalidInputError",
    "InvalidNameError",
    "KubernetesBackend",
    "KubernetesError",
    "NotFoundError",
    "StalePlanError",
    "resolve_image",
    "validate_image",
    "validate_name",
    "validate_replicas",
]

logger = logging.getLogger(__name__)

PLAN_ACTIONS = ("deploy", "scale", "restart", "rollback", "delete", "provision")
_DEPLOYMENT_PATCH_ACTIONS = frozenset({"deploy", "scale", "restart", "rollback"})

_REVISION = "deployment.kubernetes.io/revision"
_RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
_HASH_LABEL = "pod-template-hash"
MAX_REPLICAS = 1000

# lightkube's ApiError derives from the HTTP library's HTTPStatusError (httpx or httpx2
# depending on the lightkube version); find that library's base error class from it.
_HTTPError: type[Exception] = next(
    (c for c in ApiError.__mro__ if c.__name__ == "HTTPError"), Exception
)


# ---------------------------------------------------------------------------- errors


class KubernetesError(Exception):
    """A Kubernetes operation failed; the message is fit to show to a user."""

    def __init__(self, message: str, *, code: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code


class NotFoundError(KubernetesError):
    """The object (or its namespace) does not exist."""


class AlreadyExistsError(KubernetesError):
    """The object to create exists already."""


class ConflictError(KubernetesError):
    """The object's resourceVersion moved on: someone else changed it."""


class StalePlanError(ConflictError):
    """The object changed after the plan was made; the plan must be made again."""


class InvalidInputError(KubernetesError, ValueError):
    """A request argument is invalid; raised before any API call."""


class InvalidNameError(InvalidInputError):
    """A namespace or object name is not a valid DNS-1123 name."""


# ---------------------------------------------------------------------------- validation

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_NAME_RULE = "must be lowercase letters, digits and '-', start and end with a letter or digit"
# Namespaces are DNS-1123 labels; other object names are DNS-1123 subdomains.
_LABEL_KINDS = frozenset({"namespace", "container"})

_IMAGE_CHARS = re.compile(r"^[A-Za-z0-9._/:@-]+$")
_IMAGE_DOMAIN = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9-]+)*(?::\d+)?$"
)
_IMAGE_PATH_PART = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_IMAGE_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")


def validate_name(name: Any, what: str) -> str:
    """Check a Kubernetes name: DNS-1123 label for namespaces, subdomain for objects."""
    label = what in _LABEL_KINDS
    limit = 63 if label else 253
    if not isinstance(name, str) or not name:
        raise InvalidNameError(f"invalid {what} name {name!r}: must not be empty")
    if len(name) > limit:
        raise InvalidNameError(
            f"invalid {what} name '{name[:80]}...': at most {limit} characters (DNS-1123)"
        )
    pattern = _DNS1123_LABEL if label else _DNS1123_SUBDOMAIN
    if not pattern.match(name):
        raise InvalidNameError(f"invalid {what} name {name!r}: {_NAME_RULE} (DNS-1123)")
    return name


def _split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference."""
    rest, _, digest = image.partition("@")
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        return rest[:colon], rest[colon + 1 :], digest or None
    return rest, None, digest or None


def validate_image(image: Any) -> str:
    """Check an image reference (no whitespace or shell metacharacters, OCI grammar)."""
    if not isinstance(image, str) or not image:
        raise InvalidInputError("invalid image: must be a non-empty image reference")
    shown = image if len(image) <= 120 else image[:120] + "..."
    if len(image) > 512 or not _IMAGE_CHARS.match(image):
        raise InvalidInputError(
            f"invalid image {shown!r}: only letters, digits and '.', '_', '-', '/', ':', '@' "
            "are allowed (no whitespace or shell metacharacters)"
        )
    repository, tag, digest = _split_image(image)
    parts = repository.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        domain, path = parts[0], parts[1:]
        if not _IMAGE_DOMAIN.match(domain):
            raise InvalidInputError(f"invalid image {shown!r}: bad registry host {domain!r}")
    else:
        path = parts
    if not path or not all(_IMAGE_PATH_PART.match(p) for p in path):
        raise InvalidInputError(
            f"invalid image {shown!r}: the repository must be lowercase letters, digits and "
            "separators"
        )
    if tag is not None and not _IMAGE_TAG.match(tag):
        raise InvalidInputError(f"invalid image {shown!r}: bad tag {tag!r}")
    if digest is not None and not _IMAGE_DIGEST.match(digest):
        raise InvalidInputError(f"invalid image {shown!r}: bad digest")
    return image


def resolve_image(current: str, requested: str) -> str:
    """The full image for `requested`, which may be a bare tag (`v1.2.3`) or digest.

    A bare tag or digest keeps the current repository; `api-server:v1.2.3` also does when
    `api-server` is the current repository's last path component. Anything else is taken
    as a full reference.
    """
    if not isinstance(requested, str) or not requested:
        raise InvalidInputError("invalid image: must be a non-empty image reference or tag")
    repository = _split_image(current)[0]
    if "/" not in requested:
        if requested.startswith("sha256:"):
            return validate_image(f"{repository}@{requested}")
        if ":" not in requested and "@" not in requested:
            if not _IMAGE_TAG.match(requested):
                raise InvalidInputError(f"invalid image tag {requested!r}")
            return validate_image(f"{repository}:{requested}")
        name = re.split(r"[:@]", requested, maxsplit=1)[0]
        if name == repository.rsplit("/", 1)[-1]:
            return validate_image(repository + requested[len(name) :])
    return validate_image(requested)


def validate_replicas(replicas: Any) -> int:
    """Replicas must be a whole number from 0 to 1000."""
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise InvalidInputError(
            f"invalid replicas {replicas!r}: must be a whole number from 0 to {MAX_REPLICAS}"
        )
    if not 0 <= replicas <= MAX_REPLICAS:
        raise InvalidInputError(
            f"invalid replicas {replicas}: must be a whole number from 0 to {MAX_REPLICAS}"
        )
    return replicas


# ---------------------------------------------------------------------------- summaries


def _containers(dep: dict) -> list[dict]:
    return dep.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []) or []


def _revision(obj: dict) -> int:
    try:
        return int((obj.get("metadata", {}).get("annotations") or {}).get(_REVISION, 0))
    except (TypeError, ValueError):
        return 0


def _main_container(dep: dict, name: str) -> dict:
    containers = _containers(dep)
    if len(containers) == 1:
        return containers[0]
    for container in containers:
        if container.get("name") == name:
            return container
    names = ", ".join(c.get("name", "?") for c in containers) or "none"
    raise InvalidInputError(
        f"deployment '{name}' has {len(containers)} containers ({names}) and none is named "
        f"'{name}'; cannot tell which image to change"
    )


def _summary(dep: dict) -> dict[str, Any]:
    containers = _containers(dep)
    images = {c.get("name", ""): c.get("image", "") for c in containers}
    return {
        "image": containers[0].get("image") if len(containers) == 1 else None,
        "images": images,
        "replicas": dep.get("spec", {}).get("replicas", 1),
        "revision": _revision(dep),
    }


_SECRET_NAME = re.compile(r"(?i)pass|secret|token|key|credential|auth|private|cert")


def _env_value(entry: dict) -> str | None:
    if "valueFrom" in entry:
        source = next(iter(entry["valueFrom"] or {}), "reference")
        return f"<from {source}>"
    return entry.get("value")


def _template_changes(before: dict, after: dict) -> list[str]:
    """What a pod template changed, in words: images, env values, resources."""

    def by_name(template: dict) -> dict[str, dict]:
        containers = template.get("spec", {}).get("containers", []) or []
        return {c.get("name", ""): c for c in containers}

    old, new = by_name(before), by_name(after)
    changes = []
    for cname in sorted(set(old) | set(new)):
        a, b = old.get(cname), new.get(cname)
        if a is None or b is None:
            changes.append(f"container {cname} {'added' if a is None else 'removed'}")
            continue
        if a.get("image") != b.get("image"):
            changes.append(f"{cname} image {a.get('image')} -> {b.get('image')}")
        env_a = {e.get("name"): _env_value(e) for e in a.get("env") or []}
        env_b = {e.get("name"): _env_value(e) for e in b.get("env") or []}
        for key in sorted(set(env_a) | set(env_b), key=str):
            if env_a.get(key) == env_b.get(key):
                continue
            if _SECRET_NAME.search(str(key)):  # the change shows, never the value
                changes.append(f"{cname} env {key} changed (value hidden)")
            else:
                changes.append(f"{cname} env {key}: {env_a.get(key)} -> {env_b.get(key)}")
        if (a.get("resources") or {}) != (b.get("resources") or {}):
            changes.append(f"{cname} resources {a.get('resources')} -> {b.get('resources')}")
    return changes


def _rollout_state(dep: dict) -> tuple[bool, str]:
    """(complete, state) as `kubectl rollout status` judges it."""
    meta, spec, status = dep.get("metadata", {}), dep.get("spec", {}), dep.get("status") or {}
    desired = spec.get("replicas", 1)
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return False, "failed"
    if (status.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return False, "pending"
    updated = status.get("updatedReplicas") or 0
    replicas = status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    if updated == desired and replicas == desired and available == desired:
        return True, "complete"
    return False, "progressing"


def _render_spec(dep: dict) -> list[str]:
    """The fields a reviewer cares about, one per line, for the before/after diff."""
    lines = []
    containers = _containers(dep)
    for container in containers:
        label = "" if len(containers) == 1 else f" ({container.get('name')})"
        lines.append(f"image{label}: {container.get('image')}")
        env = [
            f"{e.get('name')}={e.get('value', '<from source>')}" for e in container.get("env") or []
        ]
        if env:
            lines.append(f"env{label}: {', '.join(env)}")
        resources = container.get("resources") or {}
        for section in ("requests", "limits"):
            values = resources.get(section) or {}
            if values:
                shown = ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
                lines.append(f"{section}{label}: {shown}")
    lines.append(f"replicas: {dep.get('spec', {}).get('replicas', 1)}")
    annotations = dep.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations")
    for key, value in sorted((annotations or {}).items()):
        lines.append(f"pod annotation {key}: {value}")
    return lines


def _diff(before: list[str], after: list[str]) -> list[str]:
    out = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            out += [f"  {line}" for line in before[a1:a2]]
        else:
            out += [f"- {line}" for line in before[a1:a2]]
            out += [f"+ {line}" for line in after[b1:b2]]
    return out


def _pod_summary(pod: dict) -> dict[str, Any]:
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    reason = message = None
    for cs in statuses:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        terminated_now = (cs.get("state") or {}).get("terminated") or {}
        last = (cs.get("lastState") or {}).get("terminated") or {}
        if waiting.get("reason") and waiting["reason"] != "ContainerCreating":
            reason, message = waiting["reason"], waiting.get("message")
        elif terminated_now.get("reason"):
            reason, message = terminated_now["reason"], terminated_now.get("message")
        elif last.get("reason") and last["reason"] != "Completed":
            reason = last["reason"]
            message = f"last restart: {last['reason']} (exit code {last.get('exitCode')})"
        elif waiting.get("reason"):
            reason = waiting["reason"]
        if reason:
            break
    last_reasons = sorted(
        {((cs.get("lastState") or {}).get("terminated") or {}).get("reason") for cs in statuses}
        - {None}
    )
    return {
        "name": pod.get("metadata", {}).get("name"),
        "phase": status.get("phase"),
        "ready": bool(statuses) and all(cs.get("ready") for cs in statuses),
        "restart_count": sum(cs.get("restartCount") or 0 for cs in statuses),
        "reason": reason,
        "message": message,
        "last_termination_reasons": last_reasons,
        "images": sorted({cs.get("image") for cs in statuses if cs.get("image")}),
        "pod_template_hash": (pod.get("metadata", {}).get("labels") or {}).get(_HASH_LABEL),
    }


def _is_unhealthy(pod: dict[str, Any]) -> bool:
    return not pod["ready"] or pod["restart_count"] > 0 or bool(pod["reason"])


def _template(dep: dict) -> Any:
    return dep.get("spec", {}).get("template")


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------- backend


class KubernetesBackend:
    """Reads, plans and applies Deployment/Namespace changes through lightkube."""

    backend_name = "kubernetes"

    def __init__(
        self,
        client: AsyncClient,
        *,
        rollout_timeout: float = 120,
        poll_interval: float = 1.0,
        cluster_label: str = "kubernetes",
    ):
        self.client = client
        self.rollout_timeout = rollout_timeout
        self.poll_interval = poll_interval
        self.cluster_label = cluster_label

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> KubernetesBackend:
        """A backend for an API server reachable at `url` without credentials (the sandbox)."""
        config = KubeConfig.from_server(url)
        # lightkube's from_server() has no user entry and its client asserts one exists;
        # an empty user means "no credentials".
        if not config.users:
            config = KubeConfig.from_one(cluster=Cluster(server=url), user=User())
        kw.setdefault("cluster_label", "sandbox")
        return cls(AsyncClient(config, field_manager="devops-bot"), **kw)

    @classmethod
    def from_environment(cls, **kw: Any) -> KubernetesBackend:
        """A backend from in-cluster service-account config or the KUBECONFIG file."""
        try:
            config = KubeConfig.from_env()
            single = config.get()
            client = AsyncClient(config, field_manager="devops-bot")
        except ConfigError as exc:
            if str(exc).startswith("Configuration file"):
                raise KubernetesError(
                    "no Kubernetes configuration: set KUBECONFIG or run in-cluster"
                ) from None
            raise KubernetesError(f"invalid Kubernetes configuration: {exc}") from None
        except Exception as exc:
            # Parser messages can quote the file, credentials included: name the type only.
            raise KubernetesError(
                f"invalid Kubernetes configuration ({type(exc).__name__}); check KUBECONFIG"
            ) from None
        label = "in-cluster" if config.fname is None else single.context_name
        kw.setdefault("cluster_label", label)
        return cls(client, **kw)

    async def aclose(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> KubernetesBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- API calls with errors translated

    def _translate(
        self, exc: Exception, kind: str, name: str, namespace: str | None
    ) -> KubernetesError:
        where = f" in namespace '{namespace}'" if namespace and kind != "namespace" else ""
        if isinstance(exc, ApiError):
            status = exc.status
            response = getattr(exc, "response", None)
            code = status.code or (response.status_code if response is not None else None)
            details = status.details
            message = status.message or ""
            if code == 404:
                if kind != "namespace" and details is not None and details.kind == "namespaces":
                    return NotFoundError(f"namespace '{namespace}' not found", code=404)
                return NotFoundError(f"{kind} '{name}' not found{where}", code=404)
            if code == 409 and status.reason == "AlreadyExists":
                return AlreadyExistsError(f"{kind} '{name}' already exists{where}", code=409)
            if code == 409:
                return ConflictError(
                    f"{kind} '{name}'{where} was changed by someone else meanwhile", code=409
                )
            if code == 422:
                return KubernetesError(
                    f"the API server rejected the change to {kind} '{name}'{where}: {message}",
                    code=422,
                )
            if code == 401:
                return KubernetesError(
                    f"not authenticated to the Kubernetes API ({self.cluster_label}): check "
                    "the credentials in the kube configuration",
                    code=401,
                )
            if code == 403:
                return KubernetesError(f"not allowed: {message}", code=403)
            return KubernetesError(
                f"Kubernetes API error {code} ({status.reason}) for {kind} '{name}'{where}: "
                f"{message}",
                code=code,
            )
        response = getattr(exc, "response", None)
        if response is not None:
            return KubernetesError(
                f"Kubernetes API returned HTTP {response.status_code} for {kind} '{name}'{where}",
                code=response.status_code,
            )
        return KubernetesError(
            f"cannot reach the Kubernetes API ({self.cluster_label}): {type(exc).__name__}"
        )

    async def _call(self, coro: Any, kind: str, name: str, namespace: str | None) -> Any:
        try:
            return await coro
        except (_HTTPError, ConfigError) as exc:
            if isinstance(exc, ConfigError):
                raise KubernetesError(f"Kubernetes configuration error: {exc}") from exc
            raise self._translate(exc, kind, name, namespace) from exc

    async def _list(
        self,
        res: Any,
        namespace: str,
        *,
        labels: dict[str, str] | None = None,
        fields: dict[str, str] | None = None,
    ) -> list[dict]:
        kind = res.__name__.lower()
        try:
            return [
                obj.to_dict()
                async for obj in self.client.list(
                    res, namespace=namespace, labels=labels, fields=fields
                )
            ]
        except (_HTTPError, ConfigError) as exc:
            if isinstance(exc, ConfigError):
                raise KubernetesError(f"Kubernetes configuration error: {exc}") from exc
            raise self._translate(exc, f"{kind} list", namespace, namespace) from exc

    async def _get_deployment(self, namespace: str, name: str) -> dict:
        try:
            obj = await self._call(
                self.client.get(Deployment, name, namespace=namespace),
                "deployment",
                name,
                namespace,
            )
        except NotFoundError:
            await self._require_namespace(namespace)
            raise
        return obj.to_dict()

    async def _require_namespace(self, namespace: str) -> None:
        """NotFoundError naming the namespace when it is missing.

        The API answers reads in a missing namespace like reads of missing objects (and
        lists as empty), which would send people looking for the wrong typo.
        """
        try:
            await self.client.get(Namespace, namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                raise NotFoundError(f"namespace '{namespace}' not found", code=404) from None
            # e.g. 403: no permission to read namespaces; the caller's answer stands.
        except _HTTPError:
            pass

    async def _owned_replicasets(self, dep: dict) -> list[dict]:
        meta = dep["metadata"]
        selector = (dep.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
        items = await self._list(ReplicaSet, meta["namespace"], labels=selector or None)
        owned = [
            rs
            for rs in items
            if any(
                ref.get("uid") == meta.get("uid") and ref.get("controller")
                for ref in rs.get("metadata", {}).get("ownerReferences") or []
            )
        ]
        return sorted(owned, key=_revision)

    # -- reading

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

    # -- planning

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

    # -- applying

    async def apply(self, plan: Plan, *, wait: bool = True) -> dict[str, Any]:
        """Execute exactly the approved plan; follow the rollout when `wait`."""
        if plan.backend != self.backend_name:
            raise KubernetesError(
                f"plan is for backend {plan.backend!r}, not {self.backend_name!r}"
            )
        if plan.action not in PLAN_ACTIONS:
            raise InvalidInputError(f"unknown action {plan.action!r}")
        if not plan.plan_hash or compute_plan_hash(plan) != plan.plan_hash:
            raise KubernetesError("the plan does not match its hash; refusing to apply it")
        namespace = validate_name(plan.namespace, "namespace")
        started = time.monotonic()
        if plan.action == "provision":
            if plan.body is None:
                raise KubernetesError("provision plan has no namespace body")
            validate_name(plan.name, "namespace")
            try:
                created = await self._call(
                    self.client.create(Namespace.from_dict(plan.body)),
                    "namespace",
                    plan.name,
                    None,
                )
            except AlreadyExistsError:
                raise StalePlanError(
                    f"namespace '{plan.name}' was created after the plan was approved; "
                    "a new plan is needed"
                ) from None
            return {
                "applied": True,
                "action": plan.action,
                "target": plan.target,
                "rollout": "not_applicable",
                "status": {"namespace": plan.name, "phase": (created.status.phase or "Active")},
                "elapsed_s": round(time.monotonic() - started, 3),
            }
        name = validate_name(plan.name, "deployment")
        if plan.action == "delete":
            current = await self._get_deployment(namespace, name)
            if current["metadata"]["resourceVersion"] != plan.resource_version:
                raise self._stale(name, namespace)
            await self._call(
                self.client.delete(Deployment, name, namespace=namespace),
                "deployment",
                name,
                namespace,
            )
            return {
                "applied": True,
                "action": plan.action,
                "target": plan.target,
                "rollout": "not_applicable",
                "status": None,
                "elapsed_s": round(time.monotonic() - started, 3),
            }
        if plan.patch is None:
            raise KubernetesError(f"{plan.action} plan has no patch")
        try:
            result = await self._call(
                self.client.patch(Deployment, name, plan.patch, namespace=namespace),
                "deployment",
                name,
                namespace,
            )
        except ConflictError:
            raise self._stale(name, namespace) from None
        generation = result.metadata.generation or 0
        applied = {
            "applied": True,
            "action": plan.action,
            "target": plan.target,
            "namespace": namespace,
            "name": name,
            "generation": generation,
        }
        if not wait:  # the caller follows the rollout (follow_rollout) when it chooses
            elapsed = round(time.monotonic() - started, 3)
            return {**applied, "rollout": "in_progress", "status": None, "elapsed_s": elapsed}
        followed = await self.follow_rollout(namespace, name, generation)
        return {**applied, **followed, "elapsed_s": round(time.monotonic() - started, 3)}

    async def follow_rollout(
        self, namespace: str, name: str, generation: int, *, details: bool = True
    ) -> dict[str, Any]:
        """Wait for the rollout of `generation`: {"rollout": complete | failed | timed_out,
        "status": the deployment's status as `status()` gives it, "rollout_s": seconds}.

        Without `details`, a rollout that completed is described by the Deployment alone
        (no pods, events or logs: nothing to look into); one that did not gets them all.
        """
        validate_name(namespace, "namespace")
        validate_name(name, "deployment")
        started = time.monotonic()
        rollout, dep = await self._wait_rollout(namespace, name, generation)
        if rollout == "complete" and not details:
            status = self._deployment_status(dep)
        else:
            status = await self._status_of(dep, log_lines=20)
        return {
            "rollout": rollout,
            "status": status,
            "rollout_s": round(time.monotonic() - started, 3),
        }

    def _stale(self, name: str, namespace: str) -> StalePlanError:
        return StalePlanError(
            f"deployment '{name}' in namespace '{namespace}' changed since the plan was "
            "approved; a new plan is needed",
            code=409,
        )

    async def _wait_rollout(self, namespace: str, name: str, generation: int) -> tuple[str, dict]:
        """Poll until the rollout of `generation` completes, fails or times out."""
        deadline = time.monotonic() + self.rollout_timeout
        while True:
            dep = await self._get_deployment(namespace, name)
            observed = (dep.get("status") or {}).get("observedGeneration") or 0
            complete, state = _rollout_state(dep)
            if observed >= generation and complete:
                return "complete", dep
            if observed >= generation and state == "failed":
                return "failed", dep
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timed_out", dep
            await asyncio.sleep(min(self.poll_interval, remaining))
