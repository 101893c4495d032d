"""Reject: ack, then open a modal asking for the reason (the trigger id lasts 3 seconds)."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import BotRuntime
from bot.listeners.actions._card import click_origin

__all__ = ["reject_clicked"]

log = structlog.get_logger("devops-bot.slack")


async def reject_clicked(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    context: dict[str, Any],
) -> None:
    await ack()
    runtime: BotRuntime = context["devops"]
    try:
        channel, card_ts, value = click_origin(body, action)
    except ValueError as exc:
        log.warning("slack.bad_click", error=str(exc))
        return
    user = (body.get("user") or {}).get("id", "")
    runtime.spawn(
        runtime.open_reject(
            client,
            user=user,
            channel=channel,
            card_ts=card_ts,
            value=value,
            trigger_id=body.get("trigger_id", ""),
        ),
        name=f"reject-modal:{value['thread_id']}",
    )
