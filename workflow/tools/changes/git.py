"""Git over the CLI: every command an argument list, run without a shell.

The token (when there is one) is handed to git as an `http.extraHeader` through git's own
environment (`GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_0`/`GIT_CONFIG_VALUE_0`), so it is in no URL,
no argv (not visible in `ps`) and no message: git's output is scrubbed of it besides.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from workflow.tools.changes import ChangeError

__all__ = ["GitRemote", "PushOutcome", "git", "push_files", "read_remote_file", "remote_heads"]

AUTHOR = ("devops-bot", "devops-bot@users.noreply.invalid")
TIMEOUT = 120


@dataclass(frozen=True, repr=False)  # the token: never in a repr
class GitRemote:
    url: str  # https://..., http://... or a local path (sandbox)
    token: str | None = None
    username: str = "x-access-token"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GIT_CONFIG", "GIT_DIR", "GIT_WORK_TREE"))
        }
        env.update(
            GIT_TERMINAL_PROMPT="0",
            GIT_AUTHOR_NAME=AUTHOR[0],
            GIT_AUTHOR_EMAIL=AUTHOR[1],
            GIT_COMMITTER_NAME=AUTHOR[0],
            GIT_COMMITTER_EMAIL=AUTHOR[1],
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
        )
        if self.token:
            basic = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
            )
        return env

    def scrub(self, text: str) -> str:
        if self.token:
            text = text.replace(self.token, "***")
            basic = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
            text = text.replace(basic, "***")
        return text


@dataclass(frozen=True)
class PushOutcome:
    commit: str
    pushed: bool  # False: the branch already had exactly these files (nothing to do)


def git(args: list[str], *, cwd: Path, remote: GitRemote, check: bool = True) -> str:
    """`git <args>` in `cwd`; a failure is a ChangeError with git's (scrubbed) words."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=remote.env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ChangeError(f"git {args[0]} timed out after {TIMEOUT}s") from None
    except FileNotFoundError:
        raise ChangeError("git is not installed here: change requests need the git CLI") from None
    if check and done.returncode != 0:
        said = remote.scrub((done.stderr or done.stdout).strip())
        raise ChangeError(f"git {args[0]} failed: {said}")
    return done.stdout


def remote_heads(remote: GitRemote, cwd: Path) -> dict[str, str]:
    """branch -> commit on the remote (empty for an empty repository)."""
    out = git(["ls-remote", "--heads", remote.url], cwd=cwd, remote=remote)
    heads = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.startswith("refs/heads/"):
            heads[ref.removeprefix("refs/heads/")] = sha
    return heads


def _safe_path(path: str) -> PurePosixPath:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts or p.parts[0] == ".git":
        raise ChangeError(f"refused file path {path!r}: must be relative, inside the repository")
    return p


def push_files(
    remote: GitRemote,
    files: dict[str, str],
    *,
    branch: str,
    base: str,
    message: str,
    initial: bool = False,
) -> PushOutcome:
    """Commit `files` on `branch` (from `base`, or as the first commit when `initial`) and
    push it. Idempotent: a branch that already holds these files is left as it is."""
    paths = {p: _safe_path(p) for p in files}
    with tempfile.TemporaryDirectory(prefix="devops-bot-git-") as tmp:
        work = Path(tmp)
        git(["init", "-q", "-b", branch], cwd=work, remote=remote)
        heads = remote_heads(remote, work)
        start = branch if branch in heads else base if base in heads else None
        if start is None and not initial:
            raise ChangeError(f"the repository has no branch {base!r} to start from")
        if start is not None:
            git(["fetch", "-q", "--depth", "50", remote.url, start], cwd=work, remote=remote)
            git(["checkout", "-q", "-B", branch, "FETCH_HEAD"], cwd=work, remote=remote)
        for path, content in files.items():
            target = work.joinpath(*paths[path].parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        git(["add", "-A", "--", *files], cwd=work, remote=remote)
        changed = git(["status", "--porcelain"], cwd=work, remote=remote).strip()
        if not changed and start is not None:
            head = git(["rev-parse", "HEAD"], cwd=work, remote=remote).strip()
            if start == branch:  # this very change, pushed before
                return PushOutcome(head, pushed=False)
            raise ChangeError(f"nothing to change: {base} already has these files")
        if initial and start is not None:
            raise ChangeError(
                f"the repository already exists and its {branch} holds other files; nothing "
                "was pushed (ask to add parts to it instead, which opens a pull request)"
            )
        git(["commit", "-q", "-m", message], cwd=work, remote=remote)
        head = git(["rev-parse", "HEAD"], cwd=work, remote=remote).strip()
        git(["push", "-q", remote.url, f"HEAD:refs/heads/{branch}"], cwd=work, remote=remote)
        return PushOutcome(head, pushed=True)


def read_remote_file(remote: GitRemote, branch: str, path: str) -> str | None:
    """One file of a remote branch (a shallow fetch); None when the branch or file is absent."""
    with tempfile.TemporaryDirectory(prefix="devops-bot-git-") as tmp:
        work = Path(tmp)
        git(["init", "-q"], cwd=work, remote=remote)
        if branch not in remote_heads(remote, work):
            return None
        git(["fetch", "-q", "--depth", "1", remote.url, branch], cwd=work, remote=remote)
        done = subprocess.run(
            ["git", "show", f"FETCH_HEAD:{_safe_path(path).as_posix()}"],
            cwd=work,
            env=remote.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout if done.returncode == 0 else None
