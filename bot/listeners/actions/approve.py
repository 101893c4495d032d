"""Approve: ack, then the runtime checks the card is current and the service decides."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import BotRuntime
from bot.listeners.actions._card import parse_click

__all__ = ["approve_clicked"]


async def approve_clicked(
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
        runtime.vote(
            client,
            user=click.user,
            channel=click.channel,
            card_ts=click.card_ts,
            value=click.value,
            decision="approve",
        ),
        name=f"approve:{click.thread_id}",
    )
