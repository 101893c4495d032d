"""Every user-facing sentence the Slack bot says, in one place.

Slack `mrkdwn` throughout: `<@U123>` mentions, backticks for code. Builders of Block
Kit structures live in `bot.blocks`; this module only produces text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = [
    "EXAMPLES",
    "HELP_WORDS",
    "already_pending",
    "cannot_post",
    "decision_line",
    "failed",
    "full_preview",
    "interrupted_run",
    "mention",
    "no_preview",
    "not_understood",
    "refused",
    "reject_modal_prompt",
    "result_line",
    "routing_line",
    "slack_date",
    "stale_card",
    "status_header",
    "unknown_thread",
    "usage",
    "usage_fallback",
]

EXAMPLES: tuple[str, ...] = (
    "deploy api-server:v1.2.3 prod",
    "scale deployment/api-server --replicas=3 -n staging",
    "show error logs for api-server in prod for the last 1h",
    "rollback checkout in staging",
    "investigate INC-1234: checkout is returning 500s in prod",
)

HELP_WORDS = frozenset({"", "help", "-h", "--help", "?", "usage"})

_STATUS_WORDS = {
    "done": "Done",
    "applied": "Applied",
    "awaiting_approval": "Waiting for approval",
    "failed": "Failed",
    "rejected": "Rejected",
    "expired": "Expired",
}


def mention(user: str | None) -> str:
    return f"<@{user}>" if user else "someone"


def slack_date(iso: str | None) -> str:
    """A Slack date token (rendered in each reader's time zone) with the ISO text as fallback."""
    if not iso:
        return "unknown time"
    try:
        epoch = int(datetime.fromisoformat(iso).timestamp())
    except ValueError:
        return iso
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{iso}>"


def usage() -> str:
    examples = "\n".join(f"• `/devops {e}`" for e in EXAMPLES)
    return (
        "*devops-bot*: say what you need in plain words; I route it to the right agent, "
        "show you the plan, and anything risky (production, destructive, high risk) waits "
        "for an approver's click before it runs.\n\n"
        f"*Examples*\n{examples}\n\n"
        "Approve or reject from the card I post in the thread. `/devops help` shows this again."
    )


def usage_fallback() -> str:
    return "devops-bot usage: /devops <what you need>, e.g. /devops " + EXAMPLES[0]


def not_understood(text: str, hint: str | None) -> str:
    if hint:
        return hint
    examples = "; ".join(f"`{e}`" for e in EXAMPLES[:3])
    return f"I couldn't tell which DevOps task you want from {text!r}. Try for example: {examples}."


def status_header(user: str | None, text: str) -> str:
    return f"{mention(user)} asked: `{_one_line(text)}`"


def routing_line(step: dict[str, Any]) -> str:
    return f"• {step.get('node')} → {step.get('target')} ({step.get('reason')})"


def result_line(report: Any) -> str:
    """One line for the status message: what the run came to."""
    word = _STATUS_WORDS.get(report.status, report.status)
    if report.status == "awaiting_approval":
        return f"*{word}*: {report.summary}. The approval card is in this thread."
    return f"*{word}*: {report.summary}"


def decision_line(approval: dict[str, Any], status: str) -> str:
    """Who decided what and when, for the card once it is closed."""
    by = approval.get("decided_by")
    at = slack_date(approval.get("decided_at"))
    if status in {"approved", "applied"} or approval.get("status") == "approved":
        return f":white_check_mark: Approved by {mention(by)} at {at}"
    if status == "rejected" or approval.get("status") == "rejected":
        reason = approval.get("reason") or "no reason given"
        return f":x: Rejected by {mention(by)} at {at}: {reason}"
    if status == "expired" or approval.get("status") == "expired":
        return (
            f":hourglass: Expired at {slack_date(approval.get('expires_at'))}; nothing was applied"
        )
    return f"Closed ({status})"


def stale_card(report: Any | None) -> str:
    if report is None:
        return "This card is stale: its run is no longer known here. Nothing was changed."
    if report.status == "awaiting_approval":
        return (
            "This card is stale: the request it shows has moved on (a newer card in this "
            "thread is current). Nothing was changed."
        )
    return (
        f"This card is stale: the request was already closed ({report.summary}). "
        "Nothing was changed."
    )


def cannot_post(error: str) -> str:
    if error in {"not_in_channel", "channel_not_found"}:
        return (
            "I can't post in this channel yet, so I started nothing. Invite me with "
            "`/invite @devops-bot` and try again."
        )
    return f"I couldn't post in this channel ({error}), so I started nothing."


def refused(reason: str) -> str:
    reason = reason.rstrip(". ")
    if "nothing changed" in reason.lower() or "nothing was changed" in reason.lower():
        return f":no_entry: {reason}."
    return f":no_entry: {reason}. Nothing was changed."


def unknown_thread(thread_id: str) -> str:
    return f"I don't know the run behind this card ({thread_id}). Nothing was changed."


def failed(error: str) -> str:
    return f":warning: Something went wrong: {error}"


def full_preview(chunk: str, part: int, parts: int) -> str:
    title = "*Full dry-run preview*" + (f" (part {part} of {parts})" if parts > 1 else "")
    return f"{title}\n```{chunk}```"


def interrupted_run(steps: list[str]) -> str:
    where = f" before {', '.join(f'`{s}`' for s in steps)}" if steps else ""
    return (
        f":warning: This run was interrupted{where}: the bot serving it stopped. Nothing past "
        "that step ran. Ask again in this thread to run it anew."
    )


def no_preview() -> str:
    return "This request has no dry-run preview to show."


def already_pending(message: str) -> str:
    return f":pause_button: {message}. The pending approval card is above in this thread."


def reject_modal_prompt(approval: dict[str, Any]) -> str:
    return f"Reject *{approval.get('action')}* of `{approval.get('target')}`? Say why (required)."


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split()).replace("`", "'")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
