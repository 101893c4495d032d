"""Render deploy/ without kubectl: the subset of kustomize these overlays use.

`resources` (files and directories with a kustomization.yaml), `configMapGenerator`
(files and literals, kustomize's name suffix left out), `labels` (metadata only),
`images` (name -> newName:newTag) and `patches` (JSON 6902 from a file, by kind and name).
Anything else in a kustomization.yaml raises, so a new feature cannot be ignored silently.
tests/deploy/test_manifests.py compares this against `kubectl kustomize` when kubectl is
there, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

__all__ = ["render"]

KNOWN = {"apiVersion", "kind", "resources", "configMapGenerator", "labels", "images", "patches"}


def render(directory: Path) -> list[dict[str, Any]]:
    kust = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kust) - KNOWN
    if unknown:
        raise ValueError(f"{directory}: kustomize features not rendered here: {sorted(unknown)}")
    objects: list[dict[str, Any]] = []
    for entry in kust.get("resources") or []:
        path = (directory / entry).resolve()
        if path.is_dir():
            objects += render(path)
        else:
            objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for gen in kust.get("configMapGenerator") or []:
        data: dict[str, str] = {}
        for name in gen.get("files") or []:
            data[Path(name).name] = (directory / name).read_text()
        for literal in gen.get("literals") or []:
            key, _, value = literal.partition("=")
            data[key] = value
        meta = {"name": gen["name"]}
        if gen.get("namespace"):
            meta["namespace"] = gen["namespace"]
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
    for label in kust.get("labels") or []:
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
    for image in kust.get("images") or []:
        for obj in objects:
            for container in _containers(obj):
                if container.get("image") == image["name"]:
                    container["image"] = f"{image['newName']}:{image['newTag']}"
    for patch in kust.get("patches") or []:
        ops = yaml.safe_load((directory / patch["path"]).read_text())
        target = patch["target"]
        hits = [
            o
            for o in objects
            if o["kind"] == target["kind"] and o["metadata"]["name"] == target["name"]
        ]
        if len(hits) != 1:
            raise ValueError(f"patch target {target} matches {len(hits)} objects")
        for op in ops:
            _apply(hits[0], op)
    return objects


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return [*spec.get("containers", []), *spec.get("initContainers", [])]


def _apply(obj: dict[str, Any], op: dict[str, Any]) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    parent: Any = obj
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    value = copy.deepcopy(op.get("value"))
    if op["op"] == "add" and isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            parent.insert(int(last), value)
    elif op["op"] in ("add", "replace"):
        if isinstance(parent, list):
            parent[int(last)] = value
        else:
            if op["op"] == "replace" and last not in parent:
                raise ValueError(f"replace of a missing path {op['path']}")
            parent[last] = value
    elif op["op"] == "remove":
        del parent[int(last) if isinstance(parent, list) else last]
    else:
        raise ValueError(f"JSON patch op {op['op']!r} not rendered here")
