"""GitLab: projects and merge requests over the REST API (v4), files over git (HTTPS).

Every API call carries the token in the `PRIVATE-TOKEN` header; a project is addressed by
its URL-encoded path (`/projects/acme%2Fledger`), a file by its URL-encoded path too.

- a new repository: `GET /projects/{group%2Fname}`, else the group's id from
  `GET /groups/{group}` and `POST /projects` (`name`, `path`, `namespace_id`,
  `visibility: private`, `initialize_with_readme: false`): 201; a 400 whose message says
  the name or path "has already been taken" means it was created meanwhile: looked up again;
  then the files pushed as the first commit of `main`;
- a change: the files pushed on the plan's branch, then the branch's open merge request
  (`GET /projects/{id}/merge_requests?source_branch=..&state=opened`) or a new one
  (`POST /projects/{id}/merge_requests`: 201; a 409 "Another open merge request already
  exists for this source branch" means one was opened meanwhile: found again);
- a file: `GET /projects/{id}/repository/files/{path}/raw?ref=main` (404: absent).

Git over HTTPS authenticates with the Basic credential `oauth2:<token>`, sent by git.py as
an `http.extraHeader` through git's environment (never in a URL or argv).

`ChangeResult.pull_request` is the merge request's `iid` (the number after `!` in GitLab),
and `url` its `web_url`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from workflow.tools.changes import ChangeError, split_repository
from workflow.tools.changes.git import GitRemote
from workflow.tools.changes.hosted import HostedForge

__all__ = ["GitLabForge"]

GIT_USERNAME = "oauth2"  # GitLab's username for a token used as a git-over-HTTPS password
TAKEN = "has already been taken"
DUPLICATE_MR = "already exists"


def _encoded(path: str) -> str:
    """A path segment as GitLab's API wants it: every `/` (and the rest) percent-encoded."""
    return quote(path, safe="")


def _said(data: Any) -> str:
    """GitLab's `message` (a string, a list, or {field: [errors]}) or `error`, as one line."""
    if not isinstance(data, dict):
        return ""
    message = data.get("message", data.get("error_description") or data.get("error") or "")
    if isinstance(message, dict):
        return "; ".join(
            f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in message.items()
        )
    if isinstance(message, list):
        return "; ".join(map(str, message))
    return str(message)


