"""A request's flow, typed or clicked: from the ask to what the run leaves in its thread.

request  -> classify -> status message -> (a run slot) -> service.start -> status updated
            -> approval card posted in the thread (by the runner, never by a node)
            -> results by kind (bot.results): charts, incident findings, postmortem
            -> the incident header brought up to date
remediate -> step still offered, claim (thread, step, message) -> service.remediate,
            run like a typed request in the same thread (status message, card)
postmortem -> the thread's incident record rendered as Markdown, uploaded
thread reply -> a request only in a thread the graph knows; `cancel` / `stop` asks the
            replica driving the thread's run to stop it (bot.cancel)
shared file -> an API request's JSON/YAML file read with the bot token (bot.shared_files),
            its text in the run's context (`spec_text`, `spec_name`)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, messages, results
from bot.cancel import RunCancelled, is_cancel, new_run_id
from bot.cards import Origin
from bot.chat import Progress, Say, short, teller, update
from bot.health import is_store_error
from bot.shared_files import SharedFileError, shared_document
from bot.status import StatusMessage
from bot.stores import HeaderRef
from bot.threads import SlackRequest, parse_thread_id, thread_id_for
from workflow.classify import classify
from workflow.service import BusyError, InputError, RunReport

if TYPE_CHECKING:
    from bot.runtime import BotRuntime, RunSlot

__all__ = ["RequestFlow"]

log = structlog.get_logger("devops-bot.slack")

# Context a follow-up in a thread inherits when it does not say otherwise.
_INHERITED = ("service", "environment", "namespace", "incident_id")
# Task types whose agents read an OpenAPI document: a file shared with them is read.
_READS_DOCUMENTS = frozenset({"codegen", "test"})


@dataclass(frozen=True)
class _Job:
    """What a request runs once its status message is up: a typed request or a remediation.

    `run(thread_id, on_progress)` drives the graph; `incident` is the header of an incident
    investigation (id, service, environment, severity, state), None for other runs;
    `environment` names whose approvers may cancel it besides its requester (bot.cancel).
    """

    header: str
    run: Callable[[str, Progress], Awaitable[RunReport]]
    incident: dict[str, Any] | None = None
    environment: str | None = None


class RequestFlow:
    """Requests and the incident buttons, each run in one of the runtime's run slots."""

    def __init__(self, runtime: BotRuntime) -> None:
        self.rt = runtime

    async def handle_request(
        self, client: AsyncWebClient, req: SlackRequest, say_private: Say
    ) -> None:
        """One request, run in one of `max_runs` slots. Whatever goes wrong before its run
        starts (classifying, reading the thread), the asker is told, never left waiting."""
        try:
            await self.rt.in_a_slot(
                lambda slot: self._handle_request(client, req, say_private, slot)
            )
        except Exception as exc:
            await self.rt.forget(req.accepted)
            if is_store_error(exc):
                self.rt.store.mark_down(exc)
                log.warning("slack.request_failed", error=short(exc), state_store="unavailable")
                with contextlib.suppress(Exception):
                    await say_private(messages.state_store_lost())
                return
            log.exception("slack.request_failed")
            with contextlib.suppress(Exception):
                await say_private(messages.failed(short(exc)))
        else:
            await self.rt.forget(req.accepted)  # answered, or its run ended

    async def _handle_request(
        self, client: AsyncWebClient, req: SlackRequest, say_private: Say, slot: RunSlot
    ) -> None:
        structlog.contextvars.bind_contextvars(team=req.team, channel=req.channel, user=req.user)
        try:
            request = await classify(req.text, llm=self.rt.llm)
        except Exception:
            log.exception("slack.classify_failed")
            if not req.quiet_if_unclear:
                await say_private(messages.not_understood(req.text, None))
            return
        if request.task_type is None:
            if req.quiet_if_unclear:
                log.info("slack.reply_ignored", reason="not a request")
                return
            await say_private(messages.not_understood(req.text, request.hint))
            return
        structlog.contextvars.bind_contextvars(task_type=request.task_type)
        context = {**request.context, "sandbox": self.rt.sandbox}
        if req.files and request.task_type in _READS_DOCUMENTS:
            try:
                shared = await shared_document(client, req.files)
            except SharedFileError as exc:
                await say_private(str(exc))
                return
            context.update(spec_text=shared.text, spec_name=shared.name)
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
            return await self.rt.service.start(
                task_type=request.task_type,  # type: ignore[arg-type]
                context=context,
                text=request.text or req.text,
                requester=req.user,
                thread_id=thread_id,
                on_progress=on_progress,
            )

        job = _Job(
            messages.status_header(req.user, req.text), run, incident, context.get("environment")
        )
        await self._launch(client, req, job, say_private, slot)

    async def _launch(
        self, client: AsyncWebClient, req: SlackRequest, job: _Job, say_private: Say, slot: RunSlot
    ) -> None:
        """Post the status message (the thread root for a new conversation), wait for the
        slot if need be, then drive the run while the thread is marked in flight."""
        title = messages.incident_header(job.incident) if job.incident else None
        if slot.held:
            first = f"{job.header} — routing…"
        else:
            first = f"{job.header} — queued ({self.rt.queued} waiting, {self.rt.max_runs} running)…"
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
            await update(client, req.channel, status_ts, None, text)
        run_id = new_run_id()
        async with self.rt.driving(
            thread_id,
            channel=req.channel,
            status_ts=status_ts,
            user=req.user,
            header=job.header,
            text=req.text,
            environment=job.environment,
            run=run_id,
            cancellable=True,  # until it leaves its read-only stretch (bot.cancel)
        ):
            await self.rt.forget(req.accepted)  # from now on its thread's entry speaks for it
            status = StatusMessage(
                client, req.channel, status_ts, job.header, self.rt.update_interval, title=title
            )
            try:
                await self._run_request(client, job, status, thread_id, root_ts, run_id, req.text)
            except RunCancelled as stop:
                await self.rt.cancel.stopped(
                    client,
                    asked=stop.asked,
                    channel=req.channel,
                    root_ts=root_ts,
                    thread_id=thread_id,
                    what=req.text,
                    environment=job.environment,
                    finish=status.finish,
                )

    async def _run_request(
        self,
        client: AsyncWebClient,
        job: _Job,
        status: StatusMessage,
        thread_id: str,
        root_ts: str,
        run_id: str,
        what: str,
    ) -> None:
        """Run the job, then: status message, approval card, results, incident header.

        A thread still following the rollout of its last change runs the job once that
        rollout has ended (its status message says it waits), for up to `busy_wait` s.
        A cancel asked in the thread while it only reads stops it: RunCancelled."""
        deadline = time.monotonic() + self.rt.busy_wait

        async def tell(user: str, text: str) -> None:
            with contextlib.suppress(SlackApiError):
                await client.chat_postEphemeral(
                    channel=status.channel, user=user, text=text, thread_ts=root_ts
                )

        def run(on_progress: Progress) -> Awaitable[RunReport]:
            return job.run(thread_id, on_progress)

        try:
            while True:
                try:
                    report = await self.rt.cancel.drive(run, status.on_progress, run_id, tell, what)
                    break
                except BusyError as exc:
                    if time.monotonic() >= deadline:
                        await status.finish(messages.thread_still_running(str(exc)))
                        return
                    await status.waiting(messages.waiting_for_rollout())
                    await asyncio.sleep(self.rt.busy_poll)
                    await self.rt.cancel.asked_while_waiting(run_id)
        except InputError as exc:
            await status.finish(messages.already_pending(str(exc)))
            return
        except RunCancelled:
            self.rt.metrics.inc("devops_bot_runs_started_total")
            raise
        except Exception as exc:
            self.rt.metrics.inc("devops_bot_runs_started_total")
            log.exception("slack.run_failed")
            await status.finish(messages.failed(short(exc)))
            return
        self.rt.metrics.inc("devops_bot_runs_started_total")
        log.info("slack.run_finished", status=report.status)
        incident = _incident_in(report.values)
        if job.incident is not None:  # an investigation: its status message is a header
            await self._finish_incident_status(thread_id, status, job.incident, incident, report)
        else:
            await status.finish(messages.result_line(report))
        if report.status == "awaiting_approval":
            await self.rt.votes.post_card(
                client, status.channel, root_ts, thread_id, report, status.ts
            )
        findings_ts = await results.publish(
            client,
            channel=status.channel,
            thread_ts=root_ts,
            thread_id=thread_id,
            report=report,
            incident=incident,
            sandbox=self.rt.sandbox,
        )
        if findings_ts:  # its remediation and postmortem buttons act on this thread only
            await self.rt.origins.message_posted(
                status.channel, findings_ts, Origin("incident", thread_id)
            )
        await self.refresh_incident_header(client, thread_id, incident, skip_ts=status.ts)

    async def _finish_incident_status(
        self,
        thread_id: str,
        status: StatusMessage,
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
        ref = await self.rt.incident_headers.get(thread_id)
        if ref is None or ref.ts == status.ts:
            await self.rt.incident_headers.put(
                thread_id, HeaderRef(status.channel, status.ts, status.body())
            )

    async def refresh_incident_header(
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
        ref = await self.rt.incident_headers.get(thread_id)
        if ref is not None and ref.ts != skip_ts:
            await results.update_header(client, ref, incident)

    async def _incident_of(self, thread_id: str) -> dict[str, Any] | None:
        return _incident_in(await self.rt.service.state_of(thread_id))

    async def _report_or_none(self, thread_id: str) -> RunReport | None:
        """The thread's report, or None for a thread the graph does not know."""
        try:
            return await self.rt.service.report(thread_id)
        except InputError:
            return None

    def _incident_seed(
        self, task_type: str, context: dict[str, Any], previous: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        return results.incident_seed(task_type, context, previous, self.rt.service.deps.clock())

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
        if not await self.rt.votes.from_its_message(
            client, "incident", user=user, team=team, channel=channel, ts=message_ts, value=value
        ):
            return
        tell = teller(client, channel, user, thread_id)
        parsed = parse_thread_id(thread_id)
        values = await self.rt.service.state_of(thread_id) if parsed else None
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
        current = await self.rt.service.report(thread_id)
        if current.status == "awaiting_approval":
            await tell(messages.remediation_blocked(current.summary))
            return
        if not await self.rt.claims.first_time(f"remediate:{thread_id}:{step_id}:{message_ts}"):
            log.info("slack.remediation_duplicate")
            await tell(messages.remediation_running(step))
            return

        async def run(thread_id: str, on_progress: Progress) -> RunReport:
            return await self.rt.service.remediate(
                thread_id, step_id, user, on_progress=on_progress
            )

        team, thread_channel, root_ts = parsed
        req = SlackRequest(team, thread_channel, user, str(step["command"]), thread_ts=root_ts)
        note = messages.remediation_note(step_id, record.get("id"))
        seed = self._incident_seed(step["task_type"], step.get("context") or {}, values)
        environment = (step.get("context") or {}).get("environment")
        job = _Job(messages.status_header(user, req.text, note), run, seed, environment)
        await self.rt.in_a_slot(lambda slot: self._launch(client, req, job, tell, slot))

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

        if not await self.rt.votes.from_its_message(
            client, "incident", user=user, team=team, channel=channel, ts=message_ts, value=value
        ):
            return
        thread_id = value["thread_id"]
        tell = teller(client, channel, user, thread_id)
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

    async def cancel_in_thread(
        self, client: AsyncWebClient, req: SlackRequest, say_private: Say
    ) -> None:
        """`cancel` / `stop` in a thread (bot.cancel). Never waits for a run slot: the runs
        may hold them all."""
        try:
            await self.rt.cancel.ask(client, req, say_private)
        except Exception as exc:
            if not is_store_error(exc):
                raise
            self.rt.store.mark_down(exc)
            await say_private(messages.state_store_lost())

    async def handle_thread_reply(
        self, client: AsyncWebClient, req: SlackRequest, say_private: Say
    ) -> None:
        """A plain reply in a thread: continue it only when it is one of our graph threads."""
        if req.thread_ts is None:
            return
        if is_cancel(req.text):
            await self.cancel_in_thread(client, req, say_private)
            return
        thread_id = thread_id_for(req.team, req.channel, req.thread_ts)
        if not await self.rt.service.state_of(thread_id):
            return  # someone else's thread: not ours to answer
        await self.handle_request(client, req, say_private)


def _inherit(previous: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    inherited = {k: previous[k] for k in _INHERITED if k in previous and k not in context}
    return {**inherited, **context}


def _incident_in(values: dict[str, Any] | None) -> dict[str, Any] | None:
    incident = (values or {}).get("incident")
    return incident if isinstance(incident, dict) else None
