"""Pipeline authoring: requests -> design -> YAML that Harness's own schema accepts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.agents.harness_expert.conftest import FULL, PARTIAL
from workflow.agents.harness_expert import sandbox_api
from workflow.agents.harness_expert.authoring import (
    DesignError,
    PipelineDesign,
    design_pipeline,
    dump_yaml,
    render_pipeline,
    stages_of,
    unified_diff,
)
from workflow.agents.harness_expert.editing import edit_pipeline
from workflow.agents.harness_expert.rules import check_pipeline
from workflow.assembly import SANDBOX_CATALOG
from workflow.catalog import ServiceEntry, load_catalog

ORG, PROJECT = "default", "devops"
SANDBOX_PIPELINES = Path(sandbox_api.__file__).parent / "sandbox"
SANDBOX_ENTRY = load_catalog(SANDBOX_CATALOG).resolve("payment-service")

STRATEGY_STEPS = {
    "rolling": (["K8sRollingDeploy"], ["K8sRollingRollback"]),
    "canary": (
        ["K8sCanaryDeploy", "K8sCanaryDelete", "K8sRollingDeploy"],
        ["K8sCanaryDelete", "K8sRollingRollback"],
    ),
    "blue_green": (["K8sBlueGreenDeploy", "K8sBGSwapServices"], ["K8sBGSwapServices"]),
}


@dataclass(frozen=True)
class Case:
    """A request as the reader hands it over, and the stages the pipeline must have."""

    said: str  # what the user typed (documentation: the reader's tests cover the reading)
    context: dict[str, Any]
    entry: ServiceEntry | None
    stages: list[str]  # "CI", "Approval:<env>", "Deployment:<env>", in order
    strategy: str = "rolling"
    tests: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "create a pipeline for ledger",
        {"service": "ledger", "action": "create"},
        None,
        ["CI", "Deployment:staging", "Approval:production", "Deployment:production"],
    ),
    Case(
        "create a pipeline for payment-service",
        {"service": "payment-service", "action": "create"},
        FULL,
        [
            "CI",
            "Deployment:dev",
            "Deployment:staging",
            "Approval:production",
            "Deployment:production",
        ],
    ),
    Case(
        "create a pipeline for ledger: build, test, deploy to staging then prod with an "
        "approval before prod",
        {
            "service": "ledger",
            "environments": ["staging", "production"],
            "ci_steps": ["clone", "test", "build", "push"],
            "approval_before": ["production"],
        },
        None,
        ["CI", "Deployment:staging", "Approval:production", "Deployment:production"],
    ),
    Case(
        "ci/cd for ledger please, tests + image, then staging and prod",
        {
            "service": "ledger",
            "environments": ["staging", "production"],
            "ci_steps": ["clone", "test", "build", "push"],
        },
        None,
        ["CI", "Deployment:staging", "Approval:production", "Deployment:production"],
    ),
    Case(
        "new pipeline: orders-api -> dev",
        {"service": "orders-api", "environments": ["dev"]},
        None,
        ["CI", "Deployment:dev"],
    ),
    Case(
        "pipeline for web with blue/green to prod",
        {"service": "web", "environment": "production", "strategy": "blue_green"},
        PARTIAL,
        ["CI", "Approval:production", "Deployment:production"],
        strategy="blue_green",
    ),
    Case(
        "build and push docker image for api-server, no deploy",
        {"service": "api-server", "ci_steps": ["clone", "build", "push"], "ci_only": True},
        None,
        ["CI"],
        tests=False,
    ),
    Case(
        "canary pipeline for checkout to staging and production",
        {"service": "checkout", "environments": ["staging", "production"], "strategy": "canary"},
        None,
        ["CI", "Deployment:staging", "Approval:production", "Deployment:production"],
        strategy="canary",
    ),
    Case(
        "deploy-only pipeline for payment-service to staging and prod",
        {"service": "payment-service", "environments": ["staging", "prod"], "ci_steps": []},
        FULL,
        ["Deployment:staging", "Approval:production", "Deployment:production"],
        tests=False,
    ),
    Case(
        "pipeline for ledger with approvals before staging and prod",
        {
            "service": "ledger",
            "environments": ["staging", "production"],
            "approval_before": ["staging", "production"],
        },
        None,
        [
            "CI",
            "Approval:staging",
            "Deployment:staging",
            "Approval:production",
            "Deployment:production",
        ],
    ),
    Case(
        "pipeline for ledger to staging and prod, no approval",
        {"service": "ledger", "environments": ["staging", "production"], "approval_before": []},
        None,
        ["CI", "Deployment:staging", "Deployment:production"],
    ),
    Case(
        "canary pipeline for payment-service",
        {"service": "payment-service", "strategy": "canary"},
        FULL,
        [
            "CI",
            "Deployment:dev",
            "Deployment:staging",
            "Approval:production",
            "Deployment:production",
        ],
        strategy="canary",
    ),
    Case(
        "python pipeline for billing to dev",
        {"service": "billing", "environment": "dev", "language": "python"},
        None,
        ["CI", "Deployment:dev"],
        extra={"test_image": "python:3.12"},
    ),
    Case(
        "elixir pipeline for chat to staging",
        {"service": "chat", "environment": "stage", "language": "elixir"},
        None,
        ["CI", "Deployment:staging"],
        extra={"test_command": "make test"},
    ),
    Case(
        "pipeline ledger_release for ledger",
        {"service": "ledger", "pipeline_name": "ledger_release"},
        None,
        ["CI", "Deployment:staging", "Approval:production", "Deployment:production"],
        extra={"identifier": "ledger_release"},
    ),
    Case(
        "pipeline for web to production",
        {"service": "web", "environments": ["production"]},
        PARTIAL,
        ["CI", "Approval:production", "Deployment:production"],
        extra={"repo": "acme/web", "test_image": "node:20"},
    ),
    Case(
        "blue-green pipeline for payment-service to staging",
        {"service": "payment-service", "environments": ["staging"], "strategy": "bluegreen"},
        FULL,
        ["CI", "Deployment:staging"],
        strategy="blue_green",
    ),
    Case(
        "build and deploy ledger to staging, skip the tests",
        {"service": "ledger", "environment": "staging", "ci_steps": ["clone", "build", "push"]},
        None,
        ["CI", "Deployment:staging"],
        tests=False,
    ),
]


def _shape(stage: dict[str, Any]) -> str:
    if stage["type"] == "CI":
        return "CI"
    if stage["type"] == "Approval":
        return f"Approval:{stage['identifier'].removeprefix('approve_')}"
    return f"Deployment:{stage['identifier'].removeprefix('deploy_')}"


def _step_types(steps: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for item in steps:
        if "stepGroup" in item:
            out += _step_types(item["stepGroup"]["steps"])
        else:
            out.append(item["step"]["type"])
    return out


def _build(case: Case) -> tuple[PipelineDesign, str]:
    design = design_pipeline(case.context, case.entry, case.context["service"])
    return design, render_pipeline(design, case.entry, org=ORG, project=PROJECT)


@pytest.mark.parametrize("case", CASES, ids=[c.said for c in CASES])
def test_request_renders_a_pipeline_harness_accepts(case: Case, assert_schema_valid) -> None:
    design, text = _build(case)
    assert_schema_valid(text)
    assert check_pipeline(text) == []
    pipeline = yaml.safe_load(text)["pipeline"]
    stages = [item["stage"] for item in pipeline["stages"]]
    assert [_shape(s) for s in stages] == case.stages
    assert design.strategy == case.strategy
    assert pipeline["orgIdentifier"] == ORG and pipeline["projectIdentifier"] == PROJECT
    assert pipeline["identifier"] == case.extra.get("identifier", pipeline["identifier"])
    assert pipeline["variables"] == [
        {
            "name": "image_tag",
            "type": "String",
            "description": "The image tag to build and deploy",
            "required": True,
            "value": "<+input>",
        }
    ]
    steps, rollback = STRATEGY_STEPS[case.strategy]
    for stage in stages:
        if stage["type"] == "Deployment":
            execution = stage["spec"]["execution"]
            assert _step_types(execution["steps"]) == steps
            assert _step_types(execution["rollbackSteps"]) == rollback
            assert stage["failureStrategies"]
            assert stage["spec"]["deploymentType"] == "Kubernetes"
    ci = [s for s in stages if s["type"] == "CI"]
    if ci:
        ci_steps = ci[0]["spec"]["execution"]["steps"]
        assert _step_types(ci_steps) == (["Run"] if case.tests else []) + [
            "BuildAndPushDockerRegistry"
        ]
        assert ci_steps[-1]["step"]["spec"]["tags"] == ["<+pipeline.variables.image_tag>"]
        codebase = pipeline["properties"]["ci"]["codebase"]
        assert codebase["build"] == "<+input>"
        assert codebase["repoName"] == case.extra.get("repo", codebase["repoName"])
        if case.tests:
            run = ci_steps[0]["step"]["spec"]
            assert run.get("image") == case.extra.get("test_image", run.get("image"))
            assert run["command"] == case.extra.get("test_command", run["command"])
    else:
        assert "properties" not in pipeline


@pytest.mark.parametrize("case", CASES[:4], ids=[c.said for c in CASES[:4]])
def test_rendering_is_byte_identical(case: Case) -> None:
    assert _build(case)[1] == _build(case)[1]


def test_the_catalogs_harness_refs_are_used_and_need_no_notes() -> None:
    design, text = _build(CASES[1])
    assert design.notes == ()
    pipeline = yaml.safe_load(text)["pipeline"]
    codebase = pipeline["properties"]["ci"]["codebase"]
    assert codebase == {
        "connectorRef": "github_acme",
        "repoName": "acme/payment-service",
        "build": "<+input>",
    }
    stages = {s["stage"]["identifier"]: s["stage"] for s in pipeline["stages"]}
    prod = stages["deploy_production"]["spec"]
    assert prod["service"] == {"serviceRef": "payment_service"}
    assert prod["environment"]["environmentRef"] == "payments_live"
    assert prod["environment"]["infrastructureDefinitions"] == [{"identifier": "live_k8s"}]
    approval = stages["approve_production"]["spec"]["execution"]["steps"][0]["step"]
    assert approval["type"] == "HarnessApproval"
    assert approval["spec"]["approvers"] == {
        "userGroups": ["sre_leads"],
        "minimumCount": 1,
        "disallowPipelineExecutor": False,
    }
    assert approval["spec"]["includePipelineExecutionHistory"] is True
    push = stages["build"]["spec"]["execution"]["steps"][-1]["step"]["spec"]
    assert push["connectorRef"] == "registry_example"
    assert push["repo"] == "registry.example.com/payment-service"


def test_every_default_used_without_a_catalog_entry_is_noted() -> None:
    design, text = _build(CASES[0])
    notes = " ".join(design.notes)
    for default in (
        "account.github",
        "account.docker_registry",
        "_project_all_users",
        "environment staging, infrastructure staging_k8s",
        "environment production, infrastructure production_k8s",
        "use ledger",  # the Harness service ref
        "clones ledger",  # the repository
        "pushed as ledger",  # the image
        "make test",  # no language known
    ):
        assert default in notes, default
    pipeline = yaml.safe_load(text)["pipeline"]
    assert pipeline["properties"]["ci"]["codebase"]["connectorRef"] == "account.github"
    assert pipeline["stages"][1]["stage"]["spec"]["service"] == {"serviceRef": "ledger"}


def test_a_partial_entry_notes_only_what_it_lacks() -> None:
    design = design_pipeline({"service": "web"}, PARTIAL, "web")
    assert design.environments == ("staging", "production")  # from its namespaces
    assert design.language == "typescript"
    notes = " ".join(design.notes)
    assert "account.github" in notes and "Repository" not in notes and "Image:" not in notes


def test_default_design_is_what_users_expect() -> None:
    design = design_pipeline({}, None, "ledger")
    assert design == PipelineDesign(
        identifier="ledger_cicd",
        name="ledger CI-CD",
        service="ledger",
        ci=True,
        run_tests=True,
        environments=("staging", "production"),
        approval_before=("production",),
        strategy="rolling",
        language=None,
        notes=design.notes,
    )


def test_names_follow_what_the_pipeline_does() -> None:
    ci = design_pipeline({"ci_only": True}, None, "api-server")
    cd = design_pipeline({"ci_steps": [], "environment": "dev"}, None, "api-server")
    assert (ci.identifier, ci.name) == ("api_server_ci", "api-server CI")
    assert (cd.identifier, cd.name) == ("api_server_cd", "api-server CD")


@pytest.mark.parametrize(
    ("context", "entry", "service", "words"),
    [
        ({}, None, "", ["Which service", "create a pipeline for"]),
        ({}, None, "Not A Service!", ["not a service name"]),
        ({"ci_steps": [], "ci_only": True}, None, "ledger", ["needs a build or"]),
        (
            {"environments": ["dev"], "approval_before": ["production"]},
            None,
            "ledger",
            ["approval before production", "doesn't deploy to production"],
        ),
        ({"strategy": "big-bang"}, None, "ledger", ["rolling, canary or blue-green"]),
        ({"environments": ["qa-7"]}, None, "ledger", ["don't know the environment 'qa-7'"]),
        ({"pipeline_name": "ledger/ci"}, None, "ledger", ["can't name a Harness pipeline"]),
    ],
)
def test_design_errors_say_what_to_ask(context, entry, service, words) -> None:
    with pytest.raises(DesignError) as caught:
        design_pipeline(context, entry, service)
    for word in words:
        assert word in str(caught.value)
    assert "for example" in str(caught.value) or "Say" in str(caught.value)


def test_render_refuses_an_invalid_project() -> None:
    design = design_pipeline({}, None, "ledger")
    with pytest.raises(DesignError, match="project identifier 'my-project'"):
        render_pipeline(design, None, org="default", project="my-project")


def test_the_entry_name_wins_over_an_alias() -> None:
    assert design_pipeline({"service": "payments"}, FULL, "payments").service == "payment-service"


# ------------------------------------------------------------------------------ edits


def _pipeline(context: dict[str, Any], entry: ServiceEntry | None = FULL) -> str:
    service = entry.name if entry else context["service"]
    return render_pipeline(
        design_pipeline(context, entry, service), entry, org=ORG, project=PROJECT
    )


def _added_and_removed(diff: str) -> tuple[list[str], list[str]]:
    lines = [line for line in diff.splitlines() if not line.startswith(("+++", "---"))]
    return [x[1:] for x in lines if x.startswith("+")], [x[1:] for x in lines if x.startswith("-")]


def test_add_an_approval_before_production(assert_schema_valid) -> None:
    old = _pipeline({"approval_before": []})
    assert "Approval" not in [s["type"] for s in stages_of(old)]
    new, said = edit_pipeline(
        old, {"pipeline_change": "add_approval", "approval_before": ["production"]}, FULL
    )
    assert_schema_valid(new)
    assert check_pipeline(new) == []
    assert [s["identifier"] for s in stages_of(new)][-2:] == [
        "approve_production",
        "deploy_production",
    ]
    diff = unified_diff(old, new, "pipeline.yaml")
    added, removed = _added_and_removed(diff)
    assert removed == []  # only the new stage: one block of added lines
    assert diff.count("\n@@") == 1
    body = [line for line in diff.splitlines()[3:]]
    first = next(i for i, line in enumerate(body) if line.startswith("+"))
    assert all(line.startswith("+") for line in body[first : first + len(added)])
    approval = yaml.safe_load(new)["pipeline"]["stages"][-2]
    assert len(added) == len(dump_yaml([approval]).splitlines())
    assert "        name: Approve production" in added
    assert said == [
        "Added approval stage 'Approve production' before 'Deploy to production': one approval "
        "from sre_leads within 1d."
    ]
    with pytest.raises(DesignError, match="already has an approval before production"):
        edit_pipeline(new, {"pipeline_change": "add_approval", "environment": "prod"}, FULL)


def test_add_an_approval_finds_the_stage_by_name_when_the_ref_is_opaque(
    assert_schema_valid,
) -> None:
    old = HAND_WRITTEN.replace("environmentRef: payments_live", "environmentRef: env_7f3a")
    new, _ = edit_pipeline(old, {"pipeline_change": "add_approval"}, None)  # prod by default
    assert_schema_valid(new)
    stages = stages_of(new)
    assert [s["type"] for s in stages] == ["CI", "Deployment", "Approval", "Deployment"]
    assert stages[2]["name"] == "Approve production"
    approval = yaml.safe_load(new)["pipeline"]["stages"][2]["stage"]
    groups = approval["spec"]["execution"]["steps"][0]["step"]["spec"]["approvers"]["userGroups"]
    assert groups == ["_project_all_users"]


def test_add_an_approval_maps_the_ref_through_the_catalog() -> None:
    new, _ = edit_pipeline(
        HAND_WRITTEN, {"pipeline_change": "add_approval", "environment": "production"}, FULL
    )
    assert [s["identifier"] for s in stages_of(new)] == [
        "Build",
        "Staging",
        "approve_production",
        "Live",
    ]


def test_an_approval_for_an_environment_not_deployed_to_is_refused() -> None:
    with pytest.raises(DesignError, match="no deploy stage for dev"):
        edit_pipeline(HAND_WRITTEN, {"pipeline_change": "add_approval", "environment": "dev"}, FULL)


def test_remove_an_approval(assert_schema_valid) -> None:
    old = _pipeline({})
    new, said = edit_pipeline(
        old, {"pipeline_change": "remove_approval", "approval_before": ["production"]}, FULL
    )
    assert_schema_valid(new)
    assert "Approval" not in [s["type"] for s in stages_of(new)]
    assert said == ["Removed approval stage 'Approve production' before the production deploy."]
    added, removed = _added_and_removed(unified_diff(old, new, "p.yaml"))
    assert added == [] and "        name: Approve production" in removed
    with pytest.raises(DesignError, match="has no approval before production"):
        edit_pipeline(new, {"pipeline_change": "remove_approval", "environment": "prod"}, FULL)


def test_remove_the_only_approval_without_naming_it() -> None:
    new, _ = edit_pipeline(_pipeline({}), {"pipeline_change": "remove_approval"}, FULL)
    assert "Approval" not in [s["type"] for s in stages_of(new)]


@pytest.mark.parametrize("target", ["canary", "blue_green"])
def test_change_strategy(target: str, assert_schema_valid) -> None:
    old = _pipeline({})
    new, said = edit_pipeline(old, {"pipeline_change": "change_strategy", "strategy": target}, FULL)
    assert_schema_valid(new)
    assert check_pipeline(new) == []
    deploys = [
        s["stage"]
        for s in yaml.safe_load(new)["pipeline"]["stages"]
        if s["stage"]["type"] == "Deployment"
    ]
    assert len(deploys) == 3 and len(said) == 3
    for stage in deploys:
        assert _step_types(stage["spec"]["execution"]["steps"]) == STRATEGY_STEPS[target][0]
        assert _step_types(stage["spec"]["execution"]["rollbackSteps"]) == STRATEGY_STEPS[target][1]
    assert "(was rolling)" in said[0]
    with pytest.raises(DesignError, match="already deploys with"):
        edit_pipeline(new, {"pipeline_change": "change_strategy", "strategy": target}, FULL)


def test_change_strategy_of_one_environment_keeps_other_steps(assert_schema_valid) -> None:
    new, said = edit_pipeline(
        HAND_WRITTEN,
        {"pipeline_change": "change_strategy", "strategy": "canary", "environment": "production"},
        FULL,
    )
    assert_schema_valid(new)
    stages = yaml.safe_load(new)["pipeline"]["stages"]
    live = stages[2]["stage"]["spec"]["execution"]
    assert _step_types(live["steps"]) == STRATEGY_STEPS["canary"][0] + ["ShellScript"]
    assert _step_types(live["rollbackSteps"]) == STRATEGY_STEPS["canary"][1]
    staging = stages[1]["stage"]["spec"]["execution"]
    assert _step_types(staging["steps"]) == ["K8sRollingDeploy"]
    assert said == ["Stage 'Live' (production) now deploys canary (was rolling)."]


def test_add_an_environment(assert_schema_valid) -> None:
    old = _pipeline({"environments": ["staging"], "strategy": "canary"})
    new, said = edit_pipeline(
        old, {"pipeline_change": "add_environment", "environment": "production"}, FULL
    )
    assert_schema_valid(new)
    assert check_pipeline(new) == []
    assert [s["identifier"] for s in stages_of(new)] == [
        "build",
        "deploy_staging",
        "approve_production",
        "deploy_production",
    ]
    assert stages_of(new)[-1]["environment"] == "payments_live"
    prod = yaml.safe_load(new)["pipeline"]["stages"][-1]["stage"]
    assert _step_types(prod["spec"]["execution"]["steps"]) == STRATEGY_STEPS["canary"][0]
    assert said == [
        "Added stage 'Deploy to production' (canary deploy), after approval stage "
        "'Approve production'."
    ]
    newer, _ = edit_pipeline(
        new, {"pipeline_change": "add_environment", "environment": "dev"}, FULL
    )
    assert_schema_valid(newer)
    assert [s["identifier"] for s in stages_of(newer)][:3] == [
        "build",
        "deploy_dev",
        "deploy_staging",
    ]
    with pytest.raises(DesignError, match="already deploys to staging"):
        edit_pipeline(newer, {"pipeline_change": "add_environment", "environment": "stage"}, FULL)


def test_an_environment_added_before_a_gated_one_goes_before_its_approval() -> None:
    old = _pipeline({"environments": ["production"]})
    new, _ = edit_pipeline(
        old, {"pipeline_change": "add_environment", "environments": ["staging"]}, FULL
    )
    assert [s["identifier"] for s in stages_of(new)] == [
        "build",
        "deploy_staging",
        "approve_production",
        "deploy_production",
    ]


def test_an_edit_without_a_change_asks_for_one() -> None:
    with pytest.raises(DesignError, match="What should change"):
        edit_pipeline(_pipeline({}), {"service": "payment-service"}, FULL)
    with pytest.raises(DesignError, match="no `pipeline:`"):
        edit_pipeline("stages: []", {"pipeline_change": "add_approval"}, FULL)


def test_stages_of_lists_parallel_stages_in_order() -> None:
    text = yaml.safe_dump(
        {
            "pipeline": {
                "stages": [
                    {"stage": {"identifier": "a", "name": "A", "type": "CI"}},
                    {
                        "parallel": [
                            {
                                "stage": {
                                    "identifier": "b",
                                    "name": "B",
                                    "type": "Deployment",
                                    "spec": {"environment": {"environmentRef": "staging"}},
                                }
                            },
                            {"stage": {"identifier": "c", "name": "C", "type": "Custom"}},
                        ]
                    },
                ]
            }
        }
    )
    assert stages_of(text) == [
        {"identifier": "a", "name": "A", "type": "CI", "environment": None},
        {"identifier": "b", "name": "B", "type": "Deployment", "environment": "staging"},
        {"identifier": "c", "name": "C", "type": "Custom", "environment": None},
    ]


def test_unified_diff_has_git_headers() -> None:
    diff = unified_diff("a: 1\n", "a: 2\n", "pipelines/ledger.yaml")
    assert diff.splitlines()[:2] == ["--- a/pipelines/ledger.yaml", "+++ b/pipelines/ledger.yaml"]
    assert unified_diff("a: 1\n", "a: 1\n", "x") == ""


# A pipeline as a person (or Harness's UI) writes it: other identifiers, quoting, a smoke test.
HAND_WRITTEN = """\
pipeline:
  name: payments deploy
  identifier: payment_service_deploy
  projectIdentifier: devops
  orgIdentifier: default
  tags: {}
  properties:
    ci:
      codebase:
        connectorRef: github_acme
        repoName: acme/payment-service
        build: <+input>
  stages:
    - stage:
        name: Build
        identifier: Build
        description: ""
        type: CI
        spec:
          cloneCodebase: true
          platform:
            os: Linux
            arch: Amd64
          runtime:
            type: Cloud
            spec: {}
          execution:
            steps:
              - step:
                  type: BuildAndPushDockerRegistry
                  name: push
                  identifier: push
                  spec:
                    connectorRef: registry_example
                    repo: registry.example.com/payment-service
                    tags:
                      - <+pipeline.sequenceId>
    - stage:
        name: Staging
        identifier: Staging
        description: ""
        type: Deployment
        spec:
          deploymentType: Kubernetes
          service:
            serviceRef: payment_service
          environment:
            environmentRef: staging
            deployToAll: false
            infrastructureDefinitions:
              - identifier: staging_k8s
          execution:
            steps:
              - step:
                  name: Rollout
                  identifier: rollout
                  type: K8sRollingDeploy
                  timeout: 10m
                  spec:
                    skipDryRun: false
            rollbackSteps:
              - step:
                  name: Rollback
                  identifier: rollback
                  type: K8sRollingRollback
                  timeout: 10m
                  spec: {}
        tags: {}
        failureStrategies:
          - onFailure:
              errors:
                - AllErrors
              action:
                type: StageRollback
    - stage:
        name: Live
        identifier: Live
        description: ""
        type: Deployment
        spec:
          deploymentType: Kubernetes
          service:
            serviceRef: payment_service
          environment:
            environmentRef: payments_live
            deployToAll: false
            infrastructureDefinitions:
              - identifier: live_k8s
          execution:
            steps:
              - step:
                  name: Rollout
                  identifier: rollout
                  type: K8sRollingDeploy
                  timeout: 10m
                  spec:
                    skipDryRun: false
              - step:
                  name: Smoke test
                  identifier: smoke
                  type: ShellScript
                  timeout: 5m
                  spec:
                    shell: Bash
                    onDelegate: true
                    source:
                      type: Inline
                      spec:
                        script: curl -fsS https://payments.example.com/healthz
                    environmentVariables: []
                    outputVariables: []
            rollbackSteps:
              - step:
                  name: Rollback
                  identifier: rollback
                  type: K8sRollingRollback
                  timeout: 10m
                  spec: {}
        tags: {}
        failureStrategies:
          - onFailure:
              errors:
                - AllErrors
              action:
                type: StageRollback
