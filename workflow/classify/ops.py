"""The operations context: metrics, PromQL, silence ids, log levels and search terms.

Raw PromQL is read before cleaning (cleaning would eat its backticks, ``*`` and ``:name:``
parts) and replaced by a placeholder; silence ids are cut out with the explicit
structures (never a service name). Metric, log level and search term are read once the
task type is known, for the monitoring and incident agents.
"""

from __future__ import annotations

import html
import re
from typing import Any

from workflow.classify.clean import _QUOTES, MAX_ANALYSED_CHARS
from workflow.classify.context import _set, _Work
from workflow.classify.literals import _required_literals
from workflow.classify.model import METRICS
from workflow.classify.normalise import _ENV_WORDS, _STOP, normalise_level
from workflow.environments import canonical_environment

# ------------------------------------------------------- operations phrases (shared)


# Metrics, as the names of `workflow.tools.prometheus.NAMED_QUERIES`. One alternation,
# read in text order; a `None` entry consumes a phrase that names no query we have
# ("p90 latency", "average latency"), so its "latency" doesn't default to p99.
_LAT = r"(?:latenc(?:y|ies)|response[\s-]times?|request\s+duration)"


def _pctl(n: str) -> str:
    return rf"(?:p{n}|{n}(?:th)?[\s-]*(?:percentile|pctl?|%ile))"


def _latency(n: str) -> str:
    return (
        rf"\b{_pctl(n)}\b(?:\s+{_LAT}\b)?"
        rf"|\b{_LAT}\s+(?:at\s+|@\s*|\(\s*)?(?:the\s+)?{_pctl(n)}\b"
    )


_METRIC_SPEC: list[tuple[str | None, str]] = [
    (None, r"\bp\d{2,3}\.\d+\b"),
    ("latency_p99", _latency("99")),
    ("latency_p95", _latency("95")),
    ("latency_p50", _latency("50") + rf"|\bmedian\b(?:\s+{_LAT}\b)?(?!\s+(?:cpu|mem|memory|ram))"),
    (
        None,
        rf"\b(?:p\d{{2,3}}|\d{{2}}(?:th)?[\s-]*percentile|average|avg|mean|max(?:imum)?"
        rf"|min(?:imum)?|peak)\s+{_LAT}\b|\b{_LAT}\s+(?:at\s+)?p\d{{2,3}}\b|\bp\d{{2,3}}\b",
    ),
    ("latency_p99", rf"\b{_LAT}\b"),
    (
        "error_ratio",
        r"\b(?:errors?|5xx|5\d\ds?|failures?)[\s-]*(?:rates?|ratios?|percentages?|percent|pct)\b"
        r"|\b(?:errors?|5xx|failures?)\s*%|%\s*(?:of\s+)?(?:errors|5xx|failures)\b"
        r"|\b(?:percent(?:age)?|share|fraction|ratio|rate)\s+(?:of\s+)?(?:errors|5xx|failures"
        r"|failed\s+requests)\b",
    ),
    (
        "request_rate",
        r"\b(?:rps|qps|req/s|reqs?/sec|requests?/s(?:ec)?|throughput|traffic)\b"
        r"|\b(?:request|req|traffic)s?[\s-]*(?:rates?|volume)\b"
        r"|\brequests?\s+(?:per|a|/)\s*(?:second|sec|s|minute|min)\b|\bhow\s+many\s+requests\b",
    ),
    ("cpu", r"\bcpu\b"),
    ("memory", r"(?<!out of )\b(?:memory|mem|ram)\b"),
    (
        "restarts",
        r"\brestart[\s-]?counts?\b|\b(?:number\s+of|how\s+many|count\s+of|pod|container|total"
        r"|many)\s+restarts\b|\brestarts\b(?=\s+(?:of|for|on|per|count|over|graph|in|since"
        r"|@time|today)\b)|^restarts\b|\b(?:show|graph|plot|chart|get|list)\s+(?:me\s+)?"
        r"(?:the\s+)?(?:pod\s+|container\s+)?restarts\b",
    ),
]
assert {name for name, _ in _METRIC_SPEC if name} == set(METRICS)


