"""Run, approve, reject and list: the one way in for the CLI and the Slack bot alike.

Approving goes through the same steps wherever the vote comes from:
policy check (`may_vote`), per-thread lock, confirm the interrupt is still pending in
`get_state`, claim the interrupt (SET NX), then resume with
`Command(resume={interrupt_id: vote})`. A double click, a second replica or a second
`devops-bot approve` finds the interrupt gone or claimed and changes nothing.

Every run, approval request, vote (accepted or refused), decision, apply and failure is
appended to the audit log; an audit backend that fails is logged and never stops a run.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import structlog
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from workflow.apply import NODE as APPLY_NODE
from workflow.apply import ROLLOUT_NODE
from workflow.approval.gate import NODE as GATE_NODE
from workflow.approval.store import ApprovalStore, LockTimeoutError
from workflow.audit import AuditLog, InMemoryAuditLog
from workflow.deps import WorkflowDeps
from workflow.graph import RECURSION_LIMIT
from workflow.state import initial_state

__all__ = [
    "PROGRESS_NODE",
    "BusyError",
    "DecidedError",
    "DevOpsService",
    "InputError",
    "RefusedError",
    "RunReport",
    "VoteCheck",
]

log = structlog.get_logger("devops-bot.service")

ProgressCallback = Callable[[str, dict[str, Any]], Awaitable[None] | None]
# The "node" of progress a node reports while it runs (LangGraph custom stream events),
# e.g. {"evidence": "alerts", "summary": "1 alert firing"} from incident_agent.
PROGRESS_NODE = "__progress__"


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


@dataclass
class RunReport:
    thread_id: str
    status: str  # done | applied | awaiting_approval | failed | rejected | expired
    summary: str
    routing_trace: list[dict[str, Any]] = field(default_factory=list)
    approval: dict[str, Any] | None = None
    interrupt_id: str | None = None
    result: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    note: str | None = None
    # The thread's checkpointed values this report was made from (not part of as_dict).
    values: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "values"}


@dataclass(frozen=True)
class VoteCheck:
    """The policy's verdict on a vote that has not been cast (shaped like `Verdict`)."""

    allowed: bool
    reason: str
    request: dict[str, Any]
    expired: bool = False
    interrupt_id: str | None = None


class DevOpsService:
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

    @staticmethod
    def _config(thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id}, "recursion_limit": RECURSION_LIMIT}

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

    # -- audit -------------------------------------------------------------------------

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


def _not_pending(thread_id: str, values: dict[str, Any]) -> str:
    approval = values.get("approval") or {}
    if approval.get("status") in {"approved", "rejected", "expired"}:
        by = f" by {approval['decided_by']}" if approval.get("decided_by") else ""
        return f"thread {thread_id} was already decided ({approval['status']}{by}): nothing changed"
    status = (values.get("outcome") or {}).get("status", "running")
    return f"thread {thread_id} is not awaiting approval (it is {status})"


def _summary(thread_id: str, request: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "action",
        "target",
        "environment",
        "requester",
        "plan_hash",
        "expires_at",
        "min_approvals",
        "sandbox",
    )
    votes = [v["user"] for v in request.get("votes", []) if v.get("decision") == "approve"]
    return {"thread_id": thread_id, **{k: request.get(k) for k in keys}, "approvals": votes}


def _report(thread_id: str, snapshot: Any) -> RunReport:
    values = snapshot.values
    agent = values.get("last_agent")
    result = (values.get("subagent_results") or {}).get(agent) if agent else None
    if snapshot.interrupts:
        request = snapshot.interrupts[0].value
        got = len([v for v in request.get("votes", []) if v.get("decision") == "approve"])
        return RunReport(
            thread_id=thread_id,
            status="awaiting_approval",
            summary=f"{request['action']} {request['target']} is waiting for approval "
            f"({got}/{request.get('min_approvals', 1)} approvals)",
            routing_trace=values.get("routing_trace", []),
            approval=request,
            interrupt_id=snapshot.interrupts[0].id,
            result=result,
            values=dict(values),
        )
    approval = values.get("approval") or {}
    if not values.get("outcome") and approval.get("status") == "approved":
        return RunReport(  # decided; its apply is running (or was cut short: see `next`)
            thread_id=thread_id,
            status="approved",
            summary=f"{approval.get('action')} {approval.get('target')} was approved by "
            f"{approval.get('decided_by')} and is being applied",
            routing_trace=values.get("routing_trace", []),
            approval=approval,
            result=result,
            values=dict(values),
        )
    outcome = values.get("outcome") or {"status": "failed", "summary": "the run did not finish"}
    return RunReport(
        thread_id=thread_id,
        status=outcome.get("status", "failed"),
        summary=outcome.get("summary", ""),
        routing_trace=values.get("routing_trace", []),
        approval=values.get("approval"),
        result=result,
        outcome=outcome,
        values=dict(values),
    )
