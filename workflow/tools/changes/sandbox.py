"""The sandbox forge: bare git repositories in the data directory, pull requests recorded in
a JSON file, every one labelled `sandbox`. Same git code and same idempotency as GitHub's."""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from workflow.tools.changes import ChangeRequest, ChangeResult, split_repository
from workflow.tools.changes.git import GitRemote, git, push_files, remote_heads

__all__ = ["SandboxForge", "forge_dir"]

LABEL = "sandbox"
# Files an existing sandbox service's repository starts with beside its README, per name
# (e.g. checkout's api/openapi.yaml, the catalog's `openapi_path`).
SEEDS = Path(__file__).resolve().parents[2] / "sandbox" / "repos"
_SEEDING = threading.Lock()


def seed_files(name: str) -> dict[str, str]:
    """The first commit of the sandbox service `name`'s repository."""
    files = {"README.md": f"# {name}\n\nA sandbox repository (devops-bot sandbox forge).\n"}
    folder = SEEDS / name
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                files[path.relative_to(folder).as_posix()] = path.read_text(encoding="utf-8")
    return files


def forge_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "sandbox-forge"


class SandboxForge:
    def __init__(self, data_dir: Path, *, org: str = "acme") -> None:
        self.root = forge_dir(data_dir)
        self.org = org
        self.label = f"the sandbox forge ({self.root})"

    async def aclose(self) -> None:
        return None

    # ------------------------------------------------------------------ storage

    def repo_path(self, owner: str, name: str) -> Path:
        return self.root / "repos" / owner / f"{name}.git"

    @property
    def pulls_file(self) -> Path:
        return self.root / "pulls.json"

    def pulls(self) -> list[dict[str, Any]]:
        try:
            return list(json.loads(self.pulls_file.read_text()).get("pulls") or [])
        except FileNotFoundError:
            return []

    def _save_pulls(self, pulls: list[dict[str, Any]]) -> None:
        self.pulls_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.pulls_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pulls": pulls}, indent=2))
        tmp.replace(self.pulls_file)

    def repositories(self) -> list[str]:
        base = self.root / "repos"
        if not base.exists():
            return []
        return sorted(
            f"{p.parent.name}/{p.name.removesuffix('.git')}" for p in base.glob("*/*.git")
        )

    def branches(self, repository: str) -> dict[str, str]:
        owner, name = split_repository(repository)
        remote = GitRemote(str(self.repo_path(owner, name)))
        with tempfile.TemporaryDirectory() as tmp:
            return remote_heads(remote, Path(tmp))

    def _init_bare(self, path: Path, *, seed: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        remote = GitRemote(str(path))
        git(["init", "-q", "--bare", "-b", "main", str(path)], cwd=path.parent, remote=remote)
        if seed:  # an existing service's repository: one first commit, as a team would have
            push_files(
                remote,
                seed_files(path.name.removesuffix(".git")),
                branch="main",
                base="main",
                message="Initial commit (sandbox)",
                initial=True,
            )

    # ------------------------------------------------------------------ the forge

    async def submit(self, request: ChangeRequest) -> ChangeResult:
        return await asyncio.to_thread(self._submit, request)

    def _submit(self, request: ChangeRequest) -> ChangeResult:
        owner, name = split_repository(request.repository)
        path = self.repo_path(owner, name)
        created: list[str] = []
        if not path.exists():
            # a new repository is created empty; an existing service's is seeded
            self._init_bare(path, seed=not request.new_repository)
            if request.new_repository:
                created.append("repository")
        remote = GitRemote(str(path))
        branch = request.base if request.new_repository else request.branch
        pushed = push_files(
            remote,
            request.files,
            branch=branch,
            base=request.base,
            message=request.message,
            initial=request.new_repository,
        )
        if pushed.pushed:
            created.append("commit")
        repo = f"{owner}/{name}"
        if request.new_repository:
            url = f"sandbox://{repo}"
            return ChangeResult(repo, branch, pushed.commit, url, None, created)
        pulls = self.pulls()
        for pull in pulls:
            if pull["repository"] == repo and pull["head"] == branch and pull["state"] == "open":
                return ChangeResult(
                    repo, branch, pushed.commit, pull["url"], pull["number"], created
                )
        number = 1 + max((p["number"] for p in pulls if p["repository"] == repo), default=0)
        url = f"sandbox://{repo}/pull/{number}"
        pulls.append(
            {
                "repository": repo,
                "number": number,
                "head": branch,
                "base": request.base,
                "title": request.title,
                "body": request.body,
                "state": "open",
                "url": url,
                "labels": [LABEL],
                "created": time.time(),
            }
        )
        self._save_pulls(pulls)
        created.append("pull request")
        return ChangeResult(repo, branch, pushed.commit, url, number, created)

    async def remote_for(self, repository: str) -> GitRemote | None:
        owner, name = split_repository(repository)
        path = self.repo_path(owner, name)
        return GitRemote(str(path)) if path.exists() else None

    def read_file(self, repository: str, path: str, ref: str = "main") -> str | None:
        owner, name = split_repository(repository)
        bare = self.repo_path(owner, name)
        if not bare.exists():
            if owner != self.org or not (SEEDS / name).is_dir():
                return None
            with _SEEDING:  # a sandbox service's repository exists before anything is pushed
                if not bare.exists():
                    self._init_bare(bare, seed=True)
        done = subprocess.run(
            ["git", "--git-dir", str(bare), "show", f"{ref}:{path}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout if done.returncode == 0 else None
