"""The reject modal was submitted: a blank reason is refused in the modal, else reject.

The vote counts only for a modal the bot opened for this user on that request's card
(`BotRuntime.reject_submitted` checks the view id it recorded)."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import REJECT_REASON_ACTION, REJECT_REASON_BLOCK, parse_button_value
from bot.runtime import BotRuntime

__all__ = ["reject_reason_submitted"]

log = structlog.get_logger("devops-bot.slack")


async def reject_reason_submitted(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    client: AsyncWebClient,
    context: dict[str, Any],
) -> None:
    values = (view.get("state") or {}).get("values") or {}
    reason = ((values.get(REJECT_REASON_BLOCK) or {}).get(REJECT_REASON_ACTION) or {}).get("value")
    if not reason or not reason.strip():
        await ack(
            response_action="errors",
            errors={REJECT_REASON_BLOCK: "Say why you reject this request."},
        )
        return
    await ack()
    runtime: BotRuntime = context["devops"]
    value = parse_button_value(view.get("private_metadata") or "")
    if value is None:
        log.warning("slack.bad_reject_modal")
        return
    user = body.get("user") or {}
    runtime.spawn(
        runtime.reject_submitted(
            client,
            user=user.get("id", ""),
            view_id=str(view.get("id") or ""),
            value=value,
            reason=reason.strip(),
            team=(body.get("team") or {}).get("id") or user.get("team_id") or "",
        ),
        name=f"reject:{value['thread_id']}",
    )
