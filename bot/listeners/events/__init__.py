"""Events API listeners."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners.events.app_mention import app_mention

__all__ = ["register"]


def register(app: AsyncApp) -> None:
    app.event("app_mention")(app_mention)
