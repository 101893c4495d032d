"""The scaffold agent's backends: the forge (GitHub, GitLab or the sandbox's) and its settings.

Settings (read from the environment the edge passes, `BackendContext.environ`):

DEVOPS_BOT_FORGE          github | gitlab | sandbox;
                          unset: the sandbox forge with --sandbox, else no forge
DEVOPS_BOT_FORGE_URL      the forge's API URL (default https://api.github.com for github,
                          https://gitlab.com/api/v4 for gitlab)
DEVOPS_BOT_FORGE_ORG      the organisation (GitHub) or group path (GitLab) new repositories
                          are created in
DEVOPS_BOT_FORGE_TOKEN    the token (a secret: never logged, never in a URL or message)
DEVOPS_BOT_TEMPLATES      the organisation's own copier templates: a folder, or a git URL
                          (https://..., ssh, file://..., a path ending .git) cloned into
                          the data directory at start-up (the forge token is not sent to it)
DEVOPS_BOT_IMAGE_REGISTRY the image registry new services' images go to
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from workflow.agents.spec import BackendContext, Connected

__all__ = ["FORGE", "SCAFFOLD", "ForgeConfig", "ScaffoldConfig", "connect"]

FORGE = "forge"  # the plan backend and the forge client
SCAFFOLD = "scaffold"  # templates, data directory, org: always there
DEFAULT_API = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
NAMES = {"github": "GitHub", "gitlab": "GitLab"}
MISSING = (
    "no forge is configured: set DEVOPS_BOT_FORGE=github or gitlab, DEVOPS_BOT_FORGE_ORG and "
    "DEVOPS_BOT_FORGE_TOKEN (and DEVOPS_BOT_FORGE_URL for GitHub Enterprise or a self-managed "
    "GitLab), or use --sandbox for the sandbox forge"
)


@dataclass(frozen=True, repr=False)
class ForgeConfig:
    kind: str
    api_url: str
    org: str
    token: SecretStr

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, sandbox: bool) -> ForgeConfig | str:
        kind = (environ.get("DEVOPS_BOT_FORGE") or "").strip().lower()
        if not kind:
            return "sandbox" if sandbox else MISSING
        if kind == "sandbox":
            return "sandbox"
        if kind not in DEFAULT_API:
            return (
                f"DEVOPS_BOT_FORGE={kind!r} is not a forge devops-bot knows (github, gitlab, "
                "sandbox)"
            )
        org = (environ.get("DEVOPS_BOT_FORGE_ORG") or "").strip()
        token = (environ.get("DEVOPS_BOT_FORGE_TOKEN") or "").strip()
        missing = [
            n
            for n, v in (("DEVOPS_BOT_FORGE_ORG", org), ("DEVOPS_BOT_FORGE_TOKEN", token))
            if not v
        ]
        if missing:
            return f"the {NAMES[kind]} forge needs {' and '.join(missing)}"
        url = (environ.get("DEVOPS_BOT_FORGE_URL") or DEFAULT_API[kind]).strip().rstrip("/")
        return cls(kind, url, org, SecretStr(token))


@dataclass(frozen=True)
class ScaffoldConfig:
    templates_dir: str | None
    data_dir: Path | None
    org: str
    image_registry: str
    sandbox: bool
    forge_label: str
    templates_error: str | None = None  # why DEVOPS_BOT_TEMPLATES could not be used


def _is_git_url(value: str) -> bool:
    return value.startswith(("https://", "http://", "ssh://", "git@", "file://")) or (
        value.endswith(".git")
    )


def fetch_templates(url: str, data_dir: Path) -> Path:
    """The organisation's template repository, cloned (or brought up to date) in the data
    directory; raises ChangeError saying why not."""
    import shutil

    from workflow.tools.changes.git import GitRemote, git

    target = Path(data_dir) / "org-templates"
    remote = GitRemote(url)
    tmp = target.with_name("org-templates.new")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    git(["clone", "-q", "--depth", "1", url, str(tmp)], cwd=tmp.parent, remote=remote)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


@contextlib.asynccontextmanager
async def connect(context: BackendContext) -> AsyncIterator[Connected]:
    environ = context.environ
    config = ForgeConfig.from_environ(environ, sandbox=context.sandbox)
    opened = Connected()
    forge = None
    if config == "sandbox":
        from workflow.tools.changes.sandbox import SandboxForge

        org = (environ.get("DEVOPS_BOT_FORGE_ORG") or "acme").strip()
        forge = SandboxForge(Path(context.data_dir), org=org)
    elif isinstance(config, str):
        opened.unavailable[FORGE] = config
    elif config.kind == "gitlab":
        from workflow.tools.changes.gitlab import GitLabForge

        forge = GitLabForge(
            api_url=config.api_url, org=config.org, token=config.token.get_secret_value()
        )
    else:
        from workflow.tools.changes.github import GitHubForge

        forge = GitHubForge(
            api_url=config.api_url, org=config.org, token=config.token.get_secret_value()
        )
    if forge is not None:
        opened.backends[FORGE] = forge
    templates = (environ.get("DEVOPS_BOT_TEMPLATES") or "").strip() or None
    templates_error = None
    if templates and _is_git_url(templates):
        from workflow.tools.changes import ChangeError

        try:
            if context.data_dir is None:
                raise ChangeError("there is no data directory to clone it into")
            fetched = await asyncio.to_thread(fetch_templates, templates, Path(context.data_dir))
            templates = str(fetched)
        except ChangeError as exc:
            templates_error = f"DEVOPS_BOT_TEMPLATES={templates} could not be cloned: {exc.message}"
            templates = None
    opened.backends[SCAFFOLD] = ScaffoldConfig(
        templates_dir=templates,
        templates_error=templates_error,
        data_dir=Path(context.data_dir) if context.data_dir else None,
        org=forge.org if forge is not None else (environ.get("DEVOPS_BOT_FORGE_ORG") or "acme"),
        image_registry=(environ.get("DEVOPS_BOT_IMAGE_REGISTRY") or "registry.example.com")
        .strip()
        .rstrip("/"),
        sandbox=context.sandbox,
        forge_label=forge.label if forge is not None else "",
    )
    try:
        yield opened
    finally:
        if forge is not None:
            await forge.aclose()
