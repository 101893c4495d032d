"""The classifier's reading of API requests, on phrasings written the way people write in
Slack (none of them is in the vocabularies' patterns verbatim)."""

from __future__ import annotations

import pytest

from workflow.classify import classify_text

CODEGEN, TEST = "codegen", "test"

HELD_OUT = [
    # (text, task type, expected context subset)
    (
        "hey can someone gen me a python sdk for the payments api? need it for the batch job",
        CODEGEN,
        {"codegen_kind": "client", "target_language": "python", "service": "payments"},
    ),
    (
        "need pydantic models for the Order schema from checkout's spec pls",
        CODEGEN,
        {"codegen_kind": "models", "schema_name": "order"},
    ),
    (
        "generate a client from https://petstore3.swagger.io/api/v3/openapi.json",
        CODEGEN,
        {"codegen_kind": "client", "spec_url": "https://petstore3.swagger.io/api/v3/openapi.json"},
    ),
    (
        "did the checkout api change anything breaking since the last client we generated?",
        CODEGEN,
        {"codegen_kind": "diff", "service": "checkout"},
    ),
    (
        "is <https://a.example.com/v2/openapi.json> breaking vs "
        "<https://a.example.com/v1/openapi.json>?",
        CODEGEN,
        {"codegen_kind": "diff"},
    ),
    (
        "typescript client for the ledger api plz",
        CODEGEN,
        {"codegen_kind": "client", "target_language": "typescript", "service": "ledger"},
    ),
    (
        "could you open a PR with a fresh python client for payments?",
        CODEGEN,
        {"codegen_kind": "client", "pull_request": True},
    ),
    (
        "fuzz the checkout api in staging with schemathesis",
        TEST,
        {"test_kind": "api", "service": "checkout", "environment": "staging"},
    ),
    (
        "pls run api tests on payment-service (prod)",
        TEST,
        {"test_kind": "api", "service": "payment-service", "environment": "production"},
    ),
    (
        "can we hit checkout's api in prod with schemathesis, posts too this time",
        TEST,
        {"test_kind": "api", "environment": "production", "include_writes": True},
    ),
    (
        "can u scaffold some tests for the orders endpoints of payments",
        TEST,
        {"test_kind": "scaffold", "endpoints": "orders", "service": "payments"},
    ),
    (
        "whats ledger's coverage looking like these days",
        TEST,
        {"test_kind": "coverage", "service": "ledger"},
    ),
    (
        "which ledger modules are worst covered by tests?",
        TEST,
        {"test_kind": "coverage", "service": "ledger"},
    ),
]


@pytest.mark.parametrize(("text", "task_type", "expected"), HELD_OUT, ids=[t for t, *_ in HELD_OUT])
def test_held_out_slack_phrasings(text, task_type, expected):
    request = classify_text(text)
    assert request.task_type == task_type, request
    found = {k: request.context.get(k) for k in expected}
    assert found == expected, request.context


def test_two_urls_are_old_then_new():
    request = classify_text(
        "compare https://x.example.com/v1.json with https://x.example.com/v2.json, breaking?"
    )
    assert request.context["spec_url_old"] == "https://x.example.com/v1.json"
    assert request.context["spec_url"] == "https://x.example.com/v2.json"
