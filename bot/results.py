"""What a finished run leaves in its Slack thread besides its status message: its result parts.

An agent result carries parts (`workflow.parts`); each kind is rendered here once, by a table
on `kind` (no agent is named here):

- text: a message, escaped (a `<!channel>` in it pings nobody);
- table: a titled code block, columns aligned, cut to Slack's message size;
- file: uploaded into the thread with `files_upload_v2` (its `note` as the comment);
- chart: a PNG drawn from the metric's series off the event loop, uploaded likewise;
- findings: the incident's findings message, with one button per remediation step and a
  "Postmortem draft" button (its ts is what `publish` returns);
- preview: a plan's dry-run preview as code blocks.

A run waiting for approval has its card (posted by the caller); the files of its plan are
uploaded here into the thread, in full (the card shows them cut).

An upload that fails (no `files:write` scope, a network error) is logged and replaced by text
in the thread: it never fails the run, and the run's result line is already posted.

An investigation's status message carries the incident's header line (`incident_seed` until
the record exists). `bot.stores.IncidentHeaders` remembers which message is an incident
thread's header (the first investigation's status message), so a remediation applied later
can update it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, messages
from bot.stores import HeaderRef
from workflow import parts
from workflow.incident import new_incident_id
from workflow.routing import route_for

__all__ = [
    "RENDERERS",
    "incident_seed",
    "post_findings",
    "post_parts",
    "publish",
    "say",
    "status_text",
    "update_header",
    "upload",
    "upload_postmortem",
]

log = structlog.get_logger("devops-bot.slack")

STATUS_TEXT_MAX = 3900  # chat.update text; Slack truncates past 40k, we stay readable


def status_text(*pieces: str | None) -> str:
    """A status message from its pieces (title, body, footer), empty ones left out."""
    return "\n".join(p for p in pieces if p)[:STATUS_TEXT_MAX]


async def publish(
    client: AsyncWebClient,
    *,
    channel: str,
    thread_ts: str,
    thread_id: str,
    report: Any,
    incident: dict[str, Any] | None,
    sandbox: bool = False,
) -> str | None:
    """Show what a finished run found: its result parts (a run that is done), or the files of
    the plan waiting for approval.

    The ts of the message with buttons (an incident's findings), if one was posted.
    `incident` is the thread's record (kept for the callers; parts carry what they show)."""
    where = _Where(client, channel, thread_ts, thread_id, sandbox)
    if report.status == "awaiting_approval":
        for part in _plan_files(report.approval):
            await _post_file(where, part)
        return None
    if report.status != "done":
        return None
    return await post_parts(where, parts.parts_of(report.result))


@dataclass(frozen=True)
class _Where:
    client: AsyncWebClient
    channel: str
    thread_ts: str
    thread_id: str
    sandbox: bool = False


async def post_parts(where: _Where, shown: list[dict[str, Any]]) -> str | None:
    """Each part by its kind's renderer; the last ts a renderer returned (the findings')."""
    button_ts = None
    for part in shown:
        ts = await RENDERERS[part["kind"]](where, part)
        button_ts = ts or button_ts
    return button_ts


def _plan_files(approval: dict[str, Any] | None) -> list[dict[str, Any]]:
    try:
        return list(parts.plan_files((approval or {}).get("files")))
    except parts.PartError as exc:  # checked when planned; a stored request edited since
        log.warning("slack.plan_file_refused", error=str(exc))
        return []


async def _post_text(where: _Where, part: dict[str, Any]) -> None:
    for chunk in blocks.preview_chunks(messages.escape(part.get("body", ""))):
        await say(where.client, where.channel, where.thread_ts, chunk)


async def _post_table(where: _Where, part: dict[str, Any]) -> None:
    title = f"*{messages.escape(part.get('title', ''))}*"
    chunks = blocks.preview_chunks(messages.escape("\n".join(parts.table_lines(part))))
    for n, chunk in enumerate(chunks, 1):
        more = f" (part {n} of {len(chunks)})" if len(chunks) > 1 else ""
        await say(where.client, where.channel, where.thread_ts, f"{title}{more}\n```{chunk}```")


async def _post_preview(where: _Where, part: dict[str, Any]) -> None:
    title = f"*{messages.escape(part.get('title') or 'Dry-run preview')}*"
    chunks = blocks.preview_chunks(messages.escape(part.get("body", "")))
    for n, chunk in enumerate(chunks, 1):
        more = f" (part {n} of {len(chunks)})" if len(chunks) > 1 else ""
        await say(where.client, where.channel, where.thread_ts, f"{title}{more}\n```{chunk}```")


async def _post_findings(where: _Where, part: dict[str, Any]) -> str | None:
    record = part.get("incident")
    if not isinstance(record, dict):
        return None
    return await post_findings(
        where.client,
        channel=where.channel,
        thread_ts=where.thread_ts,
        thread_id=where.thread_id,
        record=record,
        sandbox=where.sandbox,
    )


async def _post_file(
    where: _Where,
    part: dict[str, Any],
    *,
    comment: str | None = None,
    not_uploaded: Callable[[str], str] | None = None,
    piece: Callable[[str, int, int], str] | None = None,
) -> None:
    """The file in the thread, or (the upload failed) a note and its text as code blocks."""
    path = str(part.get("path") or "file")
    title = str(part.get("title") or path)
    if comment is None and part.get("note"):
        comment = f":memo: {messages.escape(part['note'])}"
    error = await upload(
        where.client,
        channel=where.channel,
        thread_ts=where.thread_ts,
        filename=_safe(path),
        title=title,
        **(
            {"file": parts.file_bytes(part)}
            if part.get("encoding") == "base64"
            else {"content": str(part.get("content", ""))}
        ),
        **({"initial_comment": comment} if comment else {}),
    )
    if error is None:
        return
    note = not_uploaded(error) if not_uploaded else messages.file_not_uploaded(path, error)
    await say(where.client, where.channel, where.thread_ts, note)
    if part.get("encoding") == "base64":
        return  # an archive's bytes are no message text
    chunks = blocks.preview_chunks(str(part.get("content", "")))
    shown = piece or (lambda c, i, k: messages.file_part(path, c, i, k))
    for n, chunk in enumerate(chunks, 1):
        await say(where.client, where.channel, where.thread_ts, shown(chunk, n, len(chunks)))


async def _post_chart_part(where: _Where, part: dict[str, Any]) -> None:
    data = {**(part.get("metric") or {}), "title": part.get("title"), "name": part.get("name")}
    await _post_chart(where.client, channel=where.channel, thread_ts=where.thread_ts, data=data)


# kind -> renderer `(where, part) -> ts of a message with buttons, or None`: every kind once.
RENDERERS: dict[str, Callable[[_Where, dict[str, Any]], Awaitable[str | None]]] = {
    "text": _post_text,
    "table": _post_table,
    "file": _post_file,
    "chart": _post_chart_part,
    "findings": _post_findings,
    "preview": _post_preview,
}
assert set(RENDERERS) == set(parts.KINDS), "a part kind without its Slack renderer"


async def post_findings(
    client: AsyncWebClient,
    *,
    channel: str,
    thread_ts: str,
    thread_id: str,
    record: dict[str, Any],
    sandbox: bool = False,
) -> str | None:
    """The findings message; plain text (no buttons) if Slack refuses the blocks.

    Its ts when it carries buttons, else None."""
    try:
        posted = await client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=messages.incident_header(record),
            blocks=blocks.incident_findings(record, thread_id, sandbox=sandbox),
        )
    except SlackApiError as exc:
        log.warning("slack.findings_failed", error=exc.response.get("error"))
        from workflow.incident import findings_text

        await say(client, channel, thread_ts, findings_text(record)[:STATUS_TEXT_MAX])
        return None
    return str(posted["ts"])


