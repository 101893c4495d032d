"""structlog set-up: JSON in production (LOG_FORMAT=json), console otherwise, on stderr.

Context (thread_id, user, channel, task_type) is bound with structlog's contextvars,
so every line of a run carries it. A processor drops values that look like secrets.

Exceptions (`log.exception(...)`, `exc_info=...`, and the standard library's records that
carry one) are rendered before redaction, by the same processors for our loggers and
for foreign ones:

- JSON: structured, as `"exception": [{"exc_type", "exc_value", "frames": [{"filename",
  "lineno", "name"}], ...}, ...]` (one entry per exception in the chain), so a log
  platform can group and query by type and message. Frame locals are left out: they are
  where tokens live, and they make lines huge.
- console: the usual text traceback, as `exception`.

Redaction runs afterwards and walks nested values, so a token inside an exception's
message or a traceback is masked like one in any other field.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from structlog.tracebacks import ExceptionDictTransformer

__all__ = ["configure_logging", "redact"]

_SECRET_KEYS = re.compile(r"token|secret|password|api_key|authorization", re.I)
_SECRET_VALUES = re.compile(r"xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|sk-[A-Za-z0-9_-]{8,}")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _SECRET_VALUES.sub("***", value)
    if isinstance(value, dict):
        return {k: "***" if _SECRET_KEYS.search(str(k)) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event.items()):
        if key.startswith("_"):
            continue  # structlog's own (the foreign LogRecord)
        if _SECRET_KEYS.search(key):
            event[key] = "***"
        else:
            event[key] = _scrub(value)
    return event


class _Stderr:
    """Whatever `sys.stderr` is when a line is written (a test's capture, a redirect),
    rather than the stream that was current at configuration time, which may be closed."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "WARNING", fmt: str = "console") -> None:
    """structlog for our loggers; the standard library's (httpx, aiohttp, slack_bolt)
    rendered by the same processors, so production logs are JSON throughout."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.WARNING)
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        exceptions: Any = structlog.processors.ExceptionRenderer(
            ExceptionDictTransformer(show_locals=False)
        )
    else:
        # The traceback is text already (and redacted): print it as it is.
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
        exceptions = structlog.processors.format_exc_info
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        exceptions,
        redact,
    ]
    handler = logging.StreamHandler(_Stderr())  # type: ignore[arg-type]
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # Per-request lines from HTTP clients are noise below DEBUG.
    for chatty in ("httpx", "httpx2", "httpcore"):
        logging.getLogger(chatty).setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
