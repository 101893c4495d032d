"""Logs are JSON in production, carry the bound context, render exceptions as fields, and
never carry secrets (not even inside an exception's message or traceback)."""

from __future__ import annotations

import contextlib
import io
import json
import logging

import pytest
import structlog

from bot.logging import configure_logging

SLACK_TOKEN = "xoxb-123-456-abcdef"
OPENAI_KEY = "sk-proj-abcdefgh12345678"


@pytest.fixture
def json_logs(capsys):
    """JSON logging at INFO; the lines written to stderr, parsed. Restores the defaults."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO", "json")

    def lines() -> list[dict]:
        return [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]

    try:
        yield lines
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, level


def _fail_with_secret() -> None:
    token = SLACK_TOKEN  # a local holding a secret: never logged
    raise RuntimeError(f"auth failed for {token} and {OPENAI_KEY}")


def test_json_logs_bind_context_and_redact_secrets(json_logs):
    structlog.contextvars.bind_contextvars(thread_id="slack:T1:C1:1.2", user="U1", channel="C1")
    structlog.get_logger("t").info(
        "posted", slack_bot_token="xoxb-123-456-abc", note="with xoxb-999-888-zzz inside"
    )
    logging.getLogger("slack_bolt").warning("token xapp-1-A1-abc leaked?")
    lines = json_logs()
    ours, foreign = lines
    assert ours["thread_id"] == "slack:T1:C1:1.2" and ours["user"] == "U1"
    assert ours["channel"] == "C1" and ours["event"] == "posted"
    assert ours["slack_bot_token"] == "***"
    assert "xoxb" not in json.dumps(lines) and "xapp-1" not in json.dumps(lines)
    assert foreign["logger"] == "slack_bolt" and foreign["thread_id"] == "slack:T1:C1:1.2"


def _exception_of(line: dict) -> dict:
    """The structured exception of a JSON line: type, message, frames."""
    assert "exc_info" not in line, "exc_info must be rendered, not printed as true/a tuple"
    (exception,) = line["exception"]
    return exception


def test_structlog_exceptions_are_rendered_as_fields(json_logs):
    log = structlog.get_logger("devops-bot.t")
    try:
        _fail_with_secret()
    except RuntimeError:
        log.exception("run.failed", task="t1")
        log.error("run.failed_again", exc_info=True)
    try:
        raise ValueError("plain")
    except ValueError as exc:
        log.warning("with.instance", exc_info=exc)
    first, second, third = json_logs()
    for line in (first, second):
        exception = _exception_of(line)
        assert exception["exc_type"] == "RuntimeError"
        assert exception["exc_value"].startswith("auth failed for ***")
        assert [f["name"] for f in exception["frames"]][-2:] == [
            "test_structlog_exceptions_are_rendered_as_fields",
            "_fail_with_secret",
        ]
        assert all("locals" not in f for f in exception["frames"])
    assert first["task"] == "t1" and first["level"] == "error"
    assert _exception_of(third)["exc_value"] == "plain"
    assert SLACK_TOKEN not in json.dumps([first, second]) and OPENAI_KEY not in str(first)


def test_standard_library_exceptions_are_rendered_as_fields(json_logs):
    try:
        _fail_with_secret()
    except RuntimeError:
        logging.getLogger("aiohttp.server").exception("Error handling request")
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise OSError(f"outer with {SLACK_TOKEN}") from inner
    except OSError:
        logging.getLogger("slack_bolt").error("chained", exc_info=True)
    first, second = json_logs()
    assert first["logger"] == "aiohttp.server" and first["event"] == "Error handling request"
    exception = _exception_of(first)
    assert exception["exc_type"] == "RuntimeError" and "***" in exception["exc_value"]
    assert "traceback object" not in json.dumps(first)
    outer, inner = second["exception"]
    assert outer["exc_type"] == "OSError" and inner["exc_type"] == "KeyError"
    assert "exc_info" not in second
    text = json.dumps([first, second])
    assert SLACK_TOKEN not in text and OPENAI_KEY not in text


def test_console_format_shows_the_traceback_redacted(capsys):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO", "console")
    try:
        try:
            _fail_with_secret()
        except RuntimeError:
            structlog.get_logger("t").exception("run.failed")
            logging.getLogger("aiohttp.server").exception("Error handling request")
        err = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, level
    assert err.count("Traceback (most recent call last)") == 2
    assert err.count("RuntimeError: auth failed for ***") == 2
    assert SLACK_TOKEN not in err and OPENAI_KEY not in err


def test_logging_writes_to_the_stderr_of_the_moment(capsys):
    """Configured while stderr was captured, it still writes after the capture ends (the
    logger used to keep the closed capture file: 'I/O operation on closed file')."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO", "json")
    try:
        with capsys.disabled(), contextlib.redirect_stderr(io.StringIO()) as elsewhere:
            structlog.get_logger("t").info("outside the capture")
            logging.getLogger("t").info("outside the capture too")
        assert [json.loads(x)["event"] for x in elsewhere.getvalue().splitlines()] == [
            "outside the capture",
            "outside the capture too",
        ]
        structlog.get_logger("t").info("inside")
        assert [json.loads(x)["event"] for x in capsys.readouterr().err.splitlines()] == ["inside"]
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, level
