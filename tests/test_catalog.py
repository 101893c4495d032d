from __future__ import annotations

import re
from pathlib import Path

import pytest

from workflow.catalog import (
    CATALOG_KEY,
    CatalogError,
    ServiceCatalog,
    ServiceEntry,
    catalog_from_bus,
    load_catalog,
    load_into_bus,
)
from workflow.memory import AccessContext, MemoryAccessError, MemoryBus

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "catalog.yml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yml"
    path.write_text(text, encoding="utf-8")
    return path


def _fails(path: Path, message: str):
    return pytest.raises(CatalogError, match=f"^{re.escape(f'{path}: {message}')}")


# --- loading ------------------------------------------------------------------------


def test_example_catalog_loads():
    catalog = load_catalog(EXAMPLE)
    assert set(catalog.services) == {"api-server", "checkout", "payment-service", "web"}
    api = catalog.services["api-server"]
    assert api == ServiceEntry(
        name="api-server",
        namespaces={"production": "prod-apps", "staging": "staging", "dev": "dev"},
        owners=["@platform-team", "U04PLATFRM1"],
        runbooks=[
            "https://runbooks.example.com/api-server",
            "https://runbooks.example.com/api-server/high-latency",
        ],
        aliases=["api", "apiserver"],
    )
    assert catalog.harness_pipeline_for("payment-service") == "payment_service_deploy"


def test_environment_aliases_are_normalised(tmp_path):
    path = _write(
        tmp_path,
        "services:\n  checkout:\n    namespaces: {prod: shop-prod, STG: shop-stg, sandbox: sb}\n",
    )
    entry = load_catalog(path).services["checkout"]
    assert entry.namespaces == {"production": "shop-prod", "staging": "shop-stg", "dev": "sb"}


@pytest.mark.parametrize("text", ["", "services:\n", "services: {}\n", "# nothing yet\n"])
def test_empty_catalog(tmp_path, text):
    catalog = load_catalog(_write(tmp_path, text))
    assert catalog.services == {}
    assert catalog.resolve("api-server") is None


def test_service_without_settings_is_allowed(tmp_path):
    catalog = load_catalog(_write(tmp_path, "services:\n  web:\n"))
    assert catalog.resolve("web") == ServiceEntry(name="web")
    assert catalog.namespace_for("web", "prod") == "production"


# --- lookups ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("api-server", "api-server"),
        ("API-Server", "api-server"),
        ("api", "api-server"),
        ("  ApiServer ", "api-server"),
        ("payments", "payment-service"),
        ("CART", "checkout"),
        ("frontend", "web"),
    ],
)
def test_resolve_by_name_or_alias(typed, name):
    entry = load_catalog(EXAMPLE).resolve(typed)
    assert entry is not None and entry.name == name


@pytest.mark.parametrize("typed", ["billing", "", None, "api-serverx"])
def test_resolve_unknown(typed):
    assert load_catalog(EXAMPLE).resolve(typed) is None


def test_namespace_for():
    catalog = load_catalog(EXAMPLE)
    assert catalog.namespace_for("api-server", "production") == "prod-apps"
    assert catalog.namespace_for("api", "prod") == "prod-apps"
    assert catalog.namespace_for("checkout", "Stage") == "shop-staging"
    # Not configured for that environment, or not in the catalog: the environment name.
    assert catalog.namespace_for("payment-service", "dev") == "dev"
    assert catalog.namespace_for("web", "development") == "dev"
    assert catalog.namespace_for("billing", "live") == "production"
    with pytest.raises(ValueError, match="unknown environment 'moon'"):
        catalog.namespace_for("web", "moon")


def test_harness_pipeline_for():
    catalog = load_catalog(EXAMPLE)
    assert catalog.harness_pipeline_for("payments") == "payment_service_deploy"
    assert catalog.harness_pipeline_for("api-server") is None
    assert catalog.harness_pipeline_for("billing") is None


# --- errors -------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yml"
    with _fails(path, "service catalog file not found"):
        load_catalog(path)


def test_bad_yaml(tmp_path):
    path = _write(tmp_path, "services:\n  web:\n    owners: [a\n    namespaces: x: y\n")
    with _fails(path, "invalid YAML at line "):
        load_catalog(path)


def test_top_level_must_be_a_mapping(tmp_path):
    path = _write(tmp_path, "- web\n- api\n")
    with _fails(path, "the top level must be a mapping with a 'services' key, not a list"):
        load_catalog(path)


def test_unknown_environment(tmp_path):
    path = _write(tmp_path, "services:\n  web:\n    namespaces: {prodd: web-prod}\n")
    with _fails(
        path,
        "services.web.namespaces.prodd: unknown environment 'prodd' "
        "(expected production, staging, dev or an alias such as prod, stage, development)",
    ):
        load_catalog(path)


def test_duplicate_environment(tmp_path):
    path = _write(tmp_path, "services:\n  web:\n    namespaces: {prod: a, production: b}\n")
    with _fails(
        path, "services.web.namespaces: environments 'prod' and 'production' both mean 'production'"
    ):
        load_catalog(path)


