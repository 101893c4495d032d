"""Services the bot itself created (e.g. scaffolded), kept in the data directory and merged
with the catalog file at start-up, so a new service can be deployed right after it exists.

The file (`registered-services.json`) holds `{"services": {name: entry}}` in the catalog's
own shape; an entry of the catalog file wins over a registered one of the same name.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from workflow.catalog import ServiceCatalog, ServiceEntry

__all__ = ["merge_registered", "register_service", "registered_file"]


def registered_file(data_dir: Path) -> Path:
    return Path(data_dir) / "registered-services.json"


def _read(data_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads(registered_file(data_dir).read_text())
    except FileNotFoundError:
        return {}
    return dict(data.get("services") or {})


def merge_registered(catalog: ServiceCatalog, data_dir: Path | None) -> ServiceCatalog:
    """The catalog with the registered services it does not name itself."""
    if data_dir is None:
        return catalog
    extra = {k: v for k, v in _read(data_dir).items() if catalog.resolve(k) is None}
    if not extra:
        return catalog
    merged = {**extra, **catalog.to_dict()["services"]}
    return ServiceCatalog.from_dict({"services": merged}, source=str(registered_file(data_dir)))


def register_service(
    catalog: ServiceCatalog, data_dir: Path, entry: ServiceEntry
) -> ServiceCatalog:
    """Persist `entry` (atomically) and return the catalog with it."""
    services = _read(data_dir)
    services[entry.name] = entry.to_dict()
    path = registered_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".registered-")
    with os.fdopen(fd, "w") as out:
        json.dump({"services": services}, out, indent=2, sort_keys=True)
    os.replace(tmp, path)
    merged = {**catalog.to_dict()["services"], entry.name: entry.to_dict()}
    return ServiceCatalog.from_dict({"services": merged}, source=str(path))
