"""Pass 2 of the rules classifier, first half: the context a request states explicitly.

``key=value``, CLI flags, URLs, kubectl ``kind/name`` refs, image refs and incident ids,
each cut out of a working copy (`_Work`) so that the softer heuristics that follow
(`workflow.classify.prose`) never see them twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from workflow.classify.model import ACTIONS, TASK_TYPES
from workflow.classify.normalise import (
    _BAD_NAME,
    _DNS,
    _DNS_SUBDOMAIN,
    _KUBE_KINDS,
    _REPO_URL,
    _environment_list,
    _image_parts,
    _to_int,
    normalise_image,
    normalise_incident_id,
    normalise_level,
    normalise_repository,
    normalise_severity,
    normalise_time_range,
)
from workflow.environments import canonical_environment

# A silence id as `silence_id=` takes it (and as the LLM's output is checked).
_SILENCE_ID = re.compile(r"[A-Za-z0-9-]{4,64}")


_KUBE_REF = re.compile(
    r"(?<![\w/.-])(" + "|".join(sorted(_KUBE_KINDS, key=len, reverse=True)) + r")"
    r"(?:\.[a-z0-9.]+)?/([a-z0-9][\w.-]*[a-z0-9_]|[a-z0-9])(?![\w/-])",
    re.I,
)
_POD_SUFFIX = re.compile(r"-(?:[a-z0-9]{8,10}-)?[a-z0-9]{5}$")

# The `key=value` words the shared rules read (any other is left to the agents' readers).
KV_KEYS: dict[str, str] = {
    "service": "service",
    "svc": "service",
    "app": "service",
    "application": "service",
    "deployment": "service",
    "component": "service",
    "env": "environment",
    "environment": "environment",
    "target": "environment",
    "ns": "namespace",
    "namespace": "namespace",
    "image": "image",
    "img": "image",
    "tag": "image_tag",
    "version": "image_tag",
    "image_tag": "image_tag",
    "image-tag": "image_tag",
    "replicas": "replicas",
    "replica": "replicas",
    "instances": "replicas",
    "count": "replicas",
    "incident": "incident_id",
    "inc": "incident_id",
    "incident_id": "incident_id",
    "incident-id": "incident_id",
    "severity": "severity",
    "sev": "severity",
    "priority": "severity",
    "prio": "severity",
    "pipeline": "pipeline_name",
    "pipeline_name": "pipeline_name",
    "pipeline-name": "pipeline_name",
    "repo": "repository",
    "repository": "repository",
    "git": "repository",
    "envs": "environments",
    "environments": "environments",
    "since": "time_range",
    "last": "time_range",
    "window": "time_range",
    "range": "time_range",
    "time_range": "time_range",
    "time-range": "time_range",
    "period": "time_range",
    "duration": "duration",
    "ttl": "duration",
    "alert": "alert_name",
    "alertname": "alert_name",
    "alert_name": "alert_name",
    "level": "level",
    "lvl": "level",
    "silence_id": "silence_id",
    "silence-id": "silence_id",
    "silenceid": "silence_id",
    "action": "action",
    "op": "action",
    "operation": "action",
    "task": "task_type",
    "type": "task_type",
    "task_type": "task_type",
    "task-type": "task_type",
}
_KV = re.compile(r"(?<![\w/.:-])(?:--?)?([a-z][\w-]*)\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s,;]+)", re.I)
# A dotted `path.to.field=value` word (a Harness runtime input's full path): an agent's own,
# read by its reader from the text; cut here so `pipeline.variables...` never reads as the
# word "pipeline". (Plain `status=500` stays: it may be a log search term.)
_PATH_KV = re.compile(r"(?<!\S)[A-Za-z_]\w*(?:\.\w+)+=\S+(?!\S)")
_KV_ENVS = re.compile(r"(?<![\w/.:-])(?:--)?(?:envs|environments)\s*=\s*([\w-]+(?:,[\w-]+)+)", re.I)
# `key: value` only for keys that can't be an image name, or with a space after ':'.
_KV_COLON = re.compile(
    r"(?<![\w/.:-])(env|environment|ns|namespace|sev|severity|replicas|svc|priority)"
    r":\s*([a-z0-9][\w.-]*)|(?<![\w/.:-])([a-z][\w-]*):\s+([^\s,;]+)",
    re.I,
)
_FLAG = re.compile(
    r"(?<!\S)(-n|--namespace|--replicas|--image|--tag|--env|--environment|--service"
    r"|--since|--severity|--sev|--duration|--for|--pipeline|--repo)\s+([^\s,;]+)",
    re.I,
)
_FLAG_KEYS = {
    "-n": "namespace",
    "--namespace": "namespace",
    "--replicas": "replicas",
    "--image": "image",
    "--tag": "image_tag",
    "--env": "environment",
    "--environment": "environment",
    "--service": "service",
    "--since": "time_range",
    "--severity": "severity",
    "--sev": "severity",
    "--duration": "duration",
    "--for": "duration",
    "--pipeline": "pipeline_name",
    "--repo": "repository",
}
_ANY_URL = re.compile(r"(?:https?|ssh)://[^\s<>()]+|git@[\w.-]+:[\w./-]+", re.I)
_IMAGE = re.compile(
    r"(?<![\w./:@-])("
    r"(?:[a-z0-9][a-z0-9.-]*(?::\d+)?/)*[a-z0-9][a-z0-9._-]*"
    r"(?::(?:[\w](?:[\w.-]{0,126}[\w])?))?(?:@sha256:[a-f0-9]{64})?"
    r")(?![\w/:@-]|\.\w)",
    re.I,
)
_REGISTRY_IMAGE = re.compile(r"^[a-z0-9-]+\.[a-z0-9.-]+(?::\d+)?/[\w./-]+$", re.I)
_INCIDENT = re.compile(r"\binc[-_#]?\s?([0-9]{2,10})\b|\bincident\s+#?([0-9]{3,10})\b", re.I)


class _Work:
    """A lowercase working copy whose consumed spans are blanked with placeholders."""

    __slots__ = ("s",)

    def __init__(self, s: str) -> None:
        self.s = s

    def cut(self, m: re.Match[str], placeholder: str = " ", group: int = 0) -> None:
        a, b = m.span(group)
        self.s = self.s[:a] + placeholder.center(b - a)[: b - a] + self.s[b:]


def _set(ctx: dict[str, Any], certain: set[str], key: str, value: Any, sure: bool) -> None:
    if value is None or value == [] or key in ctx:
        return
    ctx[key] = value
    if sure:
        certain.add(key)


def _name(value: str) -> str | None:
    v = value.lower()
    return v if _DNS.match(v) or _BAD_NAME.match(v) else None


def _service(value: str) -> str | None:
    v = value.lower().rsplit("/", 1)[-1]
    ok = bool(_DNS.match(v) or _BAD_NAME.match(v)) and any(c.isalpha() for c in v)
    return v if ok else None


def _matching(pattern: str) -> Callable[[str], str | None]:
    compiled = re.compile(pattern)
    return lambda value: value if compiled.fullmatch(value) else None


def _one_of(allowed: Iterable[str]) -> Callable[[str], str | None]:
    return lambda value: value.lower() if value.lower() in allowed else None


# An explicit key's normaliser: the value to keep, or None when it is not understood.
_NORMALISE: dict[str, Callable[[str], Any]] = {
    "service": _service,
    "environment": canonical_environment,
    "namespace": _name,
    "image_tag": _matching(r"[\w][\w.-]{0,127}"),
    "replicas": _to_int,
    "incident_id": normalise_incident_id,
    "severity": normalise_severity,
    "pipeline_name": _matching(r"[\w][\w.-]{0,127}"),
    "repository": normalise_repository,
    "environments": _environment_list,
    "time_range": normalise_time_range,
    "duration": normalise_time_range,
    "alert_name": _matching(r"[A-Za-z][\w.:-]{0,127}"),
    "level": normalise_level,
    "silence_id": lambda value: value if _SILENCE_ID.fullmatch(value) else None,
    "action": _one_of(ACTIONS),
}


def _apply_kv(ctx: dict[str, Any], certain: set[str], key: str, raw: str, explicit: dict) -> bool:
    """Normalise one explicit key/value; returns whether it was understood."""
    value = raw.strip().strip("\"'").rstrip(".,;")
    if key == "task_type":
        v = value.lower()
        if v in TASK_TYPES:
            explicit["task_type"] = v
            return True
        return False
    if key == "image":
        img = normalise_image(value)
        if img:
            _set(ctx, certain, "image", img, True)
            svc, tag = _image_parts(img)
            if tag and "@" not in img:
                _set(ctx, certain, "image_tag", tag, True)
            if svc:
                _set(ctx, certain, "service", svc, True)
        return img is not None
    normalise = _NORMALISE.get(key)
    if normalise is None:
        return False
    normalised = normalise(value)
    if normalised is None:
        return False
    if normalised != "":
        _set(ctx, certain, key, normalised, True)
    return True


def _extract_explicit(
    clean: str, work: _Work, ctx: dict[str, Any], certain: set[str], explicit: dict
) -> dict[str, Any]:
    facts: dict[str, Any] = {"kube_refs": [], "image_seen": False}
    low = work.s
    # CLI flags with a space (-n prod, --replicas 3)
    if "-" in low:
        for m in _FLAG.finditer(low):
            key = _FLAG_KEYS[m.group(1).lower()]
            if _apply_kv(ctx, certain, key, clean[m.start(2) : m.end(2)], explicit):
                work.cut(m, "|")
    # URLs (repositories first)
    if "://" in low or "git@" in low or ".com/" in low or ".org/" in low:
        for m in _REPO_URL.finditer(work.s):
            repo = normalise_repository(clean[m.start() : m.end()])
            if repo:
                _set(ctx, certain, "repository", repo, True)
            work.cut(m, "@url")
        for m in _ANY_URL.finditer(work.s):
            work.cut(m, "@url")
    # key=value / key: value
    if "=" in work.s:
        for m in _KV_ENVS.finditer(work.s):
            if _apply_kv(ctx, certain, "environments", clean[m.start(1) : m.end(1)], explicit):
                work.cut(m, "|")
        for m in _KV.finditer(work.s):
            key = KV_KEYS.get(m.group(1).lower().lstrip("-"))
            if key and _apply_kv(ctx, certain, key, clean[m.start(2) : m.end(2)], explicit):
                work.cut(m, "|")
        for m in _PATH_KV.finditer(work.s):
            work.cut(m, "|")
    if ":" in work.s:
        for m in _KV_COLON.finditer(work.s):
            k, g = (m.group(1), 2) if m.group(1) else (m.group(3), 4)
            key = KV_KEYS.get(k.lower())
            if key and _apply_kv(ctx, certain, key, clean[m.start(g) : m.end(g)], explicit):
                work.cut(m, "|")
    # kubectl kind/name refs
    if "/" in work.s:
        for m in _KUBE_REF.finditer(work.s):
            kind, name = m.group(1).lower(), m.group(2).lower()
            cls = _KUBE_KINDS[kind]
            facts["kube_refs"].append((kind, name))
            if cls == "pod":
                name = _POD_SUFFIX.sub("", name) or name
            named = _DNS_SUBDOMAIN.match(name) or _BAD_NAME.match(name)
            if cls in ("workload", "pod") and named and any(c.isalpha() for c in name):
                _set(ctx, certain, "service", name, True)
            elif kind in ("namespace", "ns") and named:
                _set(ctx, certain, "namespace", name, True)
            work.cut(m, "@kref")
    # incident ids
    for m in _INCIDENT.finditer(work.s):
        _set(ctx, certain, "incident_id", f"INC-{m.group(1) or m.group(2)}", True)
        facts["incident_seen"] = True
        work.cut(m, "@inc")
    # images (name:tag, registry/name[:tag], @sha256)
    if ":" in work.s or "/" in work.s or "@" in work.s:
        for m in _IMAGE.finditer(work.s):
            ref = m.group(1)
            has_tag = ":" in ref.rsplit("/", 1)[-1] or "@sha256:" in ref
            if not has_tag and not _REGISTRY_IMAGE.match(ref):
                continue
            name_part = ref.split(":", 1)[0] if has_tag else ref
            if not any(c.isalpha() for c in name_part) or name_part in KV_KEYS:
                continue
            typed = clean[m.start(1) : m.end(1)]
            _set(ctx, certain, "image", typed, True)
            svc, tag = _image_parts(typed)
            if tag and "@" not in typed.rsplit("/", 1)[-1].split(":", 1)[0]:
                _set(ctx, certain, "image_tag", tag, True)
            if svc:
                _set(ctx, certain, "service", svc, True)
            facts["image_seen"] = True
            work.cut(m, "@img")
    return facts
