"""Classify free ChatOps text into a `TaskRequest`.

    classify_text(text)              rules only, sync, pure (well under a millisecond)
    await classify(text, llm=model)  rules first; the LLM only when the rules are unsure

The LLM is consulted only when the rules' confidence is below `CONFIDENCE_THRESHOLD`
and a chat model is given. Its answer is validated (`classify_llm`) and merged with
the rules' result: context the rules read from explicit syntax (``-n prod``,
``deployment/web``, ``key=value``, image refs, incident ids...) wins over the LLM's;
the LLM fills and overrides the rest. Any LLM failure (timeout, HTTP error, refusal,
invalid output) falls back to the rules' result and logs a warning.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from workflow.classify.llm import (
    LLMClassification,
    build_openai_model,
    classify_llm,
    redact,
)
from workflow.classify.model import (
    ACTIONS,
    CONTEXT_KEYS,
    LOG_LEVELS,
    METRICS,
    OPS_TASK_TYPES,
    TASK_TYPES,
    TaskRequest,
)
from workflow.classify.rules import CONFIDENCE_THRESHOLD, analyse, classify_rules

__all__ = [
    "ACTIONS",
    "CONFIDENCE_THRESHOLD",
    "CONTEXT_KEYS",
    "LOG_LEVELS",
    "METRICS",
    "OPS_TASK_TYPES",
    "TASK_TYPES",
    "LLMClassification",
    "TaskRequest",
    "build_openai_model",
    "classify",
    "classify_llm",
    "classify_rules",
    "classify_text",
]

log = structlog.get_logger()


def classify_text(text: str) -> TaskRequest:
    """Rules-only classification (sync, no I/O)."""
    return classify_rules(text)


async def classify(text: str, *, llm: Any = None, timeout: float | None = 20.0) -> TaskRequest:
    """Classify `text`; ask `llm` (a LangChain chat model) only when the rules are unsure."""
    analysis = analyse(text)
    rules = analysis.to_request()
    if llm is None or rules.confidence >= CONFIDENCE_THRESHOLD or not analysis.text:
        return rules
    try:
        if timeout is None:
            answer = await classify_llm(analysis.text, model=llm)
        else:
            answer = await asyncio.wait_for(classify_llm(analysis.text, model=llm), timeout)
    except Exception as exc:  # any failure of the model: keep the rules' answer
        log.warning(
            "classify.llm_failed",
            error_type=type(exc).__name__,
            error=redact(str(exc))[:300],
            rules_task_type=rules.task_type,
        )
        return rules
    if answer.task_type is None:
        # The model found no DevOps task; a weak rules guess is still better than nothing.
        if rules.task_type is not None:
            return rules
        return rules.model_copy(update={"source": "none"})
    context: dict[str, Any] = dict(answer.context)
    same_task = answer.task_type == analysis.task_type
    for key, value in analysis.context.items():
        if key in analysis.certain:
            context[key] = value  # read from explicit syntax: wins
        elif key not in context and (same_task or key != "action"):
            # fill the model's gaps, but not with a verb picked for another task type
            context[key] = value
    if answer.task_type in OPS_TASK_TYPES:
        # metric / level / search term the rules read but only keep for the ops tasks
        ops = {k: v for k, v in analysis.ops.items() if k not in analysis.context}
        if "metric" in context:
            ops.pop("metric", None)
            ops.pop("metrics", None)
        for key, value in ops.items():
            if key in analysis.certain or key not in context:
                context[key] = value
    if context.get("silence_id") and context.get("service") == context["silence_id"].lower():
        del context["service"]
    return TaskRequest(
        task_type=answer.task_type,
        context=context,
        confidence=answer.confidence,
        source="llm",
        hint=None,
        text=analysis.text,
    )
