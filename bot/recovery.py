"""The expiry sweeper and restart recovery.

Every `sweep_interval` seconds: approvals past their TTL are expired and their cards closed,
and runs left behind by a replica that died mid-run (see `bot.stores.InFlight`) are reported
in their thread, or carried on where that is safe (a rollout being followed).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from bot import messages
from bot.chat import short, teller, update
from bot.status import status_header_of
from bot.threads import parse_thread_id
from workflow.apply import ROLLOUT_NODE
from workflow.approval.store import LockTimeoutError
from workflow.service import InputError, RefusedError

if TYPE_CHECKING:
    from bot.runtime import BotRuntime

__all__ = ["Recovery"]

log = structlog.get_logger("devops-bot.slack")


class Recovery:
    """The sweeper's rounds: expired approvals, runs orphaned by a dead replica."""

    def __init__(self, runtime: BotRuntime) -> None:
        self.rt = runtime
        self._sweeper: asyncio.Task[None] | None = None
        self._sweeper_stop = asyncio.Event()

    def start(self) -> None:
        """Sweep now and every `sweep_interval` seconds, in a task of its own (idempotent)."""
        if self._sweeper is None or self._sweeper.done():
            stop = asyncio.Event()
            self._sweeper = asyncio.create_task(self._sweep_forever(stop), name="expiry-sweeper")
            self._sweeper_stop = stop

    async def stop(self) -> None:
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
                log.warning("slack.sweep_failed", error=short(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rt.sweep_interval)

    async def sweep_once(self) -> list[str]:
        """Expire every pending approval past its TTL; the thread ids closed by this call.

        Also: runs left behind by a replica that died mid-run are reported in their thread.
        """
        await self.rt.inflight.heartbeat()
        for thread_id, entry in await self.rt.inflight.orphans():
            try:
                await self._recover(thread_id, entry)
            except Exception as exc:
                log.warning("slack.recover_failed", thread_id=thread_id, error=short(exc))
        closed = []
        for summary in await self.rt.service.pending():
            if summary.get("expired") and await self._expire_one(summary["thread_id"]):
                closed.append(summary["thread_id"])
        return closed

    async def _tell_lost_request(self, entry: dict[str, Any]) -> None:
        """Tell the asker, privately, that their request was acked and then lost: nothing
        was run, so nothing changed, and asking again is safe."""
        client, channel, user = self.rt.client, entry.get("channel"), entry.get("user")
        if client is None or not isinstance(channel, str) or not isinstance(user, str):
            return
        log.warning("slack.recovering_request", channel=channel, user=user)
        extra = {"thread_ts": entry["thread_ts"]} if entry.get("thread_ts") else {}
        await client.chat_postEphemeral(
            channel=channel, user=user, text=messages.lost_request(str(entry.get("text"))), **extra
        )

    async def _recover(self, thread_id: str, entry: dict[str, Any]) -> None:
        """A run whose bot died while driving it: say where it stands, in its thread."""
        if entry.get("kind") == "accepted":  # died between the ack and the status message
            await self._tell_lost_request(entry)
            return
        client, parsed = self.rt.client, parse_thread_id(thread_id)
        if client is None or parsed is None:
            return
        channel = str(entry.get("channel") or parsed[1])
        status_ts = str(entry.get("status_ts") or "")
        service = self.rt.service
        snapshot = await service.graph.aget_state({"configurable": {"thread_id": thread_id}})
        log.warning("slack.recovering_run", thread_id=thread_id, next=list(snapshot.next or ()))
        if not snapshot.interrupts and not _saved_since(snapshot, entry):
            # A new request is checkpointed once, when it pauses or reaches its apply (see
            # DevOpsService._drive): this one died before that, having only read.
            text = messages.lost_run()
            await client.chat_postMessage(channel=channel, thread_ts=parsed[2], text=text)
            if status_ts:
                header = entry.get("header") or messages.status_header(entry.get("user"), "")
                await update(client, channel, status_ts, None, f"{header}\n{text}")
            return
        report = await service.report(thread_id)
        if snapshot.interrupts:  # paused for approval: make sure a card exists
            if entry.get("vote") and isinstance(entry.get("user"), str):
                # A click whose replica died mid-vote. Claimed already: finish that decision
                # (in a task: it waits for the dead replica's lock to lapse). Not claimed:
                # the voter hears it did not go through, and that the request still waits.
                interrupt_id = snapshot.interrupts[0].id
                if await service.approvals.claimed(f"interrupt:{interrupt_id}"):
                    # Said at once: finishing waits up to a lock lease (30 s) for the thread.
                    tell = teller(client, channel, entry["user"], thread_id)
                    await tell(messages.vote_being_finished(str(entry["vote"])))
                    self.rt.spawn(
                        self._finish_decision(thread_id, channel, status_ts, entry),
                        name=f"finish-decision-{thread_id}",
                    )
                    return
                tell = teller(client, channel, entry["user"], thread_id)
                await tell(messages.vote_interrupted(str(entry["vote"])))
            if await self.rt.cards.get(thread_id) is None and not entry.get("card_ts"):
                await self.rt.votes.post_card(
                    client, channel, parsed[2], thread_id, report, status_ts
                )
            return
        if tuple(snapshot.next) == (ROLLOUT_NODE,):  # applied; its rollout was being followed
            await client.chat_postMessage(
                channel=channel,
                thread_ts=parsed[2],
                text=messages.following_rollout_again(snapshot.values.get("outcome")),
            )
            self.rt.spawn(
                self._follow_rollout(thread_id, channel, status_ts, entry),
                name=f"follow-rollout-{thread_id}",
            )
            return
        if snapshot.next:  # stopped between steps
            text = messages.interrupted_run(list(snapshot.next))
            await client.chat_postMessage(channel=channel, thread_ts=parsed[2], text=text)
            if status_ts:
                header = status_header_of(
                    snapshot.values, (report.approval or {}).get("requester") or entry.get("user")
                )
                await update(client, channel, status_ts, None, f"{header}\n{text}")
            return
        # It finished, but the bot died before saying so.
        ref = await self.rt.cards.get(thread_id)
        card_ts = ref.card_ts if ref else entry.get("card_ts")
        await self.rt.votes.closed(
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
        client = self.rt.client
        assert client is not None
        async with self.rt.driving(thread_id, channel=channel, status_ts=status_ts):
            try:
                report = await self.rt.service.follow_rollout(thread_id)
            except (InputError, RefusedError) as exc:  # another replica got there first
                log.info("slack.follow_rollout_skipped", reason=str(exc))
                return
            ref = await self.rt.cards.get(thread_id)
            await self.rt.votes.closed(
                client,
                channel=channel,
                card_ts=(ref.card_ts if ref else entry.get("card_ts")) if report.approval else None,
                status_ts=status_ts or (ref.status_ts if ref else None),
                thread_id=thread_id,
                report=report,
            )

    async def _finish_decision(
        self, thread_id: str, channel: str, status_ts: str, entry: dict[str, Any]
    ) -> None:
        """Finish the decision a dead replica claimed, then close its card as a vote would."""
        client = self.rt.client
        assert client is not None
        async with self.rt.driving(thread_id, channel=channel, status_ts=status_ts):
            try:
                report = await self.rt.service.finish_decision(thread_id)
            except (InputError, RefusedError, LockTimeoutError) as exc:
                # Another replica got there first, or still holds the thread: the next click
                # on the card finishes the claimed decision too.
                log.info("slack.finish_decision_skipped", reason=str(exc) or type(exc).__name__)
                return
            if report is None:
                return
            ref = await self.rt.cards.get(thread_id)
            await self.rt.votes.closed(
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
            report = await self.rt.service.expire(thread_id)
        except (InputError, RefusedError) as exc:  # a click or another replica got there first
            log.info("slack.expire_skipped", reason=str(exc))
            return False
        log.info("slack.expired", status=report.status)
        self.rt.metrics.inc("devops_bot_approval_decisions_total", outcome=report.status)
        client = self.rt.client
        if client is None:
            return True
        ref = await self.rt.cards.get(thread_id)
        parsed = parse_thread_id(thread_id)
        if ref is None and parsed is None:
            return True  # not a Slack thread (a CLI run): nothing to show
        channel = ref.channel if ref else parsed[1]  # type: ignore[index]
        await self.rt.votes.closed(
            client,
            channel=channel,
            card_ts=ref.card_ts if ref else None,
            status_ts=ref.status_ts if ref else None,
            thread_id=thread_id,
            report=report,
        )
        return True


def _saved_since(snapshot: Any, entry: dict[str, Any]) -> bool:
    """Whether the thread's checkpoint was written after the in-flight run began."""
    if not snapshot.values or not snapshot.created_at:
        return False
    started = entry.get("started_at")
    if not isinstance(started, int | float):
        return True  # an entry without a start time: trust the checkpoint
    saved = datetime.fromisoformat(snapshot.created_at).timestamp()
    return saved >= started
