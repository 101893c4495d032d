"""The sandbox forge's repositories, branches and pull requests: `devops-bot sandbox show`,
and `reset` (everything removed, with the services the bot registered)."""

from __future__ import annotations

import shutil
from pathlib import Path

from workflow.sandbox.files import ResetItem

__all__ = ["SANDBOX"]


class _SandboxForge:
    title = "Sandbox forge repositories and pull requests"

    def reset(self, data_dir: Path) -> list[ResetItem]:
        from workflow.registered import registered_file
        from workflow.tools.changes.sandbox import SandboxForge, forge_dir

        items = []
        if forge_dir(data_dir).exists():
            forge = SandboxForge(data_dir)
            repos, pulls = len(forge.repositories()), len(forge.pulls())
            shutil.rmtree(forge_dir(data_dir), ignore_errors=True)
            detail = f"{repos} repositories and {pulls} pull request(s) removed"
            items.append(ResetItem(self.title, forge_dir(data_dir), detail))
        registered = registered_file(data_dir)
        if registered.exists():
            registered.unlink()
            items.append(ResetItem("Services registered by the bot", registered, "forgotten"))
        return items  # nothing when the sandbox forge was never used here

    def show(self, data_dir: Path) -> list[str]:
        from workflow.tools.changes.sandbox import SandboxForge

        forge = SandboxForge(data_dir)
        repos, pulls = forge.repositories(), forge.pulls()
        lines = [
            f"SANDBOX forge (local git): {len(repos)} repositories, {len(pulls)} pull "
            f"request(s); in {forge.root}"
        ]
        for repo in repos:
            branches = forge.branches(repo)
            lines.append(f"  repository {repo}: branches {', '.join(sorted(branches)) or '-'}")
        lines += [
            f"  pull request {p['url']} [{', '.join(p['labels'])}] {p['state']}: {p['title']} "
            f"({p['head']} -> {p['base']})"
            for p in pulls
        ]
        return lines


SANDBOX = _SandboxForge()
