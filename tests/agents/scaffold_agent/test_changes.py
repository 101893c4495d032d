"""The change-request tool against real git (smart HTTP through `git http-backend`) and a
local GitHub REST server: idempotent, token-safe, plain about failures."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.agents.scaffold_agent.conftest import TOKEN
from tests.agents.scaffold_agent.forge_server import Forge
from workflow.tools.changes import ChangeError, ChangeRequest, branch_for
from workflow.tools.changes.git import GitRemote, push_files
from workflow.tools.changes.github import GitHubForge
from workflow.tools.changes.sandbox import SandboxForge

FILES = {"Dockerfile": "FROM scratch\n", "k8s/service.yaml": "kind: Service\n"}


def github(forge: Forge, token: str = TOKEN) -> GitHubForge:
    return GitHubForge(api_url=forge.url, org="acme", token=token)


def change(**kw) -> ChangeRequest:
    base = dict(
        repository="acme/ledger",
        files=FILES,
        branch=branch_for("ledger", "sha256:abcdef0123456789"),
        title="ledger: add dockerfile",
        message="ledger: add dockerfile\n\nRequested by U1 in thread t1",
    )
    return ChangeRequest(**{**base, **kw})


async def test_a_change_is_one_branch_one_commit_one_pull_request_however_often(forge):
    forge.make_repo("acme", "ledger", {"README.md": "# ledger\n"})
    client = github(forge)
    first = await client.submit(change())
    again = await client.submit(change())
    await client.aclose()
    assert first.created == ["commit", "pull request"] and again.created == []
    assert (again.branch, again.commit, again.url) == (first.branch, first.commit, first.url)
    assert first.branch == "devops-bot/ledger-abcdef012345"
    branches = forge.branches("acme", "ledger")
    assert branches[first.branch] == first.commit
    assert forge.show("acme", "ledger", first.branch, "Dockerfile") == FILES["Dockerfile"]
    assert forge.show("acme", "ledger", first.branch, "README.md") == "# ledger\n", "from main"
    assert len(forge.pulls["acme/ledger"]) == 1
    assert first.url == f"{forge.url}/acme/ledger/pull/1"
    posts = [r for r in forge.requests if r[0] == "POST" and r[1].endswith("/pulls")]
    assert len(posts) == 1


async def test_resumed_after_a_crash_between_push_and_pull_request(forge):
    forge.make_repo("acme", "ledger", {"README.md": "# ledger\n"})
    request = change()
    # the crash: the branch was pushed, the pull request never opened
    remote = GitRemote(f"{forge.url}/git/acme/ledger.git", token=TOKEN)
    pushed = push_files(remote, FILES, branch=request.branch, base="main", message="m")
    client = github(forge)
    result = await client.submit(request)
    await client.aclose()
    assert result.commit == pushed.commit and result.created == ["pull request"]
    assert len(forge.pulls["acme/ledger"]) == 1


async def test_github_refuses_a_duplicate_pull_request_with_422(forge):
    forge.make_repo("acme", "ledger", {"README.md": "x\n"})
    client = github(forge)
    result = await client.submit(change())
    await client.aclose()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        body = {"title": "again", "head": result.branch, "base": "main"}
        r = await http.post(f"{forge.url}/repos/acme/ledger/pulls", json=body)
    assert r.status_code == 422 and "already exists" in r.text


async def test_a_new_repository_created_once_and_pushed_once(forge):
    client = github(forge)
    request = change(repository="acme/invoice-api", new_repository=True, branch="main")
    first = await client.submit(request)
    again = await client.submit(request)  # a retried click
    await client.aclose()
    assert first.created == ["repository", "commit"] and again.created == []
    assert again.commit == first.commit and forge.branches("acme", "invoice-api") == {
        "main": first.commit
    }
    creates = [r for r in forge.requests if r[0] == "POST" and r[1] == "/orgs/acme/repos"]
    assert len(creates) == 1
    log = forge.show("acme", "invoice-api", "main", "k8s/service.yaml")
    assert log == FILES["k8s/service.yaml"]


async def test_an_existing_repository_with_other_files_is_not_overwritten(forge):
    forge.make_repo("acme", "invoice-api", {"README.md": "someone else's\n"})
    client = github(forge)
    with pytest.raises(ChangeError, match="already exists"):
        await client.submit(change(repository="acme/invoice-api", new_repository=True))
    await client.aclose()
    assert forge.show("acme", "invoice-api", "main", "README.md") == "someone else's\n"


async def test_the_token_is_in_no_url_no_argument_and_no_message(forge, monkeypatch):
    forge.make_repo("acme", "ledger", {"README.md": "x\n"})
    seen_argv: list[list[str]] = []
    import subprocess

    real = subprocess.run

    def spy(args, *a, **kw):
        seen_argv.append(list(args))
        return real(args, *a, **kw)

    monkeypatch.setattr(subprocess, "run", spy)
    client = github(forge)
    await client.submit(change())
    await client.aclose()
    assert seen_argv and all(TOKEN not in " ".join(argv) for argv in seen_argv)
    assert all(TOKEN not in path for _, path, _ in forge.requests)
    git_auth = {auth for _, path, auth in forge.requests if path.startswith("/git/")}
    assert git_auth and all(a.startswith("Basic ") for a in git_auth), "sent as a header"
    # a wrong token: refused, and the message says so without the token
    bad = github(forge, token="ghp_WRONGtoken")
    bad_remote = GitRemote(f"{forge.url}/git/acme/ledger.git", token="ghp_WRONGtoken")
    with pytest.raises(ChangeError) as err:
        push_files(bad_remote, FILES, branch="b", base="main", message="m")
    assert "ghp_WRONGtoken" not in err.value.message
    with pytest.raises(ChangeError, match="HTTP 401") as err:
        await bad.submit(change())
    assert "ghp_WRONGtoken" not in err.value.message and "Bad credentials" in err.value.message
    await bad.aclose()
    assert "ghp_" not in repr(client) and "ghp_" not in repr(bad_remote)


async def test_an_unreachable_forge_is_said_plainly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = GitHubForge(api_url=f"http://127.0.0.1:{port}", org="acme", token=TOKEN)
    with pytest.raises(ChangeError, match=r"is unreachable.*nothing was pushed"):
        await client.submit(change())
    await client.aclose()


async def test_file_paths_outside_the_repository_are_refused(forge):
    forge.make_repo("acme", "ledger", {"README.md": "x\n"})
    client = github(forge)
    with pytest.raises(ChangeError, match="refused file path"):
        await client.submit(change(files={"../../etc/passwd": "x"}))
    await client.aclose()


async def test_the_sandbox_forge_is_as_idempotent_and_labels_its_pull_requests(tmp_path):
    forge = SandboxForge(tmp_path)
    first = await forge.submit(change(repository="acme/checkout"))
    again = await forge.submit(change(repository="acme/checkout"))
    assert first.url == again.url == "sandbox://acme/checkout/pull/1"
    assert [p["labels"] for p in forge.pulls()] == [["sandbox"]]
    assert set(forge.branches("acme/checkout")) == {"main", first.branch}
    assert forge.read_file("acme/checkout", "Dockerfile", first.branch) == FILES["Dockerfile"]
    new = change(repository="acme/invoice-api", new_repository=True)
    made = await forge.submit(new)
    assert made.created == ["repository", "commit"]
    assert (await forge.submit(new)).created == []


async def test_a_repository_created_meanwhile_422_is_found_not_an_error(forge):
    forge.make_repo("acme", "invoice-api")  # created by a retried click a moment ago
    client = github(forge)
    repo = await client.create_repository("invoice-api", "")
    await client.aclose()
    assert repo["full_name"] == "acme/invoice-api"
    statuses = [r for r in forge.requests if r[:2] == ("POST", "/orgs/acme/repos")]
    assert len(statuses) == 1


def test_a_file_is_read_from_a_remote_branch_over_https_with_the_token(forge):
    from workflow.tools.changes.git import read_remote_file

    forge.make_repo("acme", "invoice-api", {".copier-answers.yml": "_commit: 0.1.0\n"})
    remote = GitRemote(f"{forge.url}/git/acme/invoice-api.git", token=TOKEN)
    assert read_remote_file(remote, "main", ".copier-answers.yml") == "_commit: 0.1.0\n"
    assert read_remote_file(remote, "main", "missing.txt") is None
    assert read_remote_file(remote, "no-such-branch", ".copier-answers.yml") is None
    wrong = GitRemote(remote.url, token="ghp_WRONGtoken")
    with pytest.raises(ChangeError) as err:
        read_remote_file(wrong, "main", ".copier-answers.yml")
    assert "ghp_WRONGtoken" not in err.value.message
