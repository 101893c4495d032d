"""Pass 2 of the rules classifier, second half: the context read from prose.

Run on what `workflow.classify.context` left of the working copy: severity, time range
and duration, alert name, replicas, namespace, repository, pipeline name, environments
(and the version a deploy names, read once the task type is known).
"""

from __future__ import annotations

import re
from typing import Any

from workflow.classify.context import _INCIDENT, _set, _Work
from workflow.classify.normalise import (
    _BAD_NAME,
    _DNS,
    _ENV_WORDS,
    _NUM_RE,
    _STOP,
    _UNIT_RE,
    _WEAK_ENV,
    _compact,
    _to_int,
    normalise_repository,
    normalise_severity,
    normalise_time_range,
)
from workflow.environments import ENVIRONMENT_ALIASES, canonical_environment

_SEVERITY = [
    re.compile(r"\bsev(?:erity)?[\s_:=-]?([0-5])\b", re.I),
    re.compile(r"(?<![\w-])p([0-4])(?![\w-])", re.I),
    re.compile(
        r"\b(critical|crit|high|medium|low|major|minor)[\s-](?:sev(?:erity)?|priority|prio)\b",
        re.I,
    ),
    re.compile(
        r"\b(?:sev(?:erity)?|priority|prio)[\s:=-]+(critical|crit|high|medium|low|major|minor)\b",
        re.I,
    ),
    re.compile(r"\b(critical)\b", re.I),
]
_TIME_RANGE = [
    re.compile(
        rf"\b(?:in\s+|over\s+|for\s+|within\s+|during\s+)?(?:the\s+)?(?:last|past|previous)\s+"
        rf"({_NUM_RE})\s*({_UNIT_RE})\b",
        re.I,
    ),
    re.compile(
        r"\b(?:in\s+|over\s+|for\s+|within\s+|during\s+)?(?:the\s+)?(?:last|past|previous)\s+"
        r"(hour|day|week|minute)\b",
        re.I,
    ),
    re.compile(rf"\b(?:since\s+)?({_NUM_RE})\s*({_UNIT_RE})\s+ago\b", re.I),
    re.compile(r"\bsince\s+(yesterday)\b|\b(today)\b", re.I),
]
_TIME_WORDS = ("last", "past", "previous", "ago", "since", "today")
_REPLICA_WORDS = ("replica", "pods", "instances", "copies", "scal")
_DURATION_FOR = re.compile(
    rf"\bfor\s+(?:(?:the\s+)?next\s+|another\s+)?({_NUM_RE})\s*({_UNIT_RE})\b", re.I
)
_SILENCE_VERB = re.compile(r"\b(?:silence|mute|snooze|ack(?:nowledge)?|suppress)\b", re.I)
_ALERT_NAME = re.compile(
    r"\b(?:silence|mute|snooze|ack(?:nowledge)?|suppress)\s+(?:the\s+)?"
    r"([A-Za-z][\w.:-]*)(\s+alerts?\b)?",
)
_REPLICAS = [
    re.compile(r"\b([0-9]{1,4})\s+(?:replicas?|pods|instances|copies)\b", re.I),
    re.compile(r"\breplicas?\s*(?:to|=|:|of)?\s*([0-9]{1,4})\b", re.I),
    re.compile(
        r"\bscal(?:e|ed|ing)\b[^.;?!]{0,60}?\b(?:to|=)\s+"
        r"([0-9]{1,4}|zero|one|two|three|four|five|six|seven|eight|nine|ten)\b"
        r"(?!\s*(?:%|percent|cpu|cores?|gb|gi|mi|mb|nodes?)\b)",
        re.I,
    ),
    re.compile(r"\bto\s+([0-9]{1,4})\s+(?:replicas?|pods|instances)\b", re.I),
]
_NAMESPACE_TEXT = [
    re.compile(
        r"\b(?:in|into|on|from|to|for)\s+(?:the\s+)?(?:namespace|ns)\s+([a-z0-9][\w-]*)", re.I
    ),
    re.compile(r"\b(?:in|into|on|from)\s+(?:the\s+)?([a-z0-9][\w-]*)\s+(?:namespace|ns)\b", re.I),
    re.compile(r"\bnamespaces?\s+(?:called\s+|named\s+)?[\"']?([a-z0-9][\w-]*)", re.I),
]
_VERSION = re.compile(
    r"(?<![\w.@/:-])(v\d+(?:\.\d+){0,3}(?:-[\w.]+)?|\d+\.\d+(?:\.\d+){0,2}(?:-[\w.]+)?)(?![\w.-]|\.\w)",
    re.I,
)
_VERSION_WORD = re.compile(r"\b(?:version|tag|build)\s+#?(v?\d[\w.-]*)\b", re.I)
_PIPELINE_NAME = [
    re.compile(r"\bpipeline\s+(?:called|named)\s+[\"']?([a-z0-9][\w.-]*)", re.I),
    re.compile(r"\b([a-z0-9][a-z0-9]*(?:[-_][a-z0-9]+)+)\s+pipeline\b", re.I),
    re.compile(r"\bpipeline\s+[\"']?([a-z0-9]+(?:[-_][a-z0-9]+)+)\b", re.I),
]
_REPO_WORD = re.compile(r"\b(?:repo|repository)\s+(?:at\s+|is\s+)?([a-z0-9][\w.-]*/[\w.-]+)", re.I)

