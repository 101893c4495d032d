"""Services registered (scaffolded) on one replica are known to the others at their next
run: two services on one real Redis, and two sharing a data directory without Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow.assembly import ServiceOptions, open_service
from workflow.catalog import ServiceEntry
from workflow.registered import publish_registered, register_service

ENTRY = {
    "name": "invoice-api",
    "owners": ["billing-team"],
    "repository": "acme/invoice-api",
    "image": "registry.example.com/invoice-api",
}
REQUEST = dict(
    task_type="kubernetes",
    context={"service": "INVOICE-API", "environment": "staging", "action": "status"},
    text="status of INVOICE-API in staging",
    requester="U1",
)


def options(data_dir: Path, **kw) -> ServiceOptions:
    return ServiceOptions(data_dir=data_dir, kubernetes=False, operations=False, **kw)


async def register_on(handle, data_dir: Path) -> None:
    """What the scaffold agent's applier does once the repository exists."""
    deps = handle.service.deps
    entry = ServiceEntry.model_validate(ENTRY)
    deps.catalog = register_service(deps.catalog, data_dir, entry)
    await publish_registered(deps.memory, entry)


async def test_a_service_registered_on_one_replica_is_known_to_the_other(
    redis_url, key_prefix, tmp_path: Path
):
    shared = dict(redis_url=redis_url, key_prefix=key_prefix)
    async with (
        open_service(options(tmp_path / "a", **shared)) as a,
        open_service(options(tmp_path / "b", **shared)) as b,
    ):
        await register_on(a, tmp_path / "a")
        assert b.service.deps.catalog.resolve("invoice-api") is None  # b started before
        report = await b.service.start(**REQUEST)
        entry = b.service.deps.catalog.resolve("invoice-api")
        assert entry is not None and entry.repository == "acme/invoice-api"
        # the run itself saw it: the service's name was made canonical from the catalog
        assert report.values["context"]["service"] == "invoice-api"


async def test_without_redis_the_data_directory_file_is_shared(tmp_path: Path):
    async with (
        open_service(options(tmp_path)) as a,
        open_service(options(tmp_path)) as b,
    ):
        await b.service.start(**REQUEST)  # before: nothing registered
        assert b.service.deps.catalog.resolve("invoice-api") is None
        await register_on(a, tmp_path)
        await b.service.start(**REQUEST)
        assert b.service.deps.catalog.resolve("invoice-api") is not None


@pytest.mark.parametrize("shared", [True, False])
async def test_an_unchanged_store_leaves_the_catalog_as_it_is(tmp_path: Path, shared):
    from workflow.registered import refresh_registered

    async with open_service(options(tmp_path)) as a:
        deps = a.service.deps
        deps.registered_shared = shared
        before = deps.catalog
        assert await refresh_registered(deps) is False
        assert deps.catalog is before
