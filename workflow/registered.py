"""Services the bot itself created (e.g. scaffolded), kept in the data directory and merged
with the catalog file at start-up, so a new service can be deployed right after it exists.

The file (`registered-services.json`) holds `{"services": {name: entry}}` in the catalog's
own shape; an entry of the catalog file wins over a registered one of the same name. With
Redis, the same services are also kept on the memory bus (org/`catalog.registered`), so
every replica (and a replica with a fresh data directory) starts with them.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from workflow.catalog import ServiceCatalog, ServiceEntry
from workflow.memory import AccessContext, MemoryBus, Namespace

__all__ = [
    "REGISTERED_KEY",
    "merge_registered",
    "merge_registered_bus",
    "publish_registered",
    "refresh_registered",
    "register_service",
    "registered_file",
]

REGISTERED_KEY = "catalog.registered"


def registered_file(data_dir: Path) -> Path:
    return Path(data_dir) / "registered-services.json"


def _read(data_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads(registered_file(data_dir).read_text())
    except FileNotFoundError:
        return {}
    return dict(data.get("services") or {})


def _merged(catalog: ServiceCatalog, services: dict[str, Any], source: str) -> ServiceCatalog:
    extra = {k: v for k, v in services.items() if catalog.resolve(k) is None}
    if not extra:
        return catalog
    merged = {**extra, **catalog.to_dict()["services"]}
    return ServiceCatalog.from_dict({"services": merged}, source=source)


def merge_registered(catalog: ServiceCatalog, data_dir: Path | None) -> ServiceCatalog:
    """The catalog with the registered services it does not name itself."""
    if data_dir is None:
        return catalog
    return _merged(catalog, _read(data_dir), str(registered_file(data_dir)))


async def merge_registered_bus(catalog: ServiceCatalog, bus: MemoryBus) -> ServiceCatalog:
    """The catalog with the services registered on the memory bus (Redis)."""
    services = await bus.get(Namespace.ORG, REGISTERED_KEY) or {}
    return _merged(catalog, dict(services), f"memory bus org/{REGISTERED_KEY}")


async def publish_registered(bus: MemoryBus, entry: ServiceEntry) -> None:
    services = dict(await bus.get(Namespace.ORG, REGISTERED_KEY) or {})
    services[entry.name] = entry.to_dict()
    await bus.set(
        Namespace.ORG,
        REGISTERED_KEY,
        services,
        access_context=AccessContext.for_loader("catalog"),
    )


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


async def refresh_registered(deps: Any) -> bool:
    """Merge into `deps.catalog` the services registered since it was built, by this or any
    other replica; True when the catalog changed. Cheap enough for every run: one small read
    of the memory bus (Redis), or a stat of the data directory's file (read when it changed).
    """
    from workflow.catalog import load_into_bus

    if getattr(deps, "registered_shared", False):
        services = dict(await deps.memory.get(Namespace.ORG, REGISTERED_KEY) or {})
        source = f"memory bus org/{REGISTERED_KEY}"
    elif getattr(deps, "registered_dir", None) is not None:
        path = registered_file(deps.registered_dir)
        try:
            stamp = path.stat().st_mtime_ns, path.stat().st_size
        except FileNotFoundError:
            return False
        if stamp == deps.registered_seen:
            return False
        deps.registered_seen = stamp
        services, source = _read(deps.registered_dir), str(path)
    else:
        return False
    catalog = _merged(deps.catalog, services, source)
    if catalog is deps.catalog:
        return False
    deps.catalog = catalog
    await load_into_bus(catalog, deps.memory)
    return True