async def upload_postmortem(
    client: AsyncWebClient,
    *,
    channel: str,
    thread_ts: str,
    incident_id: str,
    markdown: str,
    user: str | None = None,
) -> None:
    """The draft as a .md file in the thread, or as code blocks if the upload fails."""
    await _post_file(
        _Where(client, channel, thread_ts, ""),
        parts.file(
            f"{_safe(incident_id)}-postmortem.md", markdown, title=f"Postmortem draft {incident_id}"
        ),
        comment=messages.postmortem_comment(incident_id, user),
        not_uploaded=messages.postmortem_not_uploaded,
        piece=lambda chunk, n, count: messages.postmortem_part(incident_id, chunk, n, count),
    )


async def _post_chart(
    client: AsyncWebClient, *, channel: str, thread_ts: str, data: dict[str, Any]
) -> None:
    title = str(data.get("title") or data.get("name") or "metric")
    try:
        png = await asyncio.to_thread(_draw, data, title)
    except Exception as exc:  # bad data from a backend: say so, keep going
        log.warning("slack.chart_failed", title=title, error=f"{type(exc).__name__}: {exc}"[:300])
        error: str | None = f"could not draw it: {type(exc).__name__}"
        if type(exc).__name__ == "ChartsUnavailable":
            error = str(exc)
    else:
        error = await upload(
            client,
            channel=channel,
            thread_ts=thread_ts,
            filename=f"{_safe(str(data.get('name') or 'metric'))}.png",
            title=title,
            file=png,
            alt_txt=title,
        )
    if error is not None:
        await say(client, channel, thread_ts, messages.chart_not_uploaded(title, error))


