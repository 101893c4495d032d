"""The issue's scenarios through the installed CLI, as a person would run them: a service
scaffolded in the sandbox (nothing pushed before the click, one repository however many
clicks, registered so its pipeline can be created next), parts added to an existing
repository as one labelled pull request, templates listed, GitHub and GitLab for real over
HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.agents.scaffold_agent.conftest import GITLAB_TOKEN, TOKEN
from tests.cli_helpers import Cli, no_traceback
from workflow.agents.harness_expert.rules import check_pipeline

EXIT_OK, EXIT_PAUSED = 0, 10
SCAFFOLD = "scaffold a python service invoice-api for the billing team"


def thread_of(out: str) -> str:
    return re.search(r"^thread: (cli-\S+)$", out, re.M)[1]  # type: ignore[index]


def test_scaffold_in_the_sandbox_then_create_its_pipeline(sqlite_cli: Cli, tmp_path: Path):
    out = tmp_path / "out"
    run = sqlite_cli("run", SCAFFOLD, "--as", "U1", "--sandbox", "--out", str(out))
    no_traceback(run)
    assert run.code == EXIT_PAUSED, run
    assert "create_repository repository acme/invoice-api" in run.out
    assert "Kubernetes 1.30 API schemas (strict)" in run.out
    assert (out / "src/invoice_api/app.py").is_file() and (out / "k8s/deployment.yaml").is_file()
    shown = sqlite_cli("sandbox", "show")
    assert "SANDBOX forge (local git): 0 repositories" in shown.out, "nothing before the click"

    thread = thread_of(run.out)
    done = sqlite_cli("approve", thread, "--as", "U1")  # the requester's own click
    no_traceback(done)
    assert done.code == EXIT_OK, done
    assert "created repository acme/invoice-api" in done.out
    assert "invoice-api is registered in the catalog" in done.out
    again = sqlite_cli("approve", thread, "--as", "U1")  # a second click
    assert again.code != EXIT_OK and "already decided" in again.both, again
    shown = sqlite_cli("sandbox", "show")
    assert "1 repositories, 0 pull request(s)" in shown.out, shown.out
    assert "repository acme/invoice-api: branches main" in shown.out

    # the scaffolded repository holds exactly the files shown
    bare = sqlite_cli.data_dir / "sandbox-forge/repos/acme/invoice-api.git"
    listed = sqlite_cli.python(
        "-c",
        "import subprocess,sys; print(subprocess.run(['git','--git-dir',sys.argv[1],'ls-tree',"
        "'-r','--name-only','main'],capture_output=True,text=True).stdout)",
        str(bare),
    )
    pushed = set(listed.out.split())
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert pushed == written

    # registered: the new service's pipeline can be created right after, in a new process
    pipeline = sqlite_cli(
        "run", "create a pipeline for invoice-api", "--as", "U1", "--sandbox", "--json"
    )
    assert pipeline.code == EXIT_PAUSED, pipeline
    report = json.loads(pipeline.out)
    assert report["approval"]["action"] == "create_pipeline"
    text = report["approval"]["files"][0]["content"]
    assert check_pipeline(text) == [] and "invoice" in yaml.safe_load(text)["pipeline"]["name"]
    deploy = sqlite_cli("run", "deploy invoice-api:v0.1.0 staging", "--as", "U1", "--sandbox")
    assert "service=invoice-api" in deploy.out and "not in the catalog" not in deploy.both


def test_parts_for_an_existing_repository_are_one_labelled_pull_request(sqlite_cli: Cli):
    run = sqlite_cli(
        "run", "add a Dockerfile and Kubernetes manifests to checkout", "--as", "U1", "--sandbox"
    )
    assert run.code == EXIT_PAUSED, run
    assert "open_pull_request pull request on acme/checkout" in run.out
    done = sqlite_cli("approve", thread_of(run.out), "--as", "U1")
    assert done.code == EXIT_OK, done
    assert "pull request #1 on acme/checkout: sandbox://acme/checkout/pull/1" in done.out
    shown = sqlite_cli("sandbox", "show")
    assert "1 pull request(s)" in shown.out
    assert "pull request sandbox://acme/checkout/pull/1 [sandbox] open" in shown.out
    reset = sqlite_cli("sandbox", "reset")
    assert "Sandbox forge repositories and pull requests" in reset.out
    assert "0 repositories, 0 pull request(s)" in sqlite_cli("sandbox", "show").out


def test_templates_are_listed_with_their_questions(sqlite_cli: Cli):
    run = sqlite_cli("run", "what templates do you have?", "--as", "U1", "--sandbox")
    assert run.code == EXIT_OK, run
    for name in ("python-service", "dockerfile-k8s", "harness-pipeline"):
        assert name in run.out
    assert "service_name (required)" in run.out


def test_a_missing_answer_is_asked_back_not_invented(sqlite_cli: Cli):
    run = sqlite_cli("run", "scaffold a python service invoice-api", "--as", "U1", "--sandbox")
    assert "team: the team that owns it" in run.both and "do not invent" in run.both, run


@pytest.mark.slow
def test_scaffold_on_gitlab_creates_one_project_and_one_merge_request(gitlab, tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    cli = Cli(
        data,
        DEVOPS_BOT_FORGE="gitlab",
        DEVOPS_BOT_FORGE_URL=gitlab.api,
        DEVOPS_BOT_FORGE_ORG="acme",
        DEVOPS_BOT_FORGE_TOKEN=GITLAB_TOKEN,
    )
    run = cli("run", SCAFFOLD, "--as", "U1", "--sandbox")
    no_traceback(run)
    assert run.code == EXIT_PAUSED, run
    assert f"GitLab ({gitlab.api})" in run.out, run.out
    assert not gitlab.requests, "nothing sent to GitLab before the click"
    done = cli("approve", thread_of(run.out), "--as", "U1")
    no_traceback(done)
    assert done.code == EXIT_OK, done
    assert f"created repository acme/invoice-api ({gitlab.url}/acme/invoice-api)" in done.out
    assert list(gitlab.branches("acme", "invoice-api")) == ["main"]
    assert "/healthz" in gitlab.show("acme", "invoice-api", "main", "src/invoice_api/app.py")
    creates = [r for r in gitlab.requests if r[:2] == ("POST", "/api/v4/projects")]
    assert len(creates) == 1
    parts = cli("run", "add a harness pipeline to invoice-api", "--as", "U1", "--sandbox")
    assert parts.code == EXIT_PAUSED, parts
    assert "Open a merge request on acme/invoice-api" in parts.out, parts.out
    opened = cli("approve", thread_of(parts.out), "--as", "U1")
    no_traceback(opened)
    assert opened.code == EXIT_OK, opened
    url = f"{gitlab.url}/acme/invoice-api/-/merge_requests/1"
    assert f"merge request !1 on acme/invoice-api: {url}" in opened.out
    assert len(gitlab.merge_requests["acme/invoice-api"]) == 1
    # its first deploy creates it from the manifests read through the raw files API
    deploy = cli("run", "deploy invoice-api:v0.1.0 staging", "--as", "U1", "--sandbox")
    no_traceback(deploy)
    assert deploy.code == EXIT_OK, deploy
    assert "first deploy: creates its Deployment and Service" in deploy.out
    read = [r[1] for r in gitlab.requests if "/repository/files/" in r[1]]
    assert read[0] == (
        "/api/v4/projects/acme%2Finvoice-api/repository/files/k8s%2Fdeployment.yaml/raw?ref=main"
    )
    for said in (run, done, parts, opened, deploy):
        assert GITLAB_TOKEN not in said.both


def test_scaffold_on_github_creates_one_repository_over_real_git(forge, tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    cli = Cli(
        data,
        DEVOPS_BOT_FORGE="github",
        DEVOPS_BOT_FORGE_URL=forge.url,
        DEVOPS_BOT_FORGE_ORG="acme",
        DEVOPS_BOT_FORGE_TOKEN=TOKEN,
    )
    run = cli("run", SCAFFOLD, "--as", "U1", "--sandbox")
    assert run.code == EXIT_PAUSED, run
    assert not forge.requests, "nothing sent to the forge before the click"
    done = cli("approve", thread_of(run.out), "--as", "U1")
    no_traceback(done)
    assert done.code == EXIT_OK, done
    assert f"created repository acme/invoice-api ({forge.url}/acme/invoice-api)" in done.out
    assert list(forge.branches("acme", "invoice-api")) == ["main"]
    app = forge.show("acme", "invoice-api", "main", "src/invoice_api/app.py")
    assert "/healthz" in app
    assert TOKEN not in run.both + done.both
    creates = [r for r in forge.requests if r[:2] == ("POST", "/orgs/acme/repos")]
    assert len(creates) == 1
    parts = cli("run", "add a harness pipeline to invoice-api", "--as", "U1", "--sandbox")
    assert parts.code == EXIT_PAUSED, parts
    opened = cli("approve", thread_of(parts.out), "--as", "U1")
    assert opened.code == EXIT_OK, opened
    assert f"pull request #1 on acme/invoice-api: {forge.url}/acme/invoice-api/pull/1" in (
        opened.out
    )
    assert len(forge.pulls["acme/invoice-api"]) == 1
    # its first deploy creates it from the manifests read on GitHub (contents API)
    deploy = cli("run", "deploy invoice-api:v0.1.0 staging", "--as", "U1", "--sandbox")
    no_traceback(deploy)
    assert deploy.code == EXIT_OK, deploy
    assert "first deploy: creates its Deployment and Service" in deploy.out
    assert "rollout complete" in deploy.out
    read = [r[1] for r in forge.requests if "/contents/" in r[1]]
    assert read[0].startswith("/repos/acme/invoice-api/contents/k8s/deployment.yaml?ref=main")
    assert TOKEN not in deploy.both


def test_a_bot_killed_mid_push_then_resumed_opens_one_pull_request(forge, tmp_path: Path):
    import threading

    forge.make_repo("acme", "checkout", {"README.md": "# checkout\n"})
    data = tmp_path / "data"
    data.mkdir()
    cli = Cli(
        data,
        DEVOPS_BOT_FORGE="github",
        DEVOPS_BOT_FORGE_URL=forge.url,
        DEVOPS_BOT_FORGE_ORG="acme",
        DEVOPS_BOT_FORGE_TOKEN=TOKEN,
    )
    run = cli("run", "add a Dockerfile to checkout", "--as", "U1", "--sandbox")
    assert run.code == EXIT_PAUSED, run
    thread = thread_of(run.out)
    forge.hold = threading.Event()
    proc = cli.start("approve", thread, "--as", "U1")
    try:
        assert forge.reached.wait(60), "the bot reached the pull request step"
        branches = forge.branches("acme", "checkout")
        assert len(branches) == 2, "the branch was pushed before the crash"
    finally:
        proc.kill()  # the bot dies between the push and the pull request
        proc.wait(30)
        forge.hold.set()
    forge.hold = None
    # the decision was taken, the apply died with the bot: the same request asked again plans
    # the same files (the same plan hash, so the same branch); approving it finishes the job
    again = cli("run", "add a Dockerfile to checkout", "--as", "U1", "--sandbox")
    assert again.code == EXIT_PAUSED, again
    hashes = re.findall(r"plan hash: (sha256:\w+)", run.out + again.out)
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    done = cli("approve", thread_of(again.out), "--as", "U1")
    no_traceback(done)
    assert done.code == EXIT_OK, done
    assert "pull request #1 on acme/checkout" in done.out
    assert len(forge.pulls["acme/checkout"]) == 1
    after = forge.branches("acme", "checkout")
    assert after == branches, "the same branch and commit: nothing pushed twice"


def _git(*args: str, cwd: Path) -> str:
    import os
    import subprocess

    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


def test_template_update_is_a_pull_request_with_conflicts_shown(tmp_path: Path):
    import shutil

    from workflow.agents.scaffold_agent.templates import SHIPPED

    templates = tmp_path / "templates"
    shutil.copytree(SHIPPED, templates)
    data = tmp_path / "data"
    data.mkdir()
    cli = Cli(data, DEVOPS_BOT_TEMPLATES=str(templates))
    run = cli("run", SCAFFOLD, "--as", "U1", "--sandbox")
    assert run.code == EXIT_PAUSED, run
    assert cli("approve", thread_of(run.out), "--as", "U1").code == EXIT_OK
    current = cli("run", "which services are behind their template?", "--as", "U1", "--sandbox")
    assert "0 service(s) behind their template" in current.out, current

    # the team changes its Deployment's memory limit; the template changes the CPU limit
    # (the same lines: a conflict) and adds a file
    bare = data / "sandbox-forge/repos/acme/invoice-api.git"
    work = tmp_path / "work"
    _git("clone", "-q", str(bare), str(work), cwd=tmp_path)
    manifest = work / "k8s/deployment.yaml"
    manifest.write_text(manifest.read_text().replace("memory: 256Mi", "memory: 512Mi"))
    _git("commit", "-qam", "more memory", cwd=work)
    _git("push", "-q", "origin", "main", cwd=work)
    jinja = templates / "python-service/template/k8s/deployment.yaml.jinja"
    jinja.write_text(
        jinja.read_text().replace(
            "cpu: 500m\n              memory: 256Mi", 'cpu: "1"\n              memory: 384Mi'
        )
    )
    (templates / "python-service/template/.editorconfig").write_text("root = true\n")

    behind = cli("run", "which services are behind their template?", "--as", "U1", "--sandbox")
    assert "1 service(s) behind their template: invoice-api (python-service 0.1.0 -> 0.2.0)" in (
        behind.out
    ), behind
    update = cli("run", "update invoice-api from its template", "--as", "U1", "--sandbox", "--json")
    assert update.code == EXIT_PAUSED, update
    approval = json.loads(update.out)["approval"]
    files = {f["path"]: f["content"] for f in approval["files"]}
    assert files[".editorconfig"] == "root = true\n"
    assert "_commit: 0.2.0" in files[".copier-answers.yml"]
    assert "<<<<<<< " in files["k8s/deployment.yaml"] and "512Mi" in files["k8s/deployment.yaml"]
    assert "CONFLICTS (shown inline" in approval["preview"]
    done = cli("approve", json.loads(update.out)["thread_id"], "--as", "U1")
    assert done.code == EXIT_OK, done
    assert "pull request #1 on acme/invoice-api" in done.out
    shown = cli("sandbox", "show")
    assert "update from template python-service 0.1.0 -> 0.2.0" in shown.out


def test_invalid_names_and_unknown_templates_are_refused_clearly(sqlite_cli: Cli):
    bad = sqlite_cli(
        "run",
        "scaffold a python service Invoice_API for the billing team",
        "--as",
        "U1",
        "--sandbox",
    )
    no_traceback(bad)
    assert bad.code != EXIT_PAUSED, bad
    assert "'Invoice_API' is not a DNS-1123 label" in bad.both, bad
    unknown = sqlite_cli(
        "run",
        "scaffold invoice-api from the rails-app template for team billing",
        "--as",
        "U1",
        "--sandbox",
    )
    assert unknown.code != EXIT_PAUSED, unknown
    assert "there is no template 'rails-app'; the templates are: python-service" in (
        unknown.both
    ), unknown


def test_an_unreachable_forge_is_said_plainly_and_nothing_is_registered(tmp_path: Path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp_path / "data"
    data.mkdir()
    cli = Cli(
        data,
        DEVOPS_BOT_FORGE="github",
        DEVOPS_BOT_FORGE_URL=f"http://127.0.0.1:{port}",
        DEVOPS_BOT_FORGE_ORG="acme",
        DEVOPS_BOT_FORGE_TOKEN=TOKEN,
    )
    run = cli("run", SCAFFOLD, "--as", "U1", "--sandbox")
    assert run.code == EXIT_PAUSED, run
    done = cli("approve", thread_of(run.out), "--as", "U1")
    no_traceback(done)
    assert done.code != EXIT_OK
    assert f"GitHub at http://127.0.0.1:{port} is unreachable" in done.both, done
    assert TOKEN not in done.both
    assert not (data / "registered-services.json").exists()


def test_organisation_templates_from_a_git_repository(tmp_path: Path):
    source = tmp_path / "org-templates-src"
    (source / "go-service/template").mkdir(parents=True)
    (source / "go-service/copier.yml").write_text(
        "_subdirectory: template\nservice_name: {type: str, help: the name}\n"
        "team: {type: str, help: the owning team}\n"
    )
    (source / "go-service/devops-bot.yml").write_text("kind: service\nlanguage: go\n")
    (source / "go-service/template/main.go.jinja").write_text(
        "package main // {{ service_name }}\n"
    )
    _git("init", "-q", "-b", "main", cwd=source)
    _git("add", "-A", cwd=source)
    _git("commit", "-qm", "templates", cwd=source)
    bare = tmp_path / "org-templates.git"
    _git("clone", "-q", "--bare", str(source), str(bare), cwd=tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    cli = Cli(data, DEVOPS_BOT_TEMPLATES=str(bare))
    listed = cli("run", "what templates do you have?", "--as", "U1", "--sandbox")
    assert "go-service" in listed.out and "python-service" in listed.out, listed
    run = cli(
        "run",
        "scaffold a go service named ledger-sync for team payments",
        "--as",
        "U1",
        "--sandbox",
        "--json",
    )
    assert run.code == EXIT_PAUSED, run
    files = [f["path"] for f in json.loads(run.out)["approval"]["files"]]
    assert files == ["main.go"]
    broken = Cli(data, DEVOPS_BOT_TEMPLATES=str(tmp_path / "missing.git"))
    said = broken("run", "what templates do you have?", "--as", "U1", "--sandbox")
    assert "could not be cloned" in said.both, said
