"""Label and field selectors, as list requests send them."""

from __future__ import annotations

import re
from typing import Any

from workflow.sandbox.kube.errors import _bad_request

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


def _get_path(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


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
