"""What every `devops-bot` command shares: exit codes, the one-line error, the service."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import structlog

from bot.settings import Settings

__all__ = ["EXIT", "STATUS_EXIT", "CliError", "log", "out_dir", "service_for", "thread_is_sandbox"]

EXIT = {"ok": 0, "failed": 1, "bad_input": 2, "refused": 3, "paused": 10}
STATUS_EXIT = {
    "done": 0,
    "applied": 0,
    "awaiting_approval": 10,
    "failed": 1,
    "rejected": 1,
    "expired": 1,
}

log = structlog.get_logger("devops-bot.cli")


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT["bad_input"]):
        super().__init__(message)
        self.code = code


def out_dir(value: str | None) -> Path | None:
    """`--out DIR`: the folder a run's files and charts are written to (made if missing)."""
    if value is None:
        return None
    folder = Path(value)
    if folder.exists() and not folder.is_dir():
        raise CliError(f"--out {value}: not a directory")
    return folder


def _options(settings: Settings, *, sandbox: bool):
    return settings.service_options(sandbox=sandbox)


@asynccontextmanager
async def service_for(settings: Settings, *, sandbox: bool, kubernetes: bool = True):
    from workflow.assembly import open_service

    options = _options(settings, sandbox=sandbox)
    if not kubernetes:
        options.kubernetes = options.operations = False
    async with open_service(options) as handle:
        yield handle


async def thread_is_sandbox(thread_id: str, settings: Settings) -> bool:
    """Whether the thread was started with --sandbox (its apply must go there too)."""
    async with service_for(settings, sandbox=False, kubernetes=False) as handle:
        values = await handle.service.state_of(thread_id)
    return bool(values and (values.get("context") or {}).get("sandbox"))
