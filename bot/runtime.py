"""What the listeners share: `BotRuntime`, one per app (see `bot.app.build_app`).

It holds the service, the Slack Web API client (and the one aiohttp session it shares),
metrics, the stores (bot.stores) and the background tasks the listeners spawn after their
ack. It limits how many request runs drive the graph at once (run slots) and marks a
thread in flight while this replica drives it.

The flows are their own classes, each given the runtime: `runtime.requests`
(bot.requests), `runtime.votes` (bot.voting), `runtime.recovery` (bot.recovery). The
runtime's methods of the same names (`handle_request`, `vote`, `sweep_once`, ...) are what
the listeners call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import structlog
from slack_sdk.web.async_client import AsyncWebClient

from bot.cancel import CancelFlow
from bot.cards import Origins, TtlCache
from bot.chat import Say
from bot.health import StateStore, is_store_error
from bot.looplag import LoopLag
from bot.metrics import Metrics
from bot.recovery import Recovery
from bot.requests import RequestFlow
from bot.settings import Settings
from bot.stores import CancelRequests, CardIndex, IncidentHeaders, InFlight, RetryDeduper
from bot.threads import SlackRequest
from bot.voting import Voting
from workflow.service import DevOpsService

__all__ = ["REMEDIATION_CLAIM_TTL", "BotRuntime", "RunSlot", "ServiceSource"]

log = structlog.get_logger("devops-bot.slack")

ServiceSource = DevOpsService | Callable[[], DevOpsService]

# How long a click on a remediation button keeps its (thread, step, message) to itself: a
# double click or a second replica within this time is told the run has already started.
REMEDIATION_CLAIM_TTL = 300


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
        cancels: CancelRequests | None = None,
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
        self.cancels = cancels or CancelRequests()
        # How often a run in its read-only stretch looks for a request to stop it.
        self.cancel_poll = 0.5
        # Which thread and request each message's buttons (and each modal) belong to.
        self.origins = Origins(lambda: self.service.approvals)
        self._tasks: set[asyncio.Task[Any]] = set()
        # At most `max_runs` request runs drive the graph at once; the rest wait their turn
        # (their status message says "queued"). Acks never wait on this.
        self.max_runs = max_runs
        self.queue_grace = queue_grace
        self._run_slots = asyncio.Semaphore(max_runs)
        self._queued = 0
        self._session: Any = None  # the aiohttp session this runtime opened for `client`
        # A request in a thread still following a rollout waits for it, checking this often.
        self.busy_wait = 600.0
        self.busy_poll = 1.0
        self._redis = redis
        # Whether Redis answers (always up without one), probed while serving.
        self.store = StateStore(redis)
        # SIGTERM: /healthz answers 503 from then on; see `shutdown`.
        self.draining = False
        self._drained = False
        # The flows, each given this runtime (listeners call the delegating methods below).
        self.requests = RequestFlow(self)
        self.votes = Voting(self)
        self.recovery = Recovery(self)
        self.cancel = CancelFlow(self)

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
        if self._drained:
            timeout = 0.0  # `shutdown` waited already: what is left is handed over
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - time.monotonic()))

    async def shutdown(self, timeout: float) -> dict[str, int]:
        """SIGTERM: stop taking new work, let the runs in flight finish for up to `timeout`.

        From the first line on, /healthz answers 503, so the load balancer (Kubernetes'
        readiness probe) sends new requests to the other replicas; the HTTP server stays up
        meanwhile, so a request already on its way is still answered. Runs still going at
        the deadline are cancelled by `aclose`: their in-flight entries stay in Redis and
        this replica's heartbeat key is deleted, so another replica's sweeper recovers them
        on its next round (a card re-posted, a rollout followed again, or a word in the
        thread). Pending approvals live in Redis: any replica takes the click.
        """
        self.draining = True
        started, before = time.monotonic(), self.busy
        log.warning("draining", runs=before, timeout_s=timeout)
        await self.drain(timeout)
        self._drained = True
        left = self.busy
        log.warning(
            "drained",
            finished=before - left,
            handed_over=left,
            waited_s=round(time.monotonic() - started, 3),
        )
        return {"finished": before - left, "handed_over": left}

    async def aclose(self) -> None:
        await self.stop_sweeper()
        await self.drain()
        for task in list(self._tasks):
            task.cancel()
        await self.deduper.aclose()
        await self.claims.aclose()
        await self.incident_headers.aclose()
        await self.cancels.aclose()
        await self.cards.aclose()
        await self.inflight.aclose()
        if self._redis is not None:
            await self._redis.aclose()
        await self.close_session()

    def start_sweeper(self) -> None:
        """Close expired approvals now and every `sweep_interval` seconds (idempotent);
        also start measuring the event loop's lag."""
        self.loop_lag.start()
        self.store.start()
        self.recovery.start()

    async def stop_sweeper(self) -> None:
        await self.loop_lag.stop()
        await self.store.stop()
        await self.recovery.stop()

    # -- run slots, runs in flight ---------------------------------------------------------

    async def in_a_slot(self, work: Callable[[RunSlot], Awaitable[None]]) -> None:
        """Do `work` with a place in line for one of the `max_runs` run slots.

        A run first waits up to `queue_grace` seconds for a slot without doing anything
        else, so a burst costs the loop nothing while it is being acked. One that is still
        waiting then posts its status message as "queued" and keeps its place in line.
        """
        slot = RunSlot(self._run_slots, on_held=self._dequeued)
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

    async def accept(self, req: SlackRequest) -> str | None:
        """Record a request before it is acked, so a replica that dies between the ack and
        its first message leaves a word for the user (bot.recovery). Bounded: a state store
        that does not answer within 0.5 s costs the ack nothing more, and the request goes on
        (it is then answered that the store is unavailable)."""
        if not self.store.available:
            return None
        key = f"accepted:{uuid.uuid4().hex[:16]}"
        info = {"kind": "accepted", "channel": req.channel, "user": req.user, "text": req.text}
        if req.thread_ts:
            info["thread_ts"] = req.thread_ts
        try:
            async with asyncio.timeout(0.5):
                await self.inflight.begin(key, **info)
        except Exception as exc:
            if not (isinstance(exc, TimeoutError) or is_store_error(exc)):
                raise
            self.store.mark_down(exc if not isinstance(exc, TimeoutError) else "TimeoutError")
            return None
        return key

    async def forget(self, key: str | None) -> None:
        """The accepted request is accounted for (its run is in flight, or it was answered)."""
        if key is not None:
            with contextlib.suppress(Exception):
                await self.inflight.end(key)

    @contextlib.asynccontextmanager
    async def driving(self, thread_id: str, **info: Any) -> AsyncIterator[None]:
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

    # -- the flows (bot.requests, bot.voting, bot.recovery) ---------------------------------
    # What the listeners call; each passes its keyword arguments on to the flow's method.

    async def handle_request(
        self, client: AsyncWebClient, req: SlackRequest, say_private: Say
    ) -> None:
        await self.requests.handle_request(client, req, say_private)

    async def handle_thread_reply(
        self, client: AsyncWebClient, req: SlackRequest, say_private: Say
    ) -> None:
        await self.requests.handle_thread_reply(client, req, say_private)

    async def remediate(self, client: AsyncWebClient, **click: Any) -> None:
        await self.requests.remediate(client, **click)

    async def postmortem(self, client: AsyncWebClient, **click: Any) -> None:
        await self.requests.postmortem(client, **click)

    async def vote(self, client: AsyncWebClient, **click: Any) -> None:
        await self.votes.vote(client, **click)

    async def full_preview(self, client: AsyncWebClient, **click: Any) -> None:
        await self.votes.full_preview(client, **click)

    async def open_reject(self, client: AsyncWebClient, **click: Any) -> None:
        await self.votes.open_reject(client, **click)

    async def reject_submitted(self, client: AsyncWebClient, **submission: Any) -> None:
        await self.votes.reject_submitted(client, **submission)

    async def groups_of(
        self, client: AsyncWebClient, user: str, request: dict[str, Any]
    ) -> frozenset[str]:
        return await self.votes.groups_of(client, user, request)

    async def sweep_once(self) -> list[str]:
        return await self.recovery.sweep_once()


class RunSlot:
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
