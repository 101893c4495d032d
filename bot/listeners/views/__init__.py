"""View submissions: the reject modal."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.blocks import REJECT_VIEW
from bot.listeners.views.reject_reason import reject_reason_submitted

__all__ = ["register"]


def register(app: AsyncApp) -> None:
    app.view(REJECT_VIEW)(reject_reason_submitted)
