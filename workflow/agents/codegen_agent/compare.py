"""Two versions of an OpenAPI document compared: what changed, and which changes break a
client written against the old one.

Breaking: a removed operation or schema, a removed or retyped field, a new required
parameter or request field, a narrowed enum (a value the old document allowed is gone), a
request body that became required. Everything else (new operations, optional fields,
widened enums) is listed as a compatible change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Change", "compare_documents"]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_REF = "#/components/schemas/"


@dataclass(frozen=True)
class Change:
    breaking: bool
    kind: str  # removed operation | removed field | retyped field | new required parameter | ...
    where: str  # GET /orders, Order.status, ...
    detail: str = ""

    def line(self) -> str:
        return f"{self.where}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path, item in (doc.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters") or []
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                found[(method.upper(), path)] = {**op, "_shared": shared}
    return found


def _resolve(doc: dict[str, Any], node: Any) -> Any:
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 20:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return node
        target: Any = doc
        for part in ref[2:].split("/"):
            target = (
                target.get(part.replace("~1", "/").replace("~0", "~"), {})
                if isinstance(target, dict)
                else {}
            )
        node, seen = target, seen + 1
    return node


def _parameters(doc: dict[str, Any], op: dict[str, Any]) -> dict[tuple[str, str], dict]:
    params = {}
    for raw in [*(op.get("_shared") or []), *(op.get("parameters") or [])]:
        param = _resolve(doc, raw)
        if isinstance(param, dict) and "name" in param:
            params[(param.get("in", "query"), param["name"])] = param
    return params


def _type(doc: dict[str, Any], schema: Any) -> str:
    if not isinstance(schema, dict):
        return "any"
    if isinstance(schema.get("$ref"), str):
        return schema["$ref"].removeprefix(_REF)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = "|".join(sorted(str(k) for k in kind if k != "null")) or "null"
    if kind == "array":
        return f"array of {_type(doc, schema.get('items'))}"
    for combo in ("oneOf", "anyOf", "allOf"):
        if combo in schema and not kind:
            return combo
    text = str(kind or "object" if "properties" in schema else kind or "any")
    return f"{text} ({schema['format']})" if schema.get("format") else text


def _enum(doc: dict[str, Any], schema: Any) -> list[Any] | None:
    schema = _resolve(doc, schema)
    if isinstance(schema, dict) and isinstance(schema.get("enum"), list):
        return schema["enum"]
    return None


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            out.add(ref.removeprefix(_REF))
        for value in node.values():
            _refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _refs(value, out)


def _request_side(doc: dict[str, Any]) -> set[str]:
    """Names of the schemas a client sends (request bodies, parameters), transitively."""
    names: set[str] = set()
    for op in _operations(doc).values():
        _refs(op.get("requestBody"), names)
        _refs(op.get("parameters"), names)
    schemas = (doc.get("components") or {}).get("schemas") or {}
    todo = list(names)
    while todo:
        more: set[str] = set()
        _refs(schemas.get(todo.pop()), more)
        for name in more - names:
            names.add(name)
            todo.append(name)
    return names


def _compare_schema(
    old_doc: dict, new_doc: dict, old: Any, new: Any, where: str, sent: bool, out: list[Change]
) -> None:
    """Field-level changes of one schema (inline objects and arrays walked)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return
    if "$ref" in old or "$ref" in new:
        before, after = _type(old_doc, old), _type(new_doc, new)
        if before != after:
            out.append(Change(True, "retyped", where, f"{before} -> {after}"))
        return  # a named schema is compared once, under its own name
    before, after = _type(old_doc, old), _type(new_doc, new)
    if before != after:
        out.append(Change(True, "retyped field", where, f"{before} -> {after}"))
        return
    old_enum, new_enum = old.get("enum"), new.get("enum")
    if isinstance(old_enum, list) and isinstance(new_enum, list):
        gone = [v for v in old_enum if v not in new_enum]
        added = [v for v in new_enum if v not in old_enum]
        if gone:
            out.append(
                Change(True, "narrowed enum", where, "removed " + ", ".join(map(repr, gone)))
            )
        if added:
            out.append(Change(False, "widened enum", where, "added " + ", ".join(map(repr, added))))
    elif new_enum and not old_enum:
        out.append(Change(True, "narrowed enum", where, "now limited to " + repr(new_enum)))
    if before.startswith("array"):
        _compare_schema(old_doc, new_doc, old.get("items"), new.get("items"), f"{where}[]", sent,
                        out)  # fmt: skip
        return
    old_props, new_props = old.get("properties") or {}, new.get("properties") or {}
    old_required, new_required = set(old.get("required") or []), set(new.get("required") or [])
    for name in old_props:
        if name not in new_props:
            out.append(Change(True, "removed field", f"{where}.{name}"))
    for name in new_props:
        if name not in old_props:
            required = name in new_required
            out.append(
                Change(
                    required and sent,
                    "new required field" if required else "new optional field",
                    f"{where}.{name}",
                )
            )
    for name in new_required - old_required:
        if name in old_props and name in new_props and sent:
            out.append(Change(True, "field became required", f"{where}.{name}"))
    for name in old_props.keys() & new_props.keys():
        _compare_schema(old_doc, new_doc, old_props[name], new_props[name], f"{where}.{name}",
                        sent, out)  # fmt: skip


