"""Block Kit structures: the approval card (open, partly voted, closed), the reject modal and
an incident's findings message with its remediation and postmortem buttons.

Limits respected here: section text <= 3000 characters, a section's fields <= 10 and
each <= 2000, header text <= 150, button text <= 75, button value <= 2000, actions
elements <= 25, blocks per message <= 50 (Slack rejects bigger blocks).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bot import messages

__all__ = [
    "APPROVE_ACTION",
    "FULL_PREVIEW_ACTION",
    "INCIDENT_POSTMORTEM_ACTION",
    "INCIDENT_REMEDIATE_ACTION",
    "REJECT_ACTION",
    "REJECT_REASON_ACTION",
    "REJECT_REASON_BLOCK",
    "REJECT_VIEW",
    "approval_card",
    "button_value",
    "closed_card",
    "incident_button_value",
    "incident_findings",
    "parse_button_value",
    "parse_incident_value",
    "preview_chunks",
    "reject_modal",
    "step_signature",
    "truncate_preview",
]

APPROVE_ACTION = "approval_approve"
REJECT_ACTION = "approval_reject"
FULL_PREVIEW_ACTION = "approval_full_preview"
REJECT_VIEW = "approval_reject_reason"
REJECT_REASON_BLOCK = "reason"
REJECT_REASON_ACTION = "reason_input"
INCIDENT_REMEDIATE_ACTION = "incident_remediate"
INCIDENT_POSTMORTEM_ACTION = "incident_postmortem"

SECTION_TEXT_MAX = 3000
BUTTON_TEXT_MAX = 75
ACTIONS_MAX = 25  # elements in one actions block
BLOCKS_MAX = 50  # blocks in one message
_HYPOTHESES_SHOWN = 5
_RUNBOOKS_SHOWN = 5
_PREVIEW_MAX = SECTION_TEXT_MAX - 200  # room for the fences and the "more lines" note
_CHUNK_MAX = 3500  # per message of the full preview (Slack's text limit is far above)

# The confirm button of actions a requester confirms, in the action's own word.
_CONFIRM_LABELS = {"create_repository": "Create", "open_pull_request": "Open pull request"}


def button_value(thread_id: str, report_interrupt_id: str, approval_id: str, status_ts: str) -> str:
    """What a button carries back: enough to find and check the exact pending interrupt."""
    return json.dumps(
        {
            "thread_id": thread_id,
            "interrupt_id": report_interrupt_id,
            "approval_id": approval_id,
            "status_ts": status_ts,
        },
        separators=(",", ":"),
    )


def parse_button_value(value: str | None) -> dict[str, str] | None:
    """The button's JSON, or None when it is not one of ours."""
    try:
        data = json.loads(value or "")
    except (ValueError, RecursionError):  # RecursionError: a value nested ~1000 deep
        return None
    if not isinstance(data, dict) or not data.get("thread_id") or not data.get("interrupt_id"):
        return None
    return {k: str(v) for k, v in data.items() if v is not None}


def incident_button_value(thread_id: str, step: dict[str, Any] | None = None) -> str:
    """An incident button's value: the thread, and for a remediation the step's id and
    signature (`step_signature`: a later investigation may reuse the id for another step)."""
    data = {"thread_id": thread_id}
    if step is not None:
        data |= {"step": str(step.get("id")), "sig": step_signature(step)}
    return json.dumps(data, separators=(",", ":"))


def step_signature(step: dict[str, Any]) -> str:
    """A short fingerprint of what a remediation step runs."""
    text = f"{step.get('id')}\n{step.get('task_type')}\n{step.get('command')}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_incident_value(value: str | None) -> dict[str, str] | None:
    """An incident button's JSON (`thread_id`, maybe `step` and `sig`), or None."""
    try:
        data = json.loads(value or "")
    except (ValueError, RecursionError):  # RecursionError: a value nested ~1000 deep
        return None
    if not isinstance(data, dict) or not data.get("thread_id"):
        return None
    return {k: str(v) for k, v in data.items() if k in {"thread_id", "step", "sig"} and v}


def truncate_preview(
    preview: str, limit: int = _PREVIEW_MAX, *, max_lines: int | None = None
) -> str:
    """Cut at a line boundary (and after `max_lines` lines) and say how much was left out."""
    text = messages.escape((preview or "(no preview)").rstrip()).replace("```", "'''")
    lines = text.splitlines()
    if len(text) <= limit and (max_lines is None or len(lines) <= max_lines):
        return text
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit or (max_lines is not None and len(kept) >= max_lines):
            break
        kept.append(line)
        size += len(line) + 1
    if not kept:  # one enormous line
        kept, size = [text[:limit]], limit
    left = len(lines) - len(kept)
    note = f"… {left} more line(s)" if left else f"… {len(text) - size} more character(s)"
    return "\n".join(kept) + "\n" + note


