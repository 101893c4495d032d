"""Stopping a run from its thread: `cancel` / `stop` typed as a reply, on any replica.

ask    (the replica that got the reply) the thread's in-flight entry says what runs and
       who asked for it; nothing running, someone who is neither its requester nor an
       approver of its environment, or a run that is not cancellable (a resume after a
       vote: approval decision, apply, rollout) is answered at once and changes nothing.
       Otherwise the request is recorded under the run's id (`CancelRequests`: Redis, or
       this process in the embedded mode).
drive  (the replica driving the run) runs the graph as its own task and looks for a
       request every `cancel_poll` s. A new request's run only reads until it leaves for
       its apply (`WRITES_NODE`, said with no await before the first write); until then a
       request cancels the task, and the run's own cleanup runs (an API test run's stop
       event is set by its node). After that it is answered "can't stop now" and the run
       goes on. The stopped run is said in the thread and its status message, audited as
       `cancel`, and its in-flight entry is ended normally, so recovery has nothing to say.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages, results
from bot.chat import Progress, Say
from bot.threads import SlackRequest, thread_id_for
from workflow.service import WRITES_NODE, RunReport

if TYPE_CHECKING:
    from bot.runtime import BotRuntime

__all__ = ["CancelFlow", "RunCancelled", "Watch", "is_cancel", "new_run_id"]

log = structlog.get_logger("devops-bot.slack")

# `cancel`, `stop`, alone or with a few words naming the run: "cancel this", "stop the
# tests", "please stop it". Anything longer is a request like any other.
_CANCEL = re.compile(
    r"^(?:please\s+)?(?:cancel|stop)"
    r"(?:\s+(?:it|this|that|now|the\s+run|this\s+run|the\s+tests?|the\s+test\s+run"
    r"|the\s+api\s+tests|the\s+generation|the\s+code\s*gen(?:eration)?|following"
    r"|the\s+follow(?:ing)?))?"
    r"(?:\s+(?:please|now))?[\s.!]*$",
    re.IGNORECASE,
)

# How long a cancelled run's own cleanup (its nodes' finally blocks) is waited for.
CLEANUP_WAIT = 10.0


def is_cancel(text: str) -> bool:
    return bool(_CANCEL.match(" ".join(text.split())))


def new_run_id() -> str:
    return uuid.uuid4().hex[:16]


class RunCancelled(Exception):
    """The run was stopped by `asked["user"]` during its read-only stretch."""

    def __init__(self, asked: dict[str, Any]) -> None:
        super().__init__(f"cancelled by {asked.get('user')}")
        self.asked = asked


@dataclass
class Watch:
    """What the driver knows of its run: whether it has left its read-only stretch."""

    writes: bool = False


class CancelFlow:
    def __init__(self, runtime: BotRuntime) -> None:
        self.rt = runtime

    # -- the replica that got the reply --------------------------------------------------

    async def ask(self, client: AsyncWebClient, req: SlackRequest, say_private: Say) -> None:
        assert req.thread_ts is not None
        thread_id = thread_id_for(req.team, req.channel, req.thread_ts)
        entry = await self.rt.inflight.get(thread_id)
        if entry is None:
            if await self.rt.service.state_of(thread_id):
                await say_private(messages.cancel_nothing_running())
            return  # else someone else's thread: not ours to answer
        environment = entry.get("environment")
        groups = await self.rt.votes.groups_of(client, req.user, {"environment": environment})
        verdict = self.rt.service.deps.policy.may_cancel(
            req.user, entry.get("user"), environment, groups
        )
        if not verdict.allowed:
            log.info("slack.cancel_refused", user=req.user, reason=verdict.reason)
            await say_private(messages.cancel_refused(verdict.reason))
            return
        run_id = entry.get("run")
        if not entry.get("cancellable") or not run_id:
            await say_private(messages.cancel_too_late(entry.get("text")))
            return
        log.info("slack.cancel_asked", user=req.user, run=run_id, owner=entry.get("owner"))
        await self.rt.cancels.ask(str(run_id), user=req.user)

    # -- the replica driving the run ------------------------------------------------------

    async def drive(
        self,
        run: Callable[[Progress], Awaitable[RunReport]],
        on_progress: Progress,
        run_id: str,
        tell: Callable[[str, str], Awaitable[None]],
        what: str,
    ) -> RunReport:
        """`run(on_progress)` as a task that a cancel request stops while it only reads.

        `tell(user, text)` answers an asker privately. Raises RunCancelled once the run
        was stopped and its cleanup has run (or CLEANUP_WAIT passed)."""
        watch = Watch()

        async def progress(node: str, update: dict[str, Any]) -> None:
            if node == WRITES_NODE:
                watch.writes = True  # before any await: no cancel gets past this line
                return
            await on_progress(node, update)

        task = asyncio.ensure_future(run(progress))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.rt.cancel_poll)
                if done:
                    break
                try:
                    asked = await self.rt.cancels.take(run_id)
                except Exception:
                    log.warning("slack.cancel_poll_failed", exc_info=True)
                    continue
                if asked is None:
                    continue
                user = str(asked.get("user") or "")
                if watch.writes:
                    log.info("slack.cancel_too_late", user=user)
                    await tell(user, messages.cancel_too_late(what))
                    continue
                if not task.cancel():  # it ended as the request came
                    await tell(user, messages.cancel_missed(what))
                    return task.result()
                log.info("slack.run_cancelled", user=user)
                await asyncio.wait({task}, timeout=CLEANUP_WAIT)
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: whatever the cleanup raised is moot
                raise RunCancelled(asked)
        except BaseException:
            task.cancel()  # this drive itself was stopped (shutdown): the run goes with it
            raise
        if (
            not task.cancelled() and task.exception() is None
        ):  # ended (else the caller decides: e.g. it waits on)
            with contextlib.suppress(Exception):  # asked as it ended: the asker hears so
                late = await self.rt.cancels.take(run_id)
                if late is not None:
                    await tell(str(late.get("user") or ""), messages.cancel_missed(what))
        return task.result()

    async def asked_while_waiting(self, run_id: str) -> None:
        """Between tries of a run that waits for its thread's rollout (nothing of it ran
        yet): a cancel request stops it (RunCancelled)."""
        asked = await self.rt.cancels.take(run_id)
        if asked is not None:
            raise RunCancelled(asked)

    async def stopped(
        self,
        client: AsyncWebClient,
        *,
        asked: dict[str, Any],
        channel: str,
        root_ts: str,
        thread_id: str,
        what: str,
        environment: str | None,
        finish: Callable[[str], Awaitable[None]],
    ) -> None:
        """Say in the thread and the status message that the run was stopped; audit it."""
        user = str(asked.get("user") or "")
        await finish(messages.cancelled_footer(user))
        await results.say(client, channel, root_ts, messages.cancelled(user, what))
        with contextlib.suppress(Exception):
            await self.rt.service.record_cancel(
                thread_id, user=user, environment=environment, detail=f"stopped: {what}"
            )
