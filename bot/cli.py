"""`devops-bot`: classify, run, approve, reject, remediate, pending, incident, audit, ....

Exit status: 0 done, 10 paused for approval, 1 failed (or rejected/expired),
2 bad input, 3 refused by the approval policy.

The commands live in `bot.cli_runs` (one request) and `bot.cli_admin` (the bot itself).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot import cli_admin, cli_runs
from bot.cli_common import EXIT, CliError
from bot.cli_parser import build_parser
from bot.logging import configure_logging
from bot.settings import Settings, SettingsError, load_settings

__all__ = ["EXIT", "main"]

_COMMANDS = {**cli_runs.commands, **cli_admin.commands}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
        return asyncio.run(_dispatch(args, settings))
    except CliError as exc:
        print(f"devops-bot: {exc}", file=sys.stderr)
        return exc.code
    except SettingsError as exc:
        print(f"devops-bot: {exc}", file=sys.stderr)
        return EXIT["bad_input"]
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `devops-bot run ... | head`: the run itself finished
        sys.stderr.close()
        return EXIT["failed"]


# Errors that end a command with one clear line: (module, class) -> (exit code, prefix).
# Matched by name so that `classify` never has to import the graph machinery.
_KNOWN_ERRORS = {
    ("workflow.service", "InputError"): (EXIT["bad_input"], ""),
    ("workflow.service", "RefusedError"): (EXIT["refused"], "refused: "),
    ("workflow.approval.policy", "PolicyError"): (EXIT["bad_input"], ""),
    ("workflow.catalog", "CatalogError"): (EXIT["bad_input"], ""),
    ("workflow.parts", "PartError"): (EXIT["bad_input"], ""),
    ("workflow.approval.store", "LockTimeoutError"): (EXIT["failed"], ""),
    ("workflow.tools.kubernetes", "KubernetesError"): (EXIT["failed"], ""),
    ("workflow.persistence", "PersistenceError"): (EXIT["failed"], ""),
    ("redis.exceptions", "ConnectionError"): (EXIT["failed"], "lost the connection to Redis: "),
}


def _known_error(exc: BaseException) -> tuple[int, str] | None:
    for (module, name), verdict in _KNOWN_ERRORS.items():
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(exc, cls):
            return verdict
    return None


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return await _COMMANDS[args.command](args, settings)
    except Exception as exc:
        known = _known_error(exc)
        if known is None:
            raise
        code, prefix = known
        raise CliError(f"{prefix}{exc}", code) from None