def preview_chunks(preview: str, limit: int = _CHUNK_MAX) -> list[str]:
    """The whole preview in pieces of at most `limit` characters, cut at line boundaries."""
    text = preview.rstrip().replace("```", "'''")
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.splitlines():
        while len(line) > limit:  # one enormous line: hard cuts
            if current:
                chunks.append("\n".join(current))
                current, size = [], 0
            chunks.append(line[:limit])
            line = line[limit:]
        if current and size + len(line) + 1 > limit:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        chunks.append("\n".join(current))
    return chunks or [""]


def approval_card(
    report: Any, *, status_ts: str, preview_limit: int = _PREVIEW_MAX
) -> list[dict[str, Any]]:
    """The open card: what, where, who asked, risk, preview, expiry, approvers, votes, buttons.

    When the preview had to be cut, a "Full preview" button shows the whole text.
    """
    request = report.approval or {}
    value = button_value(
        report.thread_id, report.interrupt_id or "", request.get("id", ""), status_ts
    )
    preview = request.get("preview", "")
    extra = []
    if len((preview or "").rstrip()) > preview_limit:  # truncate_preview cuts it
        extra.append(
            {
                "type": "button",
                "action_id": FULL_PREVIEW_ACTION,
                "text": {"type": "plain_text", "text": "Full preview"},
                "value": value,
            }
        )
    return [
        *_facts(
            request,
            title="Confirmation required" if request.get("confirm") else "Approval required",
            preview_limit=preview_limit,
        ),
        *_plan_files(request),
        {
            "type": "actions",
            "block_id": "approval_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION,
                    "text": {
                        "type": "plain_text",
                        "text": _CONFIRM_LABELS.get(str(request.get("action")), "Confirm")
                        if request.get("confirm")
                        else "Approve",
                    },
                    "style": "primary",
                    "value": value,
                },
                {
                    "type": "button",
                    "action_id": REJECT_ACTION,
                    "text": {"type": "plain_text", "text": "Reject"},
                    "style": "danger",
                    "value": value,
                },
                *extra,
            ],
        },
        _footer(request, report.thread_id),
    ]


def closed_card(
    approval: dict[str, Any], status: str, thread_id: str, *, note: str | None = None
) -> list[dict[str, Any]]:
    """The card after a decision: same facts, no buttons, who decided and when."""
    line = messages.decision_line(approval, status)
    if note:
        line += f"\n{note}"
    return [
        *_facts(approval, title="Approval closed"),
        _section(line),
        _footer(approval, thread_id),
    ]


def incident_findings(
    record: dict[str, Any], thread_id: str, *, sandbox: bool = False
) -> list[dict[str, Any]]:
    """The investigation's answer: status line, narrative, ranked causes with their first
    evidence, remediation buttons (writes ask for confirmation), runbooks, what was not
    checked, and a "Postmortem draft" button."""
    out = [_section(f"*{messages.incident_header(record)}*")]
    if record.get("narrative"):
        out.append(_section(messages.escape(record["narrative"])))
    out += [
        _section(messages.hypothesis(h)) for h in record.get("hypotheses", [])[:_HYPOTHESES_SHOWN]
    ]
    steps = list((record.get("remediations") or {}).values())
    if steps:
        lines = [messages.remediations_title(), *map(messages.remediation_line, steps)]
        out.append(_section("\n".join(lines)))
    buttons = [_remediation_button(step, thread_id) for step in steps]
    buttons.append(
        {
            "type": "button",
            "action_id": INCIDENT_POSTMORTEM_ACTION,
            "text": {"type": "plain_text", "text": "Postmortem draft"},
            "value": incident_button_value(thread_id),
        }
    )
    docs = record.get("runbooks") or []
    tail = []
    if docs:
        lines = ["*Runbooks*", *map(messages.runbook_line, docs[:_RUNBOOKS_SHOWN])]
        tail.append(_section("\n".join(lines)))
    if record.get("unavailable"):
        tail.append(_context(messages.not_checked(record["unavailable"])))
    where = " · SANDBOX (simulated cluster, metrics and alerts)" if sandbox else ""
    tail.append(_context(f"incident `{record.get('id', '?')}` · thread `{thread_id}`{where}"))
    room = BLOCKS_MAX - len(out) - len(tail)
    actions = [
        {"type": "actions", "block_id": f"incident_actions_{n}", "elements": chunk}
        for n, chunk in enumerate(_chunks(buttons, ACTIONS_MAX))
    ]
    if len(actions) > room:  # far too many steps: keep the first ones and the postmortem
        actions = actions[:room]
        actions[-1]["elements"][-1] = buttons[-1]
    return [*out, *actions, *tail][:BLOCKS_MAX]


