"""OpenAPI documents: fetched from a live service, validated with openapi-spec-validator,
each problem named by its JSON path; the catalog's `openapi:` field per environment."""

from __future__ import annotations

import pytest

from tests.api_services import BROKEN, broken_app, library_document, serve, serve_library
from workflow.agents.codegen_agent.documents import (
    ApiDirectory,
    Document,
    DocumentError,
    fetch_document,
    json_path,
    validate_document,
)
from workflow.catalog import CatalogError, ServiceCatalog


async def test_a_live_document_is_fetched_and_valid():
    with serve_library(bugs=False) as url:
        document = await fetch_document(f"{url}/openapi.json")
    assert document.title == "Library API" and document.version == "3.1.0"
    assert document.base_url() == url, "no servers: the document's own origin"


async def test_a_broken_document_is_refused_naming_each_json_path():
    with serve(broken_app) as url:
        with pytest.raises(DocumentError) as caught:
            await fetch_document(f"{url}/openapi.json")
    message = str(caught.value)
    assert "is not valid" in message
    assert '$.info: "version" is a required property' in message, message
    assert '$.paths["/things"].get.responses[200]: ' in message, message


def test_validation_names_paths_and_refuses_swagger_2():
    assert validate_document(library_document(), "lib") == []
    assert validate_document(BROKEN, "x")[0].startswith("$.")
    (swagger,) = validate_document({"swagger": "2.0", "info": {}, "paths": {}}, "x")
    assert "OpenAPI 2" in swagger and swagger.startswith("$.swagger")
    assert json_path(["paths", "/a", "get", 0]) == '$.paths["/a"].get[0]'


async def test_an_unreachable_document_says_so():
    with serve_library(bugs=False) as url:
        pass  # stopped: nothing listens there any more
    with pytest.raises(DocumentError, match="cannot fetch the OpenAPI document"):
        await fetch_document(f"{url}/openapi.json", timeout=2)


def test_relative_servers_resolve_against_the_documents_url():
    doc = Document("http://h:1/svc/openapi.json", {"servers": [{"url": "/v2"}]})
    assert doc.base_url() == "http://h:1/v2"
    assert Document("http://h:1/svc/openapi.json", {"servers": [{"url": "."}]}).base_url() == (
        "http://h:1/svc"
    )
    # a public document served by the service itself: the service is where it came from
    petstore = {"servers": [{"url": "https://petstore3.swagger.io/api/v3"}]}
    assert Document("http://127.0.0.1:8080/openapi.json", petstore).base_url() == (
        "http://127.0.0.1:8080/api/v3"
    )
    raw = "https://raw.githubusercontent.com/acme/petstore/main/openapi.json"
    assert Document(raw, petstore).base_url() == "https://petstore3.swagger.io/api/v3"
    same = {"servers": [{"url": "http://h:1/v1"}]}
    assert Document("http://h:1/openapi.json", same).base_url() == "http://h:1/v1"


def test_the_catalog_names_a_document_per_environment():
    catalog = ServiceCatalog.from_dict(
        {
            "services": {
                "ledger": {
                    "openapi": {
                        "stage": "https://ledger.staging.example.com/openapi.json",
                        "prod": "https://ledger.example.com/openapi.json",
                    },
                    "coverage": "https://ci.example.com/ledger/coverage.json",
                }
            }
        }
    )
    directory = ApiDirectory(catalog=catalog)
    assert directory.document_url("ledger", "production") == (
        "https://ledger.example.com/openapi.json"
    )
    assert directory.document_url("ledger", None).startswith("https://ledger.staging")
    assert directory.document_url("ledger", "dev") is None
    assert directory.environments("ledger") == ["production", "staging"]
    assert directory.coverage_url("ledger") == "https://ci.example.com/ledger/coverage.json"
    with pytest.raises(CatalogError, match=r"openapi.*must be an http"):
        ServiceCatalog.from_dict({"services": {"x": {"openapi": {"staging": "ftp://x"}}}})
