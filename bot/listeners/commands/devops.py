"""`/devops TEXT`: usage for help, otherwise ack at once and run the request in the background."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.runtime import BotRuntime
from bot.threads import SlackRequest

__all__ = ["devops_command"]


async def devops_command(
    ack: AsyncAck,
    command: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    context: dict[str, Any],
) -> None:
    text = (command.get("text") or "").strip()
    if text.lower() in messages.HELP_WORDS:
        await ack(
            text=messages.usage_fallback(),
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": messages.usage()}}],
            response_type="ephemeral",
        )
        return
    runtime: BotRuntime = context["devops"]
    request = SlackRequest(
        team=command.get("team_id", ""),
        channel=command.get("channel_id", ""),
        user=command.get("user_id", ""),
        text=text,
    )
    # Recorded before the ack: a replica that dies right after it still leaves a word.
    request = replace(request, accepted=await runtime.accept(request))
    await ack()

    async def say_private(message: str) -> None:
        await respond(text=message, response_type="ephemeral", replace_original=False)

    runtime.spawn(
        runtime.handle_request(client, request, say_private), name=f"devops:{request.channel}"
    )
