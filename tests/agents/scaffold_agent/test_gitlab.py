"""The GitLab backend against a local GitLab REST v4 server and real git (smart HTTP through
`git http-backend`, Basic `oauth2:<token>`): projects and merge requests made once however
often a plan is applied, resumed after a crash, plain about a wrong token and never showing
it."""

from __future__ import annotations

import json
import logging
import socket
import subprocess

import httpx
import pytest

from tests.agents.scaffold_agent.conftest import GITLAB_TOKEN as TOKEN
from tests.agents.scaffold_agent.gitlab_server import GitLab
from workflow.tools.changes import ChangeError, ChangeRequest, branch_for
from workflow.tools.changes.git import GitRemote, push_files
from workflow.tools.changes.gitlab import GitLabForge

FILES = {"Dockerfile": "FROM scratch\n", "k8s/service.yaml": "kind: Service\n"}


def client(gitlab: GitLab, token: str = TOKEN, org: str = "acme") -> GitLabForge:
    return GitLabForge(api_url=gitlab.api, org=org, token=token)


def change(**kw) -> ChangeRequest:
    base = dict(
        repository="acme/ledger",
        files=FILES,
        branch=branch_for("ledger", "sha256:abcdef0123456789"),
        title="ledger: add dockerfile",
        message="ledger: add dockerfile\n\nRequested by U1 in thread t1",
        body="adds a Dockerfile",
    )
    return ChangeRequest(**{**base, **kw})


def posts(gitlab: GitLab, suffix: str) -> list[tuple[str, str, str]]:
    return [r for r in gitlab.requests if r[0] == "POST" and r[1].endswith(suffix)]


async def test_a_change_is_one_branch_one_commit_one_merge_request_however_often(gitlab):
    gitlab.make_repo("acme", "ledger", {"README.md": "# ledger\n"})
    forge = client(gitlab)
    first = await forge.submit(change())
    again = await forge.submit(change())
    await forge.aclose()
    assert first.created == ["commit", "pull request"] and again.created == []
    assert (again.branch, again.commit, again.url) == (first.branch, first.commit, first.url)
    assert first.pull_request == 1 and first.url == f"{gitlab.url}/acme/ledger/-/merge_requests/1"
    assert gitlab.branches("acme", "ledger")[first.branch] == first.commit
    assert gitlab.show("acme", "ledger", first.branch, "Dockerfile") == FILES["Dockerfile"]
    assert gitlab.show("acme", "ledger", first.branch, "README.md") == "# ledger\n", "from main"
    [mr] = gitlab.merge_requests["acme/ledger"]
    assert (mr["source_branch"], mr["target_branch"]) == (first.branch, "main")
    assert (mr["title"], mr["description"]) == ("ledger: add dockerfile", "adds a Dockerfile")
    assert len(posts(gitlab, "/projects/acme%2Fledger/merge_requests")) == 1
    listed = [r[1] for r in gitlab.requests if r[0] == "GET" and "merge_requests?" in r[1]]
    assert listed[0].startswith("/api/v4/projects/acme%2Fledger/merge_requests?source_branch=")
    assert "state=opened" in listed[0]


async def test_resumed_after_a_crash_between_push_and_merge_request(gitlab):
    gitlab.make_repo("acme", "ledger", {"README.md": "# ledger\n"})
    request = change()
    # the crash: the branch was pushed, the merge request never opened
    remote = GitRemote(f"{gitlab.url}/acme/ledger.git", token=TOKEN, username="oauth2")
    pushed = push_files(remote, FILES, branch=request.branch, base="main", message="m")
    forge = client(gitlab)
    result = await forge.submit(request)
    await forge.aclose()
    assert result.commit == pushed.commit and result.created == ["pull request"]
    assert len(gitlab.merge_requests["acme/ledger"]) == 1


async def test_gitlab_409_for_a_duplicate_merge_request_finds_the_open_one(gitlab):
    gitlab.make_repo("acme", "ledger", {"README.md": "x\n"})
    forge = client(gitlab)
    first = await forge.submit(change())
    async with httpx.AsyncClient(headers={"PRIVATE-TOKEN": TOKEN}) as http:
        body = {"source_branch": first.branch, "target_branch": "main", "title": "again"}
        r = await http.post(f"{gitlab.api}/projects/acme%2Fledger/merge_requests", json=body)
    assert r.status_code == 409
    assert r.json() == {
        "message": ["Another open merge request already exists for this source branch: !1"]
    }
    gitlab.stale_listings = 1  # the listing misses it: the POST meets the 409, then finds it
    again = await forge.submit(change())
    await forge.aclose()
    assert again.pull_request == 1 and again.created == []
    assert len(gitlab.merge_requests["acme/ledger"]) == 1
    assert len(posts(gitlab, "/merge_requests")) == 3  # the first, the raw one, the 409


