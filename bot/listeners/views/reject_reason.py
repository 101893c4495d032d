"""The reject modal was submitted: a blank reason is refused in the modal, else reject."""

from __future__ import annotations

import json
from typing import Any

import structlog
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import BotRuntime
from bot.blocks import REJECT_REASON_ACTION, REJECT_REASON_BLOCK, parse_button_value

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
    metadata = view.get("private_metadata") or ""
    value = parse_button_value(metadata)
    try:
        origin = json.loads(metadata)
        channel, card_ts = str(origin["channel"]), str(origin["card_ts"])
    except (ValueError, KeyError, TypeError):
        value = None
    if value is None:
        log.warning("slack.bad_reject_modal")
        return
    user = (body.get("user") or {}).get("id", "")
    runtime.spawn(
        runtime.vote(
            client,
            user=user,
            channel=channel,
            card_ts=card_ts,
            value=value,
            decision="reject",
            reason=reason.strip(),
        ),
        name=f"reject:{value['thread_id']}",
    )
