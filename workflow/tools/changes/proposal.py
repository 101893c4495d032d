"""A pull request proposed by an agent that made files (a generated client, generated tests):
the plan shows the file tree and the diff against what the repository's base branch holds
now; once confirmed or approved (policy action `open_pull_request`), scaffold_agent's `forge`
applier commits exactly those files on the plan's branch and opens one pull request (found
again on a retried click or after a crash: see workflow.tools.changes).
"""

from __future__ import annotations

import asyncio
import difflib
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from workflow.tools.changes import ChangeError, request_noun, split_repository
from workflow.tools.changes.git import GitRemote, git, remote_heads

__all__ = ["FORGE", "current_files", "diff_of", "pull_request_plan"]

FORGE = "forge"  # the plan backend; scaffold_agent's applier opens the pull request
MAX_DIFF_LINES = 400  # in the preview; the files themselves are carried whole


def _read(remote: GitRemote, base: str, paths: list[str]) -> dict[str, str | None] | None:
    with tempfile.TemporaryDirectory(prefix="devops-bot-git-") as tmp:
        work = Path(tmp)
        git(["init", "-q"], cwd=work, remote=remote)
        if base not in remote_heads(remote, work):
            return None
        git(["fetch", "-q", "--depth", "1", remote.url, base], cwd=work, remote=remote)
        found: dict[str, str | None] = {}
        for path in paths:
            done = subprocess.run(
                ["git", "show", f"FETCH_HEAD:{path}"],
                cwd=work,
                env=remote.env(),
                capture_output=True,
                text=True,
                check=False,
            )
            found[path] = done.stdout if done.returncode == 0 else None
        return found


async def current_files(
    forge: Any, repository: str, paths: list[str], base: str = "main"
) -> tuple[dict[str, str | None], str]:
    """What the repository's base branch holds at each path (None: absent), and a note when
    the repository could not be read (then every path counts as new)."""
    absent: dict[str, str | None] = dict.fromkeys(paths)
    try:
        split_repository(repository)
        remote = await forge.remote_for(repository)
        if remote is None:
            return absent, f"{repository} does not exist on {forge.label} yet: every file is new"
        found = await asyncio.to_thread(_read, remote, base, paths)
    except ChangeError as exc:
        return absent, f"{repository} could not be read ({exc.message}): every file counts as new"
    if found is None:
        return absent, f"{repository} has no {base} branch yet: every file is new"
    return found, ""


def diff_of(files: dict[str, str], current: dict[str, str | None]) -> tuple[str, dict[str, int]]:
    """A unified diff of the files against the repository's content (changed files first,
    then new ones), and the counts of added / changed / unchanged files."""
    counts = {"added": 0, "changed": 0, "unchanged": 0}
    chunks: list[str] = []
    for path in sorted(files, key=lambda p: (current.get(p) is None, p)):
        old = current.get(path)
        if old == files[path]:
            counts["unchanged"] += 1
            continue
        counts["added" if old is None else "changed"] += 1
        chunks.extend(
            difflib.unified_diff(
                (old or "").splitlines(),
                files[path].splitlines(),
                fromfile="/dev/null" if old is None else f"a/{path}",
                tofile=f"b/{path}",
                lineterm="",
            )
        )
    if len(chunks) > MAX_DIFF_LINES:
        cut = len(chunks) - MAX_DIFF_LINES
        chunks = [*chunks[:MAX_DIFF_LINES], f"... {cut} more diff line(s) not shown"]
    return "\n".join(chunks), counts


async def pull_request_plan(
    deps: Any,
    *,
    name: str,
    repository: str,
    files: dict[str, str],
    title: str,
    description: str,
    requester: str = "",
    environment: str | None = None,
) -> tuple[Any, str]:
    """The `open_pull_request` plan of `files` on `repository`, and the answer's summary.
    Raises ChangeError (safe to show) when there is no forge."""
    from workflow.plan import Plan, PlanFile

    forge = deps.backend(FORGE)
    if forge is None:
        raise ChangeError(deps.why_missing(FORGE))
    current, note = await current_files(forge, repository, sorted(files))
    noun = request_noun(forge)
    diff, counts = diff_of(files, current)
    if not counts["added"] and not counts["changed"]:
        raise ChangeError(
            f"{repository} already holds exactly these {len(files)} file(s): no pull request "
            "is needed"
        )
    tree = [
        f"  {p} ({len(t.splitlines())} lines, "
        f"{'new' if current.get(p) is None else 'unchanged' if current[p] == t else 'changed'})"
        for p, t in sorted(files.items())
    ]
    said = (
        f"{counts['added']} new, {counts['changed']} changed, {counts['unchanged']} unchanged "
        f"file(s)"
    )
    preview = "\n".join(
        [
            f"Open a {noun} on {repository} ({forge.label}): {title}",
            *(f"  | {line}" for line in description.strip().splitlines()),
            "files:",
            *tree,
            said,
            *([f"note: {note}"] if note else []),
            "",
            diff,
        ]
    )
    plan = Plan(
        action="open_pull_request",
        kind="PullRequest",
        name=name,
        environment=environment,
        backend=FORGE,
        target=f"pull request on {repository}",
        body={
            "op": "open_pull_request",
            "repository": repository,
            "title": title,
            "description": description,
            "requester": requester,
        },
        after={"files": len(files), **counts},
        preview=preview,
        dry_run=False,
        files=[PlanFile(path=p, content=t) for p, t in sorted(files.items())],
    ).with_hash()
    summary = f"planned a {noun} on {repository}: {title} ({said}); nothing pushed yet"
    return plan, summary