class GitLabForge(HostedForge):
    request_noun = "merge request"
    repositories = "projects"
    forge_name = "GitLab"
    unreachable_hint = ": check DEVOPS_BOT_FORGE_URL (e.g. https://gitlab.com/api/v4)"

    def __init__(
        self,
        *,
        api_url: str,
        org: str,
        token: str,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.org = org.strip("/")
        self._token = token
        self.label = f"GitLab ({self.api_url})"
        self._http = httpx.AsyncClient(
            base_url=self.api_url,
            headers={"PRIVATE-TOKEN": token, "User-Agent": "devops-bot"},
            timeout=timeout,
            transport=transport,
        )

    def _refused(self, what: str, response: httpx.Response) -> ChangeError:
        try:
            detail = _said(response.json())
        except ValueError:
            detail = response.text[:200]
        detail = detail.replace(self._token, "***")
        status = response.status_code
        hint = ""
        if status == 401:
            hint = (
                " (the token was not accepted: check DEVOPS_BOT_FORGE_TOKEN, an access token "
                "with the api scope that has not expired)"
            )
        elif status == 403:
            hint = (
                f" (the token's user lacks the permission: it needs the api scope and the "
                f"Developer role in {self.org}, Maintainer or Owner to create projects there)"
            )
        return ChangeError(f"GitLab refused to {what} (HTTP {status}): {detail}{hint}")

    def _project_path(self, owner: str, name: str) -> str:
        return f"/projects/{_encoded(f'{owner}/{name}')}"

    async def project(self, owner: str, name: str) -> dict[str, Any] | None:
        r = await self._call("GET", self._project_path(owner, name))
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise self._refused(f"read project {owner}/{name}", r)
        return r.json()

    async def group_id(self) -> int:
        """The id of the group new projects are created in (DEVOPS_BOT_FORGE_ORG)."""
        r = await self._call("GET", f"/groups/{_encoded(self.org)}")
        if r.status_code == 404:
            raise ChangeError(
                f"GitLab has no group {self.org!r} that this token can see: set "
                "DEVOPS_BOT_FORGE_ORG to the group's path (as in its URL) and give the token's "
                "user access to it"
            )
        if r.status_code != 200:
            raise self._refused(f"read group {self.org}", r)
        return int(r.json()["id"])

    async def read_file(self, repository: str, path: str, ref: str = "main") -> str | None:
        """The text of `path` at `ref` (the repository files API, raw), or None when absent."""
        owner, name = split_repository(repository)
        r = await self._call(
            "GET",
            f"{self._project_path(owner, name)}/repository/files/{_encoded(path)}/raw",
            params={"ref": ref},
        )
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise self._refused(f"read {path} of {owner}/{name}", r)
        return r.text

    async def create_project(self, name: str, description: str) -> dict[str, Any]:
        body = {
            "name": name,
            "path": name,
            "namespace_id": await self.group_id(),
            "description": description,
            "visibility": "private",
            "initialize_with_readme": False,
        }
        r = await self._call("POST", "/projects", json=body)
        if r.status_code == 201:
            return r.json()
        if r.status_code == 400 and TAKEN in r.text:  # created meanwhile (a retried click)
            found = await self.project(self.org, name)
            if found is not None:
                return found
        raise self._refused(f"create project {self.org}/{name}", r)

    async def open_merge_request(
        self, owner: str, name: str, *, branch: str, base: str, title: str, body: str
    ) -> tuple[dict[str, Any], bool]:
        found = await self._open_merge_request_of(owner, name, branch)
        if found is not None:
            return found, False
        payload = {
            "source_branch": branch,
            "target_branch": base,
            "title": title,
            "description": body,
        }
        r = await self._call(
            "POST", f"{self._project_path(owner, name)}/merge_requests", json=payload
        )
        if r.status_code == 201:
            return r.json(), True
        if r.status_code == 409 and DUPLICATE_MR in r.text:
            found = await self._open_merge_request_of(owner, name, branch)
            if found is not None:
                return found, False
        raise self._refused(f"open a merge request on {owner}/{name}", r)

    async def _open_merge_request_of(
        self, owner: str, name: str, branch: str
    ) -> dict[str, Any] | None:
        params = {"source_branch": branch, "state": "opened"}
        r = await self._call(
            "GET", f"{self._project_path(owner, name)}/merge_requests", params=params
        )
        if r.status_code != 200:
            raise self._refused(f"list merge requests of {owner}/{name}", r)
        found = r.json()
        return found[0] if found else None

    # ---- the hooks of the shared flow (hosted.py)

    async def _find(self, owner: str, name: str) -> dict[str, Any] | None:
        return await self.project(owner, name)

    async def _create(self, name: str, description: str) -> dict[str, Any]:
        return await self.create_project(name, description)

    def _missing(self, owner: str, name: str) -> ChangeError:
        return ChangeError(
            f"GitLab has no project {owner}/{name} that this token can see (a missing "
            "project and one the token may not read look the same to GitLab)"
        )

    def _remote(self, project: dict[str, Any]) -> GitRemote:
        return GitRemote(str(project["http_url_to_repo"]), token=self._token, username=GIT_USERNAME)

    def _web_url(self, project: dict[str, Any]) -> str:
        return str(project.get("web_url") or project["http_url_to_repo"])

    async def _open_change(
        self, owner: str, name: str, *, branch: str, base: str, title: str, body: str
    ) -> tuple[str, int, bool]:
        merge_request, opened = await self.open_merge_request(
            owner, name, branch=branch, base=base, title=title, body=body
        )
        return str(merge_request["web_url"]), int(merge_request["iid"]), opened
