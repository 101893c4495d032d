"""Template versions and updates.

copier updates a project from a git template with tags. A template folder (shipped or the
organisation's) is therefore mirrored, in the data directory, as a git repository with one
tagged commit per distinct content (`0.1.0`, `0.2.0`, ...): a project rendered from it records
the template's path and tag in `.copier-answers.yml` (`_src_path`, `_commit`), and a later
change of the folder is a new tag that the project is behind.

`update_project` runs `copier update` on a clone of the project's repository and returns the
files it changed, with conflicts shown inline (`<<<<<<<` markers) rather than resolved.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from workflow.agents.scaffold_agent.templates import Template, TemplateError
from workflow.tools.changes.git import GitRemote, git

__all__ = ["ProjectUpdate", "latest_version", "mirror", "read_answers", "update_project"]

_NO_REMOTE = GitRemote("")


def _mirror_dir(data_dir: Path, template: Template) -> Path:
    return Path(data_dir) / "template-repos" / template.name


def _tags(repo: Path) -> list[str]:
    out = git(["tag", "--list"], cwd=repo, remote=_NO_REMOTE)
    tags = [t for t in out.split() if t.count(".") == 2]
    return sorted(tags, key=lambda t: tuple(int(x) for x in t.split(".")))


def mirror(template: Template, data_dir: Path) -> tuple[Path, str]:
    """The template's git mirror, brought up to the folder's content: (path, latest tag)."""
    repo = _mirror_dir(data_dir, template)
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git(["init", "-q", "-b", "main"], cwd=repo, remote=_NO_REMOTE)
    for child in repo.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    for item in template.path.iterdir():
        target = repo / item.name
        if item.is_dir():
            shutil.copytree(item, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(item, target)
    git(["add", "-A"], cwd=repo, remote=_NO_REMOTE)
    tags = _tags(repo)
    changed = git(["status", "--porcelain"], cwd=repo, remote=_NO_REMOTE).strip()
    if changed or not tags:
        git(
            ["commit", "-q", "--allow-empty", "-m", f"{template.name}"], cwd=repo, remote=_NO_REMOTE
        )
        minor = int(tags[-1].split(".")[1]) + 1 if tags else 1
        tag = f"0.{minor}.0"
        git(["tag", tag], cwd=repo, remote=_NO_REMOTE)
        tags.append(tag)
    return repo, tags[-1]


def latest_version(template: Template, data_dir: Path) -> str:
    return mirror(template, data_dir)[1]


def read_answers(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


@dataclass
class ProjectUpdate:
    before: str
    after: str
    files: dict[str, str]  # changed or added, with their new content
    deleted: list[str]
    conflicts: list[str]
    diff: str


def update_project(
    remote: GitRemote, template: Template, data_dir: Path, *, branch: str = "main"
) -> ProjectUpdate | None:
    """copier update on a clone of the project; None when it is at the latest version."""
    src, latest = mirror(template, data_dir)
    with tempfile.TemporaryDirectory(prefix="devops-bot-update-") as tmp:
        work = Path(tmp) / "project"
        git(
            ["clone", "-q", "--branch", branch, remote.url, str(work)], cwd=Path(tmp), remote=remote
        )
        answers_path = work / template.answers_file
        answers = read_answers(answers_path.read_text() if answers_path.exists() else None)
        if not answers or "_commit" not in answers:
            raise TemplateError(
                f"the project has no {template.answers_file} with a template version, so "
                "copier cannot update it"
            )
        before = str(answers["_commit"])
        if before == latest:
            return None
        if answers.get("_src_path") != str(src):  # the mirror moved (another data dir)
            answers["_src_path"] = str(src)
            answers_path.write_text(yaml.safe_dump(answers, sort_keys=False))
            git(["commit", "-q", "-am", "point at the template mirror"], cwd=work, remote=remote)
        _copier_update(work, latest, template.answers_file, remote)
        status = git(["status", "--porcelain", "--untracked-files=all"], cwd=work, remote=remote)
        files: dict[str, str] = {}
        deleted: list[str] = []
        for line in status.splitlines():
            code, path = line[:2], line[3:].strip().strip('"')
            if "D" in code:
                deleted.append(path)
            elif (work / path).is_file() and not path.endswith(".rej"):
                files[path] = (work / path).read_text(encoding="utf-8")
        conflicts = [p for p, t in files.items() if "<<<<<<< " in t and ">>>>>>> " in t]
        git(["add", "-A"], cwd=work, remote=remote)
        diff = git(["diff", "--cached", "--stat", "--patch"], cwd=work, remote=remote)
        return ProjectUpdate(before, latest, files, deleted, conflicts, diff)


_UPDATE = """
import json, sys
import copier
args = json.loads(sys.argv[1])
copier.run_update(args["dst"], defaults=True, overwrite=True, quiet=True, unsafe=False,
                  conflict="inline", vcs_ref=args["ref"], answers_file=args["answers"])
"""


def _copier_update(work: Path, ref: str, answers_file: str, remote: GitRemote) -> None:
    """copier update in a child process: git (which copier runs) gets the bot's identity and
    no global configuration, without touching this process's environment."""
    args = json.dumps({"dst": str(work), "ref": ref, "answers": answers_file})
    try:
        done = subprocess.run(
            [sys.executable, "-c", _UPDATE, args],
            env=remote.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TemplateError("copier update of the project timed out") from None
    if done.returncode != 0:
        said = remote.scrub(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "")
        raise TemplateError(f"copier update of the project failed: {said}")
