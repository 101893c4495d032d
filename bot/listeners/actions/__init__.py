"""Block actions: the approval card's buttons (Approve, Reject, Full preview) and an
incident's findings buttons (a remediation step, Postmortem draft)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.blocks import (
    APPROVE_ACTION,
    FULL_PREVIEW_ACTION,
    INCIDENT_POSTMORTEM_ACTION,
    INCIDENT_REMEDIATE_ACTION,
    REJECT_ACTION,
)
from bot.listeners.actions.approve import approve_clicked
from bot.listeners.actions.full_preview import full_preview_clicked
from bot.listeners.actions.postmortem import postmortem_clicked
from bot.listeners.actions.reject import reject_clicked
from bot.listeners.actions.remediate import remediate_clicked

__all__ = ["register"]


def register(app: AsyncApp) -> None:
    app.action(APPROVE_ACTION)(approve_clicked)
    app.action(REJECT_ACTION)(reject_clicked)
    app.action(FULL_PREVIEW_ACTION)(full_preview_clicked)
    app.action(INCIDENT_REMEDIATE_ACTION)(remediate_clicked)
    app.action(INCIDENT_POSTMORTEM_ACTION)(postmortem_clicked)