"""


def test_the_hand_written_pipeline_is_valid(assert_schema_valid) -> None:
    assert_schema_valid(HAND_WRITTEN)
    assert check_pipeline(HAND_WRITTEN) == []


def test_an_approval_before_a_runtime_environment_runs_only_for_that_environment(
    assert_schema_valid,
) -> None:
    """The seeded sandbox pipeline deploys to the environment given at run time
    (`environmentRef: <+pipeline.variables.environment>`): the approval stage goes before
    its deploy stage and runs only when the variable names production."""
    seeded = (SANDBOX_PIPELINES / "payment_service_deploy.yaml").read_text()
    change = {"pipeline_change": "add_approval", "approval_before": ["production"]}
    new, said = edit_pipeline(seeded, change, SANDBOX_ENTRY)
    assert_schema_valid(new)
    assert check_pipeline(new) == []
    first = yaml.safe_load(new)["pipeline"]["stages"][0]["stage"]
    assert first["type"] == "Approval" and first["name"] == "Approve production"
    assert first["when"] == {
        "pipelineStatus": "Success",
        "condition": '<+pipeline.variables.environment> == "production"',
    }
    assert said == [
        "Added approval stage 'Approve production' before 'Deploy', only in runs where "
        '<+pipeline.variables.environment> == "production": one approval from sre_leads '
        "within 1d."
    ]
    with pytest.raises(DesignError, match="already has an approval before production"):
        edit_pipeline(new, change, SANDBOX_ENTRY)
    both, _ = edit_pipeline(new, {**change, "approval_before": ["staging"]}, SANDBOX_ENTRY)
    assert [s["name"] for s in stages_of(both)] == [
        "Approve production",
        "Approve staging",
        "Deploy",
    ]
    removed, _ = edit_pipeline(
        both, {"pipeline_change": "remove_approval", "approval_before": ["production"]}, FULL
    )
    assert [s["name"] for s in stages_of(removed)] == ["Approve staging", "Deploy"]


def test_an_approval_for_a_value_the_runtime_variable_does_not_allow_is_refused() -> None:
    seeded = (SANDBOX_PIPELINES / "payment_service_deploy.yaml").read_text()
    narrowed = seeded.replace("allowedValues(dev,staging,production)", "allowedValues(dev)")
    with pytest.raises(DesignError, match="no deploy stage for production"):
        edit_pipeline(narrowed, {"pipeline_change": "add_approval", "environment": "prod"}, None)
    with pytest.raises(DesignError, match="Before which environment"):
        edit_pipeline(narrowed, {"pipeline_change": "add_approval"}, SANDBOX_ENTRY)
    # Unnamed, the approval is before production, which the variable allows.
    new, _ = edit_pipeline(seeded, {"pipeline_change": "add_approval"}, SANDBOX_ENTRY)
    assert stages_of(new)[0]["name"] == "Approve production"
