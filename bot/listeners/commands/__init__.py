"""Slash commands."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners.commands.devops import devops_command

__all__ = ["register"]


def register(app: AsyncApp) -> None:
    app.command("/devops")(devops_command)
