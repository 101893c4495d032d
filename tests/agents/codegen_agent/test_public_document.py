"""A public OpenAPI 3.1 document nobody here wrote (LangGraph's server API, 50 paths, shipped
in the langgraph-api wheel the dev extra installs): valid, its client and models generate
and pass their checks, the zip fits, and a removed path is a named breaking change."""

from __future__ import annotations

import copy
import json
import sysconfig
from pathlib import Path

import pytest

from workflow.agents.codegen_agent.compare import compare_documents
from workflow.agents.codegen_agent.documents import validate_document
from workflow.agents.codegen_agent.generate import generate_client, generate_models, zip_part

DOCUMENT = Path(sysconfig.get_paths()["purelib"]) / "openapi.json"


@pytest.fixture(scope="module")
def public() -> dict:
    if not DOCUMENT.exists():
        pytest.skip(f"{DOCUMENT} is not installed (langgraph-api)")
    return json.loads(DOCUMENT.read_text())


def test_it_is_valid(public):
    assert public["openapi"].startswith("3.1")
    assert validate_document(public, "public") == []


async def test_its_client_and_models_pass_their_checks(public, tmp_path):
    client = await generate_client(public, "langgraph", None, tmp_path / "client")
    assert {c.name: c.ok for c in client.checks} == {
        "imports": True,
        "ruff": True,
        "safe call": None,  # no service to call here
    }
    assert len(client.files) > 100
    assert zip_part(client, "langgraph_client")["encoding"] == "base64"
    models = await generate_models(public, "langgraph", "Assistant", tmp_path / "models")
    assert models.ok, models.checks
    assert "class Assistant(BaseModel)" in models.files["langgraph_models.py"]


def test_a_removed_path_is_a_named_breaking_change(public):
    changed = copy.deepcopy(public)
    path = next(iter(changed["paths"]))
    methods = [m.upper() for m in changed["paths"].pop(path) if m != "parameters"]
    breaking = {(c.where, c.kind) for c in compare_documents(public, changed) if c.breaking}
    assert {(f"{m} {path}", "removed operation") for m in methods} <= breaking
