"""Patch semantics: RFC 7386 merge patch, strategic merge patch, RFC 6902 JSON patch."""

from __future__ import annotations

import copy
from typing import Any

from workflow.sandbox.kube.errors import _ApiError, _bad_request

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
