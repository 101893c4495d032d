"""`devops-bot sandbox show|reset` for what the API agents remember: the document each
client was generated from and the last coverage report seen, per service."""

from __future__ import annotations

import shutil
from pathlib import Path

from workflow.sandbox.files import ResetItem

__all__ = ["SANDBOX"]


def _folder(data_dir: Path) -> Path:
    return Path(data_dir) / "api-history"


class _ApiHistory:
    title = "API documents and coverage reports seen"

    def show(self, data_dir: Path) -> list[str]:
        folder = _folder(data_dir)
        files = sorted(folder.glob("*.json")) if folder.exists() else []
        lines = [f"SANDBOX APIs (checkout, payment-service): {len(files)} remembered item(s)"]
        lines += [f"  {f.stem}" for f in files]
        return lines

    def reset(self, data_dir: Path) -> list[ResetItem]:
        folder = _folder(data_dir)
        if not folder.exists():
            return []
        count = len(list(folder.glob("*.json")))
        shutil.rmtree(folder)
        return [ResetItem(self.title, folder, f"{count} remembered item(s) removed")]


SANDBOX = _ApiHistory()
