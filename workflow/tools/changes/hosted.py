"""The change-request flow every hosted forge shares (GitHub, GitLab): find or create the
repository, push the files over git, then find or open the branch's change request.

A forge module supplies its REST calls through the hooks below; the order of the steps,
what counts as created by this call, and the result are the same on every forge, so the
same plan applied twice (or resumed after a crash) gives one branch and one request.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import Any

import httpx

from workflow.tools.changes import ChangeError, ChangeRequest, ChangeResult, split_repository
from workflow.tools.changes.git import GitRemote, push_files

__all__ = ["HostedForge"]


class HostedForge(ABC):
    forge_name: str  # "GitHub", "GitLab": how messages name it
    api_url: str
    org: str
    label: str
    repositories = "repositories"  # what the forge calls them, in its refusals
    unreachable_hint = ""  # what to check when the API cannot be reached
    _http: httpx.AsyncClient

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.api_url!r}, org={self.org!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ChangeError(
                f"{self.forge_name} at {self.api_url} is unreachable ({type(exc).__name__}); "
                f"nothing was pushed or opened{self.unreachable_hint}"
            ) from None

    @abstractmethod
    async def _find(self, owner: str, name: str) -> dict[str, Any] | None:
        """The repository as the API describes it, or None when absent."""

    @abstractmethod
    async def _create(self, name: str, description: str) -> dict[str, Any]:
        """Create `name` in the org (found again when it was created meanwhile)."""

    @abstractmethod
    def _missing(self, owner: str, name: str) -> ChangeError:
        """The sentence for a repository that is not there."""

    @abstractmethod
    def _remote(self, repo: dict[str, Any]) -> GitRemote:
        """The repository's git remote, with the token as a header."""

    @abstractmethod
    def _web_url(self, repo: dict[str, Any]) -> str:
        """Where people look at the repository."""

    @abstractmethod
    async def _open_change(
        self, owner: str, name: str, *, branch: str, base: str, title: str, body: str
    ) -> tuple[str, int, bool]:
        """The branch's open change request, else a new one: (url, number, opened now)."""

    async def submit(self, request: ChangeRequest) -> ChangeResult:
        owner, name = split_repository(request.repository)
        created: list[str] = []
        repo = await self._find(owner, name)
        if request.new_repository and repo is None:
            if owner != self.org:
                raise ChangeError(f"new {self.repositories} are created in {self.org}, not {owner}")
            repo = await self._create(name, request.description)
            created.append("repository")
        if repo is None:
            raise self._missing(owner, name)
        default = repo.get("default_branch") or "main"
        base = request.base if request.new_repository else default
        branch = base if request.new_repository else request.branch
        pushed = await asyncio.to_thread(
            push_files,
            self._remote(repo),
            request.files,
            branch=branch,
            base=base,
            message=request.message,
            initial=request.new_repository,
        )
        if pushed.pushed:
            created.append("commit")
        repository = f"{owner}/{name}"
        if request.new_repository:
            return ChangeResult(
                repository, branch, pushed.commit, self._web_url(repo), None, created
            )
        url, number, opened = await self._open_change(
            owner, name, branch=branch, base=base, title=request.title, body=request.body
        )
        if opened:
            created.append("pull request")  # the generic name the agents look for
        return ChangeResult(repository, branch, pushed.commit, url, number, created)

    async def remote_for(self, repository: str) -> GitRemote | None:
        """The repository's git remote, or None when it is not there."""
        owner, name = split_repository(repository)
        repo = await self._find(owner, name)
        return None if repo is None else self._remote(repo)
