"""Slack listeners, one per file, grouped by kind; each package exposes `register(app)`."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners import actions, commands, events, views

__all__ = ["register"]


def register(app: AsyncApp) -> None:
    commands.register(app)
    events.register(app)
    actions.register(app)
    views.register(app)
