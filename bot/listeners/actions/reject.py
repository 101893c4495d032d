"""Reject: ack, then open a modal asking for the reason (the trigger id lasts 3 seconds)."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners.actions._card import Click, click_listener
from bot.runtime import BotRuntime

__all__ = ["reject_clicked"]


def _open_reject(runtime: BotRuntime, client: AsyncWebClient, click: Click, body: dict[str, Any]):
    return runtime.open_reject(
        client,
        user=click.user,
        channel=click.channel,
        card_ts=click.card_ts,
        value=click.value,
        trigger_id=body.get("trigger_id", ""),
        team=click.team,
    )


reject_clicked = click_listener(_open_reject, name="reject-modal")
