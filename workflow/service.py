"""Run, approve, reject and list: the one way in for the CLI and the Slack bot alike.

Approving goes through the same steps wherever the vote comes from:
policy check (`may_vote`), per-thread lock, confirm the interrupt is still pending in
`get_state`, claim the interrupt (SET NX), then resume with
`Command(resume={interrupt_id: vote})`. A double click, a second replica or a second
`devops-bot approve` finds the interrupt gone or claimed and changes nothing.

Every run, approval request, vote (accepted or refused), decision, apply and failure is
appended to the audit log; an audit backend that fails is logged and never stops a run.

The streaming driver is in `workflow.driving`, the audit records of each step in
`workflow.audit_steps` and the reports in `workflow.reports`; this module keeps the public
facade and the exactly-once voting (`_vote`, `_resume_once`, `_vote_lock`) together.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from workflow.apply import ROLLOUT_NODE
from workflow.approval.store import ApprovalStore, LockTimeoutError
from workflow.audit import AuditLog, InMemoryAuditLog
from workflow.deps import WorkflowDeps
from workflow.driving import PROGRESS_NODE, WRITES_NODE, ProgressCallback, _Driver
from workflow.registered import refresh_registered
from workflow.reports import RunReport, _not_pending, _report, _summary
from workflow.state import initial_state

__all__ = [
    "PROGRESS_NODE",
    "WRITES_NODE",
    "BusyError",
    "DecidedError",
    "DevOpsService",
    "InputError",
    "RefusedError",
    "RunReport",
    "VoteCheck",
]

log = structlog.get_logger("devops-bot.service")


class InputError(ValueError):
    """The caller asked for something that does not exist or is not in that state."""


class RefusedError(PermissionError):
    """The policy refuses this vote; the message says why."""


class BusyError(InputError):
    """The thread is still running its previous request; nothing was started."""


class DecidedError(InputError):
    """Another vote has already closed this request; its decision may still be being
    applied. `vote` is that vote as it was claimed: decision, user, at, reason."""

    def __init__(self, thread_id: str, vote: dict[str, Any]) -> None:
        self.vote = vote
        by = f" by {vote['user']}" if vote.get("user") not in {None, "system"} else ""
        word = _DECIDED.get(vote.get("decision"), "closed")
        super().__init__(
            f"thread {thread_id} was already decided ({word}{by} at {vote.get('at')}): "
            "nothing changed"
        )


_DECIDED = {"approve": "approved", "reject": "rejected", "expire": "expired"}

# How long a vote waits for its thread's lock in all, and how often it looks meanwhile
# whether another vote has already closed the request (then it is answered at once).
LOCK_WAIT = 30.0
LOCK_SLICE = 0.25


@dataclass(frozen=True)
class VoteCheck:
    """The policy's verdict on a vote that has not been cast (shaped like `Verdict`)."""

    allowed: bool
    reason: str
    request: dict[str, Any]
    expired: bool = False
    interrupt_id: str | None = None


