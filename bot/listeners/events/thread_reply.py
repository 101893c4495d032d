"""A plain reply (no mention) in a thread the bot runs: continue that thread's graph.

Only messages people type inside a thread, with or without files (subtype `file_share`: an
API request reads an OpenAPI document from them): edits, joins and other subtypes, bot messages,
top-level channel messages and replies that mention the bot (the `app_mention` listener
answers those) are left alone. Threads the bot did not start are ignored in the runtime,
once it has checked there is no graph thread behind them.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime import BotRuntime
from bot.threads import SlackRequest

__all__ = ["thread_reply"]


async def thread_reply(
    ack: AsyncAck, event: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
) -> None:
    await ack()
    if event.get("subtype") not in (None, "file_share"):
        return
    if event.get("bot_id") or event.get("bot_profile"):
        return
    channel, user = event.get("channel", ""), event.get("user", "")
    thread_ts, ts = event.get("thread_ts"), event.get("ts")
    bot_user = context.get("bot_user_id")
    text = " ".join((event.get("text") or "").split())
    if not channel or not user or not thread_ts or thread_ts == ts or not text:
        return  # not a reply a person typed in a thread
    if user == bot_user or (bot_user and f"<@{bot_user}" in text):
        return  # our own message, or a mention (answered by app_mention)
    runtime: BotRuntime = context["devops"]
    team = context.get("team_id") or event.get("team", "")

    async def say_private(message: str) -> None:
        await client.chat_postEphemeral(
            channel=channel, user=user, text=message, thread_ts=thread_ts
        )

    request = SlackRequest(
        team=team,
        channel=channel,
        user=user,
        text=text,
        thread_ts=thread_ts,
        quiet_if_unclear=True,
        files=tuple(f for f in event.get("files") or () if isinstance(f, dict)),
    )
    runtime.spawn(
        runtime.handle_thread_reply(client, request, say_private), name=f"reply:{channel}"
    )
