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


@pytest.mark.parametrize(
    ("text", "inputs", "context"),
    [
        ("deploy payment-service:v2.3.0 prod change_ticket=CHG-1234 branch=release/2.3",
         {"change_ticket": "CHG-1234", "branch": "release/2.3"},
         {"service": "payment-service", "environment": "production", "image_tag": "v2.3.0"}),
        # the shared rules' own words stay theirs: tag= is the image tag for every agent
        ("deploy payment-service prod tag=v2.4.0 approver_group=sre",
         {"approver_group": "sre"}, {"image_tag": "v2.4.0", "environment": "production"}),
        # a full input path is cut before the shared rules read "pipeline" in it
        ("deploy payment-service:v2.3.0 prod pipeline.variables.region.value=eu-west-1",
         {"pipeline.variables.region.value": "eu-west-1"}, {"service": "payment-service"}),
        ("deploy payment-service:v2.3.0 prod", None, {"service": "payment-service"}),
    ],
)  # fmt: skip
def test_name_value_words_are_the_pipelines_runtime_inputs(text, inputs, context):
    request = classify_rules(text)
    assert request.task_type == "deploy"
    assert request.context.get("runtime_inputs") == inputs, request.context
    assert "pipeline_name" not in request.context
    for key, value in context.items():
        assert request.context[key] == value, request.context


def test_name_value_words_outside_deploys_and_pipelines_are_left_alone():
    request = classify_rules("show me logs where status=500 for orders in prod")
    assert "runtime_inputs" not in request.context
    assert request.context.get("search_term") == "status=500"
