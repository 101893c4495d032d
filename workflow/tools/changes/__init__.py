"""Change requests: files a plan carries, turned into a branch, a commit and a pull request
(or a new repository), on a forge. Shared by the agents that change repositories.

One backend per module:

git.py      the git CLI, run with argument lists (never a shell string); the token travels
            in an `http.extraHeader` set through git's environment, never in a URL or argv
github.py   GitHub's REST API (repositories, pull requests) + git over HTTPS
gitlab.py   GitLab's REST API v4 (projects, merge requests) + git over HTTPS
hosted.py   the flow GitHub and GitLab share (find or create, push, find or open)
sandbox.py  local bare repositories in the data directory and recorded pull requests

Every backend is idempotent: the branch is named after the plan hash, an unchanged tree makes
no new commit, and an open pull request for the branch is found before one is opened, so the
same plan applied twice (or resumed after a crash) gives one branch and one pull request.

A backend may say what its change requests are called where users see them: `request_noun`
("merge request" on GitLab, whose `ChangeResult.pull_request` is the merge request's iid);
"pull request" when it has none. `ChangeResult.created` says "pull request" for either.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "ChangeError",
    "ChangeRequest",
    "ChangeResult",
    "Forge",
    "branch_for",
    "read_repository_file",
    "request_noun",
    "split_repository",
]

_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


class ChangeError(Exception):
    """The forge refused or could not be reached; `message` is safe to show (no token)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ChangeRequest:
    """What to change: `files` (relative path -> text) in `repository` (owner/name).

    `new_repository`: create the repository and push the files as its first commit on
    `base`; otherwise commit on `branch` (from `base`) and open a pull request.
    """

    repository: str
    files: dict[str, str]
    branch: str
    title: str
    message: str
    body: str = ""
    base: str = "main"
    new_repository: bool = False
    description: str = ""


@dataclass
class ChangeResult:
    repository: str
    branch: str
    commit: str
    url: str  # the pull request's, or the new repository's
    pull_request: int | None = None
    created: list[str] = field(default_factory=list)  # what this call made (vs found done)

    def as_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "branch": self.branch,
            "commit": self.commit,
            "url": self.url,
            "pull_request": self.pull_request,
            "created": list(self.created),
        }


class Forge(Protocol):
    label: str
    org: str

    async def submit(self, request: ChangeRequest) -> ChangeResult: ...

    async def remote_for(self, repository: str) -> Any: ...  # a git.GitRemote, or None


def split_repository(repository: str) -> tuple[str, str]:
    """owner/name of a catalog `repository:` (owner/name or its https URL)."""
    text = repository.strip().removesuffix(".git")
    if text.startswith("https://"):
        text = text.split("/", 3)[3] if text.count("/") >= 3 else ""
    if not _REPO.fullmatch(text):
        raise ChangeError(f"repository {repository!r} is not owner/name")
    owner, name = text.split("/")
    return owner, name


def branch_for(name: str, plan_hash: str) -> str:
    """The branch of a plan: the same plan always gives the same branch."""
    digest = plan_hash.removeprefix("sha256:")[:12] or "0"
    return f"devops-bot/{name}-{digest}"


async def read_repository_file(
    forge: Any, repository: str, path: str, ref: str = "main"
) -> str | None:
    """The text of `path` at `ref` in `repository` on `forge` (GitHub's is async, the
    sandbox's runs git in a thread), or None when absent. Raises ChangeError (safe to show)
    when the forge cannot read files or cannot be reached."""
    reader = getattr(forge, "read_file", None)
    if reader is None:
        raise ChangeError(f"{getattr(forge, 'label', 'the forge')} cannot read files")
    if inspect.iscoroutinefunction(reader):
        return await reader(repository, path, ref)
    return await asyncio.to_thread(reader, repository, path, ref)


def request_noun(forge: Any) -> str:
    """What `forge` calls its change requests where users see them ("merge request" on
    GitLab), "pull request" when it does not say."""
    return str(getattr(forge, "request_noun", None) or "pull request")