class DevOpsService(_Driver):
    def __init__(
        self,
        graph: CompiledStateGraph,
        deps: WorkflowDeps,
        approvals: ApprovalStore,
        audit: AuditLog | None = None,
    ) -> None:
        self.graph = graph
        self.deps = deps
        self.approvals = approvals
        self.audit: AuditLog = audit if audit is not None else InMemoryAuditLog()

    async def state_of(self, thread_id: str) -> dict[str, Any] | None:
        """The thread's checkpointed values, or None for an unknown thread."""
        snapshot = await self.graph.aget_state(self._config(thread_id))
        return dict(snapshot.values) if snapshot.values else None

    async def start(
        self,
        *,
        task_type: str,
        context: dict[str, Any],
        text: str,
        requester: str,
        thread_id: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> RunReport:
        thread_id = thread_id or f"cli-{uuid.uuid4().hex[:10]}"
        snapshot = await self.graph.aget_state(self._config(thread_id))
        if snapshot.interrupts:
            request = snapshot.interrupts[0].value
            raise InputError(
                f"thread {thread_id} is waiting for approval of {request.get('action')} "
                f"{request.get('target')}; approve or reject it first"
            )
        if tuple(snapshot.next or ()) == (ROLLOUT_NODE,):
            # Its last change is being followed (by this or another replica): a second run
            # on the same graph thread now would interleave with that one's checkpoints.
            raise BusyError(
                f"thread {thread_id} is still following the rollout of its last change; "
                "ask again once its result is posted"
            )
        context = {**context, "requester": requester}
        # services registered (scaffolded) meanwhile, maybe by another replica
        await refresh_registered(self.deps)
        if context.get("service"):
            context["service"] = self.deps.catalog.canonical_name(context["service"])
        state = initial_state(task_type, context, text)
        log.info("run started", thread_id=thread_id, user=requester, task_type=task_type)
        await self._record(
            "run",
            thread_id,
            user=requester,
            action=context.get("action"),
            target=context.get("service"),
            environment=context.get("environment"),
            detail=f"task {task_type}",
        )
        return await self._drive(thread_id, state, on_progress, requester=requester)

    async def remediate(
        self,
        thread_id: str,
        step_id: str,
        requester: str,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> RunReport:
        """Run remediation `step_id` that the thread's incident investigation offered.

        It runs as a new request in the same thread, asked by `requester`: a write is planned
        and goes through reflection and the approval policy like a typed command.
        """
        values = await self.state_of(thread_id)
        if not values:
            raise InputError(f"unknown thread id {thread_id!r}")
        incident = values.get("incident") or {}
        steps = incident.get("remediations") or {}
        step = steps.get(step_id)
        if step is None:
            offered = ", ".join(f"{k} ({v['label']})" for k, v in steps.items()) or "none"
            raise InputError(
                f"thread {thread_id} offers no remediation {step_id!r}; it offers: {offered}"
            )
        context = {
            **step["context"],
            "sandbox": bool((values.get("context") or {}).get("sandbox")),
            "remediation_of": incident.get("id"),
        }
        return await self.start(
            task_type=step["task_type"],
            context=context,
            text=step["command"],
            requester=requester,
            thread_id=thread_id,
            on_progress=on_progress,
        )

    async def approve(
        self,
        thread_id: str,
        user: str,
        *,
        groups: frozenset[str] = frozenset(),
        on_progress: ProgressCallback | None = None,
        seen: dict[str, Any] | None = None,
        interrupt_id: str | None = None,
    ) -> RunReport:
        """Vote to approve. `seen`: the request as the voter saw it (e.g. on a card the
        caller just checked) and `interrupt_id` the interrupt it was seen on; the vote then
        counts only if that request is still pending. A vote that finds the request already
        closed by another raises DecidedError at once, even while that one is applied."""
        return await self._vote(
            thread_id, user, "approve", groups, None, on_progress, seen, interrupt_id
        )

    async def reject(
        self,
        thread_id: str,
        user: str,
        reason: str,
        *,
        groups: frozenset[str] = frozenset(),
        on_progress: ProgressCallback | None = None,
        seen: dict[str, Any] | None = None,
        interrupt_id: str | None = None,
    ) -> RunReport:
        if not reason or not reason.strip():
            raise InputError("a rejection needs a reason, e.g. --reason 'wrong image tag'")
        return await self._vote(
            thread_id, user, "reject", groups, reason.strip(), on_progress, seen, interrupt_id
        )

    async def expire(
        self,
        thread_id: str,
        request: dict[str, Any] | None = None,
        *,
        interrupt_id: str | None = None,
    ) -> RunReport:
        """Close an approval request whose TTL has passed; nothing is applied.

        With `request`, only that request (if it is still the pending one)."""
        now = self.deps.clock()
        vote = {"decision": "expire", "user": "system", "at": now.isoformat()}
        return await self._resume_once(thread_id, request, vote, None, interrupt_id)

    async def check_vote(
        self,
        thread_id: str,
        user: str,
        decision: str,
        groups: frozenset[str] = frozenset(),
    ) -> VoteCheck:
        """What the policy says about `user` casting `decision` now, without voting.

        Raises InputError for an unknown thread or one with nothing pending; an expired
        request comes back refused with `expired=True`.
        """
        if not user or not user.strip():
            raise InputError("say who you are: --as USER")
        snapshot = await self.graph.aget_state(self._config(thread_id))
        if not snapshot.values:
            raise InputError(f"unknown thread id {thread_id!r}")
        if not snapshot.interrupts:
            raise InputError(_not_pending(thread_id, snapshot.values))
        check = self.judge_vote(snapshot.interrupts[0].value, user, decision, groups)
        return VoteCheck(
            check.allowed, check.reason, check.request, check.expired, snapshot.interrupts[0].id
        )

    def judge_vote(
        self,
        request: dict[str, Any],
        user: str,
        decision: str,
        groups: frozenset[str] = frozenset(),
    ) -> VoteCheck:
        """What the policy says about `user` casting `decision` on `request` now.

        Advisory, for a clear answer before anything is locked: the vote itself is judged
        again by the approval gate, under the thread lock, on the request still pending.
        """
        if not user or not user.strip():
            raise InputError("say who you are: --as USER")
        now = self.deps.clock()
        verdict = self.deps.policy.may_vote(
            user,
            request,
            decision=decision,  # type: ignore[arg-type]
            user_groups=groups,
            now=now,
        )
        expired = now >= datetime.fromisoformat(request["expires_at"])
        return VoteCheck(verdict.allowed and not expired, verdict.reason, request, expired)

    async def finish_decision(
        self, thread_id: str, *, on_progress: ProgressCallback | None = None
    ) -> RunReport | None:
        """Finish a decision whose process died between claiming it and resuming the graph
        (the interrupt is claimed but still pending); None when there is no such decision.

        Waits for the dead holder's thread lock to lapse (its lease), then resumes with the
        claimed vote, exactly as the claimer would have: the decision is never taken twice.
        """
        async with self._vote_lock(thread_id, None):
            snapshot = await self.graph.aget_state(self._config(thread_id))
            if not snapshot.interrupts:
                return None
            interrupt = snapshot.interrupts[0]
            claim = await self.approvals.claimed(f"interrupt:{interrupt.id}")
            if not claim:
                return None
            vote = {k: v for k, v in claim.items() if k != "closes"}
            log.warning(
                "finishing a decision interrupted by a crash",
                thread_id=thread_id,
                user=vote.get("user"),
                interrupt_id=interrupt.id,
            )
            return await self._drive(
                thread_id, Command(resume={interrupt.id: vote}), on_progress, interrupt.value
            )

    async def follow_rollout(
        self, thread_id: str, *, on_progress: ProgressCallback | None = None
    ) -> RunReport:
        """Finish a run stopped between its apply and the end of its rollout (the process
        driving it died): the rollout step only reads, so it is simply run again."""
        async with self.approvals.thread_lock(thread_id):
            snapshot = await self.graph.aget_state(self._config(thread_id))
            if tuple(snapshot.next) != (ROLLOUT_NODE,) or snapshot.interrupts:
                raise InputError(f"thread {thread_id} is not waiting to follow a rollout")
            approval = snapshot.values.get("approval") or None
            requester = (snapshot.values.get("context") or {}).get("requester")
            log.warning("following a rollout left by a stopped run", thread_id=thread_id)
            return await self._drive(thread_id, None, on_progress, approval, requester=requester)

    async def pending(self) -> list[dict[str, Any]]:
        """Paused approvals, each checked against its checkpoint; stale entries are dropped."""
        out = []
        now = self.deps.clock()
        for thread_id, summary in sorted((await self.approvals.list_pending()).items()):
            snapshot = await self.graph.aget_state(self._config(thread_id))
            if not snapshot.interrupts:
                await self.approvals.remove_pending(thread_id)
                continue
            request = snapshot.interrupts[0].value
            expired = now >= datetime.fromisoformat(request["expires_at"])
            out.append({**summary, **_summary(thread_id, request), "expired": expired})
        return out

    async def report(self, thread_id: str) -> RunReport:
        snapshot = await self.graph.aget_state(self._config(thread_id))
        if not snapshot.values:
            raise InputError(f"unknown thread id {thread_id!r}")
        return _report(thread_id, snapshot)

    async def record_refused_click(self, thread_id: str, *, user: str, detail: str) -> None:
        """Audit a click (or modal) refused before it reached the policy: it came from a
        message or modal that does not belong to the request it names."""
        await self._record("click_refused", thread_id, user=user, detail=detail)

    async def record_cancel(
        self, thread_id: str, *, user: str, environment: str | None, detail: str
    ) -> None:
        """Audit a run stopped from its thread during its read-only stretch."""
        await self._record("cancel", thread_id, user=user, environment=environment, detail=detail)

    # -- internals ---------------------------------------------------------------------

    async def _vote(
        self,
        thread_id: str,
        user: str,
        decision: str,
        groups: frozenset[str],
        reason: str | None,
        on_progress: ProgressCallback | None,
        seen: dict[str, Any] | None = None,
        interrupt_id: str | None = None,
    ) -> RunReport:
        if seen is not None:
            check = self.judge_vote(seen, user, decision, groups)
        else:
            check = await self.check_vote(thread_id, user, decision, groups)
            interrupt_id = interrupt_id or check.interrupt_id
        request = check.request
        if check.expired:
            report = await self.expire(thread_id, request, interrupt_id=interrupt_id)
            report.note = "expired"
            return report
        if not check.allowed:
            log.info(
                "vote refused",
                thread_id=thread_id,
                user=user,
                decision=decision,
                reason=check.reason,
            )
            await self._record_request(
                "vote_refused", thread_id, request, user=user, detail=f"{decision}: {check.reason}"
            )
            raise RefusedError(check.reason)
        now = self.deps.clock()
        vote = {
            "decision": decision,
            "user": user,
            "groups": sorted(groups),
            "reason": reason,
            "at": now.isoformat(),
        }
        return await self._resume_once(thread_id, request, vote, on_progress, interrupt_id)

    async def _resume_once(
        self,
        thread_id: str,
        request: dict[str, Any] | None,
        vote: dict[str, Any],
        on_progress: ProgressCallback | None,
        interrupt_id: str | None = None,
    ) -> RunReport:
        config = self._config(thread_id)
        async with self._vote_lock(thread_id, interrupt_id):
            snapshot = await self.graph.aget_state(config)
            if not snapshot.interrupts:
                raise InputError(_not_pending(thread_id, snapshot.values))
            interrupt = snapshot.interrupts[0]
            if request is not None and interrupt.value.get("id") != request.get("id"):
                raise InputError(f"thread {thread_id} was already decided: nothing changed")
            current = interrupt.value
            if vote["decision"] in {"approve", "reject"} and not await self.approvals.claim(
                f"vote:{current['id']}:{vote['user']}", vote
            ):
                reason = f"{vote['user']} has already voted on this request"
                await self._record_request(
                    "vote_refused",
                    thread_id,
                    current,
                    user=vote["user"],
                    detail=f"{vote['decision']}: {reason}",
                )
                raise RefusedError(reason)
            # The claim says whether this vote closes the request, so that a click arriving
            # while it is applied can be told so at once (see _vote_lock).
            claim = {**vote, "closes": self.deps.policy.closes(current, vote)}
            if not await self.approvals.claim(f"interrupt:{interrupt.id}", claim):
                # Claimed but still pending under our lock: the claimer died mid-resume.
                # Finish its decision rather than take a second one.
                claim = await self.approvals.claimed(f"interrupt:{interrupt.id}") or claim
                vote = {k: v for k, v in claim.items() if k != "closes"}
                log.warning(
                    "finishing a decision interrupted by a crash",
                    thread_id=thread_id,
                    user=vote.get("user"),
                    interrupt_id=interrupt.id,
                )
            log.info(
                "vote accepted",
                thread_id=thread_id,
                user=vote.get("user"),
                decision=vote["decision"],
                interrupt_id=interrupt.id,
                plan_hash=current.get("plan_hash"),
            )
            if vote["decision"] in {"approve", "reject"}:
                said = vote["decision"] + (f": {vote['reason']}" if vote.get("reason") else "")
                await self._record_request(
                    "vote", thread_id, current, user=vote.get("user"), detail=said
                )
            return await self._drive(
                thread_id, Command(resume={interrupt.id: vote}), on_progress, current
            )

    @contextlib.asynccontextmanager
    async def _vote_lock(self, thread_id: str, interrupt_id: str | None) -> AsyncIterator[None]:
        """The thread's lock, for a vote on `interrupt_id`.

        While another process holds it (deciding, applying, following a rollout), look every
        LOCK_SLICE seconds whether a vote that closes the request has claimed that interrupt:
        then raise DecidedError instead of waiting for an apply that may take minutes.
        """
        deadline = time.monotonic() + LOCK_WAIT
        async with contextlib.AsyncExitStack() as stack:
            while True:
                try:
                    lock = self.approvals.thread_lock(thread_id, timeout=LOCK_SLICE)
                    await stack.enter_async_context(lock)
                    break
                except LockTimeoutError:
                    if interrupt_id is not None:
                        claim = await self.approvals.claimed(f"interrupt:{interrupt_id}")
                        if claim and claim.get("closes"):
                            raise DecidedError(thread_id, claim) from None
                    if time.monotonic() >= deadline:
                        raise
            yield
