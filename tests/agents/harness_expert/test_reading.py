"""The classifier reads a pipeline's shape from requests written the way people write in
Slack (held out: none of these sentences is in the reader's code or the authoring tests)."""

from __future__ import annotations

import pytest

from workflow.classify.rules import classify_rules

CASES = [
    (
        "ci/cd for ledger please, tests + image, then staging and prod",
        {
            "service": "ledger",
            "environments": ["staging", "production"],
            "ci_steps": ["build", "test"],
        },
    ),
    ("new pipeline: orders-api -> dev", {"service": "orders-api", "environment": "dev"}),
    (
        "create a pipeline for ledger: build, test, deploy to staging then prod with an "
        "approval before prod",
        {"service": "ledger", "approval_before": ["production"], "ci_steps": ["build", "test"]},
    ),
    (
        "add an approval step before production to payment-service's pipeline",
        {
            "service": "payment-service",
            "pipeline_change": "add_approval",
            "approval_before": ["production"],
        },
    ),
    (
        "can we drop the approval gate for staging on the checkout pipeline?",
        {"service": "checkout", "pipeline_change": "remove_approval"},
    ),
    (
        "switch checkout's pipeline to blue/green",
        {"service": "checkout", "pipeline_change": "change_strategy", "strategy": "blue_green"},
    ),
    (
        "add staging to the ledger pipeline",
        {"service": "ledger", "pipeline_change": "add_environment", "environment": "staging"},
    ),
    (
        "need a CI pipeline for web, just build and test, no deploys",
        {"service": "web", "ci_only": True},
    ),
    (
        "set up a canary pipeline for invoice-api (fastapi) to dev and prod, no approval",
        {
            "service": "invoice-api",
            "strategy": "canary",
            "language": "python",
            "approval_before": [],
            "environments": ["dev", "production"],
        },
    ),
    (
        "cd-only pipeline for go-gateway in go, staging then prod",
        {"service": "go-gateway", "ci_steps": [], "language": "go"},
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_the_shape_of_a_pipeline_is_read_from_the_text(text, expected):
    request = classify_rules(text)
    assert request.task_type == "pipeline", text
    found = {key: request.context.get(key) for key in expected}
    assert found == expected, request.context


@pytest.mark.parametrize(
    "text",
    [
        "create a pipeline for ledger",  # nothing said: the authoring's defaults apply
        "what's the status of the checkout pipeline",
        "re-run the last failed payment-service pipeline",
    ],
)
def test_nothing_is_read_that_was_not_said(text):
    context = classify_rules(text).context
    assert not {"pipeline_change", "ci_steps", "ci_only", "strategy", "language"} & set(context)


def test_a_new_pipeline_is_not_an_edit():
    context = classify_rules("create a pipeline for web with an approval before prod").context
    assert "pipeline_change" not in context and context["approval_before"] == ["production"]
