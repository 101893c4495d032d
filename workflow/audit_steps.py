"""Audit records of a run: each step's decision, apply, rollout end or failure as it happens.

An audit backend that fails is logged and never stops a run.
"""

from __future__ import annotations

from typing import Any

import structlog

from workflow.apply import NODE as APPLY_NODE
from workflow.apply import ROLLOUT_NODE
from workflow.approval.gate import NODE as GATE_NODE
from workflow.audit import AuditLog

log = structlog.get_logger("devops-bot.service")


class _AuditSteps:
    """The audit half of DevOpsService."""

    audit: AuditLog  # set by DevOpsService.__init__

    async def _audit_step(
        self,
        thread_id: str,
        node: str,
        update: dict[str, Any],
        pending: dict[str, Any] | None,
        requester: str | None,
    ) -> None:
        """Audit a step as it happens: a decision, an apply, a rollout's end, a failure."""
        if node == GATE_NODE:
            approval = update.get("approval") or {}
            status = approval.get("status")
            if pending is None or status not in {"approved", "rejected", "expired"}:
                return
            by = approval.get("decided_by") or "system"
            detail = status if status == "expired" else f"{status} by {by}"
            if status == "rejected" and approval.get("reason"):
                detail += f": {approval['reason']}"
            await self._record_request("decision", thread_id, approval, user=by, detail=detail)
            return
        if node not in {APPLY_NODE, ROLLOUT_NODE}:
            return
        outcome = update.get("outcome") or {}
        if outcome.get("status") == "applied":
            event = "apply" if node == APPLY_NODE else "rollout"
        else:
            event = "failure"
        voters = outcome.get("approved_by") or []
        await self._record(
            event,
            thread_id,
            user=voters[-1] if voters else requester,
            action=outcome.get("action"),
            target=outcome.get("target"),
            environment=outcome.get("environment"),
            plan_hash=outcome.get("plan_hash"),
            approval_id=(pending or {}).get("id"),
            detail=outcome.get("summary", ""),
        )

    async def _record_request(
        self, event: str, thread_id: str, request: dict[str, Any], **fields: Any
    ) -> None:
        await self._record(
            event,
            thread_id,
            **{
                "action": request.get("action"),
                "target": request.get("target"),
                "environment": request.get("environment"),
                "plan_hash": request.get("plan_hash"),
                "approval_id": request.get("id"),
                **fields,
            },
        )

    async def _record(self, event: str, thread_id: str, **fields: Any) -> None:
        """Append to the audit log; a failing backend is logged, never raised."""
        try:
            await self.audit.append({"event": event, "thread_id": thread_id, **fields})
        except Exception:
            log.warning("audit write failed", thread_id=thread_id, audit_event=event, exc_info=True)