def _metric_family(name: str | None) -> str:
    return "latency" if name is None or name.startswith("latency") else name


# The characters a family's phrases can start with: a lookahead on them makes the scan
# skip most positions without trying every alternative (the work text is lowercase).
_METRIC_FIRST = {
    "latency": "p0-9lrma",
    "error_ratio": "e5f%psr",
    "request_rate": "rqth",
    "cpu": "c",
    "memory": "mr",
    "restarts": "rnhcpmtsgl",
}
# One alternation per family (all latency entries together, so that a `None` entry can
# hide a latency phrase), run only when one of its named entries' literals occurs.
_METRIC_GROUPS: list[tuple[re.Pattern[str], frozenset[str] | None]] = []
for _family in dict.fromkeys(_metric_family(name) for name, _ in _METRIC_SPEC):
    _idx = [i for i, (name, _) in enumerate(_METRIC_SPEC) if _metric_family(name) == _family]
    _lits = [_required_literals(_METRIC_SPEC[i][1]) for i in _idx if _METRIC_SPEC[i][0]]
    _METRIC_GROUPS.append(
        (
            re.compile(
                f"(?=[{_METRIC_FIRST[_family]}])(?:"
                + "|".join(f"(?P<m{i}>{_METRIC_SPEC[i][1]})" for i in _idx)
                + ")"
            ),
            None if None in _lits else frozenset(lit for lits in _lits if lits for lit in lits),
        )
    )


# ------------------------------------------------------------------ operations context