@pytest.mark.parametrize("name", ["Api_Server", "-web", "web-", "a" * 64, "api.server"])
def test_invalid_service_name(tmp_path, name):
    path = _write(tmp_path, f"services:\n  '{name}':\n    owners: ['@x']\n")
    with _fails(path, f"services.{name}.name: invalid service name '{name}': must be a DNS-1123"):
        load_catalog(path)


@pytest.mark.parametrize("namespace", ["Prod_Apps", "prod apps", "x" * 64])
def test_invalid_namespace_name(tmp_path, namespace):
    path = _write(tmp_path, f"services:\n  web:\n    namespaces:\n      prod: '{namespace}'\n")
    with _fails(
        path,
        f"services.web.namespaces.prod: invalid namespace name '{namespace}': "
        "must be a DNS-1123 label",
    ):
        load_catalog(path)


def test_unknown_field(tmp_path):
    path = _write(tmp_path, "services:\n  web:\n    harness_pipline: web_deploy\n")
    with _fails(path, "services.web.harness_pipline: unknown field"):
        load_catalog(path)


def test_unknown_top_level_field(tmp_path):
    path = _write(tmp_path, "service:\n  web: {}\n")
    with _fails(path, "service: unknown field"):
        load_catalog(path)


def test_invalid_harness_pipeline(tmp_path):
    path = _write(tmp_path, "services:\n  web:\n    harness_pipeline: web-deploy\n")
    with _fails(
        path, "services.web.harness_pipeline: invalid Harness pipeline identifier 'web-deploy'"
    ):
        load_catalog(path)


def test_invalid_runbook(tmp_path):
    path = _write(tmp_path, "services:\n  web:\n    runbooks: [wiki/web]\n")
    with _fails(path, "services.web.runbooks.0: runbook 'wiki/web' must be an http(s) URL"):
        load_catalog(path)


def test_alias_claimed_by_two_services(tmp_path):
    path = _write(
        tmp_path,
        "services:\n  web:\n    aliases: [frontend]\n  shop:\n    aliases: [Frontend]\n",
    )
    with _fails(path, "services.shop.aliases: 'Frontend' already names service 'web'"):
        load_catalog(path)


def test_alias_equal_to_another_service_name(tmp_path):
    path = _write(tmp_path, "services:\n  web: {}\n  shop:\n    aliases: [web]\n")
    with _fails(path, "services.shop.aliases: 'web' already names service 'web'"):
        load_catalog(path)


def test_every_error_is_reported(tmp_path):
    path = _write(
        tmp_path,
        "services:\n  Bad_Name: {}\n  web:\n    namespaces: {moon: x}\n",
    )
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{path}: services.") for line in lines)
    assert isinstance(info.value, ValueError)


# --- memory bus ---------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def bus(request, key_prefix):
    if request.param == "memory":
        bus = MemoryBus.in_memory()
    else:
        bus = MemoryBus.from_redis_url(request.getfixturevalue("redis_url"), prefix=key_prefix)
    yield bus
    await bus.aclose()


async def test_round_trip_through_bus(bus):
    catalog = load_catalog(EXAMPLE)
    await load_into_bus(catalog, bus)
    stored = await bus.get("org", CATALOG_KEY)
    assert stored["payment-service"]["harness_pipeline"] == "payment_service_deploy"
    assert stored["checkout"]["namespaces"]["production"] == "shop-prod"

    again = await catalog_from_bus(bus)
    assert again == catalog
    assert again.resolve("cart").name == "checkout"
    assert again.namespace_for("api", "prod") == "prod-apps"


async def test_catalog_from_empty_bus(bus):
    assert (await catalog_from_bus(bus)).services == {}


async def test_only_loaders_publish_the_catalog(bus):
    await load_into_bus(load_catalog(EXAMPLE), bus)
    with pytest.raises(MemoryAccessError, match="org is read-only"):
        await bus.set(
            "org", CATALOG_KEY, {}, access_context=AccessContext.for_agent("kubernetes_agent")
        )
    assert "web" in (await catalog_from_bus(bus)).services


async def test_corrupt_catalog_on_bus(bus):
    await bus.set(
        "org",
        CATALOG_KEY,
        {"web": {"namespaces": {"moon": "x"}}},
        access_context=AccessContext.for_loader(),
    )
    with pytest.raises(
        CatalogError, match=re.escape("memory bus org/catalog.services: services.web.namespaces")
    ):
        await catalog_from_bus(bus)


def test_to_dict_round_trip():
    catalog = load_catalog(EXAMPLE)
    assert ServiceCatalog.from_dict(catalog.to_dict()) == catalog


def test_x_service_reading_maps_back_to_the_catalog_name():
    catalog = ServiceCatalog.from_dict({"services": {"payment": {"aliases": ["pay"]}}})
    assert catalog.canonical_name("payment-service") == "payment"
    assert catalog.canonical_name("PAY") == "payment"
    assert catalog.canonical_name("checkout-service") == "checkout-service"
    assert catalog.canonical_name(None) is None
