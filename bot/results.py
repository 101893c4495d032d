"""What a finished run leaves in its Slack thread besides its status message, by kind of result.

- metric results (a metrics question, a health overview): one PNG chart each, drawn off the
  event loop and uploaded into the thread with `files_upload_v2`;
- an incident investigation: the findings message, with one button per remediation step
  and a "Postmortem draft" button;
- a postmortem draft (Markdown): uploaded into the thread as `<incident id>-postmortem.md`.

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
from datetime import datetime
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, messages
from bot.stores import HeaderRef
from workflow.incident import new_incident_id
from workflow.routing import route_for

__all__ = [
    "incident_seed",
    "post_findings",
    "publish",
    "say",
    "status_text",
    "update_header",
    "upload",
    "upload_postmortem",
]

log = structlog.get_logger("devops-bot.slack")

STATUS_TEXT_MAX = 3900  # chat.update text; Slack truncates past 40k, we stay readable


def status_text(*parts: str | None) -> str:
    """A status message from its pieces (title, body, footer), empty ones left out."""
    return "\n".join(p for p in parts if p)[:STATUS_TEXT_MAX]


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
    """Show what a finished run found, by kind of result (nothing for other kinds).

    The ts of the message with buttons (an incident's findings), if one was posted."""
    if report.status != "done":
        return None
    findings_ts = None
    output = (report.result or {}).get("output") or {}
    metrics = output.get("metrics")  # metric results: a metrics question, a health overview
    for data in metrics if isinstance(metrics, list) else []:
        if isinstance(data, dict) and "series" in data:
            await _post_chart(client, channel=channel, thread_ts=thread_ts, data=data)
    if isinstance(output.get("incident"), dict):
        findings_ts = await post_findings(
            client,
            channel=channel,
            thread_ts=thread_ts,
            thread_id=thread_id,
            record=output["incident"],
            sandbox=sandbox,
        )
    if output.get("markdown"):
        await upload_postmortem(
            client,
            channel=channel,
            thread_ts=thread_ts,
            incident_id=str((incident or {}).get("id") or "incident"),
            markdown=str(output["markdown"]),
        )
    return findings_ts


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
    error = await upload(
        client,
        channel=channel,
        thread_ts=thread_ts,
        filename=f"{_safe(incident_id)}-postmortem.md",
        title=f"Postmortem draft {incident_id}",
        content=markdown,
        initial_comment=messages.postmortem_comment(incident_id, user),
    )
    if error is None:
        return
    await say(client, channel, thread_ts, messages.postmortem_not_uploaded(error))
    chunks = blocks.preview_chunks(markdown)
    for n, chunk in enumerate(chunks, 1):
        await say(
            client, channel, thread_ts, messages.postmortem_part(incident_id, chunk, n, len(chunks))
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
