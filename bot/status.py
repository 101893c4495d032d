"""A run's status message: who asked what, then what the run does, updated as it goes.

`status_header_of` rebuilds its first line from a thread's state (after a restart, a vote).
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages, results
from workflow.apply import NODE as APPLY_NODE
from workflow.service import PROGRESS_NODE

__all__ = ["StatusMessage", "status_header_of"]

log = structlog.get_logger("devops-bot.slack")


class StatusMessage:
    """The message that follows a run. Updates are coalesced: at most one per interval.

    Text: an optional title line (an incident's header), who asked what, one line per
    routing step, agent result, reflection and piece of evidence, then a footer.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        ts: str,
        header: str,
        interval: float,
        *,
        title: str | None = None,
    ) -> None:
        self.client, self.channel, self.ts, self.header = client, channel, ts, header
        self.title = title
        self.interval = interval
        self.lines: list[str] = []
        self._last = time.monotonic()
        self._said_waiting = False

    async def on_progress(self, node: str, update: dict[str, Any]) -> None:
        if node == PROGRESS_NODE and update.get("evidence"):
            self.lines.append(
                messages.evidence_line(str(update["evidence"]), str(update.get("summary", "")))
            )
        if node == PROGRESS_NODE and update.get("progress"):  # long work's steps (stages)
            self.lines.append(f"• {messages.escape(str(update['progress']))}")
        for step in update.get("routing_trace") or []:
            self.lines.append(messages.routing_line(step))
        for agent, result in (update.get("subagent_results") or {}).items():
            summary = str(result.get("summary") or "").split("\n", 1)[0]
            self.lines.append(f"• {agent}: {result.get('status')}: {messages.escape(summary)}")
        for agent, outcome in (update.get("reflection_outcomes") or {}).items():
            self.lines.append(f"• reflection on {agent}: quality {outcome.get('quality')}")
        if node == APPLY_NODE and (update.get("outcome") or {}).get("stage") == "rolling_out":
            summary = messages.escape(str(update["outcome"].get("summary", "")))
            self.lines.append(f"• apply: {summary}")
        if time.monotonic() - self._last >= self.interval:
            await self._write("_working…_")

    def body(self) -> str:
        """Everything under the title line but the footer."""
        return "\n".join([self.header, *self.lines[-20:]])

    async def finish(self, footer: str) -> None:
        await self._write(footer)

    async def waiting(self, footer: str) -> None:
        """Say why the run has not started yet (once per interval at most)."""
        if time.monotonic() - self._last >= self.interval or not self._said_waiting:
            self._said_waiting = True
            await self._write(footer)

    async def _write(self, footer: str) -> None:
        self._last = time.monotonic()
        text = results.status_text(self.title, self.body(), footer)
        try:
            await self.client.chat_update(channel=self.channel, ts=self.ts, text=text)
        except SlackApiError as exc:
            log.warning("slack.update_failed", error=exc.response.get("error"))


def status_header_of(values: dict[str, Any], user: str | None) -> str:
    """Who asked the thread's latest request (from its state), for its status message."""
    asked = "(request)"
    for message in reversed(values.get("messages") or []):
        if getattr(message, "type", None) == "human":
            asked = str(message.content)
            break
    context = values.get("context") or {}
    note = None
    if context.get("remediation_of"):
        steps = ((values.get("incident") or {}).get("remediations") or {}).values()
        step = next((s["id"] for s in steps if s.get("command") == asked), "")
        note = messages.remediation_note(step or "step", context["remediation_of"])
    return messages.status_header(user, asked, note)
