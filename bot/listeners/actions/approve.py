"""Approve: ack, then the runtime checks the card is current and the service decides."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners.actions._card import Click, click_listener
from bot.runtime import BotRuntime

__all__ = ["approve_clicked"]


def _approve(runtime: BotRuntime, client: AsyncWebClient, click: Click, body: dict[str, Any]):
    return runtime.vote(
        client,
        user=click.user,
        channel=click.channel,
        card_ts=click.card_ts,
        value=click.value,
        decision="approve",
        team=click.team,
    )


approve_clicked = click_listener(_approve, name="approve")