def _draw(data: dict[str, Any], title: str) -> bytes:
    """CPU-bound (matplotlib): call in a worker thread."""
    from workflow.tools.charts import render_chart
    from workflow.tools.prometheus import MetricResult

    return render_chart(MetricResult.model_validate(data), title=title)


async def upload(
    client: AsyncWebClient,
    *,
    channel: str,
    thread_ts: str,
    filename: str,
    title: str,
    **source: Any,
) -> str | None:
    """Upload one file (`file=` bytes or `content=` text) into the thread.

    None when it worked, else why not (logged); never raises for a Slack or network failure.
    """
    try:
        await client.files_upload_v2(
            channel=channel, thread_ts=thread_ts, filename=filename, title=title, **source
        )
    except SlackApiError as exc:
        error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
    except Exception as exc:  # SlackRequestError (the upload POST), aiohttp, timeouts
        error = f"the upload failed: {type(exc).__name__}"
    else:
        return None
    log.warning("slack.upload_failed", filename=filename, error=error)
    return error


async def say(client: AsyncWebClient, channel: str, thread_ts: str | None, text: str) -> None:
    """Post `text` in the thread; a failure is logged, not raised."""
    try:
        await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
    except SlackApiError as exc:
        log.warning("slack.cannot_post", error=exc.response.get("error"))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80] or "file"


# -- the incident thread's status header -------------------------------------------------------


def incident_seed(
    task_type: str, context: dict[str, Any], previous: dict[str, Any] | None, now: datetime
) -> dict[str, Any] | None:
    """The header of an investigation about to start (id, service, environment, severity,
    state "investigating"), or None for any other run. The id is the thread's incident id,
    else the one asked about, else a new one in the workflow's own form (INC-<date>-<hex>),
    which the caller passes on as the run's `incident_id`."""
    try:
        agent = route_for(task_type).agent
    except ValueError:
        return None
    if agent != "incident_agent" or context.get("action") in {"changes", "postmortem"}:
        return None
    record = (previous or {}).get("incident") or {}
    service = context.get("service") or record.get("service")
    if not service:
        return None  # the agent will ask which service; no incident yet
    return {
        "id": record.get("id") or context.get("incident_id") or new_incident_id(now),
        "service": service,
        "environment": context.get("environment") or record.get("environment"),
        "severity": context.get("severity") or record.get("severity"),
        "state": "investigating",
    }


async def update_header(client: AsyncWebClient, ref: HeaderRef, record: dict[str, Any]) -> None:
    """Rewrite an incident status message from the record (its state, severity, last action)."""
    text = status_text(messages.incident_header(record), ref.body, messages.incident_footer(record))
    try:
        await client.chat_update(channel=ref.channel, ts=ref.ts, text=text)
    except SlackApiError as exc:
        log.warning("slack.update_failed", error=exc.response.get("error"))
