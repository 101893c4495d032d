"""The streaming driver of DevOpsService: runs the graph until it ends or pauses.

Each step's result is audited as it streams, progress is passed to the caller, and the
end of the run (a pause for approval or the end) is indexed and reported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import structlog
from langgraph.graph.state import CompiledStateGraph

from workflow.apply import NODE as APPLY_NODE
from workflow.approval.store import ApprovalStore
from workflow.audit_steps import _AuditSteps
from workflow.deps import WorkflowDeps
from workflow.graph import RECURSION_LIMIT
from workflow.reports import RunReport, _report, _summary

log = structlog.get_logger("devops-bot.service")

ProgressCallback = Callable[[str, dict[str, Any]], Awaitable[None] | None]
# The "node" of progress a node reports while it runs (LangGraph custom stream events),
# e.g. {"evidence": "alerts", "summary": "1 alert firing"} from incident_agent, or
# {"progress": "stage Deploy: Running"} while a pipeline execution is followed.
PROGRESS_NODE = "__progress__"
# Told to the caller once, with no await in between, as a new request's run leaves its
# read-only stretch for the apply: from here on the run must not be cancelled.
WRITES_NODE = "__writes__"


class _Driver(_AuditSteps):
    """The driving half of DevOpsService."""

    # Set by DevOpsService.__init__.
    graph: CompiledStateGraph
    deps: WorkflowDeps
    approvals: ApprovalStore

    @staticmethod
    def _config(thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id}, "recursion_limit": RECURSION_LIMIT}

    async def _drive(
        self,
        thread_id: str,
        graph_input: Any,
        on_progress: ProgressCallback | None,
        pending: dict[str, Any] | None = None,
        *,
        requester: str | None = None,
    ) -> RunReport:
        """Run the graph until it ends or pauses; `pending` is the request being resumed.

        Checkpoints cost more than anything else a run does, so they are written where they
        matter. A new request (no `pending`) runs up to its first side effect with one
        checkpoint at the end of that stretch: classifying, routing, planning and the dry
        run only read, so a run cut short there is reported and asked again, not resumed.
        The stretch stops before `apply`; from there on (and in every resume after a vote)
        each step is checkpointed before the next one starts.
        """
        config = self._config(thread_id)
        requester = requester or (pending or {}).get("requester")
        try:
            if pending is None:
                end = await self._stream(
                    thread_id,
                    graph_input,
                    on_progress,
                    pending,
                    requester,
                    durability="exit",
                    interrupt_before=[APPLY_NODE],
                )
                if not end.before_apply:
                    return await self._finish(thread_id, await end.snapshot(config), pending)
                graph_input = None  # continue into the apply, durably
                if on_progress is not None:
                    said = on_progress(WRITES_NODE, {})
                    if said is not None:
                        await said
            end = await self._stream(
                thread_id, graph_input, on_progress, pending, requester, durability="sync"
            )
        except Exception as exc:
            await self._record_request(
                "failure",
                thread_id,
                pending or {},
                user=requester,
                detail=f"run crashed: {type(exc).__name__}",
            )
            raise
        return await self._finish(thread_id, await end.snapshot(config), pending)

    async def _stream(
        self,
        thread_id: str,
        graph_input: Any,
        on_progress: ProgressCallback | None,
        pending: dict[str, Any] | None,
        requester: str | None,
        **options: Any,
    ) -> _StretchEnd:
        """One stretch of the run: audit each step's result, pass progress to the caller;
        returns how the stretch ended, as the stream said it."""
        end = _StretchEnd(self.graph)
        async for mode, chunk in self.graph.astream(
            graph_input,
            self._config(thread_id),
            context=self.deps,
            stream_mode=["updates", "custom", "values"],
            **options,
        ):
            if mode == "values":
                end.values = chunk
                continue
            # "custom": what a node reports while it works (e.g. evidence as it arrives).
            items = chunk.items() if mode == "updates" else [(PROGRESS_NODE, chunk)]
            for node, update in items:
                if node == "__interrupt__":
                    end.paused(update)
                    continue
                update = update if isinstance(update, dict) else {}
                if mode == "updates":
                    await self._audit_step(thread_id, node, update, pending, requester)
                if on_progress is None:
                    continue
                try:
                    maybe = on_progress(node, update)
                    if maybe is not None:
                        await maybe
                except Exception:  # a broken display must never abort a run half-way
                    log.warning("progress callback failed", thread_id=thread_id, exc_info=True)
        return end

    async def _finish(
        self, thread_id: str, snapshot: Any, pending: dict[str, Any] | None
    ) -> RunReport:
        """Index a new pause (or drop the old one), log, audit a new request; the report."""
        if snapshot.interrupts:
            await self.approvals.add_pending(
                thread_id, _summary(thread_id, snapshot.interrupts[0].value)
            )
        else:
            await self.approvals.remove_pending(thread_id)
        report = _report(thread_id, snapshot)
        log.info(
            "run paused" if snapshot.interrupts else "run ended",
            thread_id=thread_id,
            status=report.status,
        )
        if snapshot.interrupts:
            request = snapshot.interrupts[0].value
            if pending is None or request.get("id") != pending.get("id"):
                needed = request.get("min_approvals", 1)
                await self._record_request(
                    "request",
                    thread_id,
                    request,
                    user=request.get("requester"),
                    detail=f"needs {needed} approval(s) by {request.get('expires_at')}; "
                    f"risk: {', '.join(request.get('risk_tags') or []) or 'none'}",
                )
        return report


@dataclass
class _StretchEnd:
    """How a stretch of a run ended, as its stream said it: the last values (what the
    checkpoint holds), the interrupt it paused on, or a pause before `apply`. Reading the
    checkpoint back instead costs a few milliseconds of CPU each time (Redis, decoding)."""

    graph: Any
    values: dict[str, Any] | None = None
    interrupts: tuple[Any, ...] = ()
    before_apply: bool = False

    def paused(self, interrupts: Any) -> None:
        if interrupts:  # interrupt(): the approval gate is waiting for a vote
            self.interrupts = tuple(interrupts)
        else:  # interrupt_before=["apply"]: the planning stretch is over
            self.before_apply = True

    async def snapshot(self, config: dict[str, Any]) -> Any:
        """What `_finish` and `_report` read: the stream's own account, or the checkpoint
        when the stream said nothing (a resume that found nothing to run)."""
        if self.values is None:
            return await self.graph.aget_state(config)
        values = {k: v for k, v in self.values.items() if k != "__interrupt__"}
        return SimpleNamespace(values=values, interrupts=self.interrupts)
