"""Both agents through the real graph on the sandbox (its services answer real HTTP with
their OpenAPI documents), and with documents named by URL."""

from __future__ import annotations

import base64
import copy
import io
import json
import re
import zipfile

import pytest

from tests.api_services import BROKEN, library_document, serve
from workflow.assembly import ServiceOptions, open_service


@pytest.fixture
def opener(tmp_path):
    def open_(**options):
        return open_service(
            ServiceOptions(data_dir=tmp_path, sandbox=True, persistence="memory", **options)
        )

    return open_


def codegen(text: str, **context) -> dict:
    return {"task_type": "codegen", "context": {"sandbox": True, **context}, "text": text}


def result_of(report, agent="codegen_agent") -> dict:
    return (
        report.outcome["subagent_results"][agent]
        if "subagent_results" in (report.outcome or {})
        else report.result
    )


async def test_a_client_for_the_sandbox_checkout_is_a_zip_that_was_called(opener):
    async with opener() as h:
        report = await h.service.start(
            **codegen("generate a python client for checkout", service="checkout",
                      codegen_kind="client", pull_request=True),
            requester="U1",
        )  # fmt: skip
        assert report.status == "done", report.summary
        assert "checkout_client" in report.summary and "GET /health -> 200" in report.summary
        result = report.result
        (archive,) = [p for p in result["parts"] if p["kind"] == "file"]
        assert archive["path"] == "checkout_client.zip" and archive["encoding"] == "base64"
        names = zipfile.ZipFile(io.BytesIO(base64.b64decode(archive["content"]))).namelist()
        assert "checkout_client/api/default/list_orders.py" in names
        assert "no pull request: to which service's repository?" in result["warnings"][0]

        # the document the client came from is remembered: no change since
        again = await h.service.start(
            **codegen("what changed in the checkout API since the last client?",
                      service="checkout", codegen_kind="diff"),
            requester="U1",
        )  # fmt: skip
        assert again.status == "done", again.summary
        assert "no changes" in again.summary


async def test_breaking_changes_between_two_documents_by_url(opener):
    old = library_document("1.0.0")
    new = copy.deepcopy(old)
    del new["paths"]["/books/{book_id}/blurb"]
    new["components"]["schemas"]["Book"]["properties"]["genre"]["enum"] = ["novel"]
    from aiohttp import web

    def app() -> web.Application:
        application = web.Application()
        for name, doc in (("old", old), ("new", new)):

            async def handler(_, doc=doc):
                return web.json_response(doc)

            application.router.add_get(f"/{name}.json", handler)
        return application

    with serve(app) as url:
        async with opener() as h:
            report = await h.service.start(
                **codegen("is it breaking?", codegen_kind="diff",
                          spec_url_old=f"{url}/old.json", spec_url=f"{url}/new.json"),
                requester="U1",
            )  # fmt: skip
    assert report.status == "done", report.summary
    assert report.summary.startswith("yes: 2 breaking change(s)"), report.summary
    breaking = {(c["where"], c["kind"]) for c in report.result["output"]["breaking"]}
    assert breaking == {
        ("GET /books/{book_id}/blurb", "removed operation"),
        ("Book.genre", "narrowed enum"),
    }


async def test_a_broken_document_is_refused_with_its_json_paths(opener):
    with serve(lambda: _static(BROKEN)) as url:
        async with opener() as h:
            report = await h.service.start(
                **codegen("generate a client", codegen_kind="client",
                          spec_url=f"{url}/openapi.json"),
                requester="U1",
            )  # fmt: skip
    assert report.status == "failed"
    assert '$.info: "version" is a required property' in report.summary, report.summary


async def test_a_service_without_a_document_says_which_catalog_field(opener):
    async with opener() as h:
        report = await h.service.start(
            **codegen("generate a python client for web", service="web", codegen_kind="client"),
            requester="U1",
        )
    assert report.status == "failed"
    assert "the catalog has no OpenAPI document for web" in report.summary
    assert "openapi: {staging:" in report.summary


async def test_other_languages_are_refused_plainly(opener):
    async with opener() as h:
        report = await h.service.start(
            **codegen("typescript client for checkout", service="checkout",
                      codegen_kind="client", target_language="typescript"),
            requester="U1",
        )  # fmt: skip
    assert report.status == "failed" and "only Python is generated here" in report.summary


