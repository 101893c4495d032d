"""A document handed in as text (`spec_text`, e.g. a file uploaded in Slack) through the real
graph on the sandbox: validated like a fetched one, used instead of the catalog's, and the new
version when the question is what changed."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.agents.codegen_agent.test_flows import codegen, opener  # noqa: F401 (fixture)
from tests.api_services import BROKEN
from workflow.agents.codegen_agent.sandbox_api import orders_document


async def test_a_client_is_made_from_the_uploaded_document_and_called(opener):  # noqa: F811
    document = orders_document(version="9.9.9")
    async with opener() as h:
        report = await h.service.start(
            **codegen("generate a python client from this", codegen_kind="client",
                      spec_text=yaml.safe_dump(document), spec_name="openapi.yaml"),
            requester="U1",
        )  # fmt: skip
    assert report.status == "done", report.summary
    # Named by the document's title; it answers where the sandbox serves checkout's API.
    assert "checkout_client" in report.summary and "9.9.9" in report.summary
    assert "GET /health -> 200" in report.summary, report.summary
    (archive,) = [p for p in report.result["parts"] if p["kind"] == "file"]
    names = zipfile.ZipFile(io.BytesIO(base64.b64decode(archive["content"]))).namelist()
    assert "checkout_client/api/default/list_orders.py" in names
    assert report.result["output"]["document"] == "the uploaded openapi.yaml"


async def test_a_broken_uploaded_document_is_refused_with_its_json_paths(opener):  # noqa: F811
    async with opener() as h:
        report = await h.service.start(
            **codegen("generate a python client from this", codegen_kind="client",
                      service="checkout", spec_text="- just\n- a list\n", spec_name="openapi.yaml"),
            requester="U1",
        )  # fmt: skip
        assert report.status == "failed"
        assert "the uploaded openapi.yaml: an OpenAPI document is a mapping, not list" in (
            report.summary
        ), report.summary

        report = await h.service.start(
            **codegen("generate a python client from this", codegen_kind="client",
                      service="checkout", spec_text=json.dumps(BROKEN), spec_name="openapi.json"),
            requester="U1",
        )  # fmt: skip
    assert report.status == "failed"
    assert "the uploaded openapi.json is not a valid OpenAPI document" in report.summary
    assert '$.info: "version" is a required property' in report.summary, report.summary


async def test_an_uploaded_document_is_the_new_version_of_what_the_service_serves(opener):  # noqa: F811
    document = orders_document(version="2.0.0")
    del document["paths"]["/orders/{order_id}"]
    async with opener() as h:
        report = await h.service.start(
            **codegen("is this spec breaking?", codegen_kind="diff", service="spec",
                      spec_text=yaml.safe_dump(document), spec_name="openapi.yaml"),
            requester="U1",
        )  # fmt: skip
    assert report.status == "done", report.summary
    assert report.summary.startswith("yes: ") and "checkout's API" in report.summary
    assert "/orders/{order_id}" in report.summary
    assert "to the uploaded openapi.yaml (2.0.0)" in report.summary, report.summary


async def test_api_tests_run_the_uploaded_document_against_the_named_service(opener):  # noqa: F811
    # Only /health: the catalog's document would have found checkout's planted order bugs.
    document = orders_document()
    document["paths"] = {"/health": document["paths"]["/health"]}
    async with opener() as h:
        report = await h.service.start(
            task_type="test",
            context={"sandbox": True, "service": "checkout", "environment": "staging",
                     "test_kind": "api", "seed": 5, "spec_text": json.dumps(document),
                     "spec_name": "openapi.json"},
            text="run the API tests against checkout in staging with this spec",
            requester="U1",
        )  # fmt: skip
    assert report.status == "done", report.summary
    output = report.result["output"]
    assert output["failures"] == [] and output["errors"] == [], output
    assert output["operations"] == ["GET /health"] and output["requests"]["GET /health"] >= 1
    assert "/checkout" in output["base_url"], output


async def test_api_tests_need_to_know_where_an_unknown_uploaded_api_answers(opener):  # noqa: F811
    document = orders_document(title="Mystery API")
    async with opener() as h:
        report = await h.service.start(
            task_type="test",
            context={"sandbox": True, "test_kind": "api",
                     "spec_text": yaml.safe_dump(document), "spec_name": "openapi.yaml"},
            text="run the API tests with this spec",
            requester="U1",
        )  # fmt: skip
    assert report.status == "failed"
    assert "where does mystery's API answer?" in report.summary, report.summary


@pytest.mark.slow  # a subprocess that generates and imports a client: ~9 s here, more when busy
def test_the_cli_reads_a_local_document_with_spec(tmp_path):
    from tests.cli_helpers import Cli, no_traceback

    # This checkout's code, also where the console script was installed from another one.
    root = Path(__file__).resolve().parents[3]
    (tmp_path / "data").mkdir()
    sqlite_cli = Cli(tmp_path / "data", PYTHONPATH=str(root))

    spec = tmp_path / "openapi.yaml"
    spec.write_text(yaml.safe_dump(orders_document(version="5.5.5")), encoding="utf-8")
    run = sqlite_cli(
        "run", "generate a python client from this", "--spec", str(spec), "--sandbox", "--json"
    )
    no_traceback(run)
    assert run.code == 0, run
    report = json.loads(run.out)
    assert "checkout_client" in report["summary"] and "5.5.5" in report["summary"], report

    missing = sqlite_cli(
        "run", "generate a python client from this", "--spec", str(tmp_path / "nope.json")
    )
    no_traceback(missing)
    assert missing.code == 2 and "nope.json: cannot read" in missing.err, missing
