"""A created service is registered: in the data directory (embedded) and on Redis, merged
with the catalog file at the next start, where the file's own entries win."""

from __future__ import annotations

from pathlib import Path

from workflow.assembly import ServiceOptions, open_service
from workflow.catalog import ServiceEntry
from workflow.memory import MemoryBus
from workflow.registered import (
    merge_registered,
    merge_registered_bus,
    publish_registered,
    register_service,
)

ENTRY = ServiceEntry(name="invoice-api", owners=["billing"], repository="acme/invoice-api")


async def test_registered_in_the_data_directory_survive_a_restart(tmp_path: Path):
    options = ServiceOptions(data_dir=tmp_path, sandbox=True, operations=False)
    async with open_service(options) as handle:
        deps = handle.service.deps
        assert deps.catalog.resolve("invoice-api") is None
        deps.catalog = register_service(deps.catalog, tmp_path, ENTRY)
    async with open_service(options) as handle:
        entry = handle.service.deps.catalog.resolve("invoice-api")
        assert entry is not None and entry.owners == ["billing"]
        assert handle.service.deps.catalog.resolve("checkout") is not None, "file kept"


def test_the_catalog_file_wins_over_a_registered_entry(tmp_path: Path):
    from workflow.assembly import service_catalog

    catalog = service_catalog(None, sandbox=True)
    register_service(catalog, tmp_path, ServiceEntry(name="checkout", owners=["someone"]))
    merged = merge_registered(catalog, tmp_path)
    assert merged.resolve("checkout").owners == ["checkout-team"]


async def test_registered_on_redis_reach_a_replica_with_another_data_directory(
    redis_url, key_prefix, tmp_path: Path
):
    bus = MemoryBus.from_redis_url(redis_url, prefix=key_prefix)
    await publish_registered(bus, ENTRY)
    await bus.aclose()
    options = ServiceOptions(
        data_dir=tmp_path / "other",
        sandbox=True,
        operations=False,
        redis_url=redis_url,
        key_prefix=key_prefix,
    )
    async with open_service(options) as handle:
        assert handle.service.deps.catalog.resolve("invoice-api") is not None
    fresh = MemoryBus.from_redis_url(redis_url, prefix=key_prefix)
    from workflow.assembly import service_catalog

    merged = await merge_registered_bus(service_catalog(None, sandbox=True), fresh)
    await fresh.aclose()
    assert merged.resolve("invoice-api").repository == "acme/invoice-api"
