"""One Slack thread is one graph thread: `slack:{team}:{channel}:{thread_ts}`.

`SlackRequest` is what a listener hands the runtime: who asked what, and where.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["SlackRequest", "parse_thread_id", "thread_id_for"]


def thread_id_for(team: str, channel: str, thread_ts: str) -> str:
    return f"slack:{team}:{channel}:{thread_ts}"


def parse_thread_id(thread_id: str) -> tuple[str, str, str] | None:
    """(team, channel, thread_ts) of a Slack thread id, or None for another kind of id."""
    parts = thread_id.split(":")
    if len(parts) != 4 or parts[0] != "slack":
        return None
    return parts[1], parts[2], parts[3]


@dataclass(frozen=True)
class SlackRequest:
    """Who asked what, where. `thread_ts` None: start a new thread with a root message."""

    team: str
    channel: str
    user: str
    text: str
    thread_ts: str | None = None
    # A plain reply in a bot thread (no mention): stay quiet when it is not a request.
    quiet_if_unclear: bool = False
    # The in-flight key written before the ack (BotRuntime.accept), removed once the run is
    # marked in flight under its thread, or when the request ends before that.
    accepted: str | None = None
    # The message's `files` (Slack file objects): an OpenAPI document shared with the request.
    files: tuple[dict[str, Any], ...] = ()
