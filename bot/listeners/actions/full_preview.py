"""Full preview: ack, then send the whole dry-run preview privately to whoever clicked."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import BotRuntime
from bot.listeners.actions._card import parse_click

__all__ = ["full_preview_clicked"]


async def full_preview_clicked(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    context: dict[str, Any],
) -> None:
    await ack()
    click = parse_click(body, action)
    if click is None:
        return
    runtime: BotRuntime = context["devops"]
    runtime.spawn(
        runtime.full_preview(client, user=click.user, channel=click.channel, value=click.value),
        name=f"full-preview:{click.thread_id}",
    )
