"""A generated pipeline clones the service's repository, so a deploy through it needs the
codebase's `build` runtime input: filled with the repository's main branch (or the branch or
git tag the request names), asked back when the catalog names no repository."""

from __future__ import annotations

import yaml

from workflow.agents.harness_expert.answers import RequestAnswers, given_inputs
from workflow.agents.harness_expert.authoring import design_pipeline, render_pipeline
from workflow.agents.harness_expert.inputs import fill_template, input_template
from workflow.catalog import ServiceEntry
from workflow.classify.rules import classify_rules

ENTRY = ServiceEntry.model_validate(
    {"name": "invoice-api", "owners": ["billing"], "repository": "acme/invoice-api"}
)
BARE = ServiceEntry.model_validate({"name": "invoice-api", "owners": ["billing"]})


def filled(entry: ServiceEntry, **given: str) -> tuple[dict, list[str]]:
    design = design_pipeline(
        {"environments": ["staging"], "ci_steps": ["clone", "build", "push"]},
        entry,
        "invoice-api",
    )
    pipeline = render_pipeline(design, entry, org="default", project="default_project")
    template = input_template(pipeline)
    assert "build: <+input>" in template
    answer = RequestAnswers(entry, "staging", "v0.1.0", given_inputs({"runtime_inputs": given}))
    text, missing = fill_template(template, answer)
    build = yaml.safe_load(text)["pipeline"]["properties"]["ci"]["codebase"]["build"]
    return build, [m.fqn for m in missing]


def test_the_main_branch_of_the_services_repository_is_built():
    build, _ = filled(ENTRY)
    assert build == {"type": "branch", "spec": {"branch": "main"}}


def test_a_branch_or_git_tag_the_request_names_wins():
    assert filled(ENTRY, branch="release")[0]["spec"] == {"branch": "release"}
    assert filled(ENTRY, git_tag="v0.1.0")[0] == {"type": "tag", "spec": {"tag": "v0.1.0"}}


def test_the_branch_is_read_from_the_words_of_the_request():
    request = classify_rules("deploy invoice-api:v0.1.0 staging branch=release/0.1")
    assert request.context["runtime_inputs"] == {"branch": "release/0.1"}
    build, _ = filled(ENTRY, **request.context["runtime_inputs"])
    assert build == {"type": "branch", "spec": {"branch": "release/0.1"}}


def test_without_a_repository_it_is_asked_back():
    build, missing = filled(BARE)
    assert build == "<+input>"
    assert "pipeline.properties.ci.codebase.build" in missing
