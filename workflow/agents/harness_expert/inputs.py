"""Runtime inputs of a Harness pipeline: `<+input>` fields, their template, and filling it.

A field whose value is `<+input>` (optionally `.default(x)` or `.allowedValues(a,b)`) is
given at run time. The template is the pipeline pruned to those fields, keeping what
identifies each list item (`identifier`, `name`, `type`), as Harness's input-set template
endpoint returns it; an input set is that template with the values filled in. List items
are matched by their identifier (stages, steps) or name (variables).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import yaml

__all__ = [
    "RuntimeInput",
    "fill_template",
    "input_template",
    "is_runtime_input",
    "merge_inputs",
    "runtime_inputs",
]

_INPUT = re.compile(r"^<\+input>(?P<rest>.*)$", re.S)
_DEFAULT = re.compile(r"\.default\((?P<value>[^)]*)\)")
_ALLOWED = re.compile(r"\.allowedValues\((?P<values>[^)]*)\)")
_IDENTITY = ("identifier", "name", "type")


class RuntimeInput:
    """One `<+input>` field: its path (dotted, list items by identifier or name)."""

    def __init__(self, path: tuple[str, ...], expression: str):
        self.path = path
        self.expression = expression
        rest = _INPUT.match(expression)
        tail = rest.group("rest") if rest else ""
        default = _DEFAULT.search(tail)
        allowed = _ALLOWED.search(tail)
        self.default: str | None = default.group("value").strip() if default else None
        self.allowed: tuple[str, ...] = (
            tuple(v.strip() for v in allowed.group("values").split(",")) if allowed else ()
        )

    @property
    def fqn(self) -> str:
        return ".".join(self.path)

    @property
    def key(self) -> str:
        """The field's own name (the variable's name for a pipeline variable)."""
        if len(self.path) >= 2 and self.path[-1] == "value" and "variables" in self.path:
            return self.path[-2]
        return self.path[-1]

    def __repr__(self) -> str:
        return f"RuntimeInput({self.fqn})"


def is_runtime_input(value: Any) -> bool:
    return isinstance(value, str) and _INPUT.match(value.strip()) is not None


def _item_key(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    if len(item) == 1:  # {"stage": {...}}, {"step": {...}}, {"parallel": [...]}
        (inner,) = item.values()
        if isinstance(inner, dict):
            return _item_key(inner)
    for key in ("identifier", "name"):
        if isinstance(item.get(key), str):
            return item[key]
    return None


def _walk(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            key = _item_key(item) or str(index)
            inner = item
            if isinstance(item, dict) and len(item) == 1:
                (wrapper,) = item
                if isinstance(item[wrapper], dict):
                    inner = item[wrapper]
            yield from _walk(inner, (*path, key))
    elif is_runtime_input(node):
        yield path, node.strip()


def runtime_inputs(yaml_text: str) -> list[RuntimeInput]:
    """Every `<+input>` field of the pipeline, in document order."""
    doc = yaml.safe_load(yaml_text) or {}
    return [RuntimeInput(path, expr) for path, expr in _walk(doc, ())]


def _prune(node: Any) -> Any:
    """The node without anything that is not (or does not lead to) a runtime input."""
    if isinstance(node, dict):
        kept = {k: p for k, v in node.items() if (p := _prune(v)) is not None}
        if not kept:
            return None
        for key in _IDENTITY:
            if key in node and key not in kept and not isinstance(node[key], dict | list):
                kept[key] = node[key]
        return {k: kept[k] for k in node if k in kept}
    if isinstance(node, list):
        items = [p for item in node if (p := _prune(item)) is not None]
        return items or None
    return node if is_runtime_input(node) else None


def input_template(yaml_text: str) -> str:
    """The runtime-input template (YAML), or "" when the pipeline takes no input."""
    doc = yaml.safe_load(yaml_text) or {}
    pruned = _prune(doc)
    if not pruned:
        return ""
    return yaml.safe_dump(pruned, sort_keys=False)


def fill_template(
    template_yaml: str, answer: Callable[[RuntimeInput], Any]
) -> tuple[str, list[RuntimeInput]]:
    """The template with every input `answer` knows filled in (a field it returns None for
    keeps its default, if any); returns the input set YAML and the inputs still missing."""
    doc = yaml.safe_load(template_yaml) or {}
    missing: list[RuntimeInput] = []

    def fill(node: Any, path: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            return {k: fill(v, (*path, str(k))) for k, v in node.items()}
        if isinstance(node, list):
            out = []
            for index, item in enumerate(node):
                key = _item_key(item) or str(index)
                if isinstance(item, dict) and len(item) == 1:
                    (wrapper,) = item
                    if isinstance(item[wrapper], dict):
                        out.append({wrapper: fill(item[wrapper], (*path, key))})
                        continue
                out.append(fill(item, (*path, key)))
            return out
        if is_runtime_input(node):
            field = RuntimeInput(path, node.strip())
            value = answer(field)
            if value is None:
                if field.default is not None:
                    return field.default
                missing.append(field)
                return node
            if field.allowed and str(value) not in field.allowed:
                raise ValueError(
                    f"{field.fqn} must be one of {', '.join(field.allowed)}, not {value!r}"
                )
            return value
        return node

    filled = fill(doc, ())
    return (yaml.safe_dump(filled, sort_keys=False) if filled else ""), missing


def merge_inputs(pipeline_yaml: str, inputs_yaml: str) -> str:
    """The pipeline with an input set's values in place of its `<+input>` fields.

    Raises ValueError naming the first input that has neither a value nor a default, or a
    value outside its allowed values.
    """
    doc = yaml.safe_load(pipeline_yaml) or {}
    given = yaml.safe_load(inputs_yaml) if inputs_yaml.strip() else {}
    if given is not None and not isinstance(given, dict):
        raise ValueError("the runtime inputs must be a YAML mapping with a 'pipeline' key")
    merged = _merge(copy.deepcopy(doc), given or {}, ())
    for path, expression in list(_walk(merged, ())):
        field = RuntimeInput(path, expression)
        if field.default is None:
            raise ValueError(f"runtime input {field.fqn} was not given a value")
        _set(merged, path, field.default)
    return yaml.safe_dump(merged, sort_keys=False)


def _merge(target: Any, given: Any, path: tuple[str, ...]) -> Any:
    if isinstance(target, dict) and isinstance(given, dict):
        for key, value in given.items():
            if key in target:
                target[key] = _merge(target[key], value, (*path, str(key)))
        return target
    if isinstance(target, list) and isinstance(given, list):
        by_key = {_item_key(item): item for item in given}
        return [
            _merge(item, by_key[key], (*path, str(key)))
            if (key := _item_key(item)) in by_key
            else item
            for item in target
        ]
    if is_runtime_input(target):
        field = RuntimeInput(path, target.strip())
        if is_runtime_input(given):
            return target
        if field.allowed and str(given) not in field.allowed:
            raise ValueError(
                f"runtime input {field.fqn} must be one of {', '.join(field.allowed)}, "
                f"not {given!r}"
            )
        return given
    return target


def _set(doc: Any, path: tuple[str, ...], value: Any) -> None:
    node = doc
    for key in path[:-1]:
        node = _child(node, key)
    if isinstance(node, list):
        for i, item in enumerate(node):
            if _item_key(item) == path[-1] or str(i) == path[-1]:
                node[i] = value
                return
    else:
        node[path[-1]] = value


def _child(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        return node[key]
    for i, item in enumerate(node):
        if _item_key(item) == key or str(i) == key:
            if isinstance(item, dict) and len(item) == 1:
                (wrapper,) = item
                if isinstance(item[wrapper], dict):
                    return item[wrapper]
            return item
    raise KeyError(key)
