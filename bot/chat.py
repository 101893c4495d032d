"""The Slack Web API writes every flow makes: a failure is logged, never raised.

`update` edits a message, `teller` answers one user privately (in the thread a thread id
names), `short` is an exception as one line for a log field or a reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.threads import parse_thread_id

__all__ = ["Progress", "Say", "short", "teller", "update"]

log = structlog.get_logger("devops-bot.slack")

Say = Callable[[str], Awaitable[Any]]
Progress = Callable[[str, dict[str, Any]], Awaitable[None]]


async def update(
    client: AsyncWebClient,
    channel: str,
    ts: str,
    block_list: list[dict[str, Any]] | None,
    text: str,
) -> None:
    try:
        if block_list is None:
            await client.chat_update(channel=channel, ts=ts, text=text)
        else:
            await client.chat_update(channel=channel, ts=ts, text=text, blocks=block_list)
    except SlackApiError as exc:
        log.warning("slack.update_failed", error=exc.response.get("error"))


def teller(client: AsyncWebClient, channel: str, user: str, thread_id: str) -> Say:
    parsed = parse_thread_id(thread_id)

    async def tell(text: str) -> None:
        try:
            await client.chat_postEphemeral(
                channel=channel,
                user=user,
                text=text,
                thread_ts=parsed[2] if parsed else None,
            )
        except SlackApiError as exc:
            log.warning("slack.ephemeral_failed", error=exc.response.get("error"))

    return tell


def short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