async def test_a_new_project_created_once_in_the_group_and_pushed_once(gitlab):
    forge = client(gitlab)
    request = change(repository="acme/invoice-api", new_repository=True, branch="main")
    first = await forge.submit(request)
    again = await forge.submit(request)  # a retried click
    await forge.aclose()
    assert first.created == ["repository", "commit"] and again.created == []
    assert first.url == f"{gitlab.url}/acme/invoice-api" and first.pull_request is None
    assert again.commit == first.commit
    assert gitlab.branches("acme", "invoice-api") == {"main": first.commit}
    assert gitlab.show("acme", "invoice-api", "main", "k8s/service.yaml") == "kind: Service\n"
    creates = [r for r in gitlab.requests if r[:2] == ("POST", "/api/v4/projects")]
    assert len(creates) == 1
    assert ("GET", "/api/v4/groups/acme", TOKEN) in gitlab.requests


async def test_the_project_is_created_private_empty_in_the_groups_namespace(gitlab):
    seen: list[dict] = []

    async def record(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.raw_path == b"/api/v4/projects":
            seen.append(json.loads(request.content))
        async with httpx.AsyncClient() as http:
            return await http.send(request)

    class Recording(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await record(request)
            await response.aread()
            return httpx.Response(
                response.status_code, headers=response.headers, content=response.content
            )

    forge = GitLabForge(api_url=gitlab.api, org="acme", token=TOKEN, transport=Recording())
    await forge.create_project("invoice-api", "billing's invoices")
    await forge.aclose()
    assert seen == [
        {
            "name": "invoice-api",
            "path": "invoice-api",
            "namespace_id": 42,
            "description": "billing's invoices",
            "visibility": "private",
            "initialize_with_readme": False,
        }
    ]


async def test_a_project_created_meanwhile_400_taken_is_found_not_an_error(gitlab):
    gitlab.make_repo("acme", "invoice-api")  # created by a retried click a moment ago
    forge = client(gitlab)
    project = await forge.create_project("invoice-api", "")
    await forge.aclose()
    assert project["path_with_namespace"] == "acme/invoice-api"
    async with httpx.AsyncClient(headers={"PRIVATE-TOKEN": TOKEN}) as http:
        r = await http.post(
            f"{gitlab.api}/projects", json={"name": "invoice-api", "namespace_id": 42}
        )
    assert r.status_code == 400 and r.json()["message"]["name"] == ["has already been taken"]


async def test_an_existing_project_with_other_files_is_not_overwritten(gitlab):
    gitlab.make_repo("acme", "invoice-api", {"README.md": "someone else's\n"})
    forge = client(gitlab)
    with pytest.raises(ChangeError, match="already exists"):
        await forge.submit(change(repository="acme/invoice-api", new_repository=True))
    await forge.aclose()
    assert gitlab.show("acme", "invoice-api", "main", "README.md") == "someone else's\n"


async def test_the_token_is_in_no_url_argument_log_line_or_message(gitlab, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    gitlab.make_repo("acme", "ledger", {"README.md": "x\n"})
    seen_argv: list[list[str]] = []
    real = subprocess.run

    def spy(args, *a, **kw):
        seen_argv.append(list(args))
        return real(args, *a, **kw)

    monkeypatch.setattr(subprocess, "run", spy)
    forge = client(gitlab)
    result = await forge.submit(change())
    await forge.aclose()
    assert seen_argv and all(TOKEN not in " ".join(argv) for argv in seen_argv)
    assert all(TOKEN not in path for _, path, _ in gitlab.requests)
    api = {auth for _, path, auth in gitlab.requests if path.startswith("/api/")}
    assert api == {TOKEN}, "every API call carries PRIVATE-TOKEN"
    git_auth = {auth for _, path, auth in gitlab.requests if path.startswith("/acme/")}
    assert git_auth and all(a.startswith("Basic ") for a in git_auth), "git: a Basic header"
    assert TOKEN not in json.dumps(result.as_dict())

    # a wrong token: refused plainly, by the API and by git, without the token
    wrong = "glpat-WRONGtoken"
    bad = client(gitlab, token=wrong)
    with pytest.raises(ChangeError, match=r"HTTP 401.*401 Unauthorized") as err:
        await bad.submit(change())
    assert "DEVOPS_BOT_FORGE_TOKEN" in err.value.message and wrong not in err.value.message
    await bad.aclose()
    bad_remote = GitRemote(f"{gitlab.url}/acme/ledger.git", token=wrong, username="oauth2")
    with pytest.raises(ChangeError) as err:
        push_files(bad_remote, FILES, branch="b", base="main", message="m")
    assert wrong not in err.value.message
    assert "glpat-" not in repr(forge) + repr(bad) + repr(bad_remote)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records, "httpx logs its requests at DEBUG/INFO"
    assert TOKEN not in logged and wrong not in logged


async def test_an_unknown_group_and_an_unknown_project_are_said_plainly(gitlab):
    forge = client(gitlab, org="nope")
    with pytest.raises(ChangeError, match=r"no group 'nope'.*DEVOPS_BOT_FORGE_ORG"):
        await forge.submit(change(repository="nope/invoice-api", new_repository=True))
    with pytest.raises(ChangeError, match="has no project acme/ledger"):
        await forge.submit(change())
    await forge.aclose()
    assert not posts(gitlab, "/projects")


async def test_a_token_without_the_role_to_create_is_told_which_role(gitlab):
    forge = client(gitlab, token=gitlab.reporter_token)
    with pytest.raises(ChangeError, match=r"HTTP 403\): 403 Forbidden") as err:
        await forge.submit(change(repository="acme/invoice-api", new_repository=True))
    await forge.aclose()
    assert "Maintainer or Owner to create projects" in err.value.message
    assert gitlab.reporter_token not in err.value.message
    assert not gitlab.bare("acme", "invoice-api").exists()


async def test_an_unreachable_gitlab_is_said_plainly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    forge = GitLabForge(api_url=f"http://127.0.0.1:{port}/api/v4", org="acme", token=TOKEN)
    with pytest.raises(ChangeError, match=r"is unreachable.*nothing was pushed") as err:
        await forge.submit(change())
    await forge.aclose()
    assert "DEVOPS_BOT_FORGE_URL" in err.value.message


async def test_a_file_is_read_through_the_raw_files_api(gitlab):
    gitlab.make_repo("acme", "invoice-api", {"k8s/deployment.yaml": "kind: Deployment\n"})
    forge = client(gitlab)
    text = await forge.read_file("acme/invoice-api", "k8s/deployment.yaml")
    assert text == "kind: Deployment\n"
    assert await forge.read_file("acme/invoice-api", "k8s/missing.yaml") is None
    assert await forge.read_file("acme/invoice-api", "k8s/deployment.yaml", "nope") is None
    assert await forge.read_file("acme/absent", "k8s/deployment.yaml") is None
    await forge.aclose()
    read = [r[1] for r in gitlab.requests if "/repository/files/" in r[1]]
    assert read[0] == (
        "/api/v4/projects/acme%2Finvoice-api/repository/files/k8s%2Fdeployment.yaml/raw?ref=main"
    )
    # without a token GitLab hides a private project: 404, not 401
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{gitlab.api}/projects/acme%2Finvoice-api")
    assert (r.status_code, r.json()) == (404, {"message": "404 Project Not Found"})


async def test_the_remote_is_the_projects_https_url_with_oauth2_basic(gitlab):
    from workflow.tools.changes.git import read_remote_file

    gitlab.make_repo("acme", "invoice-api", {".copier-answers.yml": "_commit: 0.1.0\n"})
    forge = client(gitlab)
    remote = await forge.remote_for("acme/invoice-api")
    assert await forge.remote_for("acme/absent") is None
    await forge.aclose()
    assert remote is not None and remote.url == f"{gitlab.url}/acme/invoice-api.git"
    assert read_remote_file(remote, "main", ".copier-answers.yml") == "_commit: 0.1.0\n"
    as_github = GitRemote(remote.url, token=TOKEN)  # x-access-token: GitLab says 401
    with pytest.raises(ChangeError) as err:
        read_remote_file(as_github, "main", ".copier-answers.yml")
    assert TOKEN not in err.value.message
