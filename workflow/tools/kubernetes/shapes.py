"""Pure functions over Deployment/Pod dicts: summaries, rollout state, the preview diff."""

from __future__ import annotations

import difflib
import re
from datetime import UTC, datetime
from typing import Any

from workflow.tools.kubernetes.errors import InvalidInputError

_REVISION = "deployment.kubernetes.io/revision"
_RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
_HASH_LABEL = "pod-template-hash"


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
