"""The first deploy of a scaffolded service, through the CLI as the reviewer runs it: the
Deployment does not exist, so it is created (with its Service) from the manifests in the
service's sandbox repository, with the requested image, and rolled out; production waits for
another person's approval; a service without manifests is told what to do."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.cli_helpers import Cli, no_traceback

EXIT_OK, EXIT_PAUSED = 0, 10
SCAFFOLD = "scaffold a python service invoice-api for the billing team"


def thread_of(out: str) -> str:
    return re.search(r"^thread: (cli-\S+)$", out, re.M)[1]  # type: ignore[index]


@pytest.mark.slow  # ~30 s: six CLI runs, each starting the sandbox
def test_scaffold_then_first_deploy_to_staging_and_production(sqlite_cli: Cli):
    run = sqlite_cli("run", SCAFFOLD, "--as", "U1", "--sandbox")
    assert run.code == EXIT_PAUSED, run
    done = sqlite_cli("approve", thread_of(run.out), "--as", "U1")
    assert done.code == EXIT_OK, done

    staging = sqlite_cli("run", "deploy invoice-api:v0.1.0 staging", "--as", "U1", "--sandbox")
    no_traceback(staging)
    assert staging.code == EXIT_OK, staging
    assert "first deploy: creates its Deployment and Service" in staging.out
    assert "rollout complete" in staging.out, staging.out
    status = sqlite_cli("run", "status of invoice-api in staging", "--as", "U1", "--sandbox")
    assert "invoice-api:v0.1.0" in status.out, status.out
    assert "2/2 ready, rollout complete" in status.out, status.out

    # production: planned with the exact manifests, and only another person may approve it
    prod = sqlite_cli(
        "run", "deploy invoice-api:v0.1.0 production", "--as", "U1", "--sandbox", "--json"
    )
    assert prod.code == EXIT_PAUSED, prod
    report = json.loads(prod.out)
    files = {f["path"]: yaml.safe_load(f["content"]) for f in report["approval"]["files"]}
    assert set(files) == {"k8s/deployment.yaml", "k8s/service.yaml"}
    dep = files["k8s/deployment.yaml"]
    assert dep["metadata"]["namespace"] == "production"
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith("/invoice-api:v0.1.0")
    thread = report["thread_id"]
    own = sqlite_cli("approve", thread, "--as", "U1")
    assert own.code != EXIT_OK, own
    before = sqlite_cli("run", "status of invoice-api in production", "--as", "U1", "--sandbox")
    assert "not found" in before.both, before
    other = sqlite_cli("approve", thread, "--as", "U2")
    no_traceback(other)
    assert other.code == EXIT_OK, other
    assert "rollout complete" in other.out, other.out
    after = sqlite_cli("run", "status of invoice-api in production", "--as", "U1", "--sandbox")
    assert "invoice-api:v0.1.0" in after.out, after.out


def test_a_service_without_manifests_is_told_what_to_do(sqlite_cli: Cli):
    # billing is in the sandbox catalog with a repository, but no manifests on the forge
    run = sqlite_cli("run", "deploy billing:v1.0.0 staging", "--as", "U1", "--sandbox")
    no_traceback(run)
    assert run.code != EXIT_OK, run
    assert "deployment 'billing' not found in namespace 'staging'" in run.out
    assert "acme/billing on the sandbox forge" in run.out
    assert "has no k8s/deployment.yaml on main" in run.out
    assert "'add a Dockerfile and Kubernetes manifests to billing'" in run.out
