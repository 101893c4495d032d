"""schemathesis against live loopback services: the planted bugs are found and nothing
else; the correct service passes; the seed reproduces the run; production sends only safe
methods; the JUnit report carries every failure."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import httpx
import pytest

from tests.api_services import PLANTED, library_document, serve_library
from workflow.agents.codegen_agent.sandbox_api import SandboxApis
from workflow.agents.testing_agent.apitest import junit_xml, run_api_tests


async def test_the_planted_bugs_and_nothing_else_are_reported():
    with serve_library(bugs=True) as url:
        run = await run_api_tests(library_document(), url, seed=7, max_examples=30)
    found = {(f.operation, f.check) for f in run.failures}
    assert found == PLANTED, run.failures
    assert not run.errors and not run.timed_out
    by_check = {(f.operation, f.check): f for f in run.failures}
    server_error = by_check[("GET /books/{book_id}", "not_a_server_error")]
    assert server_error.curl.startswith(f"curl -X GET {url}/books/"), server_error.curl
    assert int(server_error.curl.rsplit("/", 1)[1]) > 10000, "the edge case that fails"
    schema = by_check[("GET /books", "response_schema_conformance")]
    assert "'poetry'" in schema.message or '"poetry"' in schema.message, schema.message


async def test_a_correct_service_has_no_failures():
    with serve_library(bugs=False) as url:
        run = await run_api_tests(library_document(), url, seed=7, max_examples=30)
    assert run.failures == [] and run.errors == []
    assert set(run.operations) == {
        "GET /books",
        "POST /books",
        "GET /books/{book_id}",
        "GET /books/{book_id}/blurb",
    }
    assert sum(run.requests.values()) > 30


async def test_the_same_seed_sends_the_same_requests():
    with serve_library(bugs=True) as url:
        first = await run_api_tests(library_document(), url, seed=99, max_examples=20)
        again = await run_api_tests(library_document(), url, seed=99, max_examples=20)
    assert [f.curl for f in first.failures] == [f.curl for f in again.failures]


async def test_production_sends_only_safe_methods():
    with serve_library(bugs=False) as url:
        run = await run_api_tests(library_document(), url, seed=1, max_examples=5, safe_only=True)
    assert run.skipped == ["POST /books"]
    assert "POST /books" not in run.operations


async def test_the_time_bound_stops_the_run():
    with serve_library(bugs=False) as url:
        run = await run_api_tests(
            library_document(), url, seed=1, max_examples=1000, time_budget_s=0.5
        )
    assert run.timed_out and run.seconds < 3, run.seconds
    assert run.skipped, "the operations left when time ran out are listed"
    assert run.errors == [], "running out of time is not an error"


async def test_a_service_that_does_not_answer_is_an_error_not_a_pass():
    with serve_library(bugs=False) as url:
        pass
    run = await run_api_tests(library_document(), url, seed=1, max_examples=3, request_timeout_s=1)
    assert run.failures == [] and sum(run.requests.values()) == 0
    assert run.errors and "did not answer" in run.errors[0]


async def test_the_junit_report_names_each_failure():
    with serve_library(bugs=True) as url:
        run = await run_api_tests(library_document(), url, seed=7, max_examples=30)
    root = ET.fromstring(junit_xml(run, "library API"))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "4" and suite.get("failures") == "3"
    failures = {(case.get("name"), f.get("type")) for case in suite.iter("testcase") for f in case}
    assert failures == PLANTED
    seed = suite.find("properties/property[@name='seed']")
    assert seed is not None and seed.get("value") == "7"


def test_request_bodies_keep_their_json_media_types_only():
    from workflow.agents.testing_agent.apitest import prefer_json

    doc = library_document()
    content = doc["paths"]["/books"]["post"]["requestBody"]["content"]
    content["application/xml"] = {"schema": {"type": "object"}}
    content["application/x-www-form-urlencoded"] = {"schema": {"type": "object"}}
    changed = prefer_json(doc)
    assert list(changed["paths"]["/books"]["post"]["requestBody"]["content"]) == [
        "application/json"
    ]
    assert len(content) == 3, "the document itself is left as it was"


# Bodies each document forbids. A service that accepted one would echo it back and fail the
# response schema check with some seeds only: a bug nobody planted, found by chance.
_FORBIDDEN_BOOKS = [
    {"title": "Emma", "genre": True}, {"title": "Emma", "genre": "poetry"}, {"title": "Emma"},
    {"title": "", "genre": "novel"}, {"title": "E" * 81, "genre": "novel"},
    {"title": "Emma", "genre": "novel", "year": True}, {"title": 5, "genre": "novel"}, [],
]  # fmt: skip
_FORBIDDEN_ORDERS = [
    {"item": "book", "quantity": True}, {"item": "book", "quantity": 0},
    {"item": "book", "quantity": 1001}, {"item": "book", "quantity": 1.5},
    {"item": "", "quantity": 1}, {"item": "b" * 41, "quantity": 1}, {"quantity": 1}, "book",
]  # fmt: skip


@pytest.mark.parametrize("bugs", [True, False])
def test_the_test_services_reject_every_body_their_documents_forbid(bugs):
    with serve_library(bugs=bugs) as url:
        for body in _FORBIDDEN_BOOKS:
            assert httpx.post(f"{url}/books", json=body).status_code == 400, body
        good = httpx.post(f"{url}/books", json={"title": "Emma", "genre": "novel", "year": 1815})
        assert good.status_code == 201, good.text


def test_the_sandbox_apis_reject_every_body_their_documents_forbid():
    apis = SandboxApis()
    apis.start()
    try:
        for service in ("checkout", "payment-service"):
            for body in _FORBIDDEN_ORDERS:
                answer = httpx.post(f"{apis.url}/{service}/orders", json=body)
                assert answer.status_code == 400, (service, body, answer.text)
            good = httpx.post(f"{apis.url}/{service}/orders", json={"item": "b", "quantity": 1})
            assert good.status_code == 201 and good.json()["quantity"] == 1, good.text
    finally:
        apis.stop()
