"""OpenAPI documents kept in a service's repository (issue 13): the catalog's `openapi_path`,
read on the forge at main (the local GitHub REST server over real HTTP, and the sandbox
forge's bare repositories), validated like a fetched one; its precedence after URLs, the
base URL of a document that has no live service of its own, and each error sentence."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.agents.scaffold_agent.forge_server import Forge, serve
from tests.api_services import BROKEN, library_document, serve_library
from workflow.agents.base import Refusal
from workflow.agents.codegen_agent.documents import (
    ApiDirectory,
    DocumentError,
    locate_document,
    read_repository_document,
)
from workflow.approval.policy import ApprovalPolicy
from workflow.catalog import CatalogError, ServiceCatalog
from workflow.classify import classify_text
from workflow.deps import WorkflowDeps
from workflow.memory import MemoryBus
from workflow.tools.changes import ChangeRequest
from workflow.tools.changes.github import GitHubForge
from workflow.tools.changes.sandbox import SandboxForge

TOKEN = "ghp_TESTtokenNEVERshown0123456789"
PATH = "api/openapi.yaml"
WHERE = f"acme/ledger:{PATH}@main"


@pytest.fixture
def forge(tmp_path: Path) -> Iterator[Forge]:
    f = Forge(tmp_path / "forge", token=TOKEN)
    f.root.mkdir()
    server, _ = serve(f)
    yield f
    server.shutdown()
    server.server_close()


def github(forge: Forge, token: str = TOKEN) -> GitHubForge:
    return GitHubForge(api_url=forge.url, org="acme", token=token)


def catalog(**ledger) -> ServiceCatalog:
    entry = {"repository": "acme/ledger", "openapi_path": PATH, **ledger}
    return ServiceCatalog.from_dict({"services": {"ledger": entry}})


def deps_with(cat: ServiceCatalog, forge: object | None) -> WorkflowDeps:
    return WorkflowDeps(
        memory=MemoryBus.in_memory(),
        policy=ApprovalPolicy.builtin(),
        catalog=cat,
        extras={"forge": forge} if forge is not None else {},
    )


def repo_document(version: str = "9.9.9-repo") -> dict:
    document = library_document()
    document["info"]["version"] = version
    return document


# ---------------------------------------------------------------- the catalog field


def test_the_catalog_takes_a_relative_path_in_the_repository():
    entry = catalog().resolve("ledger")
    assert entry.openapi_path == PATH
    assert entry.to_dict()["openapi_path"] == PATH


@pytest.mark.parametrize(
    "bad", ["../other/openapi.yaml", "api/../../etc/passwd", "/etc/openapi.yaml", ".git/config",
            "api//openapi.yaml", "", "api\\openapi.yaml"],
)  # fmt: skip
def test_the_catalog_refuses_a_path_outside_the_repository(bad):
    with pytest.raises(CatalogError, match="openapi_path"):
        catalog(openapi_path=bad)


# ---------------------------------------------------------------- reading on the forge


async def test_a_yaml_document_is_read_from_github_at_main(forge):
    forge.make_repo("acme", "ledger", {PATH: yaml.safe_dump(repo_document())})
    client = github(forge)
    try:
        document = await read_repository_document(client, "acme/ledger", PATH)
    finally:
        await client.aclose()
    assert document.url == WHERE and document.in_repository
    assert document.version == "9.9.9-repo" and document.title == "Library API"
    assert document.base_url() is None, "the contract, not a live service"
    assert "the live call was not made" in document.no_live_url()
    reads = [p for m, p, _ in forge.requests if "/contents/" in p]
    assert reads == [f"/repos/acme/ledger/contents/{PATH}?ref=main"]


async def test_a_json_document_is_read_from_the_sandbox_forge(tmp_path):
    sandbox = SandboxForge(tmp_path)
    await sandbox.submit(
        ChangeRequest(repository="acme/ledger", files={"openapi.json": json.dumps(repo_document())},
                      branch="main", title="ledger", message="seed", new_repository=True)
    )  # fmt: skip
    document = await read_repository_document(sandbox, "acme/ledger", "openapi.json")
    assert document.url == "acme/ledger:openapi.json@main" and document.version == "9.9.9-repo"


async def test_an_invalid_repository_document_names_its_json_paths(forge):
    forge.make_repo("acme", "ledger", {PATH: yaml.safe_dump(BROKEN)})
    client = github(forge)
    with pytest.raises(DocumentError) as caught:
        await read_repository_document(client, "acme/ledger", PATH)
    await client.aclose()
    message = str(caught.value)
    assert message.startswith(f"the OpenAPI document at {WHERE} is not valid")
    assert '$.info: "version" is a required property' in message


async def test_a_missing_file_names_the_repository_path_and_branch(forge):
    forge.make_repo("acme", "ledger", {"README.md": "# ledger\n"})
    client = github(forge)
    with pytest.raises(DocumentError) as caught:
        await read_repository_document(client, "acme/ledger", PATH)
    await client.aclose()
    message = str(caught.value)
    assert f"acme/ledger on GitHub ({forge.url}) has no {PATH} on branch main" in message
    assert "correct `openapi_path:`" in message


async def test_a_refused_token_is_said_without_the_token(forge):
    forge.make_repo("acme", "ledger", {PATH: yaml.safe_dump(repo_document())})
    wrong = "ghp_WRONGtokenNEVERshown000000000000"
    client = github(forge, token=wrong)
    with pytest.raises(DocumentError) as caught:
        await read_repository_document(client, "acme/ledger", PATH)
    await client.aclose()
    message = str(caught.value)
    assert "HTTP 401" in message and "check that the forge is reachable" in message
    assert wrong not in message and TOKEN not in message


async def test_an_unreachable_forge_is_said_plainly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = GitHubForge(api_url=f"http://127.0.0.1:{port}", org="acme", token=TOKEN)
    with pytest.raises(DocumentError) as caught:
        await read_repository_document(client, "acme/ledger", PATH)
    await client.aclose()
    message = str(caught.value)
    assert message.startswith(
        f"cannot read the OpenAPI document {PATH} of acme/ledger (branch main)"
    )
    assert "is unreachable" in message and TOKEN not in message and "Traceback" not in message


async def test_an_oversized_document_is_refused(forge, monkeypatch):
    from workflow.agents.codegen_agent import documents

    monkeypatch.setattr(documents, "MAX_DOCUMENT_BYTES", 1000)
    forge.make_repo("acme", "ledger", {PATH: yaml.safe_dump(repo_document())})
    client = github(forge)
    with pytest.raises(DocumentError, match=f"{WHERE}: the document is over 1000 bytes"):
        await read_repository_document(client, "acme/ledger", PATH)
    await client.aclose()


# ---------------------------------------------------------------- precedence and refusals


async def test_precedence_request_url_then_catalog_url_then_repository(forge):
    forge.make_repo("acme", "ledger", {PATH: yaml.safe_dump(repo_document())})
    client = github(forge)
    with serve_library(bugs=False) as live:
        cat = catalog(openapi={"production": f"{live}/openapi.json"})
        deps = deps_with(cat, client)
        directory = ApiDirectory(catalog=cat)
        ask = {"service": "ledger"}

        # a URL typed in the request wins over both
        _, _, typed = await locate_document(
            directory, {**ask, "environment": "staging", "spec_url": f"{live}/openapi.json"},
            "x", deps=deps,
        )  # fmt: skip
        assert typed.url == f"{live}/openapi.json" and not typed.in_repository
        # the catalog URL of the asked environment wins over the repository
        _, _, prod = await locate_document(
            directory, {**ask, "environment": "production"}, "x", deps=deps
        )
        assert prod.url == f"{live}/openapi.json" and prod.version == "3.1.0"
        # no URL for staging: the repository's document, with no live URL of its own
        _, env, staging = await locate_document(
            directory, {**ask, "environment": "staging"}, "x", deps=deps
        )
        assert env == "staging" and staging.url == WHERE and staging.base_url() is None
        # "from its repo spec" in production: the repository's document, called where the
        # catalog says production answers
        _, _, asked = await locate_document(
            directory, {**ask, "environment": "production", "spec_source": "repository"},
            "x", deps=deps,
        )  # fmt: skip
        assert asked.url == WHERE and asked.version == "9.9.9-repo"
        assert asked.base_url() == live
    await client.aclose()


def test_absolute_servers_of_a_repository_document_are_its_base_url():
    from workflow.agents.codegen_agent.documents import Document

    with_server = {**repo_document(), "servers": [{"url": "https://ledger.example.com/v1/"}]}
    assert Document(WHERE, with_server, in_repository=True).base_url() == (
        "https://ledger.example.com/v1"
    )
    relative = {**repo_document(), "servers": [{"url": "/v1"}]}
    assert Document(WHERE, relative, in_repository=True).base_url() is None


async def test_each_missing_piece_is_a_sentence_saying_how_to_fix_it(forge):
    ask = {"service": "ledger", "environment": "staging"}
    # no repository in the catalog entry
    cat = ServiceCatalog.from_dict({"services": {"ledger": {"openapi_path": PATH}}})
    with pytest.raises(Refusal, match=r"names no `repository:`: add `repository: owner/name`"):
        await locate_document(ApiDirectory(catalog=cat), ask, "x", deps=deps_with(cat, None))
    # no forge configured
    cat = catalog()
    with pytest.raises(Refusal) as caught:
        await locate_document(ApiDirectory(catalog=cat), ask, "x", deps=deps_with(cat, None))
    assert f"ledger's OpenAPI document is {PATH} in acme/ledger, but" in str(caught.value)
    assert "but no forge is configured: set DEVOPS_BOT_FORGE=github" in str(caught.value)
    # the file is not on main: a Refusal naming repository, path and branch
    forge.make_repo("acme", "ledger", {})
    client = github(forge)
    with pytest.raises(Refusal, match=f"has no {PATH} on branch main"):
        await locate_document(ApiDirectory(catalog=cat), ask, "x", deps=deps_with(cat, client))
    await client.aclose()
    # "from the repo" when the catalog names no path there
    bare = ServiceCatalog.from_dict({"services": {"ledger": {"repository": "acme/ledger"}}})
    with pytest.raises(Refusal, match=r"add\s+`openapi_path: api/openapi.yaml`"):
        await locate_document(
            ApiDirectory(catalog=bare), {**ask, "spec_source": "repository"}, "x",
            deps=deps_with(bare, None),
        )  # fmt: skip


# ---------------------------------------------------------------- the agents


async def test_a_client_is_generated_from_the_repository_document(forge):
    from workflow.agents.codegen_agent.node import _client

    forge.make_repo("acme", "ledger", {PATH: yaml.safe_dump(repo_document())})
    client = github(forge)
    cat = catalog()
    deps = deps_with(cat, client)
    try:
        # no live URL anywhere: the client is generated and checked, the live call said not made
        answer = await _client(deps, {"service": "ledger", "codegen_kind": "client"}, {})
        assert answer.status == "completed", answer.summary
        assert f"(from {WHERE})" in answer.summary and "9.9.9-repo" in answer.summary
        assert answer.output["document"] == WHERE
        assert any("no safe call" in w and "live call was not made" in w
                   for w in answer.warnings), answer.warnings  # fmt: skip
        # "from its repo spec" with the environment's URL in the catalog: called there
        with serve_library(bugs=False) as live:
            cat = catalog(openapi={"staging": f"{live}/openapi.json"})
            deps = deps_with(cat, client)
            context = {"service": "ledger", "codegen_kind": "client", "spec_source": "repository"}
            called = await _client(deps, context, {})
        assert called.status == "completed", called.summary
        assert "9.9.9-repo" in called.summary and "-> 200" in called.summary, called.summary
    finally:
        await client.aclose()


async def test_api_tests_without_a_live_url_are_not_run_and_say_why(forge):
    from workflow.agents.testing_agent.node import _api

    forge.make_repo("acme", "ledger", {PATH: yaml.safe_dump(repo_document())})
    client = github(forge)
    try:
        answer = await _api(deps_with(catalog(), client), {"service": "ledger"}, {})
    finally:
        await client.aclose()
    assert answer.status == "failed"
    assert answer.summary.startswith("no API tests were run against ledger: the document at")
    assert "the live call was not made" in answer.summary


# ---------------------------------------------------------------- reading the request


@pytest.mark.parametrize(
    ("text", "task_type"),
    [
        ("generate a python client for ledger from its repo spec", "codegen"),
        ("can u gen a py sdk for ledger off the spec in its repository, not the live one",
         "codegen"),
        ("pydantic models of the Invoice schema of ledger from what's in the git repo", "codegen"),
        ("run the api tests against ledger in staging using the repo's openapi file", "test"),
        ("make a python client for ledger based on the committed openapi spec", "codegen"),
    ],
)  # fmt: skip
def test_held_out_phrasings_ask_for_the_repository_document(text, task_type):
    request = classify_text(text)
    assert request.task_type == task_type, request
    assert request.context.get("spec_source") == "repository", request.context
    assert request.context.get("service") == "ledger", request.context


@pytest.mark.parametrize(
    "text",
    [
        "generate a python client for checkout and open a pull request in the web repository",
        "generate a python client for ledger",
        "generate a client from https://example.com/repo/openapi.json",
    ],
)
def test_other_requests_do_not_ask_for_the_repository(text):
    assert "spec_source" not in classify_text(text).context


# ---------------------------------------------------------------- the sandbox


def test_the_sandbox_checkout_repository_holds_its_live_contract():
    from workflow.agents.codegen_agent.sandbox_api import orders_document
    from workflow.tools.changes.sandbox import SEEDS

    committed = yaml.safe_load((SEEDS / "checkout" / PATH).read_text())
    assert committed == orders_document(), "the repository's contract is the live API's"


async def test_a_sandbox_service_repository_exists_before_anything_is_pushed(tmp_path):
    sandbox = SandboxForge(tmp_path)
    text = await asyncio.to_thread(sandbox.read_file, "acme/checkout", PATH, "main")
    assert text is not None and "Checkout API" in text
    assert sandbox.repositories() == ["acme/checkout"]
    assert sandbox.read_file("acme/web", PATH, "main") is None, "no seed: no repository"
    assert sandbox.repositories() == ["acme/checkout"]


def test_the_sandbox_cli_generates_a_client_from_the_repository_document(tmp_path):
    from tests.cli_helpers import Cli, no_traceback

    data = tmp_path / "data"
    data.mkdir()
    # the code under test, also when the console script's editable install points elsewhere
    cli = Cli(data, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    run = cli("run", "generate a python client for checkout from its repo spec", "--sandbox")
    no_traceback(run)
    assert run.code == 0, run
    assert "spec_source=repository" in run.out
    assert "(from acme/checkout:api/openapi.yaml@main)" in run.out, run.out
    assert "GET /health -> 200" in run.out, "called where the sandbox serves checkout"
