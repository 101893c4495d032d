"""Events API listeners."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners.events.app_mention import app_mention
from bot.listeners.events.thread_reply import thread_reply

__all__ = ["register"]


def register(app: AsyncApp) -> None:
    app.event("app_mention")(app_mention)
    app.event("message")(thread_reply)
