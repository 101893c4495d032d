"""Full preview: ack, then send the whole dry-run preview privately to whoever clicked."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners.actions._card import Click, click_listener
from bot.runtime import BotRuntime

__all__ = ["full_preview_clicked"]


def _full_preview(runtime: BotRuntime, client: AsyncWebClient, click: Click, body: dict[str, Any]):
    return runtime.full_preview(
        client,
        user=click.user,
        channel=click.channel,
        value=click.value,
        card_ts=click.card_ts,
        team=click.team,
    )


full_preview_clicked = click_listener(_full_preview, name="full-preview")
