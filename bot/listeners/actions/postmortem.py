"""The "Postmortem draft" button on an incident's findings: ack, then upload the draft
rendered from the thread's incident record into the thread."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import parse_incident_value
from bot.listeners.actions._card import Click, click_listener
from bot.runtime import BotRuntime

__all__ = ["postmortem_clicked"]


def _postmortem(runtime: BotRuntime, client: AsyncWebClient, click: Click, body: dict[str, Any]):
    return runtime.postmortem(
        client,
        user=click.user,
        channel=click.channel,
        value=click.value,
        message_ts=click.card_ts,
        team=click.team,
    )


postmortem_clicked = click_listener(_postmortem, name="postmortem", parse=parse_incident_value)
