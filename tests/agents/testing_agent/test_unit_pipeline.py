"""`run the unit tests of ledger` through the service's Harness pipeline (issue 13): only its
CI stage(s) run, on the simulated Harness over real HTTP, followed to the end, results from
Harness's test reports; in-process (plan, then apply) and through the CLI with approval."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli_helpers import Cli, no_traceback
from workflow.agents.base import Refusal
from workflow.agents.harness_expert.client import HarnessClient, HarnessConfig
from workflow.agents.harness_expert.sandbox_api import (
    SANDBOX_ACCOUNT,
    SANDBOX_KEY,
    SANDBOX_ORG,
    SANDBOX_PROJECT,
    SandboxHarness,
)
from workflow.agents.spec import ApplyError
from workflow.agents.testing_agent.applier import apply_unit_tests
from workflow.agents.testing_agent.node import _unit
from workflow.approval.policy import ApprovalPolicy
from workflow.catalog import load_catalog
from workflow.deps import WorkflowDeps
from workflow.memory import MemoryBus
from workflow.plan import Plan

EXIT_OK, EXIT_PAUSED = 0, 10
CATALOG = """\
services:
  ledger:
    owners: [payments-team]
    repository: acme/ledger
    harness_pipeline: ledger_ci
  ledger-norepo:
    owners: [payments-team]
    harness_pipeline: ledger_ci
  both:
    owners: [payments-team]
    repository: acme/both
    harness_pipeline: ledger_ci
    unit_tests: {image: registry.example.com/both-tests:1, command: [pytest, -q]}
  payment-service:
    owners: [payments-team]
    repository: acme/payment-service
    harness_pipeline: payment_service_deploy
