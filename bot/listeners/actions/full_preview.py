"""Full preview: ack, then send the whole dry-run preview privately to whoever clicked."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import BotRuntime
from bot.listeners.actions._card import click_origin

__all__ = ["full_preview_clicked"]

log = structlog.get_logger("devops-bot.slack")


async def full_preview_clicked(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    context: dict[str, Any],
) -> None:
    await ack()
    runtime: BotRuntime = context["devops"]
    try:
        channel, _card_ts, value = click_origin(body, action)
    except ValueError as exc:
        log.warning("slack.bad_click", error=str(exc))
        return
    user = (body.get("user") or {}).get("id", "")
    runtime.spawn(
        runtime.full_preview(client, user=user, channel=channel, value=value),
        name=f"full-preview:{value['thread_id']}",
    )