_ENV_ALT = "|".join(re.escape(a) for a in sorted(ENVIRONMENT_ALIASES, key=len, reverse=True))
_ENV_TOKEN = re.compile(rf"(?<![\w.@-])({_ENV_ALT})(?![\w@-]|\.\w)", re.I)
_ENV_PREP = re.compile(r"(?:\b(?:to|into|in|on|onto|against|at|for|from)\s+(?:the\s+)?)$", re.I)
_ENV_TARGET = re.compile(r"(?:\b(?:to|into|onto|against)\s+(?:the\s+)?)$", re.I)


def _extract_soft(
    clean: str, work: _Work, ctx: dict[str, Any], certain: set[str], facts: dict[str, Any]
) -> None:
    s = work.s
    # severity (cheap substring gates first: most texts have none of these)
    sev_rxs = _SEVERITY if ("sev" in s or "prio" in s or "crit" in s) else _SEVERITY[1:2]
    for rx in sev_rxs:
        m = rx.search(s)
        if m:
            sev = normalise_severity(m.group(1))
            if sev:
                _set(ctx, certain, "severity", sev, rx is not _SEVERITY[-1])
                break
    # time range / duration
    has_time = any(w in s for w in _TIME_WORDS)
    for rx in _TIME_RANGE if has_time else ():
        m = rx.search(s)
        if m:
            groups = [g for g in m.groups() if g]
            tr = (
                _compact(groups[0].lower(), groups[1].lower())
                if len(groups) == 2
                else normalise_time_range(groups[0])
            )
            if tr:
                _set(ctx, certain, "time_range", tr, True)
                work.cut(m, "@time")
                break
    m = _DURATION_FOR.search(work.s) if "for " in work.s else None
    if m:
        d = _compact(m.group(1).lower(), m.group(2).lower())
        if d:
            if _SILENCE_VERB.search(work.s):
                _set(ctx, certain, "duration", d, True)
            else:
                _set(ctx, certain, "time_range", d, False)
            work.cut(m, "@time")
    # alert name (silence / ack)
    if "alert_name" not in ctx and _SILENCE_VERB.search(s):
        m = _ALERT_NAME.search(clean)
        if m:
            name = m.group(1).rstrip(".,:;!?")
            camel = any(c.isupper() for c in name[1:]) or "_" in name
            if name.lower() not in _STOP and (camel or m.group(2)) and not _INCIDENT.match(name):
                _set(ctx, certain, "alert_name", name, True)
    # replicas
    if "replicas" not in ctx and any(w in s for w in _REPLICA_WORDS):
        for rx in _REPLICAS:
            m = rx.search(work.s)
            if m:
                n = _to_int(m.group(1).lower())
                if n is not None:
                    _set(ctx, certain, "replicas", n, True)
                    break
    # namespace from prose
    if "namespace" not in ctx and ("namespace" in work.s or " ns " in work.s):
        for rx in _NAMESPACE_TEXT:
            m = rx.search(work.s)
            if m:
                ns = m.group(1).lower().rstrip("-_")
                if (_DNS.match(ns) or _BAD_NAME.match(ns)) and ns not in _STOP - _ENV_WORDS:
                    _set(ctx, certain, "namespace", ns, False)
                    work.cut(m, "@ns", 1)
                    break
    # repository "repo org/name"
    if "repository" not in ctx and "repo" in work.s:
        m = _REPO_WORD.search(work.s)
        if m:
            repo = normalise_repository(clean[m.start(1) : m.end(1)])
            if repo:
                _set(ctx, certain, "repository", repo, True)
                work.cut(m, "@url", 1)
    # pipeline name
    if "pipeline_name" not in ctx and "pipeline" in work.s:
        for rx in _PIPELINE_NAME:
            m = rx.search(work.s)
            if m:
                name = clean[m.start(1) : m.end(1)]
                if name.lower() not in _STOP and not name.lower().startswith(
                    ("ci-", "ci_", "cd-", "cd_")
                ):
                    _set(ctx, certain, "pipeline_name", name, rx is _PIPELINE_NAME[0])
                    break
    # environments mentioned
    envs: list[tuple[int, str, bool, bool]] = []  # (pos, canonical, after-prep, after-target)
    for m in _ENV_TOKEN.finditer(work.s):
        word = m.group(1).lower()
        before = work.s[max(0, m.start() - 16) : m.start()]
        prep = bool(_ENV_PREP.search(before))
        if word in _WEAK_ENV and not prep:
            continue
        if before.endswith("-"):
            continue
        env = ENVIRONMENT_ALIASES[word]
        envs.append((m.start(), env, prep, bool(_ENV_TARGET.search(before))))
    facts["envs"] = envs
    if "environment" not in ctx and envs:
        target = next((e for e in envs if e[3]), None)
        prep = next((e for e in envs if e[2]), None)
        chosen = target or prep or envs[0]
        _set(ctx, certain, "environment", chosen[1], False)
    # environment implied by an explicit namespace (-n prod, payments-staging)
    if "environment" not in ctx and "namespace" in ctx:
        ns = ctx["namespace"]
        env = canonical_environment(ns)
        if env is None:
            parts = {canonical_environment(p) for p in ns.split("-")} - {None}
            env = parts.pop() if len(parts) == 1 else None
        if env:
            _set(ctx, certain, "environment", env, "namespace" in certain)
