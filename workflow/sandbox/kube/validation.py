"""Deployment defaulting and validation, with the API server's messages."""

from __future__ import annotations

import json
import re

from workflow.sandbox.kube.common import _canonical, _image_tag
from workflow.sandbox.kube.errors import _bad_request, _invalid

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
