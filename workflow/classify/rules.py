"""Keyword/regex classification of free ChatOps text into a `TaskRequest`.

Pure and fast: everything is a precompiled regular expression or a set lookup, no
I/O. Three passes over the text:

1. *clean*: Slack markup (mentions, channel refs, links, emoji shortcodes, entities,
   code/bold markers) is stripped or unwrapped; whitespace collapsed; digits typed in
   another form (superscript ``³``, circled ``①``, full-width, other
   scripts' decimal digits) become the ASCII digits they stand for (`ascii_digits`).
2. *extract*: explicit structures first (``key=value``, CLI flags, URLs, kubectl
   ``kind/name`` refs, image refs, incident ids, severities, time ranges), each cut
   out of a working copy so later heuristics (environment words, service names)
   never see them twice; then the softer heuristics on what is left.
3. *score*: weighted keyword signals per task type (each agent's `vocabulary.py`, read
   through `workflow.agents.registry`) plus structural signals (an
   image ref suggests a deploy, an incident id an incident, ...) and a bonus for
   the imperative the request starts with. The best score gives the task type;
   its size and its margin over the best *other agent* give the confidence.

Operations context: raw PromQL is read before cleaning (cleaning would eat its
backticks, ``*`` and ``:name:`` parts) and replaced by a placeholder; silence ids are
cut out with the explicit structures (never a service name). Once the task type is
known, the monitoring/incident keys (metric, log level, search term) are read for the
operations task types only, and kept aside in `Analysis.ops` when the rules are unsure
so that `classify` can add them if the LLM picks an operations task type.

This module runs the passes (`analyse`) and re-exports the normalisers; the passes live in

- `workflow.classify.clean`      Slack markup, unicode digits
- `workflow.classify.normalise`  stopwords, `is_service_name`, value normalisers
- `workflow.classify.context`    explicit structures, and the working copy they are cut from
- `workflow.classify.prose`      the softer context heuristics
- `workflow.classify.services`   the service name in prose
- `workflow.classify.ops`        metrics, PromQL, silence ids, log level and search term
- `workflow.classify.score`      signals, corrections, confidence, the action
- `workflow.classify.literals`   the literal prefilters that skip regexes that can't match
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workflow.classify.clean import MAX_ANALYSED_CHARS, ascii_digits, clean_text
from workflow.classify.context import _extract_explicit, _set, _Work
from workflow.classify.model import OPS_TASK_TYPES, READERS, TaskRequest
from workflow.classify.normalise import (
    duration_minutes,
    is_service_name,
    normalise_image,
    normalise_incident_id,
    normalise_level,
    normalise_repository,
    normalise_severity,
    normalise_time_range,
)
from workflow.classify.ops import _EXPIRE_VERB, _extract_ops, _extract_promql, _extract_silence_id
from workflow.classify.prose import _VERSION, _VERSION_WORD, _extract_soft
from workflow.classify.score import _confidence, _literals_in, _pick_action, _score
from workflow.classify.services import _find_service

__all__ = [
    "CONFIDENCE_THRESHOLD",
    "Analysis",
    "analyse",
    "ascii_digits",
    "classify_rules",
    "clean_text",
    "duration_minutes",
    "is_service_name",
    "normalise_image",
    "normalise_incident_id",
    "normalise_level",
    "normalise_repository",
    "normalise_severity",
    "normalise_time_range",
]

CONFIDENCE_THRESHOLD = 0.6


# ---------------------------------------------------------------------------- hint

_EXAMPLES = (
    "`deploy {svc}:v1.2.3 to staging`",
    "`show error logs for {svc} in prod for the last 1h`",
    "`scale deployment/{svc} --replicas=3 -n prod`",
)


def _hint(clean: str, service: str | None) -> str:
    svc = service or "api-server"
    examples = "; ".join(e.format(svc=svc) for e in _EXAMPLES)
    if not clean:
        head = "I didn't get a request: the message was empty."
    else:
        shown = clean if len(clean) <= 60 else clean[:57] + "..."
        head = f'I couldn\'t tell which DevOps task you want from "{shown}".'
    return f"{head} Try for example: {examples}."


# -------------------------------------------------------------------------- analyse


@dataclass
class Analysis:
    """Everything the rules found; `certain` names context keys read from explicit syntax."""

    text: str
    task_type: str | None = None
    confidence: float = 0.0
    context: dict[str, Any] = field(default_factory=dict)
    certain: set[str] = field(default_factory=set)
    scores: dict[str, float] = field(default_factory=dict)
    hint: str | None = None
    # Operations keys (metric, level, ...) found whatever the task type; `context` holds
    # them only for the operations task types. `classify` adds them when the LLM picks one.
    ops: dict[str, Any] = field(default_factory=dict)

    def to_request(self) -> TaskRequest:
        return TaskRequest(
            task_type=self.task_type,
            context=dict(self.context),
            confidence=round(self.confidence, 3),
            source="rules" if self.task_type else "none",
            hint=self.hint,
            text=self.text,
        )


def analyse(text: str) -> Analysis:
    """Classify `text` and report what was found and how sure each field is."""
    raw = text or ""
    clean, alarm = clean_text(raw)
    result = Analysis(text=clean)
    if not clean or not any(c.isalpha() for c in clean):
        result.hint = _hint(clean, None)
        return result
    ctx: dict[str, Any] = {}
    certain: set[str] = set()
    explicit: dict[str, Any] = {}
    promql = None
    if "`" in raw or "promql" in (lowered := raw.lower()) or "query" in lowered:
        promql, rest = _extract_promql(raw)
        if promql:
            clean = clean_text(rest)[0]  # analysed without the query in it
            _set(ctx, certain, "promql", promql, True)
    if len(clean) > MAX_ANALYSED_CHARS:  # a paste, not a command: bound the work
        clean = clean[:MAX_ANALYSED_CHARS]
    work = _Work(clean.lower())
    facts = _extract_explicit(clean, work, ctx, certain, explicit)
    if "silence" in work.s or "unmute" in work.s:
        _extract_silence_id(clean, work, ctx, certain)
    _extract_soft(clean, work, ctx, certain, facts)
    if "duration" in ctx:
        _set(ctx, certain, "duration_minutes", duration_minutes(ctx["duration"]), True)
    facts["sure"] = certain
    low = work.s
    present = _literals_in(low)  # a superset of what the masked text in _score holds
    scores = _score(low, ctx, facts, alarm, present)
    task, conf = _confidence(scores)
    if explicit.get("task_type"):
        task, conf = explicit["task_type"], 0.97
    is_ops = task in OPS_TASK_TYPES
    if is_ops or conf < CONFIDENCE_THRESHOLD:  # ops, or the LLM may make it ops
        ops, sure = _extract_ops(clean, work, task, ctx, is_ops, present)
        result.ops = ops
        certain |= sure
        if is_ops:
            for key, value in ops.items():
                _set(ctx, certain, key, value, key in sure)
    if "service" not in ctx:
        alert = ctx.get("alert_name")
        svc = _find_service(work, alert.lower() if alert else None, present)
        if svc:
            _set(ctx, certain, "service", svc, False)
    result.scores = scores
    if task is None:
        ctx = {k: v for k, v in ctx.items() if k in certain}
        result.hint = _hint(clean, ctx.get("service"))
        result.context = ctx
        result.certain = certain
        return result
    # Task-dependent context.
    if task in ("deploy",) and "image_tag" not in ctx:
        m = _VERSION_WORD.search(low) or _VERSION.search(low)
        if m:
            _set(ctx, certain, "image_tag", clean[m.start(1) : m.end(1)], False)
    envs = facts.get("envs") or []
    distinct = list(dict.fromkeys(e[1] for e in envs))
    if task == "pipeline" and len(distinct) >= 2 and "environments" not in ctx:
        _set(ctx, certain, "environments", distinct, False)
        if "environment" in ctx and "environment" not in certain:
            del ctx["environment"]
    if "action" not in ctx:
        if task == "monitor" and facts.get("health"):
            action: str | None = "health"
        else:
            action = _pick_action(low, task)
        if task == "kubernetes" and "replicas" in ctx and action == "status":
            action = "scale"
        if action:
            ctx["action"] = action
    if "silence_id" in ctx and ctx.get("action") in ("silence", "alerts", "delete"):
        # an id names an existing silence: expire it, or (only) look at it
        ctx["action"] = "expire_silence" if _EXPIRE_VERB.search(low) else "alerts"
    if (
        task == "deploy"
        and ctx.get("action") == "rollback"
        and not explicit.get("task_type")
        and "service" not in ctx
        and "image" not in ctx
    ):
        # "roll it back": a follow-up in a thread that names the service; rolling back
        # the running deployment is kubernetes_agent's job.
        task = "kubernetes"
    for reader in READERS.get(task, ()):  # what only the agents of this task type read
        for key, value in reader(task, clean, dict(ctx)).items():
            if value is None:  # the agent knows better: the shared rules misread this one
                ctx.pop(key, None)
            else:
                ctx[key] = value
    result.task_type = task
    result.confidence = conf
    result.context = ctx
    result.certain = certain
    return result


def classify_rules(text: str) -> TaskRequest:
    """Rules-only classification: pure, no I/O."""
    return analyse(text).to_request()
