"""GitHub: repositories and pull requests over the REST API, files over git (HTTPS).

- a new repository: `GET /repos/{org}/{name}`, else `POST /orgs/{org}/repos` (201; 422 when
  the name is taken: looked up again), then the files pushed as the first commit of `main`;
- a change: the files pushed on the plan's branch, then the branch's open pull request
  (`GET /repos/{o}/{r}/pulls?head={o}:{branch}`) or a new one (`POST .../pulls`: 201; a
  422 for a duplicate means one was opened meanwhile: found again).
"""

from __future__ import annotations

from typing import Any

import httpx

from workflow.tools.changes import ChangeError, split_repository
from workflow.tools.changes.git import GitRemote
from workflow.tools.changes.hosted import HostedForge

__all__ = ["GitHubForge"]

API_VERSION = "2022-11-28"


class GitHubForge(HostedForge):
    forge_name = "GitHub"

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
        self.org = org
        self._token = token
        self.label = f"GitHub ({self.api_url})"
        self._http = httpx.AsyncClient(
            base_url=self.api_url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "devops-bot",
            },
            timeout=timeout,
            transport=transport,
        )

    def _refused(self, what: str, response: httpx.Response) -> ChangeError:
        try:
            data = response.json()
            said = data.get("message") or ""
            errors = "; ".join(
                str(e.get("message") or e.get("code")) for e in data.get("errors") or []
            )
        except ValueError:
            said, errors = response.text[:200], ""
        detail = f"{said}{': ' + errors if errors else ''}".replace(self._token, "***")
        return ChangeError(f"GitHub refused to {what} (HTTP {response.status_code}): {detail}")

    async def repository(self, owner: str, name: str) -> dict[str, Any] | None:
        r = await self._call("GET", f"/repos/{owner}/{name}")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise self._refused(f"read repository {owner}/{name}", r)
        return r.json()

    async def read_file(self, repository: str, path: str, ref: str = "main") -> str | None:
        """The text of `path` at `ref` (GitHub's contents API, raw), or None when absent."""
        owner, name = split_repository(repository)
        r = await self._call(
            "GET",
            f"/repos/{owner}/{name}/contents/{path}",
            params={"ref": ref},
            headers={"Accept": "application/vnd.github.raw+json"},
        )
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise self._refused(f"read {path} of {owner}/{name}", r)
        return r.text

    async def create_repository(self, name: str, description: str) -> dict[str, Any]:
        body = {"name": name, "description": description, "private": True, "auto_init": False}
        r = await self._call("POST", f"/orgs/{self.org}/repos", json=body)
        if r.status_code == 201:
            return r.json()
        if r.status_code == 422:  # the name is taken: created meanwhile (e.g. a retried click)
            found = await self.repository(self.org, name)
            if found is not None:
                return found
        raise self._refused(f"create repository {self.org}/{name}", r)

    async def open_pull(
        self, owner: str, name: str, *, branch: str, base: str, title: str, body: str
    ) -> tuple[dict[str, Any], bool]:
        found = await self._open_pull_of(owner, name, branch)
        if found is not None:
            return found, False
        payload = {"title": title, "head": branch, "base": base, "body": body}
        r = await self._call("POST", f"/repos/{owner}/{name}/pulls", json=payload)
        if r.status_code == 201:
            return r.json(), True
        if r.status_code == 422:
            found = await self._open_pull_of(owner, name, branch)
            if found is not None:
                return found, False
        raise self._refused(f"open a pull request on {owner}/{name}", r)

    async def _open_pull_of(self, owner: str, name: str, branch: str) -> dict[str, Any] | None:
        params = {"head": f"{owner}:{branch}", "state": "open"}
        r = await self._call("GET", f"/repos/{owner}/{name}/pulls", params=params)
        if r.status_code != 200:
            raise self._refused(f"list pull requests of {owner}/{name}", r)
        pulls = r.json()
        return pulls[0] if pulls else None

    # ---- the hooks of the shared flow (hosted.py)

    async def _find(self, owner: str, name: str) -> dict[str, Any] | None:
        return await self.repository(owner, name)

    async def _create(self, name: str, description: str) -> dict[str, Any]:
        return await self.create_repository(name, description)

    def _missing(self, owner: str, name: str) -> ChangeError:
        return ChangeError(f"GitHub has no repository {owner}/{name}")

    def _remote(self, repo: dict[str, Any]) -> GitRemote:
        return GitRemote(str(repo["clone_url"]), token=self._token)

    def _web_url(self, repo: dict[str, Any]) -> str:
        return str(repo.get("html_url") or repo["clone_url"])

    async def _open_change(
        self, owner: str, name: str, *, branch: str, base: str, title: str, body: str
    ) -> tuple[str, int, bool]:
        pull, opened = await self.open_pull(
            owner, name, branch=branch, base=base, title=title, body=body
        )
        return str(pull["html_url"]), int(pull["number"]), opened
