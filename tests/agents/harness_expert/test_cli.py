"""The issue's sandbox scenario through the installed CLI, as a person would run it: a deploy
through the payment-service pipeline, approved by someone else in another process, changes
the sandbox Deployment's image and reports the execution's end; a pipeline is created from a
request, its YAML written by --out and valid against Harness's official schema."""

from __future__ import annotations

import json
import re

import yaml

from tests.cli_helpers import Cli, no_traceback

EXIT_OK, EXIT_PAUSED, EXIT_REFUSED = 0, 10, 3
DEPLOY = "deploy payment-service:v2.0.0 prod"


def thread_of(out: str) -> str:
    return re.search(r"^thread: (cli-\S+)$", out, re.M)[1]  # type: ignore[index]


def test_deploy_through_the_pipeline_approved_by_another_user(sqlite_cli: Cli) -> None:
    before = sqlite_cli.cluster()[("production", "payment-service")].image
    run = sqlite_cli("run", DEPLOY, "--as", "U1", "--sandbox")
    assert run.code == EXIT_PAUSED, run
    assert "harness_expert" in run.out and "Run pipeline payment_service_deploy" in run.out
    assert "pipeline.variables.image_tag.value = v2.0.0" in run.out
    thread = thread_of(run.out)
    assert sqlite_cli.cluster()[("production", "payment-service")].image == before

    mine = sqlite_cli("approve", thread, "--as", "U1")
    assert mine.code == EXIT_REFUSED and "self-approval" in mine.both, mine
    done = sqlite_cli("approve", thread, "--as", "U2")
    no_traceback(done)
    assert done.code == EXIT_OK, done
    assert "started deploy of payment-service v2.0.0 to production" in done.out
    assert "stage Deploy: Success" in done.out, "each stage's status is shown as it changes"
    assert "execution #1 succeeded" in done.out and "approved by U2" in done.out
    after = sqlite_cli.cluster()[("production", "payment-service")].image
    assert after == "registry.example.com/payment-service:v2.0.0"

    shown = sqlite_cli("sandbox", "show")
    assert "SANDBOX Harness (simulated)" in shown.out
    assert "run #1 of payment_service_deploy: Success" in shown.out


def test_create_a_pipeline_from_a_request(sqlite_cli: Cli, tmp_path, pipeline_schema) -> None:
    out = tmp_path / "out"
    text = "ci/cd for checkout please, tests + image, then staging and prod"
    run = sqlite_cli("run", text, "--as", "U1", "--sandbox", "--json", "--out", str(out))
    assert run.code == EXIT_PAUSED, run
    report = json.loads(run.out)
    (written,) = list(out.rglob("*.yaml"))
    doc = yaml.safe_load(written.read_text())
    assert not list(pipeline_schema.iter_errors(doc)), "valid against Harness's schema"
    kinds = [s["stage"]["type"] for s in doc["pipeline"]["stages"]]
    assert kinds[0] == "CI" and kinds.count("Deployment") == 2 and "Approval" in kinds, kinds
    approval = report["approval"]
    assert approval["action"] == "create_pipeline"
    assert approval["files"][0]["content"] == written.read_text()
    done = sqlite_cli("approve", report["thread_id"], "--as", "U2")
    assert done.code == EXIT_OK, done
    shown = sqlite_cli("sandbox", "show")
    assert f"pipeline {doc['pipeline']['identifier']} (version 1)" in shown.out


def test_sandbox_reset_forgets_runs_and_added_pipelines(sqlite_cli: Cli) -> None:
    run = sqlite_cli("run", DEPLOY.replace("prod", "dev"), "--as", "U1", "--sandbox")
    assert run.code in (EXIT_OK, EXIT_PAUSED), run
    reset = sqlite_cli("sandbox", "reset")
    assert reset.code == EXIT_OK, reset
    assert "Harness pipelines and executions" in reset.out
    shown = sqlite_cli("sandbox", "show")
    assert "2 pipeline(s), 0 execution(s)" in shown.out, shown.out  # the seeded ones
