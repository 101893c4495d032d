"""Every user-facing sentence the Slack bot says, in one place.

Slack `mrkdwn` throughout: `<@U123>` mentions, backticks for code. Builders of Block
Kit structures live in `bot.blocks`; this module only produces text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = [
    "EXAMPLES",
    "HELP_WORDS",
    "already_pending",
    "cancel_missed",
    "cancel_nothing_running",
    "cancel_refused",
    "cancel_too_late",
    "cancelled",
    "cancelled_footer",
    "cannot_post",
    "chart_not_uploaded",
    "decision_line",
    "escape",
    "evidence_line",
    "failed",
    "full_preview",
    "hypothesis",
    "incident_footer",
    "incident_header",
    "interrupted_run",
    "mention",
    "no_incident",
    "no_preview",
    "not_checked",
    "not_understood",
    "postmortem_comment",
    "postmortem_not_uploaded",
    "postmortem_part",
    "refused",
    "reject_modal_prompt",
    "remediation_blocked",
    "remediation_confirm",
    "remediation_line",
    "remediation_note",
    "remediation_running",
    "remediation_stale",
    "remediations_title",
    "result_line",
    "routing_line",
    "runbook_line",
    "shared_file_missing_scope",
    "shared_file_not_a_document",
    "shared_file_not_text",
    "shared_file_refused",
    "shared_file_too_big",
    "slack_date",
    "stale_card",
    "status_header",
    "unknown_thread",
    "usage",
    "usage_fallback",
]

EXAMPLES: tuple[str, ...] = (
    "deploy api-server:v1.2.3 prod",
    "scale deployment/api-server --replicas=3 -n staging",
    "show error logs for api-server in prod for the last 1h",
    "rollback checkout in staging",
    "investigate INC-1234: checkout is returning 500s in prod",
)

HELP_WORDS = frozenset({"", "help", "-h", "--help", "?", "usage"})

_STATUS_WORDS = {
    "done": "Done",
    "applied": "Applied",
    "awaiting_approval": "Waiting for approval",
    "approved": "Approved, applying",
    "failed": "Failed",
    "rejected": "Rejected",
    "expired": "Expired",
}


def mention(user: str | None) -> str:
    return f"<@{user}>" if user else "someone"


def slack_date(iso: str | None) -> str:
    """A Slack date token (rendered in each reader's time zone) with the ISO text as fallback."""
    if not iso:
        return "unknown time"
    try:
        epoch = int(datetime.fromisoformat(iso).timestamp())
    except ValueError:
        return iso
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{iso}>"


def usage() -> str:
    examples = "\n".join(f"• `/devops {e}`" for e in EXAMPLES)
    return (
        "*devops-bot*: say what you need in plain words; I route it to the right agent, "
        "show you the plan, and anything risky (production, destructive, high risk) waits "
        "for an approver's click before it runs.\n\n"
        f"*Examples*\n{examples}\n\n"
        "Approve or reject from the card I post in the thread. `/devops help` shows this again."
    )


def usage_fallback() -> str:
    return "devops-bot usage: /devops <what you need>, e.g. /devops " + EXAMPLES[0]


def not_understood(text: str, hint: str | None) -> str:
    if hint:
        return hint
    examples = "; ".join(f"`{e}`" for e in EXAMPLES[:3])
    return f"I couldn't tell which DevOps task you want from {text!r}. Try for example: {examples}."


def status_header(user: str | None, text: str, note: str | None = None) -> str:
    """Who asked what; `note` says more, e.g. "remediation r1 of INC-20261127-60b3"."""
    return f"{mention(user)} asked: `{_one_line(text)}`" + (f" ({note})" if note else "")


def routing_line(step: dict[str, Any]) -> str:
    return f"• {step.get('node')} → {step.get('target')} ({step.get('reason')})"


def escape(text: Any) -> str:
    """Text from outside (log lines, alert annotations, a model's summary) as Slack shows it
    literally: `<!channel>` or `<http://x|y>` in a log line must not ping or link anyone."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


RESULT_NOTES_MAX = 5  # an agent's warnings shown under the result line


def result_line(report: Any) -> str:
    """The status message's last line: what the run came to, then the agent's warnings (what
    it did not do or use, said rather than dropped)."""
    word = _STATUS_WORDS.get(report.status, report.status)
    if report.status == "applied" and (report.outcome or {}).get("stage") == "rolled_out":
        word = "Done" if _is_execution(report.outcome) else "Rolled out"
    line = f"*{word}*: {escape(report.summary)}"
    if report.status == "awaiting_approval":
        line += ". The approval card is in this thread."
    result = getattr(report, "result", None) or {}
    warnings = [str(w) for w in result.get("warnings") or [] if w]
    notes = [f"_Note:_ {escape(w)}" for w in warnings[:RESULT_NOTES_MAX]]
    if len(warnings) > RESULT_NOTES_MAX:
        notes.append(f"_… and {len(warnings) - RESULT_NOTES_MAX} more notes_")
    return "\n".join([line, *notes])


def _is_execution(outcome: dict[str, Any] | None) -> bool:
    """Whether the change being followed is a pipeline execution (not a rollout)."""
    return bool(((outcome or {}).get("result") or {}).get("execution"))


def applied_rolling_out(outcome: dict[str, Any]) -> str:
    """Said in the thread as soon as the API server has accepted a Deployment change (or a
    pipeline execution has started)."""
    if _is_execution(outcome):
        return (
            f"*Started*: {escape(str(outcome.get('summary', '')))}. Following the execution "
            "stage by stage; its result comes next in this thread."
        )
    return (
        f"*Applied*: {escape(str(outcome.get('summary', '')))}. Following the rollout; "
        "its result comes next in this thread."
    )


def decision_line(approval: dict[str, Any], status: str) -> str:
    """Who decided what and when, for the card once it is closed."""
    by = approval.get("decided_by")
    at = slack_date(approval.get("decided_at"))
    if status in {"approved", "applied"} or approval.get("status") == "approved":
        return f":white_check_mark: Approved by {mention(by)} at {at}"
    if status == "rejected" or approval.get("status") == "rejected":
        reason = approval.get("reason") or "no reason given"
        return f":x: Rejected by {mention(by)} at {at}: {reason}"
    if status == "expired" or approval.get("status") == "expired":
        return (
            f":hourglass: Expired at {slack_date(approval.get('expires_at'))}; nothing was applied"
        )
    return f"Closed ({status})"


def stale_card(report: Any | None) -> str:
    if report is None:
        return "This card is stale: its run is no longer known here. Nothing was changed."
    approval = report.approval or {}
    if report.status == "approved" or (
        report.status == "applied" and (report.outcome or {}).get("stage") == "rolling_out"
    ):
        doing = "applying now" if report.status == "approved" else "applied, rolling out now"
        return (
            f"This request was already approved by {mention(approval.get('decided_by'))} at "
            f"{slack_date(approval.get('decided_at'))}; {doing}. Your click changed nothing."
        )
    if report.status == "awaiting_approval":
        return (
            "This card is stale: the request it shows has moved on (a newer card in this "
            "thread is current). Nothing was changed."
        )
    return (
        f"This card is stale: the request was already closed ({report.summary}). "
        "Nothing was changed."
    )


def already_decided(vote: dict[str, Any]) -> str:
    """A click that lost to a vote that closed the request (which may still be applying)."""
    by, at = mention(vote.get("user")), slack_date(vote.get("at"))
    if vote.get("decision") == "approve":
        return f"Already approved by {by} at {at}, applying now. Your click changed nothing."
    if vote.get("decision") == "reject":
        reason = escape(vote.get("reason") or "no reason given")
        return f"Already rejected by {by} at {at}: {reason}. Your click changed nothing."
    return f"This request already expired at {at}; nothing was applied. Your click changed nothing."


def waiting_for_rollout() -> str:
    return "_waiting for the rollout of this thread's last change to finish…_"


def thread_still_running(message: str) -> str:
    return f":hourglass: {message}. Nothing was started."


def thread_busy() -> str:
    return (
        ":hourglass: This thread is busy with another step and your vote was not counted; "
        "click again in a minute. Nothing was changed."
    )


def not_this_request() -> str:
    return (
        ":no_entry: This button does not belong to this request: it names a thread or "
        "request other than the one its message was posted for, so it was not used. "
        "Nothing was changed."
    )


def cannot_post(error: str) -> str:
    if error in {"not_in_channel", "channel_not_found"}:
        return (
            "I can't post in this channel yet, so I started nothing. Invite me with "
            "`/invite @devops-bot` and try again."
        )
    return f"I couldn't post in this channel ({error}), so I started nothing."


def shared_file_not_a_document(names: list[str]) -> str:
    shown = ", ".join(f"`{_one_line(escape(n), 100)}`" for n in names[:5]) or "the file"
    return (
        f":warning: I read an OpenAPI document from a JSON or YAML file (`.json`, `.yaml`, "
        f"`.yml`); {shown} is not one, so I started nothing. Upload the document as such a "
        "file, or paste its URL."
    )


def shared_file_too_big(name: str, size: int | None, limit: int) -> str:
    was = f" is {size:,} bytes" if size is not None else " is larger than that"
    return (
        f":warning: I read uploaded OpenAPI documents up to {limit:,} bytes; "
        f"`{_one_line(escape(name), 100)}`{was}, so I started nothing. Paste its URL instead."
    )


def shared_file_not_text(name: str) -> str:
    return (
        f":warning: `{_one_line(escape(name), 100)}` is not UTF-8 text, so it is not a JSON or "
        "YAML document; I started nothing."
    )


def shared_file_missing_scope() -> str:
    return (
        ":warning: I can't read files shared in Slack: the app lacks the `files:read` scope; "
        "reinstall it from manifest.yml. I started nothing."
    )


def shared_file_refused(name: str, why: str) -> str:
    return (
        f":warning: Slack did not let me read `{_one_line(escape(name), 100)}` "
        f"({_one_line(escape(why), 100)}), so I started nothing. If the app lacks the "
        "`files:read` scope, reinstall it from manifest.yml; or paste the document's URL."
    )


def refused(reason: str) -> str:
    reason = reason.rstrip(". ")
    if "nothing changed" in reason.lower() or "nothing was changed" in reason.lower():
        return f":no_entry: {reason}."
    return f":no_entry: {reason}. Nothing was changed."


def unknown_thread(thread_id: str) -> str:
    return f"I don't know the run behind this card ({thread_id}). Nothing was changed."


def failed(error: str) -> str:
    return f":warning: Something went wrong: {error}"


def full_preview(chunk: str, part: int, parts: int) -> str:
    return _code_part("*Full dry-run preview*", chunk, part, parts)


def _code_part(title: str, chunk: str, part: int, parts: int) -> str:
    """One piece of a long text shown as code: a title line, then the piece in fences."""
    title += f" (part {part} of {parts})" if parts > 1 else ""
    return f"{title}\n```{chunk}```"


def interrupted_run(steps: list[str]) -> str:
    where = f" before {', '.join(f'`{s}`' for s in steps)}" if steps else ""
    return (
        f":warning: This run was interrupted{where}: the bot serving it stopped. Nothing past "
        "that step ran. Ask again in this thread to run it anew."
    )


def following_footer() -> str:
    return "_following it; the result comes next in this thread…_"


def following_rollout_again(outcome: dict[str, Any] | None = None) -> str:
    what = "the pipeline execution" if _is_execution(outcome) else "the rollout"
    return (
        ":warning: The bot serving this thread stopped after applying the change, while it "
        f"was following {what}. Following {what} again now; its result comes next."
    )


STATE_STORE_UNAVAILABLE = (
    ":warning: The state store is unavailable; nothing was changed. "
    "Try again in a minute: the bot reconnects by itself."
)


def state_store_unavailable() -> str:
    """The answer to every request while Redis is unreachable (nothing was started)."""
    return STATE_STORE_UNAVAILABLE


def state_store_lost() -> str:
    """A run that met an unreachable Redis after it started."""
    return (
        ":warning: The state store became unavailable while this ran, so it stopped here. "
        "Nothing is applied without a recorded approval; the thread's status message shows "
        "how far it got. Ask again once the bot answers normally."
    )


def vote_interrupted(decision: str) -> str:
    button = "Reject" if decision == "reject" else "Approve"
    return (
        f":warning: Your {button} click was cut off: the bot serving it stopped before the "
        f"request was decided. It is still waiting for approval; click {button} again "
        "(a vote is never counted twice)."
    )


def vote_being_finished(decision: str) -> str:
    verb = "rejection" if decision == "reject" else "approval"
    return (
        f":hourglass_flowing_sand: Your {verb} was recorded, but the bot serving it stopped "
        "before acting on it. Another replica is finishing it now (within about half a "
        "minute); the card will show the outcome. No need to click again."
    )


def lost_request(text: str) -> str:
    shown = text if len(text) <= 200 else text[:199] + "…"
    return (
        f":warning: Your request `{shown}` was received, but the bot serving it stopped before "
        "it started. Nothing was run and nothing was changed. Send it again."
    )


def lost_run() -> str:
    return (
        ":warning: This request was interrupted before it was planned: the bot serving it "
        "stopped. Nothing was changed. Ask again in this thread to run it anew."
    )


def no_preview() -> str:
    return "This request has no dry-run preview to show."


def already_pending(message: str) -> str:
    return f":pause_button: {message}. The pending approval card is above in this thread."


def reject_modal_prompt(approval: dict[str, Any]) -> str:
    return f"Reject *{approval.get('action')}* of `{approval.get('target')}`? Say why (required)."


# -- incidents and results ------------------------------------------------------------------

_STATE_WORDS = {
    "investigating": "Investigating",
    "cause identified": "Cause identified",
    "no clear cause": "No clear cause yet",
    "mitigation applied": "Mitigation applied",
    "mitigation did not roll out": "Mitigation did not roll out",
}


def incident_header(record: dict[str, Any]) -> str:
    """The incident thread's status line: id, where, how bad, where it stands."""
    where = str(record.get("service") or "?")
    if record.get("environment"):
        where += f" ({record['environment']})"
    severity = record.get("severity") or "not yet known"
    state = record.get("state") or "investigating"
    return f":rotating_light: {record.get('id', 'INC-?')} · {where} · severity {severity} · {state}"


def incident_footer(record: dict[str, Any]) -> str:
    """The last line of the incident status message, from the record's state."""
    state = record.get("state") or ""
    word = _STATE_WORDS.get(state, state.capitalize() or "Done")
    if state in {"mitigation applied", "mitigation did not roll out"}:
        actions = record.get("actions") or []
        done = [a for a in actions if a.get("status") == "applied"]
        last = (done or actions or [{}])[-1].get("summary") or "a remediation was applied"
        return f"*{word}*: {_one_line(str(last))}"
    top = (record.get("hypotheses") or [{}])[0]
    if state == "cause identified" and top.get("title"):
        return (
            f"*{word}*: {_one_line(str(top['title']))}. "
            "The findings and remediation buttons are in this thread."
        )
    return f"*{word}*. The findings are in this thread."


def evidence_line(source: str, summary: str) -> str:
    return f"• evidence from {source}: {escape(_one_line(summary))}"


def hypothesis(h: dict[str, Any], evidence: int = 3) -> str:
    title = escape(h.get("title", "?"))
    lines = [f"*{h.get('rank', '?')}. {title}* (confidence {h.get('score', 0):.2f})"]
    found = list(h.get("evidence") or [])
    lines += [f"• {escape(e)}" for e in found[:evidence]]
    if len(found) > evidence:
        lines.append(f"_… {len(found) - evidence} more in the postmortem draft_")
    return "\n".join(lines)


def remediations_title() -> str:
    return "*Remediation* (a change is planned first and goes through the approval policy)"


def remediation_line(step: dict[str, Any]) -> str:
    kind = "change, goes through approval" if step.get("writes") else "read only"
    return f"`{step.get('id')}` {step.get('label')}: `{step.get('command')}` ({kind})"


def remediation_confirm(step: dict[str, Any]) -> str:
    return (
        f"`{step.get('command')}` is a change. It is planned as a dry run first and goes "
        "through the approval policy before anything is applied."
    )


def runbook_line(doc: dict[str, Any]) -> str:
    where = str(doc.get("path_or_url") or "")
    title = escape(doc.get("title") or where or "runbook")
    if where.startswith(("http://", "https://")):
        return f"• <{where}|{title}>"
    return f"• {title} (`{where}`)" if where else f"• {title}"


def not_checked(unavailable: dict[str, str]) -> str:
    return "Not checked: " + "; ".join(escape(why) for why in unavailable.values())


def remediation_note(step_id: str, incident_id: str | None) -> str:
    return f"remediation {step_id} of {incident_id or 'this incident'}"


def remediation_stale(step_id: str, record: dict[str, Any] | None) -> str:
    """A remediation button whose step the thread's incident no longer offers as shown."""
    if not record:
        return (
            "This thread has no incident investigation behind this button any more. "
            "Nothing was started."
        )
    offered = ", ".join(f"`{k}`" for k in record.get("remediations") or {}) or "none"
    return (
        f"{record.get('id')} no longer offers remediation `{step_id}` as shown on this button "
        f"(it offers: {offered}); the latest findings message in this thread is current. "
        "Nothing was started."
    )


def remediation_running(step: dict[str, Any]) -> str:
    return (
        f":hourglass_flowing_sand: {step.get('label')} was already started from this message "
        "a moment ago; follow it in this thread. To run it again, type "
        f"`{step.get('command')}` in the thread."
    )


def remediation_blocked(summary: str) -> str:
    return (
        f":pause_button: {summary}. Approve or reject the card above in this thread first; "
        "nothing was started."
    )


def no_incident(thread_id: str) -> str:
    return (
        f"There is no incident investigation in this thread ({thread_id}), so there is no "
        "postmortem to draft. Start one with `/devops investigate checkout in production`."
    )


def postmortem_comment(incident_id: str, user: str | None = None) -> str:
    by = f", asked for by {mention(user)}" if user else ""
    return (
        f":memo: Postmortem draft for {incident_id}{by}. Review and complete it before publishing."
    )


def postmortem_part(incident_id: str, chunk: str, part: int, parts: int) -> str:
    return _code_part(f"*Postmortem draft for {incident_id}*", chunk, part, parts)


def _upload_hint(error: str) -> str:
    if error == "missing_scope":
        return "the app lacks the `files:write` scope; reinstall it from manifest.yml"
    return error


def chart_not_uploaded(title: str, error: str) -> str:
    return f":warning: I couldn't upload the chart of {title} ({_upload_hint(error)})."


def file_not_uploaded(path: str, error: str) -> str:
    return (
        f":warning: I couldn't upload `{_one_line(escape(path), 200)}` as a file "
        f"({_upload_hint(error)}); here it is as text."
    )


def file_part(path: str, chunk: str, part: int, parts: int) -> str:
    return _code_part(f"*{_one_line(escape(path), 200)}*", escape(chunk), part, parts)


def postmortem_not_uploaded(error: str) -> str:
    return (
        f":warning: I couldn't upload the postmortem draft as a file ({_upload_hint(error)}); "
        "here it is as text."
    )


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split()).replace("`", "'")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# -- cancelling a run from its thread (bot.cancel) -------------------------------------------


def cancelled(user: str, what: str) -> str:
    return f"*Cancelled* by {mention(user)}: `{_one_line(what)}` was stopped, nothing further runs."


def cancelled_footer(user: str) -> str:
    return f"_cancelled by {mention(user)}: nothing further runs_"


def cancel_nothing_running() -> str:
    return "Nothing is running in this thread, so there is nothing to cancel."


def cancel_refused(reason: str) -> str:
    return f"You cannot cancel this run: {reason}."


def cancel_too_late(what: str | None) -> str:
    doing = f"`{_one_line(what)}`" if what else "this run"
    return (
        f"Can't stop now: {doing} is applying an approved change (or following it to its "
        "end); it finishes in a moment and its result is posted here. Nothing was cancelled."
    )


def cancel_missed(what: str | None) -> str:
    doing = f"`{_one_line(what)}`" if what else "The run"
    return f"{doing} finished before it could be stopped; its result is in the thread."
