"""The incident record kept in the thread's state, and how it reads: findings and postmortem.

The record is plain data (`state["incident"]`): who/where/how bad, ranked hypotheses with
their evidence, the remediation steps offered (by id), the timeline, what could not be
checked, and the actions taken since (appended by the apply node). Every later message in the
thread — follow-ups, the postmortem draft — is rendered from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from workflow.incident.analysis import iso

__all__ = [
    "findings_text",
    "merge_timeline",
    "postmortem_markdown",
    "record_action",
    "record_rollout",
]

STATES = (
    "investigating",
    "cause identified",
    "no clear cause",
    "mitigation applied",
    "mitigation did not roll out",
)


def merge_timeline(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Both timelines, oldest first, each event once."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in [*old, *new]:
        seen.setdefault((entry["at"], entry["text"]), entry)
    return sorted(seen.values(), key=lambda e: e["at"])


def record_action(
    incident: dict[str, Any], plan: dict[str, Any], outcome: dict[str, Any], at: datetime
) -> dict[str, Any]:
    """The record with one more action taken in its thread (a remediation applied or failed)."""
    action = {
        "at": iso(at.timestamp()),
        "action": plan.get("action"),
        "target": plan.get("target"),
        "status": outcome.get("status"),
        "summary": outcome.get("summary"),
    }
    updated = {**incident, "actions": [*incident.get("actions", []), action]}
    if outcome.get("status") == "applied":
        updated["state"] = "mitigation applied"
    entry = {"at": action["at"], "source": "devops-bot", "text": outcome.get("summary", "")}
    updated["timeline"] = merge_timeline(incident.get("timeline", []), [entry])
    return updated


def record_rollout(
    incident: dict[str, Any], plan: dict[str, Any], outcome: dict[str, Any], at: datetime
) -> dict[str, Any]:
    """The record once the rollout of the action just applied has ended: that action takes
    the rollout's status and words, and the timeline says when it ended."""
    actions = [dict(a) for a in incident.get("actions", [])]
    ours = next(
        (
            a
            for a in reversed(actions)
            if (a.get("action"), a.get("target")) == (plan.get("action"), plan.get("target"))
        ),
        None,
    )
    if ours is None:  # the apply was not recorded (an older thread): record it whole
        return record_action(incident, plan, outcome, at)
    ours.update(status=outcome.get("status"), summary=outcome.get("summary"))
    updated = {**incident, "actions": actions}
    updated["state"] = (
        "mitigation applied"
        if outcome.get("status") == "applied"
        else "mitigation did not roll out"
    )
    entry = {"at": iso(at.timestamp()), "source": "devops-bot", "text": outcome.get("summary", "")}
    updated["timeline"] = merge_timeline(incident.get("timeline", []), [entry])
    return updated


def _header(record: dict[str, Any]) -> str:
    where = record["service"] + (f" ({record['environment']})" if record.get("environment") else "")
    return f"{record['id']} · {where} · severity {record['severity']} · {record['state']}"


def findings_text(record: dict[str, Any]) -> str:
    """The investigation's answer in a few lines (terminal and Slack alike)."""
    lines = [_header(record), record.get("narrative") or ""]
    if record.get("impact"):
        lines.append("Impact: " + "; ".join(record["impact"]))
    for h in record.get("hypotheses", []):
        lines.append(f"{h['rank']}. {h['title']} (confidence {h['score']:.2f})")
        lines += [f"   - {e}" for e in h["evidence"][:4]]
    steps = list((record.get("remediations") or {}).values())
    if steps:
        lines.append("Remediation (each goes through the approval policy):")
        lines += [f"   [{s['id']}] {s['label']}: `{s['command']}`" for s in steps]
    for doc in record.get("runbooks", [])[:3]:
        lines.append(f"Runbook: {doc['title']} ({doc['path_or_url']})")
    if record.get("unavailable"):
        lines.append("Not checked: " + "; ".join(record["unavailable"].values()))
    return "\n".join(line for line in lines if line)


def postmortem_markdown(record: dict[str, Any]) -> str:
    """A postmortem draft in Markdown, from the record only."""
    where = record["service"] + (f" ({record['environment']})" if record.get("environment") else "")
    out = [
        f"# Postmortem draft: {where}, {record['id']}",
        "",
        "_Drafted by devops-bot from the evidence it gathered; review and complete before "
        "publishing._",
        "",
        f"- **Severity:** {record['severity']}",
        f"- **State:** {record['state']}",
        f"- **Opened:** {record.get('opened_at', '?')} by {record.get('opened_by', '?')}",
        f"- **Window investigated:** {record['window']['start']} to {record['window']['end']}",
        "",
        "## Summary",
        "",
        record.get("narrative") or "(no summary)",
        "",
        "## Impact",
        "",
    ]
    out += [f"- {line}" for line in record.get("impact") or ["no metric data was available"]]
    alerts = record.get("alerts") or []
    if alerts:
        out.append("- Alerts: " + ", ".join(alerts))
    out += ["", "## Timeline (UTC)", "", "| time | source | event |", "|---|---|---|"]
    for entry in record.get("timeline", []):
        text = entry["text"].replace("|", "\\|")
        out.append(f"| {entry['at']} | {entry['source']} | {text} |")
    out += ["", "## Likely causes (ranked by the bot's rules)", ""]
    for h in record.get("hypotheses", []):
        out.append(f"{h['rank']}. **{h['title']}** (confidence {h['score']:.2f})")
        out += [f"   - {e}" for e in h["evidence"]]
    out += ["", "## Remediation", ""]
    actions = record.get("actions") or []
    if actions:
        out += [f"- {a['at']}: {a['summary']}" for a in actions]
    else:
        out.append("- No remediation was applied through devops-bot in this thread.")
    offered = list((record.get("remediations") or {}).values())
    if offered:
        out.append("- Offered: " + "; ".join(f"`{s['command']}`" for s in offered))
    if record.get("runbooks"):
        out += ["", "## Runbooks", ""]
        out += [f"- [{d['title']}]({d['path_or_url']})" for d in record["runbooks"]]
    if record.get("unavailable"):
        out += ["", "## Not checked", ""]
        out += [f"- {why}" for why in record["unavailable"].values()]
    out += [
        "",
        "## Action items",
        "",
        "- [ ] Confirm the root cause (the ranking above is evidence-based, not proven)",
        "- [ ] (add follow-ups)",
        "",
    ]
    return "\n".join(out)
