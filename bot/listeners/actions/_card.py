"""Where a click came from: the card's channel and ts, the clicker, and its button's value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from bot.blocks import parse_button_value

__all__ = ["Click", "click_origin", "parse_click"]

log = structlog.get_logger("devops-bot.slack")


@dataclass(frozen=True)
class Click:
    user: str
    channel: str
    card_ts: str
    value: dict[str, str]

    @property
    def thread_id(self) -> str:
        return self.value["thread_id"]


def click_origin(body: dict[str, Any], action: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    """(channel, card_ts, button value); raises ValueError for a click that is not ours."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    card_ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    value = parse_button_value(action.get("value"))
    if not channel or not card_ts or value is None:
        raise ValueError("click without a channel, a message or a devops-bot button value")
    return channel, card_ts, value


def parse_click(body: dict[str, Any], action: dict[str, Any]) -> Click | None:
    """The click, or None (logged) for one that is not a devops-bot card's button."""
    try:
        channel, card_ts, value = click_origin(body, action)
    except ValueError as exc:
        log.warning("slack.bad_click", error=str(exc))
        return None
    return Click((body.get("user") or {}).get("id", ""), channel, card_ts, value)
