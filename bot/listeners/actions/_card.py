"""Where a click came from: the card's channel and ts, and its button's value."""

from __future__ import annotations

from typing import Any

from bot.blocks import parse_button_value

__all__ = ["click_origin"]


def click_origin(body: dict[str, Any], action: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    """(channel, card_ts, button value); raises ValueError for a click that is not ours."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    card_ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    value = parse_button_value(action.get("value"))
    if not channel or not card_ts or value is None:
        raise ValueError("click without a channel, a message or a devops-bot button value")
    return channel, card_ts, value