"""
FAILURE = (
    "[sandbox] AssertionError: assert Decimal('0.13') == Decimal('0.12') (0.125 EUR rounded "
    "half-up, expected half-even)"
)


@pytest.fixture
def harness(tmp_path):
    server = SandboxHarness(kube_url=None, state_path=tmp_path / "h.json", stage_seconds=0.05)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def deps(harness, tmp_path):
    path = tmp_path / "catalog.yml"
    path.write_text(CATALOG)
    config = HarnessConfig(
        url=harness.url,
        account=SANDBOX_ACCOUNT,
        org=SANDBOX_ORG,
        project=SANDBOX_PROJECT,
        api_key=SANDBOX_KEY,
        follow_timeout=10,
    )
    client = HarnessClient(config, backoff=0.01, poll_interval=0.05)
    yield WorkflowDeps(
        memory=MemoryBus.in_memory(),
        policy=ApprovalPolicy.builtin(),
        catalog=load_catalog(path),
        extras={"harness": client},
    )
    await client.aclose()


async def _plan(deps, service: str, **context) -> Plan:
    answer = await _unit(deps, {"service": service, "environment": "staging", **context}, {})
    assert answer.status == "planned", answer
    return Plan.model_validate(answer.plan)


async def test_ledger_runs_only_its_ci_stage_and_reports_the_failure(deps, harness):
    plan = await _plan(deps, "ledger")
    assert plan.action == "run_unit_tests" and plan.backend == "unit_tests"
    assert plan.body["stages"] == ["unit_tests"]
    assert "only its CI stage(s) Unit Tests (unit_tests)" in plan.preview
    assert "pipeline.properties.ci.codebase.build = " in plan.preview
    assert harness.executions == {}, "planning runs nothing"
    applied = await apply_unit_tests(plan, deps)
    out = applied.result
    assert (out["passed"], out["failed"], out["skipped"]) == (11, 1, 1)
    assert out["outcome"] == "failed" and out["status"] == "Failed"
    assert out["failures"] == [
        {"name": "test_rounding_half_even", "class_name": "tests.unit.test_fx", "message": FAILURE}
    ]
    said = applied.said
    assert said.startswith("unit tests of ledger (pipeline ledger_ci, execution #1, ")
    assert "FAILED: 11 passed, 1 failed, 1 skipped (from Harness's test reports)" in said
    assert f"- tests.unit.test_fx.test_rounding_half_even: {FAILURE}" in said
    assert out["url"] in said and "/pipelines/ledger_ci/executions/" in out["url"]
    (execution,) = harness.executions.values()
    assert [s["identifier"] for s in execution["stages"]] == ["unit_tests"]


async def test_a_failed_stage_without_results_says_the_stage_and_message(deps, harness):
    plan = await _plan(deps, "ledger")
    harness.fail_stages["unit_tests"] = "Run step pytest: container OOMKilled"
    with pytest.raises(ApplyError) as err:
        await apply_unit_tests(plan, deps)
    message = str(err.value)
    assert "failed at stage Unit Tests: Run step pytest: container OOMKilled" in message
    assert "no test results were published" in message and "/executions/" in message


async def test_a_pipeline_changed_since_the_plan_is_not_run(deps, harness):
    plan = await _plan(deps, "ledger")
    harness.pipelines["ledger_ci"]["version"] = "2"
    with pytest.raises(ApplyError, match=r"changed since this plan was made .* nothing was run"):
        await apply_unit_tests(plan, deps)
    assert harness.executions == {}


async def test_refusals_a_pipeline_without_ci_stage_and_a_missing_input(deps):
    with pytest.raises(Refusal, match=r"pipeline payment_service_deploy has no CI stage \(its "
                       r"stages: Deploy \(Deployment\)\)"):  # fmt: skip
        await _unit(deps, {"service": "payment-service", "environment": "staging"}, {})
    with pytest.raises(Refusal, match=r"CI stages: runtime input\(s\) I cannot fill from the "
                       r"request: pipeline\.properties\.ci\.codebase\.build"):  # fmt: skip
        await _unit(deps, {"service": "ledger-norepo", "environment": "staging"}, {})
    plan = await _plan(deps, "ledger-norepo", runtime_inputs={"branch": "fix-rounding"})
    assert "fix-rounding" in plan.body["inputs"]


async def test_the_pipeline_comes_first_and_as_a_job_picks_the_job(deps):
    first = await _plan(deps, "both")
    assert first.kind == "Pipeline" and first.body["via"] == "harness"
    job = await _unit(deps, {"service": "both", "unit_via": "job"}, {})
    # the Job path needs the cluster, which these deps lack: it says so (not the pipeline)
    assert job.status == "failed" and "pipeline" not in job.summary.lower(), job
    with pytest.raises(Refusal, match=r"does not say how ledger's unit tests run as a Job"):
        await _unit(deps, {"service": "ledger", "unit_via": "job"}, {})


async def test_without_harness_a_pipeline_only_service_says_what_is_missing(deps):
    bare = WorkflowDeps(
        memory=deps.memory,
        policy=deps.policy,
        catalog=deps.catalog,
        unavailable={"harness": "Harness is not configured: set HARNESS_ACCOUNT_ID, ..."},
    )
    answer = await _unit(bare, {"service": "ledger", "environment": "staging"}, {})
    assert answer.status == "failed" and answer.summary.startswith("Harness is not configured")
    told = await _unit(bare, {"service": "both", "unit_via": "pipeline"}, {})
    assert told.status == "failed" and "Harness is not configured" in told.summary
    with pytest.raises(Refusal, match="a Job of both's unit tests takes no runtime inputs"):
        await _unit(deps, {"service": "both", "unit_via": "job",
                           "runtime_inputs": {"branch": "x"}}, {})  # fmt: skip


@pytest.mark.parametrize(
    ("text", "via", "inputs"),
    [
        ("run the unit tests of ledger in staging", None, None),
        ("run the unit tests of ledger as a job", "job", None),
        ("run ledger's unit tests in the cluster", "job", None),
        ("run the unit tests of ledger in its pipeline", "pipeline", None),
        ("run the unit tests of ledger through CI branch=fix-rounding", "pipeline",
         {"branch": "fix-rounding"}),
    ],
)  # fmt: skip
def test_the_request_reads_how_and_with_which_inputs(text, via, inputs):
    from workflow.classify import classify_text

    request = classify_text(text)
    assert request.task_type == "test" and request.context["test_kind"] == "unit"
    assert request.context.get("unit_via") == via
    assert request.context.get("runtime_inputs") == inputs


# --- through the CLI, with the sandbox's simulated Harness --------------------------------


def _thread(out: str) -> str:
    return re.search(r"^thread: (cli-\S+)$", out, re.M)[1]  # type: ignore[index]


def test_ledger_unit_tests_in_production_through_approval(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cli = Cli(data)
    run = cli("run", "run the unit tests of ledger in production", "--as", "U1", "--sandbox")
    no_traceback(run)
    assert run.code == EXIT_PAUSED, run
    assert "run_unit_tests unit tests of ledger (pipeline ledger_ci, stage(s) unit_tests)" in (
        run.out
    ), run.out
    assert "only its CI stage(s) Unit Tests (unit_tests)" in run.out
    done = cli("approve", _thread(run.out), "--as", "U2")
    no_traceback(done)
    assert done.code == EXIT_OK, done
    assert "stage Unit Tests: Running" in done.out, "progress per stage in the thread"
    assert "FAILED: 11 passed, 1 failed, 1 skipped (from Harness's test reports)" in done.out
    assert f"- tests.unit.test_fx.test_rounding_half_even: {FAILURE}" in done.out
    assert "stage Notify" not in done.out, "only the CI stage ran"


def test_staging_runs_at_once_and_a_pipeline_without_ci_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cli = Cli(data)
    run = cli("run", "run the unit tests of ledger in staging", "--as", "U1", "--sandbox")
    no_traceback(run)
    assert run.code == EXIT_OK, run
    assert "unit tests of ledger (pipeline ledger_ci, execution #1, " in run.out, run.out
    assert " 1 failed, 1 skipped" in run.out
    refused = cli("run", "run the unit tests of payment-service in staging", "--as", "U1",
                  "--sandbox")  # fmt: skip
    no_traceback(refused)
    assert refused.code not in (EXIT_OK, EXIT_PAUSED), refused
    assert "pipeline payment_service_deploy has no CI stage" in refused.both, refused


async def test_an_input_contradicting_the_request_is_a_question_not_a_guess(deps, harness):
    """The same check as a deploy's: `branch=fix` fills the codebase build, and a literal for
    the very same field saying otherwise is asked back; nothing is planned or run."""
    with pytest.raises(Refusal, match=r"CI stages: .* contradicts the request"):
        await _unit(
            deps,
            {
                "service": "ledger",
                "environment": "staging",
                "runtime_inputs": {
                    "branch": "fix",
                    "pipeline.properties.ci.codebase.build": "tag-v1",
                },
            },
            {},
        )
    assert harness.executions == {}
