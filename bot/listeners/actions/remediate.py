"""A remediation button on an incident's findings: ack, then run that step as the clicker's
request in the same thread (status message, approval card if the policy wants one)."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import parse_incident_value
from bot.listeners.actions._card import Click, click_listener
from bot.runtime import BotRuntime

__all__ = ["remediate_clicked"]


def _step_value(value: str | None) -> dict[str, str] | None:
    """A remediation button's value: the thread and the step (`{"thread_id", "step"}`)."""
    parsed = parse_incident_value(value)
    return parsed if parsed and parsed.get("step") else None


def _remediate(runtime: BotRuntime, client: AsyncWebClient, click: Click, body: dict[str, Any]):
    return runtime.remediate(
        client,
        user=click.user,
        channel=click.channel,
        message_ts=click.card_ts,
        value=click.value,
        team=click.team,
    )


remediate_clicked = click_listener(_remediate, name="remediate", parse=_step_value)
