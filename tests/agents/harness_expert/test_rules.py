"""The product's own pipeline rules: each one fails with the exact FQN, valid ones pass."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.agents.harness_expert.conftest import FULL, schema_messages
from workflow.agents.harness_expert.authoring import design_pipeline, dump_yaml, render_pipeline
from workflow.agents.harness_expert.rules import Problem, check_pipeline, problems_sentence

# build, deploy_dev, deploy_staging, approve_production, deploy_production
VALID = render_pipeline(
    design_pipeline({}, FULL, "payment-service"), FULL, org="default", project="devops"
)
S = "$.pipeline.stages"


def _mutated(change: Callable[[dict[str, Any]], Any]) -> str:
    data = copy.deepcopy(yaml.safe_load(VALID))
    change(data["pipeline"])
    return dump_yaml(data)


def _stage(p: dict[str, Any], i: int) -> dict[str, Any]:
    return p["stages"][i]["stage"]


def _step(p: dict[str, Any], i: int, j: int = 0, key: str = "steps") -> dict[str, Any]:
    return _stage(p, i)["spec"]["execution"][key][j]["step"]


def _approvers(p: dict[str, Any]) -> dict[str, Any]:
    return _step(p, 3)["spec"]["approvers"]


def _set(node: Any, key: Any, value: Any) -> None:
    node[key] = value


# (id, mutation, fqn, words in the message). Each breaks exactly one rule.
BROKEN: list[tuple[str, Callable[[dict[str, Any]], Any], str, str]] = [
    ("no identifier", lambda p: p.pop("identifier"), "$.pipeline.identifier", "needs an ident"),
    (
        "bad identifier",
        lambda p: _set(p, "identifier", "pay-cicd"),
        "$.pipeline.identifier",
        "not a valid identifier",
    ),
    ("no name", lambda p: p.pop("name"), "$.pipeline.name", "name is required"),
    (
        "bad name",
        lambda p: _set(p, "name", "payments CI/CD"),
        "$.pipeline.name",
        "not a valid name",
    ),
    (
        "no project",
        lambda p: p.pop("projectIdentifier"),
        "$.pipeline.projectIdentifier",
        "projectIdentifier is required",
    ),
    (
        "no org",
        lambda p: _set(p, "orgIdentifier", ""),
        "$.pipeline.orgIdentifier",
        "orgIdentifier is required",
    ),
    ("no stages", lambda p: _set(p, "stages", []), S, "at least one stage"),
    (
        "stage and parallel",
        lambda p: p["stages"][1].update(parallel=[]),
        f"{S}[1]",
        "exactly one of `stage` or `parallel`",
    ),
    (
        "empty parallel",
        lambda p: _set(p["stages"], 1, {"parallel": []}),
        f"{S}[1].parallel",
        "needs a list of stages",
    ),
    (
        "duplicate stage",
        lambda p: _set(_stage(p, 2), "identifier", "deploy_dev"),
        f"{S}[2].stage.identifier",
        "duplicate stage identifier 'deploy_dev' (also $.pipeline.stages[1].stage)",
    ),
    (
        "unknown stage type",
        lambda p: _set(_stage(p, 1), "type", "Deploy"),
        f"{S}[1].stage.type",
        "unknown stage type 'Deploy'",
    ),
    (
        "no deploymentType",
        lambda p: _stage(p, 1)["spec"].pop("deploymentType"),
        f"{S}[1].stage.spec.deploymentType",
        "needs a deploymentType",
    ),
    (
        "no service",
        lambda p: _stage(p, 1)["spec"].pop("service"),
        f"{S}[1].stage.spec.service",
        "needs a service",
    ),
    (
        "no serviceRef",
        lambda p: _set(_stage(p, 1)["spec"], "service", {"x": 1}),
        f"{S}[1].stage.spec.service.serviceRef",
        "needs a serviceRef",
    ),
    (
        "no environment",
        lambda p: _stage(p, 2)["spec"].pop("environment"),
        f"{S}[2].stage.spec.environment",
        "needs an environment",
    ),
    (
        "no environmentRef",
        lambda p: _stage(p, 2)["spec"]["environment"].pop("environmentRef"),
        f"{S}[2].stage.spec.environment.environmentRef",
        "needs an environmentRef",
    ),
    (
        "no infrastructure",
        lambda p: _stage(p, 2)["spec"]["environment"].pop("infrastructureDefinitions"),
        f"{S}[2].stage.spec.environment.infrastructureDefinitions",
        "infrastructure definition",
    ),
    (
        "no failureStrategies",
        lambda p: _stage(p, 4).pop("failureStrategies"),
        f"{S}[4].stage.failureStrategies",
        "a Deployment stage needs failureStrategies",
    ),
    (
        "no execution steps",
        lambda p: _set(_stage(p, 4)["spec"]["execution"], "steps", []),
        f"{S}[4].stage.spec.execution",
        "needs execution.steps",
    ),
    (
        "no codebase",
        lambda p: p.pop("properties"),
        "$.pipeline.properties.ci.codebase",
        "cloneCodebase: true",
    ),
    (
        "codebase without build",
        lambda p: p["properties"]["ci"]["codebase"].pop("build"),
        "$.pipeline.properties.ci.codebase.build",
        "build is required",
    ),
    (
        "no CI runtime",
        lambda p: _stage(p, 0)["spec"].pop("runtime"),
        f"{S}[0].stage.spec.runtime",
        "needs a runtime",
    ),
    (
        "duplicate step",
        lambda p: _set(_step(p, 1, 0, "rollbackSteps"), "identifier", "rolling_deploy"),
        f"{S}[1].stage.spec.execution.rollbackSteps[0].step.identifier",
        "duplicate step identifier 'rolling_deploy' in this stage",
    ),
    (
        "bad step identifier",
        lambda p: _set(_step(p, 1), "identifier", "rolling-deploy"),
        f"{S}[1].stage.spec.execution.steps[0].step.identifier",
        "not a valid identifier",
    ),
    (
        "step in the wrong stage",
        lambda p: _set(_step(p, 0), "type", "K8sRollingDeploy"),
        f"{S}[0].stage.spec.execution.steps[0].step.type",
        "not one a CI stage can run",
    ),
    (
        "unknown step type",
        lambda p: _set(_step(p, 1), "type", "K8sRollingDeployy"),
        f"{S}[1].stage.spec.execution.steps[0].step.type",
        "'K8sRollingDeployy' is not one",
    ),
    (
        "step neither step nor group",
        lambda p: _set(_stage(p, 1)["spec"]["execution"]["steps"], 0, {"steps": []}),
        f"{S}[1].stage.spec.execution.steps[0]",
        "exactly one of `step`, `stepGroup`",
    ),
    (
        "no timeout",
        lambda p: _step(p, 1).pop("timeout"),
        f"{S}[1].stage.spec.execution.steps[0].step.timeout",
        "needs a timeout",
    ),
    (
        "bad timeout",
        lambda p: _set(_step(p, 3), "timeout", "one day"),
        f"{S}[3].stage.spec.execution.steps[0].step.timeout",
        "'one day' is not a timeout",
    ),
    (
        "no step spec",
        lambda p: _step(p, 1).pop("spec"),
        f"{S}[1].stage.spec.execution.steps[0].step.spec",
        "needs a spec",
    ),
    (
        "no approvers",
        lambda p: _step(p, 3)["spec"].pop("approvers"),
        f"{S}[3].stage.spec.execution.steps[0].step.spec.approvers",
        "needs approvers",
    ),
    (
        "no user groups",
        lambda p: _set(_approvers(p), "userGroups", []),
        f"{S}[3].stage.spec.execution.steps[0].step.spec.approvers.userGroups",
        "at least one approving user group",
    ),
    (
        "minimumCount 0",
        lambda p: _set(_approvers(p), "minimumCount", 0),
        f"{S}[3].stage.spec.execution.steps[0].step.spec.approvers.minimumCount",
        "at least 1",
    ),
    (
        "no execution history flag",
        lambda p: _step(p, 3)["spec"].pop("includePipelineExecutionHistory"),
        f"{S}[3].stage.spec.execution.steps[0].step.spec.includePipelineExecutionHistory",
        "is required",
    ),
    (
        "runtime input typo",
        lambda p: _set(p["variables"][0], "value", "<+input>.defualt(1)"),
        "$.pipeline.variables[0].value",
        "is not a runtime input",
    ),
    (
        "runtime input inside text",
        lambda p: _set(p["variables"][0], "value", "v<+input>"),
        "$.pipeline.variables[0].value",
        "is not a runtime input",
    ),
    (
        "runtime input unclosed",
        lambda p: _set(p["properties"]["ci"]["codebase"], "build", "<+input"),
        "$.pipeline.properties.ci.codebase.build",
        "is not a runtime input",
    ),
]


@pytest.mark.parametrize(
    ("mutation", "fqn", "words"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_each_rule_names_the_node(mutation, fqn: str, words: str) -> None:
    problems = check_pipeline(_mutated(mutation))
    assert [p.fqn for p in problems] == [fqn], problems
    assert words in problems[0].message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("pipeline: [", "does not parse at line 1"),
        ("- a\n- b\n", "mapping with a `pipeline` key"),
        ("name: x\n", "mapping with a `pipeline` key"),
    ],
)
def test_what_is_not_a_pipeline_is_one_problem_at_the_root(text: str, words: str) -> None:
    (problem,) = check_pipeline(text)
    assert problem.fqn == "$" and words in problem.message
    assert check_pipeline("pipeline: 3\n") == [Problem("$.pipeline", "must be a mapping")]


def test_a_generated_pipeline_passes() -> None:
    assert check_pipeline(VALID) == []


@pytest.mark.parametrize(
    "value",
    [
        "<+input>",
        "<+input>.default(1.2.3)",
        "<+input>.allowedValues(main,release)",
        "<+input>.default(main).allowedValues(main,release)",
        "<+input>.executionInput()",
        "<+input>.regex(^v[0-9]+$)",
    ],
)
def test_well_formed_runtime_inputs_pass(value: str, pipeline_schema) -> None:
    text = _mutated(lambda p: _set(p["variables"][0], "value", value))
    assert check_pipeline(text) == []
    assert schema_messages(pipeline_schema, yaml.safe_load(text)) == []


def test_templates_parallel_groups_and_expressions_are_understood() -> None:
    def change(p: dict[str, Any]) -> None:
        steps = _stage(p, 1)["spec"]["execution"]["steps"]
        steps.append(
            {
                "parallel": [
                    {
                        "step": {
                            "name": "a",
                            "identifier": "a",
                            "type": "Wait",
                            "timeout": "1h 30m",
                            "spec": {"duration": "1m"},
                        }
                    },
                    {
                        "step": {
                            "name": "b",
                            "identifier": "b",
                            "template": {"templateRef": "smoke"},
                        }
                    },
                ]
            }
        )
        p["stages"].append(
            {
                "stage": {
                    "name": "From template",
                    "identifier": "tpl",
                    "template": {"templateRef": "account.verify"},
                }
            }
        )
        _step(p, 2)["timeout"] = "<+pipeline.variables.deploy_timeout>"
        _approvers(p)["userGroups"] = "<+input>"

    assert check_pipeline(_mutated(change)) == []


def test_ci_steps_need_no_timeout_but_others_do() -> None:
    text = _mutated(lambda p: _step(p, 0).pop("timeout", None))
    assert check_pipeline(text) == []


@pytest.mark.parametrize(
    "mutation",
    [
        lambda p: _stage(p, 4).pop("failureStrategies"),
        lambda p: _stage(p, 4)["spec"]["execution"].pop("steps"),
        lambda p: _set(_stage(p, 1), "type", "Deploy"),
        lambda p: _set(p, "stages", []),
        lambda p: _set(p, "identifier", "pay-cicd"),
        lambda p: _approvers(p).pop("userGroups"),
        lambda p: _stage(p, 2)["spec"].pop("environment"),
    ],
    ids=[
        "no failureStrategies",
        "no steps",
        "unknown stage type",
        "no stages",
        "bad identifier",
        "no user groups",
        "no environment",
    ],
)
def test_what_the_official_schema_refuses_the_rules_refuse_too(mutation, pipeline_schema) -> None:
    text = _mutated(mutation)
    assert schema_messages(pipeline_schema, yaml.safe_load(text))
    assert check_pipeline(text)


def test_problems_sentence() -> None:
    problems = [
        Problem("$.pipeline.stages[1].stage.failureStrategies", "a Deployment stage needs x"),
        Problem("$.pipeline.name", "a name is required"),
    ]
    assert problems_sentence(problems) == (
        "the pipeline is invalid: $.pipeline.stages[1].stage.failureStrategies: a Deployment "
        "stage needs x; $.pipeline.name: a name is required"
    )
    assert problems_sentence([]) == "the pipeline is valid"


def test_several_problems_come_in_document_order() -> None:
    def change(p: dict[str, Any]) -> None:
        p.pop("orgIdentifier")
        _stage(p, 4).pop("failureStrategies")
        _step(p, 1).pop("timeout")

    assert [p.fqn for p in check_pipeline(_mutated(change))] == [
        "$.pipeline.orgIdentifier",
        f"{S}[1].stage.spec.execution.steps[0].step.timeout",
        f"{S}[4].stage.failureStrategies",
    ]