def _remediation_button(step: dict[str, Any], thread_id: str) -> dict[str, Any]:
    label = step.get("label") or step.get("id")
    button: dict[str, Any] = {
        "type": "button",
        "action_id": INCIDENT_REMEDIATE_ACTION,
        "text": {"type": "plain_text", "text": _cap(str(label), BUTTON_TEXT_MAX)},
        "value": incident_button_value(thread_id, step),
    }
    if step.get("writes"):
        button["confirm"] = {
            "title": {"type": "plain_text", "text": "Plan this change?"},
            "text": {"type": "mrkdwn", "text": _cap(messages.remediation_confirm(step), 300)},
            "confirm": {"type": "plain_text", "text": "Plan it"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }
    return button


def reject_modal(approval: dict[str, Any], private_metadata: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": REJECT_VIEW,
        "private_metadata": private_metadata,
        "title": {"type": "plain_text", "text": "Reject request"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _cap(messages.reject_modal_prompt(approval))},
            },
            {
                "type": "input",
                "block_id": REJECT_REASON_BLOCK,
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REJECT_REASON_ACTION,
                    "multiline": True,
                    "max_length": 500,
                },
            },
        ],
    }


# -- helpers -------------------------------------------------------------------------------


def _facts(
    request: dict[str, Any], *, title: str, preview_limit: int = _PREVIEW_MAX
) -> list[dict[str, Any]]:
    action, target = request.get("action", "?"), request.get("target", "?")
    risk = ", ".join(request.get("risk_tags") or []) or "none"
    got = [v["user"] for v in request.get("votes", []) if v.get("decision") == "approve"]
    needed = request.get("min_approvals", 1)
    so_far = ", ".join(messages.mention(u) for u in got) or "none yet"
    self_rule = "allowed" if request.get("allow_self_approval") else "not allowed"
    fields = [
        ("Action", f"`{action}`"),
        ("Target", f"`{target}`"),
        ("Environment", request.get("environment") or "unknown"),
        ("Namespace", request.get("namespace") or "default"),
        ("Requested by", messages.mention(request.get("requester"))),
        ("Risk tags", risk),
        ("Plan hash", f"`{request.get('plan_hash', '?')}`"),
        ("Expires", messages.slack_date(request.get("expires_at"))),
        ("Who may approve", f"{_approvers(request)} (self-approval {self_rule})"),
        ("Votes", f"{len(got)} of {needed}: {so_far}"),
    ]
    why = "; ".join(request.get("reasons") or []) or "policy"
    preview = truncate_preview(request.get("preview", ""), preview_limit)
    return [
        {"type": "header", "text": {"type": "plain_text", "text": f"{title}: {action}"[:150]}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": _cap(f"*{k}*\n{v}", 2000)} for k, v in fields],
        },
        _section(f"*Why approval:* {why}"),
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*Dry-run preview*\n```{preview}```"},
        },
    ]


_FILES_SHOWN = 5  # files of a plan shown on its card (all of them are uploaded in the thread)
_FILE_LINES = 20  # lines of each shown on the card
_FILE_CHARS = 1500


def _plan_files(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The files the plan carries, each cut to its first lines ("… N more line(s)"): the
    exact text that will be approved; the whole files are uploaded into the thread."""
    files = [f for f in request.get("files") or [] if isinstance(f, dict)]
    shown = []
    for f in files[:_FILES_SHOWN]:
        content = str(f.get("content", ""))
        path = messages.escape(str(f.get("path", "?"))).replace("`", "'")
        lines = len(content.splitlines())
        head = f"*File* `{path}` ({lines} lines; the whole file is in the thread)"
        body = truncate_preview(content or "(empty)", _FILE_CHARS, max_lines=_FILE_LINES)
        shown.append(_section(f"{head}\n```{body}```"))
    if len(files) > _FILES_SHOWN:
        shown.append(_context(f"… and {len(files) - _FILES_SHOWN} more file(s), in the thread"))
    return shown


def _footer(request: dict[str, Any], thread_id: str) -> dict[str, Any]:
    sandbox = " · SANDBOX (simulated cluster)" if request.get("sandbox") else ""
    return _context(f"approval `{request.get('id', '?')}` · thread `{thread_id}`{sandbox}")


def _approvers(request: dict[str, Any]) -> str:
    who = request.get("required_approvers") or {}
    names = [messages.mention(u) for u in who.get("users", [])]
    names += [f"<!subteam^{g}>" for g in who.get("groups", [])]
    return ", ".join(names) or "nobody is configured"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cap(text)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cap(text)}]}


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _cap(text: str, limit: int = SECTION_TEXT_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
