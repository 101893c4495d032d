"""`@devops-bot TEXT`: in a channel it starts a thread; inside a thread it continues its graph.

Files uploaded with the mention (the event's `files`) go with the request: an API request
reads an OpenAPI document from them (bot.shared_files)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.cancel import is_cancel
from bot.runtime import BotRuntime
from bot.threads import SlackRequest

__all__ = ["app_mention"]

_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


async def app_mention(
    ack: AsyncAck, event: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
) -> None:
    runtime: BotRuntime = context["devops"]
    bot_user = context.get("bot_user_id")
    raw = event.get("text") or ""
    text = raw.replace(f"<@{bot_user}>", " ") if bot_user else _MENTION.sub(" ", raw, count=1)
    text = " ".join(text.split())
    channel, user = event.get("channel", ""), event.get("user", "")
    # The mention itself is the thread root, unless it was posted inside a thread already.
    thread_ts = event.get("thread_ts") or event.get("ts", "")
    if not channel or not user or not thread_ts:
        await ack()
        return  # not a mention a person typed in a channel (nothing to answer to)
    team = context.get("team_id") or event.get("team", "")

    async def say_private(message: str) -> None:
        await client.chat_postEphemeral(
            channel=channel, user=user, text=message, thread_ts=thread_ts
        )

    if text.lower() in messages.HELP_WORDS:
        await ack()
        runtime.spawn(say_private(messages.usage()), name=f"mention-help:{channel}")
        return
    request = SlackRequest(
        team=team,
        channel=channel,
        user=user,
        text=text,
        thread_ts=thread_ts,
        files=tuple(f for f in event.get("files") or () if isinstance(f, dict)),
    )
    if event.get("thread_ts") and is_cancel(text):  # `@bot cancel` inside a run's thread
        await ack()
        runtime.spawn(
            runtime.requests.cancel_in_thread(client, request, say_private),
            name=f"mention-cancel:{channel}",
        )
        return
    # Recorded before the ack: a replica that dies right after it still leaves a word.
    request = replace(request, accepted=await runtime.accept(request))
    await ack()
    runtime.spawn(runtime.handle_request(client, request, say_private), name=f"mention:{channel}")
