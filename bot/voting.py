"""A click on an approval card, or the reject modal: origin check, stale check, the vote.

    click -> origin check (the message is the card the bot posted for that thread and
             request) -> stale check (button's interrupt id == the pending one)
             -> service.approve / reject (policy, lock, SET NX, resume) -> the card shows
             the decision only once it is taken -> card closed, result in thread

Also the approval card's display (posted, open with the votes so far, applying, closed),
the whole dry-run preview on request, and the approver groups a clicker is in.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, messages, results
from bot.cards import Origin
from bot.chat import Progress, Say, short, teller, update
from bot.chat import update as update_message
from bot.health import is_store_error
from bot.status import status_header_of
from bot.stores import CardRef
from bot.threads import parse_thread_id
from workflow.apply import NODE as APPLY_NODE
from workflow.approval.store import LockTimeoutError
from workflow.service import PROGRESS_NODE, DecidedError, InputError, RefusedError, RunReport

if TYPE_CHECKING:
    from bot.runtime import BotRuntime

__all__ = ["Voting"]

log = structlog.get_logger("devops-bot.slack")


class Voting:
    """Approval cards and the clicks on them."""

    def __init__(self, runtime: BotRuntime) -> None:
        self.rt = runtime

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
        if not await self.from_its_message(
            client, "approval", user=user, team=team, channel=channel, ts=card_ts, value=value
        ):
            return
        tell = teller(client, channel, user, thread_id)
        current = await self._fresh(thread_id, value, tell)
        if current is None:
            return
        status_ts = value.get("status_ts", "")
        groups = await self.groups_of(client, user, current.approval or {})
        steps: list[str] = []  # long work's steps (a pipeline execution's stages), as they go

        async def on_progress(node: str, update: dict[str, Any]) -> None:
            if node == PROGRESS_NODE and update.get("progress") and status_ts:
                steps.append(f"• {messages.escape(str(update['progress']))}")
                requester = (current.approval or {}).get("requester")
                header = status_header_of(current.values or {}, requester)
                body = "\n".join([header, *steps[-20:], messages.following_footer()])
                await update_message(client, channel, status_ts, None, body)
                return
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

        async with self.rt.driving(
            thread_id,
            channel=channel,
            status_ts=status_ts,
            card_ts=card_ts,
            user=user,
            vote=decision,
        ):
            try:
                report = await self._cast(
                    thread_id, user, decision, reason, groups, current, on_progress
                )
            except DecidedError as exc:
                self.rt.metrics.inc("devops_bot_votes_refused_total")
                log.info("slack.vote_too_late", decided_by=exc.vote.get("user"))
                await tell(messages.already_decided(exc.vote))
                return
            except (RefusedError, InputError) as exc:
                self.rt.metrics.inc("devops_bot_votes_refused_total")
                log.info("slack.vote_refused", reason=str(exc))
                await tell(messages.refused(str(exc)))
                return
            except LockTimeoutError:
                log.warning("slack.vote_lock_timeout")
                await tell(messages.thread_busy())
                return
            except Exception as exc:
                if is_store_error(exc):
                    self.rt.store.mark_down(exc)
                    log.warning("slack.vote_failed", error=short(exc), state_store="unavailable")
                    await tell(messages.state_store_lost())
                    return
                log.exception("slack.vote_failed")
                await tell(messages.failed(short(exc)))
                return
            log.info("slack.vote_recorded", status=report.status)
            if report.status == "awaiting_approval":  # quorum not reached: show the votes so far
                await self._show_open_card(client, channel, card_ts, report, status_ts)
                await self.rt.cards.put(thread_id, CardRef(channel, card_ts, status_ts))
                return
            self.rt.metrics.inc("devops_bot_approval_decisions_total", outcome=report.status)
            await self.closed(
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
            return await self.rt.service.approve(
                thread_id,
                user,
                groups=groups,
                on_progress=on_progress,
                seen=seen,
                interrupt_id=current.interrupt_id,
            )
        return await self.rt.service.reject(
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
        await update(
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
        await update(
            client,
            channel,
            card_ts,
            blocks.closed_card(approval, "approved", thread_id, note="Applying…"),
            messages.decision_line(approval, "approved"),
        )

    async def closed(
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
            await update(
                client,
                channel,
                card_ts,
                blocks.closed_card(approval, report.status, thread_id),
                messages.decision_line(approval, report.status),
            )
        await self.rt.cards.remove(thread_id)
        parsed = parse_thread_id(thread_id)
        root_ts = parsed[2] if parsed else None
        result = messages.result_line(report)
        await results.say(client, channel, root_ts, result)
        values = report.values or await self.rt.service.state_of(thread_id) or {}
        if status_ts:
            header = status_header_of(values, approval.get("requester"))
            await update(client, channel, status_ts, None, f"{header}\n{result}")
        incident = values.get("incident")
        await self.rt.requests.refresh_incident_header(
            client, thread_id, incident, skip_ts=status_ts
        )

    def _card(self, report: Any, status_ts: str) -> list[dict[str, Any]]:
        if self.rt.preview_limit is None:
            return blocks.approval_card(report, status_ts=status_ts)
        return blocks.approval_card(
            report, status_ts=status_ts, preview_limit=self.rt.preview_limit
        )

    async def post_card(
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
        await self.rt.cards.put(thread_id, CardRef(channel, card["ts"], status_ts))
        origin = Origin("approval", thread_id, approval_id, status_ts=status_ts)
        await self.rt.origins.message_posted(channel, card["ts"], origin)

    async def groups_of(
        self, client: AsyncWebClient, user: str, request: dict[str, Any]
    ) -> frozenset[str]:
        """The policy's approver groups (S…) for this request's environment that `user` is in."""
        try:
            env = self.rt.service.deps.policy.for_environment(request.get("environment"))
            wanted = list(env.approvers.groups)
        except Exception:
            return frozenset()
        found = set()
        for group in wanted:
            members = await self.rt.group_members.get(group, lambda g=group: _members(client, g))
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
        if not await self.from_its_message(
            client, "approval", user=user, team=team, channel=channel, ts=card_ts, value=value
        ):
            return
        thread_id = value["thread_id"]
        tell = teller(client, channel, user, thread_id)
        try:
            report = await self.rt.service.report(thread_id)
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
        if not await self.from_its_message(
            client, "approval", user=user, team=team, channel=channel, ts=card_ts, value=value
        ):
            return
        thread_id = value["thread_id"]
        tell = teller(client, channel, user, thread_id)
        current = await self._fresh(thread_id, value, tell)
        if current is None:
            return
        try:
            verdict = await self.rt.service.check_vote(
                thread_id,
                user,
                "reject",
                groups=await self.groups_of(client, user, current.approval or {}),
            )
        except InputError as exc:
            await tell(messages.refused(str(exc)))
            return
        if not verdict.allowed:
            self.rt.metrics.inc("devops_bot_votes_refused_total")
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
            await self.rt.origins.modal_opened(view_id, origin)

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
        origin = await self.rt.origins.of_modal(view_id) if view_id else None
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

    async def from_its_message(
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
        origin = await self.rt.origins.of_message(channel, ts) if channel and ts else None
        if origin is None and kind == "approval":
            # A card posted before origins were recorded: the open-card index vouches for it.
            ref = await self.rt.cards.get(thread_id) if parsed else None
            if ref is not None and (ref.channel, ref.card_ts) == (channel, ts):
                origin = Origin(
                    kind, thread_id, value.get("approval_id", ""), status_ts=ref.status_ts
                )
        if (
            origin is not None
            and parsed is not None
            and origin.kind == kind
            and origin.thread_id == thread_id
            and (kind != "approval" or _same_request(origin, value))
            and (not team or parsed[0] == team)
        ):
            return True
        await self._refuse_foreign(client, value, user, channel=channel, where=f"{channel}/{ts}")
        return False

    async def _refuse_foreign(
        self, client: AsyncWebClient, value: dict[str, str], user: str, *, channel: str, where: str
    ) -> None:
        self.rt.metrics.inc("devops_bot_clicks_foreign_total")
        thread_id = str(value.get("thread_id") or "")
        log.warning("slack.click_not_of_its_request", where=where, named=thread_id[:200])
        await self.rt.service.record_refused_click(
            thread_id[:200],
            user=user,
            detail=f"button or modal from {where} does not belong to this request",
        )
        if channel:  # privately, in the channel of the click (never in the thread it named)
            await teller(client, channel, user, "")(messages.not_this_request())

    async def _fresh(self, thread_id: str, value: dict[str, str], tell: Say) -> Any | None:
        """The pending report if the card's interrupt is the one still pending, else None."""
        try:
            current = await self.rt.service.report(thread_id)
        except InputError:
            self.rt.metrics.inc("devops_bot_votes_refused_total")
            await tell(messages.unknown_thread(thread_id))
            return None
        if current.status != "awaiting_approval" or current.interrupt_id != value["interrupt_id"]:
            self.rt.metrics.inc("devops_bot_votes_refused_total")
            await tell(messages.stale_card(current))
            return None
        return current


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


def _same_request(origin: Origin, value: dict[str, str]) -> bool:
    """An approval button's value is the one the bot put on that card: same request, same
    status message (the click updates it)."""
    return (origin.approval_id, origin.status_ts) == (
        value.get("approval_id", ""),
        value.get("status_ts", ""),
    )