def _body_schema(doc: dict[str, Any], node: Any) -> Any:
    node = _resolve(doc, node)
    content = (node or {}).get("content") or {} if isinstance(node, dict) else {}
    for media, item in content.items():
        if "json" in media and isinstance(item, dict):
            return item.get("schema")
    return None


def compare_documents(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every change from `old` to `new`, breaking ones first."""
    out: list[Change] = []
    old_ops, new_ops = _operations(old), _operations(new)
    for key in old_ops:
        if key not in new_ops:
            out.append(Change(True, "removed operation", f"{key[0]} {key[1]}"))
    for key in new_ops:
        if key not in old_ops:
            out.append(Change(False, "new operation", f"{key[0]} {key[1]}"))
    for key in old_ops.keys() & new_ops.keys():
        label = f"{key[0]} {key[1]}"
        before, after = _parameters(old, old_ops[key]), _parameters(new, new_ops[key])
        for (where, name), param in after.items():
            was = before.get((where, name))
            if param.get("required") and (was is None or not was.get("required")):
                kind = "new required parameter" if was is None else "parameter became required"
                out.append(Change(True, kind, f"{label} {where} parameter {name}"))
            elif was is None:
                out.append(Change(False, "new optional parameter", f"{label} {where} {name}"))
        for (where, name), was in before.items():
            param = after.get((where, name))
            here = f"{label} {where} parameter {name}"
            if param is None:
                out.append(Change(where == "path", "removed parameter", here))
                continue
            _compare_schema(old, new, was.get("schema"), param.get("schema"), here, True, out)
        old_body = _resolve(old, old_ops[key].get("requestBody"))
        new_body = _resolve(new, new_ops[key].get("requestBody"))
        if isinstance(new_body, dict) and new_body.get("required"):
            if not (isinstance(old_body, dict) and old_body.get("required")):
                out.append(Change(True, "request body became required", label))
        _compare_schema(old, new, _body_schema(old, old_body), _body_schema(new, new_body),
                        f"{label} request body", True, out)  # fmt: skip
        old_responses = old_ops[key].get("responses") or {}
        new_responses = new_ops[key].get("responses") or {}
        for status, response in old_responses.items():
            if str(status).startswith("2"):
                if status not in new_responses:
                    out.append(Change(True, "removed response", f"{label} {status}"))
                    continue
                _compare_schema(old, new, _body_schema(old, response),
                                _body_schema(new, new_responses[status]),
                                f"{label} {status} response", False, out)  # fmt: skip
    old_schemas = (old.get("components") or {}).get("schemas") or {}
    new_schemas = (new.get("components") or {}).get("schemas") or {}
    sent = _request_side(old) | _request_side(new)
    for name in old_schemas:
        if name not in new_schemas:
            out.append(Change(True, "removed schema", name))
    for name in old_schemas.keys() & new_schemas.keys():
        _compare_schema(old, new, old_schemas[name], new_schemas[name], name, name in sent, out)
    unique = list(dict.fromkeys(out))
    return sorted(unique, key=lambda c: not c.breaking)
