"""Where a click came from (the message's channel and ts, the clicker, its button's value),
and `click_listener`: every button listener acks, parses the click, and hands the work to
the runtime in the background.

Approval card buttons carry `blocks.button_value` (parsed by default); incident buttons
carry `blocks.incident_button_value` (pass `parse=parse_incident_value`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import parse_button_value

if TYPE_CHECKING:
    from bot.runtime import BotRuntime

__all__ = ["Click", "click_listener", "click_origin", "parse_click"]

log = structlog.get_logger("devops-bot.slack")

Parse = Callable[[str | None], dict[str, str] | None]
# What a click starts: (runtime, client, click, the whole payload) -> the work, run after the ack.
Start = Callable[["BotRuntime", AsyncWebClient, "Click", dict[str, Any]], Coroutine[Any, Any, Any]]


@dataclass(frozen=True)
class Click:
    user: str
    channel: str
    card_ts: str  # the clicked message's ts (an approval card, or an incident's findings)
    value: dict[str, str]
    team: str = ""

    @property
    def thread_id(self) -> str:
        return self.value["thread_id"]


def click_origin(
    body: dict[str, Any], action: dict[str, Any], parse: Parse = parse_button_value
) -> tuple[str, str, dict[str, str]]:
    """(channel, card_ts, button value); raises ValueError for a click that is not ours."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    card_ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    value = parse(action.get("value"))
    if not channel or not card_ts or value is None:
        raise ValueError("click without a channel, a message or a devops-bot button value")
    return channel, card_ts, value


def parse_click(
    body: dict[str, Any], action: dict[str, Any], parse: Parse = parse_button_value
) -> Click | None:
    """The click, or None (logged) for one that is not a devops-bot button."""
    try:
        channel, card_ts, value = click_origin(body, action, parse)
    except ValueError as exc:
        log.warning("slack.bad_click", error=str(exc))
        return None
    user = body.get("user") or {}
    team = (body.get("team") or {}).get("id") or user.get("team_id") or ""
    return Click(user.get("id", ""), channel, card_ts, value, team)


def click_listener(
    start: Start, *, name: str, parse: Parse = parse_button_value
) -> Callable[..., Awaitable[None]]:
    """A block-action listener: ack at once, then `start(...)` in a background task named
    `name:<thread id>`. A click that is not a devops-bot button is logged and dropped."""

    async def listener(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        context: dict[str, Any],
    ) -> None:
        await ack()
        click = parse_click(body, action, parse)
        if click is None:
            return
        runtime: BotRuntime = context["devops"]
        runtime.spawn(start(runtime, client, click, body), name=f"{name}:{click.thread_id}")

    listener.__name__ = listener.__qualname__ = f"{name.replace('-', '_')}_clicked"  # bolt's logs
    return listener