async def test_api_tests_in_the_sandbox_find_checkouts_bugs_not_payments(opener):
    progress: list = []
    async with opener() as h:
        found = await h.service.start(
            task_type="test",
            context={"sandbox": True, "service": "checkout", "environment": "staging",
                     "test_kind": "api", "seed": 5},
            text="run the API tests against checkout in staging",
            requester="U1",
            on_progress=lambda node, update: progress.append(update.get("progress")),
        )  # fmt: skip
        clean = await h.service.start(
            task_type="test",
            context={"sandbox": True, "service": "payment-service", "environment": "production",
                     "test_kind": "api", "seed": 5},
            text="run the API tests against payment-service in prod",
            requester="U1",
        )  # fmt: skip
    assert found.status == "done", found.summary
    output = found.result["output"]
    assert output["seed"] == 5 and "seed 5" in found.summary
    assert {(f["operation"], f["check"]) for f in output["failures"]} == {
        ("GET /orders", "response_schema_conformance"),
        ("GET /orders/{order_id}", "not_a_server_error"),
        ("GET /orders/{order_id}", "status_code_conformance"),
    }
    (junit,) = [p for p in found.result["parts"] if p["kind"] == "file"]
    assert junit["path"] == "checkout-api-tests-junit.xml" and "<failure" in junit["content"]
    assert "GET /orders: 2 request(s), failed response_schema_conformance" in progress or any(
        p and p.startswith("GET /orders: ") and "response_schema_conformance" in p for p in progress
    ), progress
    assert any(p and p.startswith("POST /orders: ") and "no failure" in p for p in progress)
    assert clean.status == "done" and clean.result["output"]["failures"] == []
    assert clean.result["output"]["skipped"] == ["POST /orders"], "production: safe only"


def _static(document: dict):
    from aiohttp import web

    async def handler(_):
        return web.Response(text=json.dumps(document), content_type="application/json")

    application = web.Application()
    application.router.add_get("/openapi.json", handler)
    return application


async def test_without_the_api_extra_the_answer_says_what_to_install(opener, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name in {"openapi_python_client", "schemathesis"} else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    async with opener() as h:
        client = await h.service.start(
            **codegen("generate a python client for checkout", service="checkout",
                      codegen_kind="client"),
            requester="U1",
        )  # fmt: skip
        tests = await h.service.start(
            task_type="test",
            context={"sandbox": True, "service": "checkout", "test_kind": "api"},
            text="run the API tests against checkout",
            requester="U1",
        )
    assert client.status == "failed"
    assert "openapi-python-client is not installed here" in client.summary
    assert "pip install 'devops-bot[api]'" in client.summary
    assert tests.status == "failed" and "schemathesis is not installed here" in tests.summary


async def test_api_tests_that_write_to_production_run_only_once_approved(opener):
    from workflow.service import RefusedError

    async with opener() as h:
        report = await h.service.start(
            task_type="test",
            context={"sandbox": True, "service": "payment-service", "environment": "production",
                     "test_kind": "api", "include_writes": True, "seed": 3},
            text="run the API tests against payment-service in prod including writes",
            requester="U1",
        )  # fmt: skip
        assert report.status == "awaiting_approval", report.summary
        plan = report.approval
        assert plan["action"] == "api_writes" and plan["environment"] == "production"
        assert "POST /orders" in plan["preview"] and "seed 3" in plan["preview"]
        with pytest.raises(RefusedError, match="self-approval"):
            await h.service.approve(report.thread_id, "U1")
        done = await h.service.approve(report.thread_id, "U2")
    assert done.status == "applied", done.summary
    assert "POST /orders" in done.outcome["result"]["operations"], done.outcome
    assert done.outcome["result"]["failures"] == [] and done.outcome["result"]["skipped"] == []


@pytest.mark.slow
async def test_scaffolded_tests_run_once_and_say_what_they_found(opener):
    async with opener() as h:
        buggy = await h.service.start(
            task_type="test",
            context={"sandbox": True, "service": "checkout", "test_kind": "scaffold",
                     "endpoints": "orders"},
            text="scaffold tests for the orders endpoints of checkout",
            requester="U1",
        )  # fmt: skip
        clean = await h.service.start(
            task_type="test",
            context={"sandbox": True, "service": "payment-service", "test_kind": "scaffold",
                     "endpoints": "payments", "seed": 7},
            text="scaffold tests for the payments endpoints of payment-service",
            requester="U1",
        )  # fmt: skip
    assert buggy.status == "done", buggy.summary
    assert "3 orders operation(s) of checkout" in buggy.summary
    assert "1 documented example(s)" in buggy.summary
    # a new seed each run, printed; the planted bugs are found whatever it is
    assert re.search(
        r"run once against checkout in staging \(seed \d+\): 2 failed, 2 passed", buggy.summary
    ), buggy.summary
    (module,) = [p for p in buggy.result["parts"] if p["kind"] == "file"]
    assert module["path"] == "test_checkout_api.py"
    compile(module["content"], module["path"], "exec")
    assert not buggy.result["warnings"], "a pull request only when asked (test_pull_requests)"
    assert clean.status == "done" and re.search(r"\(seed 7\): 1 passed in", clean.summary)
