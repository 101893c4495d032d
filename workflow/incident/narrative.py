"""The incident's prose summary: deterministic, or written by a chat model from the evidence.

The model only rewrites what the analysis found (it is given the evidence sentences and told
to add nothing); it never ranks causes, never picks remediations and never decides anything.
When it fails or is not configured, the deterministic summary stands.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog

__all__ = ["deterministic", "write"]

log = structlog.get_logger("devops-bot.incident")

_SYSTEM = (
    "You write the summary of an incident investigation for on-call engineers. Use ONLY the "
    "facts in the JSON you are given: do not add numbers, causes, services or times that are "
    "not in it, and do not recommend actions other than the listed remediations. Write 3 to 5 "
    "plain sentences, no headings, no bullet points."
)
_TIMEOUT = 20.0
_SOURCE_NAMES = {
    "alerts": "alerts",
    "metrics": "metrics",
    "logs": "logs",
    "kubernetes": "pods and rollouts",
    "runbooks": "runbooks",
    "web": "web search",
}


def deterministic(record: dict[str, Any]) -> str:
    """One paragraph from the record: where, how bad, the likely cause and its first evidence."""
    where = record["service"] + (
        f" in {record['environment']}" if record.get("environment") else ""
    )
    parts = [f"{where}: severity {record['severity']}."]
    if record.get("impact"):
        parts.append("; ".join(record["impact"][:3]) + ".")
    top = (record.get("hypotheses") or [None])[0]
    if top and top["kind"] != "unknown":
        first = top["evidence"][0] if top["evidence"] else ""
        parts.append(f"Most likely cause: {top['title']} ({first}).")
    elif top:
        parts.append("No clear cause in the evidence gathered.")
    missing = [_SOURCE_NAMES.get(k, k) for k in sorted(record.get("unavailable") or {})]
    missing = [m for m in missing if m != "web search"]
    if missing:
        parts.append("Not checked: " + ", ".join(missing) + ".")
    return " ".join(parts)


async def write(llm: Any, record: dict[str, Any]) -> tuple[str, str]:
    """(summary, source): the model's summary of the record, or the deterministic one."""
    text = deterministic(record)
    if llm is None:
        return text, "rules"
    facts = {
        "service": record["service"],
        "environment": record.get("environment"),
        "severity": record["severity"],
        "impact": record.get("impact"),
        "likely_causes": [
            {"title": h["title"], "evidence": h["evidence"]} for h in record["hypotheses"]
        ],
        "remediations": [r["label"] for r in record.get("remediations", {}).values()],
        "not_checked": record.get("unavailable"),
    }
    messages = [("system", _SYSTEM), ("human", json.dumps(facts, default=str))]
    try:
        answer = await asyncio.wait_for(llm.ainvoke(messages), _TIMEOUT)
    except Exception as exc:  # the model is optional: keep the deterministic text
        log.warning("incident.narrative_failed", error=f"{type(exc).__name__}: {exc}"[:300])
        return text, "rules"
    content = getattr(answer, "content", answer)
    if not isinstance(content, str) or not content.strip():
        return text, "rules"
    model = getattr(llm, "model_name", None) or getattr(llm, "model", None) or "a chat model"
    return content.strip(), f"llm:{model}"
