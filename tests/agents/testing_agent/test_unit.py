"""`run the unit tests of ledger` (issue 13): a Kubernetes Job with the catalog's image and
command, on the sandbox cluster's batch/v1 Jobs (simulated, labelled) and through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from lightkube.resources.batch_v1 import Job

from tests.cli_helpers import Cli, no_traceback
from workflow.agents.testing_agent.unit import job_manifest, parse_results, run_test_job
from workflow.sandbox.kube import jobs as sandbox_jobs
from workflow.sandbox.kube_api import KubeApiServer
from workflow.tools.kubernetes import KubernetesBackend

EXIT_OK, EXIT_PAUSED = 0, 10
CATALOG = """\
services:
  ledger:
    owners: [payments-team]
    repository: acme/ledger
    namespaces: {staging: staging, production: production}
    unit_tests: {image: registry.example.com/ledger-tests:1.4, command: [pytest, -q, tests/unit]}
  broken-ledger:
    owners: [payments-team]
    namespaces: {staging: staging}
    unit_tests: {image: registry.example.com/ledger-tests:1.4, command: [pytest, --fail-here]}
  plain:
    owners: [payments-team]
"""


def test_results_are_read_from_pytest_or_junit():
    log = "....\nFAILED t.py::x\n===== 2 failed, 40 passed, 3 skipped, 1 error in 2.10s =====\n"
    assert parse_results(log) == ({"passed": 40, "failed": 3, "skipped": 3}, "pytest summary")
    junit = (
        '<?xml version="1.0"?><testsuite name="u" tests="10" failures="1" errors="1" skipped="2">'
    )
    assert parse_results(junit) == ({"passed": 6, "failed": 2, "skipped": 2}, "JUnit XML")
    assert parse_results("Segmentation fault\n") == (None, "none")


@pytest.fixture
def backend():
    with KubeApiServer(rollout_seconds=0.05) as server:
        kube = KubernetesBackend.from_url(server.url, poll_interval=0.05)
        yield server, kube


async def test_a_sandbox_job_runs_once_and_reports_the_same_result(backend):
    server, kube = backend
    manifest = job_manifest("ledger-unit-1", "staging", "ledger", "ledger-tests:1", ["pytest"], 60)
    progress: list[str] = []
    first = await run_test_job(kube.client, manifest, poll_s=0.05, progress=progress.append)
    again = await run_test_job(kube.client, manifest, poll_s=0.05, progress=progress.append)
    await kube.aclose()
    expected = sandbox_jobs.result_of("ledger-tests:1", "pytest")
    assert (first.passed, first.failed, first.skipped) == expected
    assert first.outcome == "passed" and first.source == "pytest summary"
    assert first.log_tail[0].startswith("[sandbox] simulated test run"), "labelled as simulated"
    assert (again.passed, again.failed, again.pod) == (first.passed, first.failed, first.pod)
    assert "created Job staging/ledger-unit-1" in progress
    assert any("already exists (a retried apply)" in p for p in progress), progress
    assert any(p == "Job ledger-unit-1: running" for p in progress), progress
    created = [r for r in server.requests if r["method"] == "POST" and "/jobs" in r["path"]]
    assert len(created) == 2  # the second create met 409 and followed the same Job


async def test_a_failing_command_and_a_deadline(backend, monkeypatch):
    _, kube = backend
    failing = job_manifest("x-1", "staging", "x", "img:1", ["pytest", "--fail-here"], 60)
    run = await run_test_job(kube.client, failing, poll_s=0.05)
    assert run.outcome == "failed" and run.failed == 2
    monkeypatch.setattr(sandbox_jobs, "JOB_SECONDS", 5.0)
    slow = job_manifest("x-2", "staging", "x", "img:1", ["pytest"], 1)
    run = await run_test_job(kube.client, slow, poll_s=0.05)
    job = await kube.client.get(Job, "x-2", namespace="staging")
    await kube.aclose()
    assert run.outcome == "deadline" and run.passed is None
    assert job.status.conditions[0].reason == "DeadlineExceeded"


async def test_a_finished_job_goes_after_its_ttl():
    now = [1000.0]
    with KubeApiServer(rollout_seconds=0.05, clock=lambda: now[0]) as server:
        kube = KubernetesBackend.from_url(server.url, poll_interval=0.05)
        manifest = job_manifest("t-1", "staging", "t", "img:1", ["pytest"], 60)
        manifest["spec"]["ttlSecondsAfterFinished"] = 30
        await kube.client.create(Job.from_dict(manifest), namespace="staging")
        job = await kube.client.get(Job, "t-1", namespace="staging")
        assert job.status.active == 1 and not job.status.conditions
        now[0] += 2
        job = await kube.client.get(Job, "t-1", namespace="staging")
        assert job.status.conditions[0].type == "Complete" and job.status.succeeded == 1
        now[0] += 40
        with pytest.raises(Exception, match="not found"):
            await kube.client.get(Job, "t-1", namespace="staging")
        await kube.aclose()


@pytest.fixture
def ledger_cli(tmp_path: Path) -> Cli:
    catalog = tmp_path / "catalog.yml"
    catalog.write_text(CATALOG)
    data = tmp_path / "data"
    data.mkdir()
    return Cli(data, DEVOPS_BOT_CATALOG=str(catalog))


def test_unit_tests_of_ledger_in_staging_then_production(ledger_cli: Cli):
    run = ledger_cli("run", "run the unit tests of ledger", "--as", "U1", "--sandbox")
    no_traceback(run)
    assert run.code == EXIT_OK, run
    passed, failed, skipped = sandbox_jobs.result_of(
        "registry.example.com/ledger-tests:1.4", "pytest -q tests/unit"
    )
    assert f"passed: {passed} passed, {failed} failed, {skipped} skipped" in run.out, run.out
    assert "created Job staging/ledger-unit-tests-" in run.out, "progress in the thread"

    prod = ledger_cli("run", "run the unit tests of ledger in production", "--as", "U1",
                      "--sandbox")  # fmt: skip
    assert prod.code == EXIT_PAUSED, prod
    assert "run_unit_tests unit tests of ledger (Job production/" in prod.out
    assert "activeDeadlineSeconds: 900" in prod.out and "ttlSecondsAfterFinished" in prod.out


def test_failing_unit_tests_and_a_service_without_them(ledger_cli: Cli):
    run = ledger_cli("run", "run the unit tests of broken-ledger", "--as", "U1", "--sandbox")
    assert "FAILED: " in run.out and " 2 failed, " in run.out, run.out
    plain = ledger_cli("run", "run the unit tests of plain", "--as", "U1", "--sandbox")
    assert plain.code != EXIT_OK
    assert "add `unit_tests: {image:" in plain.both, plain
