"""Logs are JSON in production, carry the bound context, and never carry secrets."""

from __future__ import annotations

import json
import logging

import structlog

from bot.logging import configure_logging


def test_json_logs_bind_context_and_redact_secrets(capsys):
    configure_logging("INFO", "json")
    structlog.contextvars.bind_contextvars(thread_id="slack:T1:C1:1.2", user="U1", channel="C1")
    try:
        structlog.get_logger("t").info(
            "posted", slack_bot_token="xoxb-123-456-abc", note="with xoxb-999-888-zzz inside"
        )
        logging.getLogger("slack_bolt").warning("token xapp-1-A1-abc leaked?")
    finally:
        structlog.contextvars.clear_contextvars()
        configure_logging("WARNING", "console")
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    ours, foreign = lines
    assert ours["thread_id"] == "slack:T1:C1:1.2" and ours["user"] == "U1"
    assert ours["channel"] == "C1" and ours["event"] == "posted"
    assert ours["slack_bot_token"] == "***"
    assert "xoxb" not in json.dumps(lines) and "xapp-1" not in json.dumps(lines)
    assert foreign["logger"] == "slack_bolt" and foreign["thread_id"] == "slack:T1:C1:1.2"