# PromQL: in backticks (``run query `up{job="api"}` ``) or after "promql"/"query". It is
# read from the raw text (cleaning would eat `*`, `:name:` and the backticks), kept
# verbatim after Slack's entity escaping is undone, and replaced by a placeholder so
# that nothing else (key=value, names, keywords) is read from inside it.
_PROMQL_PLACEHOLDER = " @promql "
_CODE_SPAN = re.compile(r"```(.+?)```|`([^`\n]+)`", re.S)
_PROMQL_KW = r"(?:promql|prometheus\s+query|query)"
_PROMQL_BEFORE = re.compile(rf"\b({_PROMQL_KW})(?:\s+(?:is|was))?\s*[:=]?\s*$", re.I)
_PROMQL_AFTER = re.compile(rf"\b({_PROMQL_KW})(?:\s+(?:is|was))?\s*[:=]?\s+(?=[A-Za-z_:{{(])", re.I)
_PROMQL_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<ident>[A-Za-z_:][\w:]*)
    | (?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|[smhdwy])?(?:\d+(?:ms|[smhdwy]))*)
    | (?P<open>[({\[])
    | (?P<close>[)}\]])
    | (?P<op>&(?:lt|gt);=?|==|!=|=~|!~|>=|<=|[-+*/%^<>=,@:])
    )""",
    re.X,
)
_PROMQL_WORDS = frozenset(
    "and or unless by without on ignoring group_left group_right bool offset atan2".split()
)
# What makes a code span PromQL even without the word "promql" next to it.
_PROMQL_STRONG = re.compile(
    r"\[\s*\d+(?:ms|[smhdwy])|\{[^}]*[=~]"
    r"|\b(?:rate|irate|increase|sum|avg|min|max|count|topk|bottomk|histogram_quantile|quantile"
    r"|absent|delta|idelta|deriv|predict_linear|\w+_over_time|label_replace|clamp\w*)\s*\("
)
_PROMQL_WORD = re.compile(r"[A-Za-z_:][\w:]*")
_BARE_METRIC = re.compile(r"[a-z_:][\w:]*[_:][\w:]*")
_METRIC_NAME = re.compile(
    r"[a-z_:][\w:]*(?:_(?:total|seconds|bytes|count|sum|bucket|info|ratio)|:[\w:]+)"
)
_SQLISH = re.compile(r"\b(?:select|insert|update|delete|from|where|join|table)\b", re.I)
_QUOTED_STRINGS = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")
_LOGS_WORD = re.compile(r"\b(?:logs?|loki|logql|grep|kibana)\b", re.I)


def _promql_keyword(word: str) -> str:
    """The strong keyword ("promql", "prometheus query" -> "promql"), or "query"."""
    return "promql" if word[:4].lower() == "prom" else "query"


def _promql_end(s: str, pos: int) -> tuple[int, bool]:
    """End of the PromQL expression starting at `pos` (== pos if none), and whether its
    brackets balance. At bracket depth 0 an English word after a complete operand
    ("rate(x[5m]) in prod") ends it."""
    depth, end, operand, i = 0, pos, False, pos
    while i < len(s):
        m = _PROMQL_TOKEN.match(s, i)
        if not m:
            break
        kind = m.lastgroup
        tok = m.group(kind or 0)
        word = kind == "ident" and tok.lower() in _PROMQL_WORDS
        if depth == 0 and (
            (operand and kind in ("ident", "num", "str") and not word)
            or kind == "close"
            or tok == ","
        ):
            break
        depth += 1 if kind == "open" else -1 if kind == "close" else 0
        i = m.end()
        if depth == 0:
            end = i
        operand = kind in ("ident", "num", "str", "close") and not word
    return end, depth == 0


def _promql_ok(expr: str, *, keyword: str | None, in_code: bool) -> bool:
    """Is `expr` (a whole PromQL-shaped expression) PromQL? A range, a label matcher or a
    PromQL function say so by themselves; otherwise it needs "promql"/"query" before it,
    and a lone word must look like a metric name ("promql up", "query x_total")."""
    if not expr or _SQLISH.search(_QUOTED_STRINGS.sub("", expr)):
        return False
    if _PROMQL_STRONG.search(expr):
        return True
    if keyword is None:
        return False
    if not _PROMQL_WORD.fullmatch(expr):
        return keyword == "promql" or in_code  # "promql up == 0"
    if keyword == "promql" and (in_code or expr == "up"):
        return True
    return bool((_BARE_METRIC if keyword == "promql" or in_code else _METRIC_NAME).fullmatch(expr))


def _extract_promql(raw: str) -> tuple[str | None, str]:
    """(PromQL as typed, the raw text with it replaced by a placeholder), or (None, raw)."""
    s = raw.translate(_QUOTES)  # same length: positions stay valid for `raw`
    limit = min(len(s), 2 * MAX_ANALYSED_CHARS)
    if "`" in s:
        for m in _CODE_SPAN.finditer(s, 0, limit):
            g = 1 if m.group(1) is not None else 2
            expr = html.unescape(m.group(g)).strip()
            before = _PROMQL_BEFORE.search(s, max(0, m.start() - 40), m.start())
            keyword = _promql_keyword(before.group(1)) if before else None
            end, balanced = _promql_end(expr, 0)
            if end != len(expr) or not balanced:
                continue
            if keyword is None and _LOGS_WORD.search(s):
                continue  # {app="x"} in a logs ask is LogQL
            if _promql_ok(expr, keyword=keyword, in_code=True):
                return expr, s[: m.start()] + _PROMQL_PLACEHOLDER + s[m.end() :]
    for m in _PROMQL_AFTER.finditer(s, 0, limit):
        keyword = _promql_keyword(m.group(1))
        start = m.end()
        end, balanced = _promql_end(s, start)
        if not balanced:
            if keyword != "promql":
                continue
            end = len(s.rstrip().rstrip("?!."))
        expr = html.unescape(s[start:end]).strip()
        if _promql_ok(expr, keyword=keyword, in_code=False):
            return expr, s[:start] + _PROMQL_PLACEHOLDER + s[end:]
    return None, raw


# Silence ids: after an expire-like verb (or "silence id"), never a service name.


_SILENCE_ID_TEXT = re.compile(
    r"\b(?:(?P<verb>expire|delete|remove|cancel|end|lift|drop|clear)\s+(?:the\s+)?silence"
    r"|un-?silence|unmute)(?:\s+(?P<with>(?:with\s+)?id))?\s*[:#=]?\s*"
    r"(?P<id>[a-z0-9][a-z0-9-]{2,62}[a-z0-9])(?![\w-])"
    r"|\bsilence\s+(?:with\s+)?id\s*[:#=]?\s*(?P<sid>[a-z0-9][a-z0-9-]{2,62}[a-z0-9])(?![\w-])"
)
_NOT_SILENCE_ID_AFTER = re.compile(r"\s+(?:alerts?|service|app|deployment|pods?)\b")
_EXPIRE_VERB = re.compile(
    r"\b(?:expire|delete|remove|cancel|end|lift|drop|clear|un-?silence|unmute)\b"
)


def _extract_silence_id(clean: str, work: _Work, ctx: dict[str, Any], certain: set[str]) -> None:
    """``expire silence <id>`` (any ``[A-Za-z0-9-]{4,64}``), ``silence id <id>``; after
    ``unsilence``/``unmute`` only an id-looking token (with a digit): ``unsilence
    payment-service`` names what to unsilence."""
    for m in _SILENCE_ID_TEXT.finditer(work.s):
        g = "id" if m.group("id") else "sid"
        value = m.group(g)
        typed = clean[m.start(g) : m.end(g)]
        if g == "id" and not m.group("with"):
            if (
                value in _STOP
                or canonical_environment(value)
                or _NOT_SILENCE_ID_AFTER.match(work.s, m.end(g))
            ):
                continue
            if not any(c.isdecimal() for c in value) and (
                not m.group("verb") or typed != value  # unsilence X, or an AlertName
            ):
                continue
        _set(ctx, certain, "silence_id", typed, True)
        work.cut(m, "|", m.re.groupindex[g])
        return


# Log levels and search terms, for log asks.
_LEVEL_WORD = r"(error|err|warn(?:ing)?|info|fatal|critical)"
_LEVEL_TEXT: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (
        ("level", "lvl"),
        re.compile(
            rf"\b(?:level|lvl)\s*(?:[=:]|is|of|at)?\s*{_LEVEL_WORD}\b"
            rf"|\b(?:at|with|of)\s+{_LEVEL_WORD}\s+level\b"
        ),
    ),
    (
        ("err", "warn", "info", "fatal", "critical"),
        re.compile(
            r"\b(errors?|err|warn(?:ing)?s?|info|fatal|critical)[\s-]+(?:level\s+)?"
            r"(?:logs?|lines?|messages?|entries|events)\b"
        ),
    ),
    (
        ("errors", "warn"),
        re.compile(
            r"\b(errors|warnings|warns)\s+(?:in|from|on)\s+(?:the\s+)?(?:[\w@'-]+\s+){0,2}?logs?\b"
        ),
    ),
]
_LEVEL_BARE = re.compile(r"\b(errors?|warnings?)\b(?![\s-]*(?:rates?|ratios?|budget|%|percent))")
_TERM_TOKEN = r"([^\s,;?!()|]+)"
_QUOTED = re.compile(r"\"([^\"]{1,200})\"|(?<!\w)'([^']{1,200})'(?!\w)")
_TERM_TEXT: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (
        ("id",),
        re.compile(r"\b(?:trace|request|correlation|span|req)[\s_-]?ids?\s*[:=#]?\s*([\w-]{4,})"),
    ),
    (
        ("contain", "match", "mention", "includ", "with"),
        re.compile(
            r"\b(?:containing|contains?|matching|match(?:es)?|mentioning|mentions?|including"
            r"|that\s+(?:contain|match|mention)s?|with\s+(?:the\s+)?(?:text|string|message|word"
            rf"|phrase|pattern|keyword|substring))\s+{_TERM_TOKEN}"
        ),
    ),
    (("where",), re.compile(rf"\b(?:logs?|lines?|entries|messages)\s+where\s+{_TERM_TOKEN}")),
    (
        ("grep", "search", "look", "find", "filter"),
        re.compile(
            rf"\b(?:grep|search|look|find|filter)(?:ing)?\s+(?:\S+\s+){{0,3}}?for\s+{_TERM_TOKEN}"
        ),
    ),
    (
        ("grep",),
        re.compile(rf"\bgrep\s+(?:-\w+\s+)*{_TERM_TOKEN}(?=[\s,;?!()|]|$)(?!\s+logs?\b)"),
    ),
    (("with",), re.compile(rf"\b(?:logs?|lines?)\s+(?:\S+\s+){{0,3}}?with\s+{_TERM_TOKEN}")),
]
_TERM_REJECT = (
    frozenset(
        """the a an this that these those it them me us logs log lines line messages entries
        output in on at for from of to by all any some every level lvl with and or
        error errors err warn warning warnings info trace traces id""".split()
    )
    | _ENV_WORDS
)
_OPS_LOG_HINT = ("log", "line", "grep", "level", "lvl", "kibana", "loki", "splunk")


def _extract_ops(
    clean: str, work: _Work, task: str | None, ctx: dict[str, Any], cut: bool, present: set[str]
) -> tuple[dict[str, Any], set[str]]:
    """Metric(s), log level and search term, for the monitoring and incident agents.

    Returns the values and the keys read from explicit syntax (a quoted phrase). Cuts the
    search term out of `work` when `cut` (so it is never taken for a service name).
    """
    s = work.s
    out: dict[str, Any] = {}
    sure: set[str] = set()
    # Leftmost match first, the earlier spec entry on a tie; overlapped matches drop out,
    # as in one big alternation (only the entries whose literals occur are run).
    spans: list[tuple[int, int, int, str | None]] = []
    for rx, gate in _METRIC_GROUPS:
        if gate is None or not present.isdisjoint(gate):
            for m in rx.finditer(s):
                i = int((m.lastgroup or "m0")[1:])
                spans.append((m.start(), i, m.end(), _METRIC_SPEC[i][0]))
    found: list[str] = []
    end = -1
    for start, _, stop, name in sorted(spans):
        if start < end:
            continue
        end = stop
        if name and name not in found:
            found.append(name)
    if found:
        out["metric"] = found[0]
        if len(found) > 1:
            out["metrics"] = found
    logs_ask = task == "logs" or any(w in s for w in _OPS_LOG_HINT)
    if not logs_ask:
        return out, sure
    if "level" not in ctx:
        for words, rx in _LEVEL_TEXT:
            m = rx.search(s) if any(w in s for w in words) else None
            if m:
                out["level"] = normalise_level(next(g for g in m.groups() if g))
                break
        else:
            m = _LEVEL_BARE.search(s) if task == "logs" else None
            if m:
                out["level"] = normalise_level(m.group(1))
    service = ctx.get("service")
    m = _QUOTED.search(s) if ('"' in s or "'" in s) else None
    if m:
        g = 1 if m.group(1) is not None else 2
        term = clean[m.start(g) : m.end(g)].strip()
        if term:
            out["search_term"] = term
            sure.add("search_term")
            if cut:
                work.cut(m, "|", g)
            return out, sure
    for words, rx in _TERM_TEXT:
        m = rx.search(s) if any(w in s for w in words) else None
        if not m:
            continue
        term = clean[m.start(1) : m.end(1)].strip("\"'.:")
        low = term.lower()
        if not term or low in _TERM_REJECT or low == service or term.startswith("@"):
            continue
        out["search_term"] = term
        if cut:
            work.cut(m, "|", 1)
        break
    return out, sure
