"""The Slack app: `build_app()` wires the listeners to one `BotRuntime`.

Listeners only ack and hand off; the runtime does the work in background tasks, so every
request is acknowledged well inside Slack's 3 seconds however long the graph takes:

    request  -> classify -> status message -> service.start -> status updated
                -> approval card posted in the thread (by the runner, never by a node)
                -> results by kind (bot.results): charts, incident findings, postmortem
    click    -> origin check (the message is the card the bot posted for that thread and
                request) -> stale check (button's interrupt id == the pending one)
                -> service.approve / reject (policy, lock, SET NX, resume) -> the card shows
                the decision only once it is taken -> card closed, result in thread
    remediate -> step still offered, claim (thread, step, message) -> service.remediate,
                run like a typed request in the same thread (status message, card)

One Slack thread is one graph thread: `slack:{team}:{channel}:{thread_ts}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, messages, results
from bot.cards import Origin, Origins, TtlCache
from bot.looplag import LoopLag
from bot.metrics import Metrics
from bot.settings import Settings
from bot.stores import (
    CardIndex,
    CardRef,
    HeaderRef,
    IncidentHeaders,
    InFlight,
    RetryDeduper,
    redis_client,
)
from bot.threads import SlackRequest, parse_thread_id, thread_id_for
from workflow.apply import NODE as APPLY_NODE
from workflow.apply import ROLLOUT_NODE
from workflow.approval.store import LockTimeoutError
from workflow.classify import classify
from workflow.service import (
    PROGRESS_NODE,
    DecidedError,
    DevOpsService,
    InputError,
    RefusedError,
    RunReport,
)

__all__ = [
    "BotRuntime",
    "Metrics",
    "RetryDeduper",
    "SlackRequest",
    "build_app",
    "parse_thread_id",
    "runtime_of",
    "thread_id_for",
]

log = structlog.get_logger("devops-bot.slack")

ServiceSource = DevOpsService | Callable[[], DevOpsService]
Say = Callable[[str], Awaitable[Any]]
Progress = Callable[[str, dict[str, Any]], Awaitable[None]]

# How long a click on a remediation button keeps its (thread, step, message) to itself: a
# double click or a second replica within this time is told the run has already started.
REMEDIATION_CLAIM_TTL = 300

# Context a follow-up in a thread inherits when it does not say otherwise.
_INHERITED = ("service", "environment", "namespace", "incident_id")


# -- the runtime -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """What a request runs once its status message is up: a typed request or a remediation.

    `run(thread_id, on_progress)` drives the graph; `incident` is the header of an incident
    investigation (id, service, environment, severity, state), None for other runs.
    """

    header: str
    run: Callable[[str, Progress], Awaitable[RunReport]]
    incident: dict[str, Any] | None = None


class BotRuntime:
    """What the listeners share: the service, background tasks, metrics and the flows."""

    def __init__(
        self,
        service: ServiceSource,
        settings: Settings,
        *,
        sandbox: bool = False,
        llm: Any = None,
        metrics: Metrics | None = None,
        deduper: RetryDeduper | None = None,
        update_interval: float = 1.0,
        client: AsyncWebClient | None = None,
        card_index: CardIndex | None = None,
        sweep_interval: float = 30.0,
        group_cache_ttl: float = 60.0,
        preview_limit: int | None = None,
        inflight: InFlight | None = None,
        max_runs: int = 8,
        queue_grace: float = 1.0,
        claims: RetryDeduper | None = None,
        incident_headers: IncidentHeaders | None = None,
        redis: Any = None,
    ) -> None:
        """`redis`: the Redis client the stores share; closed by `aclose`, after them."""
        if max_runs < 1:
            raise ValueError("max_runs must be at least 1")
        self._service = service
        self.settings = settings
        self.sandbox = sandbox
        self.llm = llm
        self.metrics = metrics or Metrics()
        self.loop_lag = LoopLag()
        self.deduper = deduper or RetryDeduper()
        self.update_interval = update_interval
        self.client = client
        self.cards = card_index or CardIndex()
        self.sweep_interval = sweep_interval
        self.group_members = TtlCache(group_cache_ttl)
        self.preview_limit = preview_limit
        self.inflight = inflight or InFlight(lease=max(3 * sweep_interval, 10.0))
        self.claims = claims or RetryDeduper(ttl=REMEDIATION_CLAIM_TTL, namespace="claim")
        self.incident_headers = incident_headers or IncidentHeaders()
        # Which thread and request each message's buttons (and each modal) belong to.
        self.origins = Origins(lambda: self.service.approvals)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._sweeper_stop = asyncio.Event()
        # At most `max_runs` request runs drive the graph at once; the rest wait their turn
        # (their status message says "queued"). Acks never wait on this.
        self.max_runs = max_runs
        self.queue_grace = queue_grace
        self._run_slots = asyncio.Semaphore(max_runs)
        self._queued = 0
        self._session: Any = None  # the aiohttp session this runtime opened for `client`
        self._redis = redis

    @property
    def service(self) -> DevOpsService:
        if isinstance(self._service, DevOpsService):
            return self._service
        return self._service()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run `coro` after the ack; keep a reference so the task is not garbage-collected."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error(
                "slack.task_failed", task=task.get_name(), error=repr(exc)[:500], exc_info=exc
            )

    @property
    def busy(self) -> int:
        return len(self._tasks)

    @property
    def queued(self) -> int:
        """Request runs waiting for a free slot."""
        return self._queued

    async def open_session(self) -> None:
        """Give the Web API client one shared aiohttp session (idempotent).

        Without one, slack_sdk opens and closes a session (and a connection, and against
        slack.com a TLS handshake) for every call. Bolt's per-request clients copy
        `client.session`, so they share it too. Call inside the running loop.
        """
        client = self.client
        if client is None or client.session is not None:
            return
        import aiohttp

        self._session = aiohttp.ClientSession()
        client.session = self._session

    async def close_session(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        if self.client is not None and self.client.session is session:
            self.client.session = None
        await session.close()

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for background work to finish (shutdown, tests)."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - time.monotonic()))

    async def aclose(self) -> None:
        await self.stop_sweeper()
        await self.drain()
        for task in list(self._tasks):
            task.cancel()
        await self.deduper.aclose()
        await self.claims.aclose()
        await self.incident_headers.aclose()
        await self.cards.aclose()
        await self.inflight.aclose()
        if self._redis is not None:
            await self._redis.aclose()
        await self.close_session()

    # -- expiry sweeper ------------------------------------------------------------------

    def start_sweeper(self) -> None:
        """Close expired approvals now and every `sweep_interval` seconds (idempotent);
        also start measuring the event loop's lag."""
        self.loop_lag.start()
        if self._sweeper is None or self._sweeper.done():
            stop = asyncio.Event()
            self._sweeper = asyncio.create_task(self._sweep_forever(stop), name="expiry-sweeper")
            self._sweeper_stop = stop

    async def stop_sweeper(self) -> None:
        await self.loop_lag.stop()
        task, self._sweeper = self._sweeper, None
        if task is None:
            return
        # The flag ends the loop even when a library deep inside a sweep swallows the
        # cancellation (Python 3.11's wait_for can lose one that races a completion).
        self._sweeper_stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _sweep_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep sweeping: the next round may succeed
                log.warning("slack.sweep_failed", error=_short(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.sweep_interval)

    async def sweep_once(self) -> list[str]:
        """Expire every pending approval past its TTL; the thread ids closed by this call.

        Also: runs left behind by a replica that died mid-run are reported in their thread.
        """
        await self.inflight.heartbeat()
        for thread_id, entry in await self.inflight.orphans():
            try:
                await self._recover(thread_id, entry)
            except Exception as exc:
                log.warning("slack.recover_failed", thread_id=thread_id, error=_short(exc))
        closed = []
        for summary in await self.service.pending():
            if summary.get("expired") and await self._expire_one(summary["thread_id"]):
                closed.append(summary["thread_id"])
        return closed

    async def _recover(self, thread_id: str, entry: dict[str, Any]) -> None:
        """A run whose bot died while driving it: say where it stands, in its thread."""
        client, parsed = self.client, parse_thread_id(thread_id)
        if client is None or parsed is None:
            return
        channel = str(entry.get("channel") or parsed[1])
        status_ts = str(entry.get("status_ts") or "")
        service = self.service
        snapshot = await service.graph.aget_state({"configurable": {"thread_id": thread_id}})
        log.warning("slack.recovering_run", thread_id=thread_id, next=list(snapshot.next or ()))
        if not snapshot.interrupts and not _saved_since(snapshot, entry):
            # A new request is checkpointed once, when it pauses or reaches its apply (see
            # DevOpsService._drive): this one died before that, having only read.
            text = messages.lost_run()
            await client.chat_postMessage(channel=channel, thread_ts=parsed[2], text=text)
            if status_ts:
                header = entry.get("header") or messages.status_header(entry.get("user"), "")
                await self._update(client, channel, status_ts, None, f"{header}\n{text}")
            return
        report = await service.report(thread_id)
        if snapshot.interrupts:  # paused for approval: make sure a card exists
            if await self.cards.get(thread_id) is None and not entry.get("card_ts"):
                await self._post_card(client, channel, parsed[2], thread_id, report, status_ts)
            return
        if tuple(snapshot.next) == (ROLLOUT_NODE,):  # applied; its rollout was being followed
            await client.chat_postMessage(
                channel=channel, thread_ts=parsed[2], text=messages.following_rollout_again()
            )
            self.spawn(
                self._follow_rollout(thread_id, channel, status_ts, entry),
                name=f"follow-rollout-{thread_id}",
            )
            return
        if snapshot.next:  # stopped between steps
            text = messages.interrupted_run(list(snapshot.next))
            await client.chat_postMessage(channel=channel, thread_ts=parsed[2], text=text)
            if status_ts:
                header = _status_header_of(
                    snapshot.values, (report.approval or {}).get("requester") or entry.get("user")
                )
                await self._update(client, channel, status_ts, None, f"{header}\n{text}")
            return
        # It finished, but the bot died before saying so.
        ref = await self.cards.get(thread_id)
        card_ts = ref.card_ts if ref else entry.get("card_ts")
        await self._closed(
            client,
            channel=channel,
            card_ts=card_ts if report.approval else None,
            status_ts=status_ts or (ref.status_ts if ref else None),
            thread_id=thread_id,
            report=report,
        )

    async def _follow_rollout(
        self, thread_id: str, channel: str, status_ts: str, entry: dict[str, Any]
    ) -> None:
        """Run the rollout step of a recovered thread, then close it as a vote would."""
        client = self.client
        assert client is not None
        async with self._driving(thread_id, channel=channel, status_ts=status_ts):
            try:
                report = await self.service.follow_rollout(thread_id)
            except (InputError, RefusedError) as exc:  # another replica got there first
                log.info("slack.follow_rollout_skipped", reason=str(exc))
                return
            ref = await self.cards.get(thread_id)
            await self._closed(
                client,
                channel=channel,
                card_ts=(ref.card_ts if ref else entry.get("card_ts")) if report.approval else None,
                status_ts=status_ts or (ref.status_ts if ref else None),
                thread_id=thread_id,
                report=report,
            )

    async def _expire_one(self, thread_id: str) -> bool:
        structlog.contextvars.bind_contextvars(thread_id=thread_id)
        try:
            report = await self.service.expire(thread_id)
        except (InputError, RefusedError) as exc:  # a click or another replica got there first
            log.info("slack.expire_skipped", reason=str(exc))
            return False
        log.info("slack.expired", status=report.status)
        self.metrics.inc("devops_bot_approval_decisions_total", outcome=report.status)
        client = self.client
        if client is None:
            return True
        ref = await self.cards.get(thread_id)
        parsed = parse_thread_id(thread_id)
        if ref is None and parsed is None:
            return True  # not a Slack thread (a CLI run): nothing to show
        channel = ref.channel if ref else parsed[1]  # type: ignore[index]
        await self._closed(
            client,
            channel=channel,
            card_ts=ref.card_ts if ref else None,
            status_ts=ref.status_ts if ref else None,
            thread_id=thread_id,
            report=report,
        )
        return True

    # -- a request: classify, status message, run, card -------------------------------------

    async def handle_request(
        self, client: AsyncWebClient, req: SlackRequest, say_private: Say
    ) -> None:
        """One request, run in one of `max_runs` slots. Whatever goes wrong before its run
        starts (classifying, reading the thread), the asker is told, never left waiting."""
        try:
            await self._in_a_slot(lambda slot: self._handle_request(client, req, say_private, slot))
        except Exception as exc:
            log.exception("slack.request_failed")
            with contextlib.suppress(Exception):
                await say_private(messages.failed(_short(exc)))

    async def _in_a_slot(self, work: Callable[[_Slot], Awaitable[None]]) -> None:
        """Do `work` with a place in line for one of the `max_runs` run slots.

        A run first waits up to `queue_grace` seconds for a slot without doing anything
        else, so a burst costs the loop nothing while it is being acked. One that is still
        waiting then posts its status message as "queued" and keeps its place in line.
        """
        slot = _Slot(self._run_slots, on_held=self._dequeued)
        self._queued += 1
        try:
            await slot.wait(self.queue_grace)
            await work(slot)
        finally:
            if not slot.was_held:
                self._queued -= 1
            slot.release()

    def _dequeued(self) -> None:
        self._queued -= 1

    async def _handle_request(
        self, client: AsyncWebClient, req: SlackRequest, say_private: Say, slot: _Slot
    ) -> None:
        structlog.contextvars.bind_contextvars(team=req.team, channel=req.channel, user=req.user)
        request = await classify(req.text, llm=self.llm)
        if request.task_type is None:
            if req.quiet_if_unclear:
                log.info("slack.reply_ignored", reason="not a request")
                return
            await say_private(messages.not_understood(req.text, request.hint))
            return
        structlog.contextvars.bind_contextvars(task_type=request.task_type)
        context = {**request.context, "sandbox": self.sandbox}
        previous = None
        if req.thread_ts is not None:
            thread_id = thread_id_for(req.team, req.channel, req.thread_ts)
            current = await self._report_or_none(thread_id)
            if current is not None:
                previous = current.values
                if current.status == "awaiting_approval":
                    await client.chat_postMessage(
                        channel=req.channel,
                        thread_ts=req.thread_ts,
                        text=messages.already_pending(current.summary),
                    )
                    return
                context = _inherit(previous.get("context") or {}, context)
        incident = self._incident_seed(request.task_type, context, previous)
        if incident is not None:
            context["incident_id"] = incident["id"]  # the id the header shows from the start

        async def run(thread_id: str, on_progress: Progress) -> RunReport:
            return await self.service.start(
                task_type=request.task_type,  # type: ignore[arg-type]
                context=context,
                text=request.text or req.text,
                requester=req.user,
                thread_id=thread_id,
                on_progress=on_progress,
            )

        job = _Job(messages.status_header(req.user, req.text), run, incident)
        await self._launch(client, req, job, say_private, slot)

    async def _launch(
        self, client: AsyncWebClient, req: SlackRequest, job: _Job, say_private: Say, slot: _Slot
    ) -> None:
        """Post the status message (the thread root for a new conversation), wait for the
        slot if need be, then drive the run while the thread is marked in flight."""
        title = messages.incident_header(job.incident) if job.incident else None
        if slot.held:
            first = f"{job.header} — routing…"
        else:
            first = f"{job.header} — queued ({self._queued} waiting, {self.max_runs} running)…"
        try:
            posted = await client.chat_postMessage(
                channel=req.channel, thread_ts=req.thread_ts, text=results.status_text(title, first)
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
            log.warning("slack.cannot_post", error=error)
            await say_private(messages.cannot_post(error))
            return
        status_ts = posted["ts"]
        # A new conversation: the status message is the thread root.
        root_ts = req.thread_ts or status_ts
        thread_id = thread_id_for(req.team, req.channel, root_ts)
        structlog.contextvars.bind_contextvars(thread_id=thread_id)
        if not slot.held:
            await slot.wait(None)
            text = results.status_text(title, f"{job.header} — routing…")
            await self._update(client, req.channel, status_ts, None, text)
        async with self._driving(
            thread_id, channel=req.channel, status_ts=status_ts, user=req.user, header=job.header
        ):
            status = _StatusMessage(
                client, req.channel, status_ts, job.header, self.update_interval, title=title
            )
            await self._run_request(client, job, status, thread_id, root_ts)

    @contextlib.asynccontextmanager
    async def _driving(self, thread_id: str, **info: Any) -> AsyncIterator[None]:
        """Mark the thread in flight while this replica drives it (see bot.stores.InFlight)."""
        await self.inflight.begin(thread_id, **info)
        try:
            yield
        except asyncio.CancelledError:
            raise  # stopped mid-run: the entry stays for the next instance to report
        except BaseException:
            await self.inflight.end(thread_id)
            raise
        await self.inflight.end(thread_id)

    async def _run_request(
        self,
        client: AsyncWebClient,
        job: _Job,
        status: _StatusMessage,
        thread_id: str,
        root_ts: str,
    ) -> None:
        """Run the job, then: status message, approval card, results, incident header."""
        try:
            report = await job.run(thread_id, status.on_progress)
        except InputError as exc:
            await status.finish(messages.already_pending(str(exc)))
            return
        except Exception as exc:
            self.metrics.inc("devops_bot_runs_started_total")
            log.exception("slack.run_failed")
            await status.finish(messages.failed(_short(exc)))
            return
        self.metrics.inc("devops_bot_runs_started_total")
        log.info("slack.run_finished", status=report.status)
        incident = _incident_in(report.values)
        if job.incident is not None:  # an investigation: its status message is a header
            await self._finish_incident_status(thread_id, status, job.incident, incident, report)
        else:
            await status.finish(messages.result_line(report))
        if report.status == "awaiting_approval":
            await self._post_card(client, status.channel, root_ts, thread_id, report, status.ts)
        findings_ts = await results.publish(
            client,
            channel=status.channel,
            thread_ts=root_ts,
            thread_id=thread_id,
            report=report,
            incident=incident,
            sandbox=self.sandbox,
        )
        if findings_ts:  # its remediation and postmortem buttons act on this thread only
            await self.origins.message_posted(
                status.channel, findings_ts, Origin("incident", thread_id)
            )
        await self._refresh_incident_header(client, thread_id, incident, skip_ts=status.ts)

    async def _post_card(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        thread_id: str,
        report: RunReport,
        status_ts: str,
    ) -> None:
        """Post the approval card and remember it: where it is (for the sweeper) and which
        thread and request its buttons act on (clicks from any other message are refused)."""
        card = await client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=f"Approval required: {report.summary}",
            blocks=self._card(report, status_ts),
        )
        approval_id = str((report.approval or {}).get("id") or "")
        await self.origins.message_posted(
            channel, card["ts"], Origin("approval", thread_id, approval_id)
        )
        await self.cards.put(thread_id, CardRef(channel, card["ts"], status_ts))

    async def _finish_incident_status(
        self,
        thread_id: str,
        status: _StatusMessage,
        seed: dict[str, Any],
        incident: dict[str, Any] | None,
        report: RunReport,
    ) -> None:
        """The final state in the header line; the thread's first one becomes its header."""
        if incident is None:  # the investigation found nothing to work with
            status.title = messages.incident_header({**seed, "state": "not investigated"})
            await status.finish(messages.result_line(report))
            return
        status.title = messages.incident_header(incident)
        await status.finish(messages.incident_footer(incident))
        ref = await self.incident_headers.get(thread_id)
        if ref is None or ref.ts == status.ts:
            await self.incident_headers.put(
                thread_id, HeaderRef(status.channel, status.ts, status.body())
            )

    async def _refresh_incident_header(
        self,
        client: AsyncWebClient,
        thread_id: str,
        incident: dict[str, Any] | None,
        *,
        skip_ts: str | None = None,
    ) -> None:
        """Bring the thread's incident header up to date with its record (e.g. after a
        remediation was applied: "mitigation applied")."""
        if not incident:
            return
        ref = await self.incident_headers.get(thread_id)
        if ref is not None and ref.ts != skip_ts:
            await results.update_header(client, ref, incident)

    async def _incident_of(self, thread_id: str) -> dict[str, Any] | None:
        return _incident_in(await self.service.state_of(thread_id))

    async def _report_or_none(self, thread_id: str) -> RunReport | None:
        """The thread's report, or None for a thread the graph does not know."""
        try:
            return await self.service.report(thread_id)
        except InputError:
            return None

    def _incident_seed(
        self, task_type: str, context: dict[str, Any], previous: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        return results.incident_seed(task_type, context, previous, self.service.deps.clock())

    # -- incident buttons: remediation steps, postmortem draft -------------------------------

    async def remediate(
        self,
        client: AsyncWebClient,
        *,
        user: str,
        channel: str,
        message_ts: str,
        value: dict[str, str],
        team: str = "",
    ) -> None:
        """Run remediation `value["step"]` of the thread's incident as `user`'s request.

        Like a typed request in that thread: a status message, a run slot, the thread
        marked in flight, an approval card when the policy wants one. A click that
        cannot run (unknown thread, step not offered, an approval pending, a second click
        on the same button) is answered privately and starts nothing.
        """
        thread_id, step_id = value["thread_id"], value["step"]
        structlog.contextvars.bind_contextvars(
            thread_id=thread_id, channel=channel, user=user, step=step_id
        )
        if not await self._from_its_message(
            client, "incident", user=user, team=team, channel=channel, ts=message_ts, value=value
        ):
            return
        tell = self._teller(client, channel, user, thread_id)
        parsed = parse_thread_id(thread_id)
        values = await self.service.state_of(thread_id) if parsed else None
        if not values or parsed is None:
            await tell(messages.unknown_thread(thread_id))
            return
        record = values.get("incident") or {}
        step = (record.get("remediations") or {}).get(step_id)
        # Not offered (any more), or a later investigation reused the id for another step.
        signature = blocks.step_signature(step) if step is not None else None
        if signature is None or value.get("sig", signature) != signature:
            await tell(messages.remediation_stale(step_id, record or None))
            return
        current = await self.service.report(thread_id)
        if current.status == "awaiting_approval":
            await tell(messages.remediation_blocked(current.summary))
            return
        if not await self.claims.first_time(f"remediate:{thread_id}:{step_id}:{message_ts}"):
            log.info("slack.remediation_duplicate")
            await tell(messages.remediation_running(step))
            return

        async def run(thread_id: str, on_progress: Progress) -> RunReport:
            return await self.service.remediate(thread_id, step_id, user, on_progress=on_progress)

        team, thread_channel, root_ts = parsed
        req = SlackRequest(team, thread_channel, user, str(step["command"]), thread_ts=root_ts)
        note = messages.remediation_note(step_id, record.get("id"))
        seed = self._incident_seed(step["task_type"], step.get("context") or {}, values)
        job = _Job(messages.status_header(user, req.text, note), run, seed)
        await self._in_a_slot(lambda slot: self._launch(client, req, job, tell, slot))

    async def postmortem(
        self,
        client: AsyncWebClient,
        *,
        user: str,
        channel: str,
        value: dict[str, str],
        message_ts: str = "",
        team: str = "",
    ) -> None:
        """Upload the thread's postmortem draft, rendered from its incident record."""
        from workflow.incident import postmortem_markdown

        if not await self._from_its_message(
            client, "incident", user=user, team=team, channel=channel, ts=message_ts, value=value
        ):
            return
        thread_id = value["thread_id"]
        tell = self._teller(client, channel, user, thread_id)
        parsed = parse_thread_id(thread_id)
        incident = await self._incident_of(thread_id) if parsed else None
        if incident is None or parsed is None:
            await tell(messages.no_incident(thread_id))
            return
        await results.upload_postmortem(
            client,
            channel=parsed[1],
            thread_ts=parsed[2],
            incident_id=str(incident.get("id") or "incident"),
            markdown=postmortem_markdown(incident),
            user=user,
        )

    async def handle_thread_reply(
        self, client: AsyncWebClient, req: SlackRequest, say_private: Say
    ) -> None:
        """A plain reply in a thread: continue it only when it is one of our graph threads."""
        if req.thread_ts is None:
            return
        thread_id = thread_id_for(req.team, req.channel, req.thread_ts)
        if not await self.service.state_of(thread_id):
            return  # someone else's thread: not ours to answer
        await self.handle_request(client, req, say_private)

    # -- a click: stale check, then the service decides -------------------------------------

    async def vote(
        self,
        client: AsyncWebClient,
        *,
        user: str,
        channel: str,
        card_ts: str,
        value: dict[str, str],
        decision: str,
        reason: str | None = None,
        team: str = "",
    ) -> None:
        """One Approve click or reject-modal submission.

        The card only ever shows a decision once the service has taken it (under the thread
        lock, after the SET NX claim): a click that loses sees nothing on the card, and is
        told privately what happened, at once, even while the winner's apply runs.
        """
        thread_id = value["thread_id"]
        structlog.contextvars.bind_contextvars(
            thread_id=thread_id, channel=channel, user=user, decision=decision
        )
        if not await self._from_its_message(
            client, "approval", user=user, team=team, channel=channel, ts=card_ts, value=value
        ):
            return
        tell = self._teller(client, channel, user, thread_id)
        current = await self._fresh(thread_id, value, tell)
        if current is None:
            return
        status_ts = value.get("status_ts", "")
        groups = await self.groups_of(client, user, current.approval or {})

        async def on_progress(node: str, update: dict[str, Any]) -> None:
            outcome = update.get("outcome") or {}
            if node == APPLY_NODE and outcome.get("stage") == "rolling_out":
                # The change is in: say so now; the rollout's end is said when the run ends.
                parsed = parse_thread_id(thread_id)
                text = messages.applied_rolling_out(outcome)
                await results.say(client, channel, parsed[2] if parsed else None, text)
                return
            approval = update.get("approval") or {}
            if node == "human_approval" and approval.get("status") == "approved":
                # Decided, by this vote: take the buttons away for everyone before the apply.
                await self._show_applying(client, channel, card_ts, approval, thread_id)

        async with self._driving(
            thread_id, channel=channel, status_ts=status_ts, card_ts=card_ts, user=user
        ):
            try:
                report = await self._cast(
                    thread_id, user, decision, reason, groups, current, on_progress
                )
            except DecidedError as exc:
                self.metrics.inc("devops_bot_votes_refused_total")
                log.info("slack.vote_too_late", decided_by=exc.vote.get("user"))
                await tell(messages.already_decided(exc.vote))
                return
            except (RefusedError, InputError) as exc:
                self.metrics.inc("devops_bot_votes_refused_total")
                log.info("slack.vote_refused", reason=str(exc))
                await tell(messages.refused(str(exc)))
                return
            except LockTimeoutError:
                log.warning("slack.vote_lock_timeout")
                await tell(messages.thread_busy())
                return
            except Exception as exc:
                log.exception("slack.vote_failed")
                await tell(messages.failed(_short(exc)))
                return
            log.info("slack.vote_recorded", status=report.status)
            if report.status == "awaiting_approval":  # quorum not reached: show the votes so far
                await self._show_open_card(client, channel, card_ts, report, status_ts)
                await self.cards.put(thread_id, CardRef(channel, card_ts, status_ts))
                return
            self.metrics.inc("devops_bot_approval_decisions_total", outcome=report.status)
            await self._closed(
                client,
                channel=channel,
                card_ts=card_ts,
                status_ts=value.get("status_ts"),
                thread_id=thread_id,
                report=report,
            )

    async def _cast(
        self,
        thread_id: str,
        user: str,
        decision: str,
        reason: str | None,
        groups: frozenset[str],
        current: RunReport,
        on_progress: Progress,
    ) -> RunReport:
        """The vote, on the request as the card showed it (`current`)."""
        seen = current.approval or {}
        if decision == "approve":
            return await self.service.approve(
                thread_id,
                user,
                groups=groups,
                on_progress=on_progress,
                seen=seen,
                interrupt_id=current.interrupt_id,
            )
        return await self.service.reject(
            thread_id,
            user,
            reason or "",
            groups=groups,
            on_progress=on_progress,
            seen=seen,
            interrupt_id=current.interrupt_id,
        )

    async def _show_open_card(
        self, client: AsyncWebClient, channel: str, card_ts: str, report: Any, status_ts: str
    ) -> None:
        """The card as it stands while the request is still open (votes so far, buttons)."""
        await self._update(
            client,
            channel,
            card_ts,
            self._card(report, status_ts),
            f"Approval required: {report.summary}",
        )

    async def _show_applying(
        self,
        client: AsyncWebClient,
        channel: str,
        card_ts: str,
        approval: dict[str, Any],
        thread_id: str,
    ) -> None:
        """The card closed as approved, buttons gone, while the apply runs."""
        await self._update(
            client,
            channel,
            card_ts,
            blocks.closed_card(approval, "approved", thread_id, note="Applying…"),
            messages.decision_line(approval, "approved"),
        )

    async def _closed(
        self,
        client: AsyncWebClient,
        *,
        channel: str,
        card_ts: str | None,
        status_ts: str | None,
        thread_id: str,
        report: Any,
    ) -> None:
        """A decision was taken: close the card, say the result in the thread, update status."""
        approval = report.approval or {}
        if card_ts:
            await self._update(
                client,
                channel,
                card_ts,
                blocks.closed_card(approval, report.status, thread_id),
                messages.decision_line(approval, report.status),
            )
        await self.cards.remove(thread_id)
        parsed = parse_thread_id(thread_id)
        root_ts = parsed[2] if parsed else None
        result = messages.result_line(report)
        await results.say(client, channel, root_ts, result)
        values = report.values or await self.service.state_of(thread_id) or {}
        if status_ts:
            header = _status_header_of(values, approval.get("requester"))
            await self._update(client, channel, status_ts, None, f"{header}\n{result}")
        incident = values.get("incident")
        await self._refresh_incident_header(client, thread_id, incident, skip_ts=status_ts)

    def _card(self, report: Any, status_ts: str) -> list[dict[str, Any]]:
        if self.preview_limit is None:
            return blocks.approval_card(report, status_ts=status_ts)
        return blocks.approval_card(report, status_ts=status_ts, preview_limit=self.preview_limit)

    async def groups_of(
        self, client: AsyncWebClient, user: str, request: dict[str, Any]
    ) -> frozenset[str]:
        """The policy's approver groups (S…) for this request's environment that `user` is in."""
        try:
            env = self.service.deps.policy.for_environment(request.get("environment"))
            wanted = list(env.approvers.groups)
        except Exception:
            return frozenset()
        found = set()
        for group in wanted:
            members = await self.group_members.get(group, lambda g=group: _members(client, g))
            if members and user in members:
                found.add(group)
        return frozenset(found)

    async def full_preview(
        self,
        client: AsyncWebClient,
        *,
        user: str,
        channel: str,
        value: dict[str, str],
        card_ts: str = "",
        team: str = "",
    ) -> None:
        """The whole dry-run preview, privately to whoever asked, in the card's thread: only
        from the card the bot posted for that request (Slack shows a card to those who can
        see its channel; a button value copied elsewhere discloses nothing)."""
        if not await self._from_its_message(
            client, "approval", user=user, team=team, channel=channel, ts=card_ts, value=value
        ):
            return
        thread_id = value["thread_id"]
        tell = self._teller(client, channel, user, thread_id)
        try:
            report = await self.service.report(thread_id)
        except InputError:
            await tell(messages.unknown_thread(thread_id))
            return
        preview = (report.approval or {}).get("preview") or ""
        if not preview.strip():
            await tell(messages.no_preview())
            return
        chunks = blocks.preview_chunks(preview)
        for n, chunk in enumerate(chunks, 1):
            await tell(messages.full_preview(chunk, n, len(chunks)))

    async def open_reject(
        self,
        client: AsyncWebClient,
        *,
        user: str,
        channel: str,
        card_ts: str,
        value: dict[str, str],
        trigger_id: str,
        team: str = "",
    ) -> None:
        """Ask for a reason, but only someone who may reject a request that is still pending."""
        if not await self._from_its_message(
            client, "approval", user=user, team=team, channel=channel, ts=card_ts, value=value
        ):
            return
        thread_id = value["thread_id"]
        tell = self._teller(client, channel, user, thread_id)
        current = await self._fresh(thread_id, value, tell)
        if current is None:
            return
        try:
            verdict = await self.service.check_vote(
                thread_id,
                user,
                "reject",
                groups=await self.groups_of(client, user, current.approval or {}),
            )
        except InputError as exc:
            await tell(messages.refused(str(exc)))
            return
        if not verdict.allowed:
            self.metrics.inc("devops_bot_votes_refused_total")
            await tell(messages.refused(verdict.reason))
            return
        metadata = json.dumps({**value, "channel": channel, "card_ts": card_ts})
        opened = await client.views_open(
            trigger_id=trigger_id, view=blocks.reject_modal(current.approval or {}, metadata)
        )
        view_id = str((opened.get("view") or {}).get("id") or "")
        if view_id:  # its submission counts only from `user`, for this card and request
            origin = Origin(
                "modal", thread_id, value.get("approval_id", ""), user, channel, card_ts
            )
            await self.origins.modal_opened(view_id, origin)

    async def reject_submitted(
        self,
        client: AsyncWebClient,
        *,
        user: str,
        view_id: str,
        value: dict[str, str],
        reason: str,
        team: str = "",
    ) -> None:
        """The reject modal came back: only a modal the bot opened for this user and request
        is a vote, on the card it was opened from."""
        origin = await self.origins.of_modal(view_id) if view_id else None
        if (
            origin is None
            or origin.kind != "modal"
            or origin.user != user
            or origin.thread_id != value.get("thread_id")
            or origin.approval_id != value.get("approval_id", "")
        ):
            where = f"modal {view_id or '(none)'}"
            channel = origin.channel if origin else ""
            await self._refuse_foreign(client, value, user, channel=channel, where=where)
            return
        await self.vote(
            client,
            user=user,
            channel=origin.channel,
            card_ts=origin.card_ts,
            value=value,
            decision="reject",
            reason=reason,
            team=team,
        )

    # -- helpers --------------------------------------------------------------------------

    async def _from_its_message(
        self,
        client: AsyncWebClient,
        kind: str,
        *,
        user: str,
        team: str,
        channel: str,
        ts: str,
        value: dict[str, str],
    ) -> bool:
        """Whether the clicked message (channel, ts) is one the bot posted with `kind` buttons
        for the thread (and, on an approval card, the request) the button names. Otherwise
        the clicker is told so privately, the refusal is audited, and nothing changes."""
        thread_id = value.get("thread_id", "")
        parsed = parse_thread_id(thread_id)
        origin = await self.origins.of_message(channel, ts) if channel and ts else None
        if origin is None and kind == "approval":
            # A card posted before origins were recorded: the open-card index vouches for it.
            ref = await self.cards.get(thread_id) if parsed else None
            if ref is not None and (ref.channel, ref.card_ts) == (channel, ts):
                origin = Origin(kind, thread_id, value.get("approval_id", ""))
        if (
            origin is not None
            and parsed is not None
            and origin.kind == kind
            and origin.thread_id == thread_id
            and (kind != "approval" or origin.approval_id == value.get("approval_id", ""))
            and (not team or parsed[0] == team)
        ):
            return True
        await self._refuse_foreign(client, value, user, channel=channel, where=f"{channel}/{ts}")
        return False

    async def _refuse_foreign(
        self, client: AsyncWebClient, value: dict[str, str], user: str, *, channel: str, where: str
    ) -> None:
        self.metrics.inc("devops_bot_clicks_foreign_total")
        thread_id = str(value.get("thread_id") or "")
        log.warning("slack.click_not_of_its_request", where=where, named=thread_id[:200])
        await self.service.record_refused_click(
            thread_id[:200],
            user=user,
            detail=f"button or modal from {where} does not belong to this request",
        )
        if channel:  # privately, in the channel of the click (never in the thread it named)
            await self._teller(client, channel, user, "")(messages.not_this_request())

    async def _fresh(self, thread_id: str, value: dict[str, str], tell: Say) -> Any | None:
        """The pending report if the card's interrupt is the one still pending, else None."""
        try:
            current = await self.service.report(thread_id)
        except InputError:
            self.metrics.inc("devops_bot_votes_refused_total")
            await tell(messages.unknown_thread(thread_id))
            return None
        if current.status != "awaiting_approval" or current.interrupt_id != value["interrupt_id"]:
            self.metrics.inc("devops_bot_votes_refused_total")
            await tell(messages.stale_card(current))
            return None
        return current

    def _teller(self, client: AsyncWebClient, channel: str, user: str, thread_id: str) -> Say:
        parsed = parse_thread_id(thread_id)

        async def tell(text: str) -> None:
            try:
                await client.chat_postEphemeral(
                    channel=channel,
                    user=user,
                    text=text,
                    thread_ts=parsed[2] if parsed else None,
                )
            except SlackApiError as exc:
                log.warning("slack.ephemeral_failed", error=exc.response.get("error"))

        return tell

    async def _update(
        self,
        client: AsyncWebClient,
        channel: str,
        ts: str,
        block_list: list[dict[str, Any]] | None,
        text: str,
    ) -> None:
        try:
            if block_list is None:
                await client.chat_update(channel=channel, ts=ts, text=text)
            else:
                await client.chat_update(channel=channel, ts=ts, text=text, blocks=block_list)
        except SlackApiError as exc:
            log.warning("slack.update_failed", error=exc.response.get("error"))


class _Slot:
    """A place in line for one of the runtime's run slots; keeps its place across waits."""

    def __init__(self, semaphore: asyncio.Semaphore, on_held: Callable[[], None]) -> None:
        self._semaphore = semaphore
        self._on_held = on_held
        self._acquire: asyncio.Future[Any] | None = None
        self.held = False
        self.was_held = False

    async def wait(self, timeout: float | None) -> bool:
        """True once the slot is held; False if `timeout` passed first (still in line)."""
        if self.held:
            return True
        if self._acquire is None:
            self._acquire = asyncio.ensure_future(self._semaphore.acquire())
        await asyncio.wait({self._acquire}, timeout=timeout)
        if self._acquire.done():
            self._acquire.result()
            self.held = self.was_held = True
            self._on_held()
        return self.held

    def release(self) -> None:
        """Give the slot back, or leave the line (idempotent)."""
        acquire, self._acquire = self._acquire, None
        if self.held:
            self.held = False
            self._semaphore.release()
        elif acquire is not None:
            if acquire.done() and not acquire.cancelled():
                self._semaphore.release()  # acquired just as we left the line: hand it back
            else:
                acquire.cancel()


class _StatusMessage:
    """The message that follows a run. Updates are coalesced: at most one per interval.

    Text: an optional title line (an incident's header), who asked what, one line per
    routing step, agent result, reflection and piece of evidence, then a footer.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        ts: str,
        header: str,
        interval: float,
        *,
        title: str | None = None,
    ) -> None:
        self.client, self.channel, self.ts, self.header = client, channel, ts, header
        self.title = title
        self.interval = interval
        self.lines: list[str] = []
        self._last = time.monotonic()

    async def on_progress(self, node: str, update: dict[str, Any]) -> None:
        if node == PROGRESS_NODE and update.get("evidence"):
            self.lines.append(
                messages.evidence_line(str(update["evidence"]), str(update.get("summary", "")))
            )
        for step in update.get("routing_trace") or []:
            self.lines.append(messages.routing_line(step))
        for agent, result in (update.get("subagent_results") or {}).items():
            summary = str(result.get("summary") or "").split("\n", 1)[0]
            self.lines.append(f"• {agent}: {result.get('status')}: {messages.escape(summary)}")
        for agent, outcome in (update.get("reflection_outcomes") or {}).items():
            self.lines.append(f"• reflection on {agent}: quality {outcome.get('quality')}")
        if node == APPLY_NODE and (update.get("outcome") or {}).get("stage") == "rolling_out":
            summary = messages.escape(str(update["outcome"].get("summary", "")))
            self.lines.append(f"• apply: {summary}")
        if time.monotonic() - self._last >= self.interval:
            await self._write("_working…_")

    def body(self) -> str:
        """Everything under the title line but the footer."""
        return "\n".join([self.header, *self.lines[-20:]])

    async def finish(self, footer: str) -> None:
        await self._write(footer)

    async def _write(self, footer: str) -> None:
        self._last = time.monotonic()
        text = results.status_text(self.title, self.body(), footer)
        try:
            await self.client.chat_update(channel=self.channel, ts=self.ts, text=text)
        except SlackApiError as exc:
            log.warning("slack.update_failed", error=exc.response.get("error"))


def _status_header_of(values: dict[str, Any], user: str | None) -> str:
    """Who asked the thread's latest request (from its state), for its status message."""
    asked = "(request)"
    for message in reversed(values.get("messages") or []):
        if getattr(message, "type", None) == "human":
            asked = str(message.content)
            break
    context = values.get("context") or {}
    note = None
    if context.get("remediation_of"):
        steps = ((values.get("incident") or {}).get("remediations") or {}).values()
        step = next((s["id"] for s in steps if s.get("command") == asked), "")
        note = messages.remediation_note(step or "step", context["remediation_of"])
    return messages.status_header(user, asked, note)


def _incident_in(values: dict[str, Any] | None) -> dict[str, Any] | None:
    incident = (values or {}).get("incident")
    return incident if isinstance(incident, dict) else None


def _saved_since(snapshot: Any, entry: dict[str, Any]) -> bool:
    """Whether the thread's checkpoint was written after the in-flight run began."""
    if not snapshot.values or not snapshot.created_at:
        return False
    started = entry.get("started_at")
    if not isinstance(started, int | float):
        return True  # an entry without a start time: trust the checkpoint
    saved = datetime.fromisoformat(snapshot.created_at).timestamp()
    return saved >= started


def _inherit(previous: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    inherited = {k: previous[k] for k in _INHERITED if k in previous and k not in context}
    return {**inherited, **context}


async def _members(client: AsyncWebClient, group: str) -> frozenset[str] | None:
    """Members of a Slack user group (usergroups.users.list); None when Slack cannot say."""
    try:
        response = await client.usergroups_users_list(usergroup=group)
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        error = data.get("error") or f"HTTP {exc.response.status_code}"
        log.warning("slack.usergroup_lookup_failed", group=group, error=error)
        return None
    except Exception as exc:  # network trouble: nobody is a member (fail closed), retry later
        log.warning("slack.usergroup_lookup_failed", group=group, error=type(exc).__name__)
        return None
    return frozenset(str(u) for u in response.get("users") or [])


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


# -- the app ------------------------------------------------------------------------------------


def build_app(
    service: ServiceSource,
    settings: Settings,
    *,
    client: AsyncWebClient | None = None,
    sandbox: bool | None = None,
    llm: Any = None,
    metrics: Metrics | None = None,
    deduper: RetryDeduper | None = None,
    update_interval: float = 1.0,
    card_index: CardIndex | None = None,
    key_prefix: str = "devops-bot",
    sweep_interval: float | None = None,
    group_cache_ttl: float = 60.0,
    max_runs: int | None = None,
    request_verification: bool = True,
) -> AsyncApp:
    """An AsyncApp serving /devops, approval clicks, the reject modal and app mentions.

    `service` is a DevOpsService or a zero-argument callable returning one (resolved per
    request, so a server can open the service after building the app). The expiry sweeper
    runs every `sweep_interval` seconds (default `DEVOPS_BOT_SWEEP_INTERVAL`, else 30) once
    the server calls `runtime_of(app).start_sweeper()`.

    At most `max_runs` request runs (default `DEVOPS_BOT_MAX_RUNS`, else 8) drive the graph
    at once; later ones are acked at once and wait, their status message saying "queued".

    `request_verification=False` turns off bolt's own signature check. Only for a server
    that checks every request itself before dispatching (`bot.server.create_web_app` does),
    or Socket Mode; never behind an adapter that does not.
    """
    if client is None:
        base_url = settings.slack_api_url
        client = AsyncWebClient(
            token=settings.require("slack_bot_token"),
            base_url=base_url if base_url.endswith("/") else base_url + "/",
        )
    if llm is None and settings.openai_api_key is not None:
        from workflow.classify import build_openai_model

        llm = build_openai_model(
            settings.openai_api_key.get_secret_value(), base_url=settings.openai_base_url
        )
    redis = redis_client(settings.redis_url)  # one client for every store, closed by the runtime
    if deduper is None:
        deduper = RetryDeduper(redis, prefix=key_prefix)
    if card_index is None:
        card_index = CardIndex(redis, prefix=key_prefix)
    if sweep_interval is None:
        sweep_interval = float(os.environ.get("DEVOPS_BOT_SWEEP_INTERVAL") or 30.0)
    if max_runs is None:
        max_runs = int(os.environ.get("DEVOPS_BOT_MAX_RUNS") or 8)
    runtime = BotRuntime(
        service,
        settings,
        sandbox=settings.devops_bot_sandbox if sandbox is None else sandbox,
        llm=llm,
        metrics=metrics,
        deduper=deduper,
        update_interval=update_interval,
        client=client,
        card_index=card_index,
        sweep_interval=sweep_interval,
        group_cache_ttl=group_cache_ttl,
        inflight=InFlight(redis, prefix=key_prefix, lease=max(3 * sweep_interval, 10.0)),
        max_runs=max_runs,
        claims=RetryDeduper(redis, prefix=key_prefix, ttl=REMEDIATION_CLAIM_TTL, namespace="claim"),
        incident_headers=IncidentHeaders(redis, prefix=key_prefix),
        redis=redis,
    )
    secret = settings.slack_signing_secret
    app = AsyncApp(
        name="devops-bot",
        client=client,
        signing_secret=secret.get_secret_value() if secret else "",
        # Listeners ack and hand off to runtime.spawn(); the response goes out right away.
        process_before_response=True,
        request_verification_enabled=request_verification,
    )

    async def attach_runtime(
        req: AsyncBoltRequest, resp: BoltResponse, context: dict[str, Any], next: Any
    ) -> BoltResponse:
        if req.body.get("type") == "event_callback" and req.body.get("event_id"):
            first = await runtime.deduper.first_time(str(req.body["event_id"]))
            if not first and req.headers.get("x-slack-retry-num"):
                runtime.metrics.inc("devops_bot_slack_retries_ignored_total")
                return BoltResponse(status=200, body="")
        context["devops"] = runtime
        await next()
        return resp

    app.use(attach_runtime)
    app._devops_runtime = runtime  # type: ignore[attr-defined]

    from bot import listeners

    listeners.register(app)
    return app


def runtime_of(app: AsyncApp) -> BotRuntime:
    return app._devops_runtime  # type: ignore[attr-defined]
