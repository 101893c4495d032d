"""Pass 3 of the rules classifier: score the task types and pick the action.

Weighted keyword signals per task type (each agent's `vocabulary.py`, read through
`workflow.agents.registry`) plus structural signals (an image ref suggests a deploy, an
incident id an incident, ...) and a bonus for the imperative the request starts with,
then context-dependent corrections. The best score gives the task type; its size and its
margin over the best *other agent* give the confidence (`_confidence`).
"""

from __future__ import annotations

import re
from typing import Any

from workflow.agents.registry import REGISTRY
from workflow.classify.literals import _required_literals, _trie_regex
from workflow.classify.model import TASK_TYPES
from workflow.classify.ops import _METRIC_GROUPS
from workflow.classify.prose import _ENV_ALT
from workflow.classify.services import _HYPHEN_KEYWORDS, _HYPHENATED, _SERVICE_LITERALS
from workflow.routing import route_for

# ------------------------------------------------------- the agents' vocabularies

_SIGNALS_SPEC = [signal for spec in REGISTRY for signal in spec.vocabulary.signals]
_SIGNALS: list[tuple[str, float, re.Pattern[str], tuple[str, ...] | None]] = [
    (task, weight, re.compile(pattern), _required_literals(pattern))
    for task, weight, pattern in _SIGNALS_SPEC
]
assert all(task in TASK_TYPES for task, _, _, _ in _SIGNALS)
assert all(task in TASK_TYPES for task, _, _, _ in _SIGNALS)


_ALL_LITERALS = (
    {lit for *_, lits in _SIGNALS if lits for lit in lits}
    | {lit for lits in _SERVICE_LITERALS.values() if lits for lit in lits}
    | {lit for _, gate in _METRIC_GROUPS if gate for lit in gate}
)
_LITERAL_SCAN = _trie_regex(_ALL_LITERALS)
# every literal contained in a longer one (found at the same or a later position)
_CONTAINED = {
    lit: frozenset(other for other in _ALL_LITERALS if other in lit) for lit in _ALL_LITERALS
}


def _literals_in(text: str) -> set[str]:
    found: set[str] = set()
    for m in _LITERAL_SCAN.finditer(text):
        lit = m.group(1)
        if lit and lit not in found:
            found |= _CONTAINED[lit]
    return found


# Imperatives a request starts with (after politeness) get a bonus: the first verb of a
# chat request is usually the ask, whatever problem words follow it.
_POLITE = re.compile(
    r"^(?:(?:hey|hi|hello|yo|ok|okay|so|quick(?:ly)?|urgent(?:ly)?|please|pls|plz|kindly|team"
    r"|bot|folks|all|guys|asap|\+1|fyi)\b[\s,:!.-]*"
    r"|(?:can|could|would|will)\s+(?:you|we|someone|somebody|u)\s+(?:please\s+|pls\s+)?"
    r"|(?:i|we)\s+(?:need|want|would\s+like|'d\s+like)\s+(?:you\s+)?to\s+"
    r"|(?:i|we)'d\s+like\s+to\s+|let'?s\s+|go\s+ahead\s+and\s+|(?:need|want)\s+to\s+"
    r"|help\s+me\s+(?:to\s+)?|time\s+to\s+|gonna\s+|going\s+to\s+|(?:kubectl|k)\s+(?=\w))+",
    re.I,
)
_LEAD_BONUS = 2.0
_SIBLING_WEIGHT = 0.5
_MIN_SCORE = 1.5  # a lone weak keyword ("release", "errors") is not a request

# Context-dependent corrections applied after the keyword sums.
_PIPELINE_PROBLEM = re.compile(
    r"\b(?:pipeline|build|ci|job)s?\b[^.]{0,40}?\b(?:fail\w*|broken|red|stuck|erroring|flaky)\b"
    r"|\b(?:fail\w*|broken)\b[^.]{0,30}?\b(?:pipeline|build)\b"
)
_METRIC_QUESTION = re.compile(
    r"\b(?:what(?:'s|\s+is|\s+are)|show|graph|plot|chart|give\s+me|get|how\s+(?:much|many))\b"
    r"[^.?]{0,40}?\b(?:p\d{2,3}|latency|error[\s-]rate|cpu|memory|usage|throughput|rps|qps"
    r"|request[\s-]rate|metrics?|response\s+times?)\b"
)
_SERVICE_NEW = re.compile(
    r"\b(?:new|create|scaffold|bootstrap)\b[^.]{0,30}?\b(?:(?:micro)?service|project|repo|app)\b"
)
_TESTS_FAILING = re.compile(
    r"\b(?:tests?|specs?|suites?)\s+(?:are\s+|is\s+|keep\s+)?(?:still\s+)?"
    r"(?:failing|broken|flaky|red|timing\s+out)\b"
)
_TEST_ACTION = re.compile(r"\b(?:write|add|generate|create|run|fix)\b[^.]{0,30}?\btests?\b")
# "after the 3.1 rollout", "since the last deploy": a time reference, not a request.
_AFTER_DEPLOY = re.compile(
    r"\b(?:after|since|before|during|from)\s+(?:the\s+|our\s+|this\s+|that\s+)?"
    r"(?:last\s+|latest\s+|recent\s+|morning'?s?\s+|yesterday'?s?\s+)?(?:[\w.-]+\s+)?"
    r"(?:deploy|deployment|release|rollout|upgrade)s?\b"
)
_LOG_LEVEL = re.compile(
    r"\blog[\s-]?level\b|\bdebug\s+(?:logging|logs|mode)\b|\bverbosity\b|\blog\s+verbosity\b"
)
_ACK = re.compile(r"\back(?:nowledge)?\b")
_ROLLBACK_WORD = re.compile(r"\broll(?:ed|ing)?[\s-]?back\b|\brollback\b|\brevert\b|\bundo\b")
_DB_OBJECT = re.compile(r"\b(?:database|db|postgres|mysql|table|schema)\b")
_KUBE_WORDS = re.compile(
    r"\b(?:pods?|nodes?|deployments?|cluster|replicas?|statefulsets?|daemonsets?|namespaces?"
    r"|k8s|kubernetes|kubectl|containers?|probes?)\b"
)
# "restart count of checkout": a number to read, not a restart to do.
_RESTART_COUNT = re.compile(
    r"\brestart[\s-]?counts?\b|\b(?:number\s+of|how\s+many|count\s+of)\s+(?:pod\s+|container\s+)?restarts\b"
    r"|\b(?:pod|container)\s+restarts\b|^restarts\s+(?:of|for|on|in)\b"
    r"|\b(?:show|graph|plot|chart)\s+(?:me\s+)?(?:the\s+)?restarts\b"
)
# "is checkout healthy?" (the question, not "check if web is healthy"), "health of checkout".
_HEALTH = re.compile(
    r"^(?:is|are)\s+(?:the\s+)?[\w-]+(?:\s+(?:service|app|api))?\s+(?:still\s+|currently\s+)?healthy\b"
    r"|\bhealth\s+(?:status\s+)?(?:of|for)\b"
)


# ------------------------------------------------------------------------- actions


# Verbs shared by many task types, in the order they are tried; agents add their own
# (`Vocabulary.verbs`), tried first.
_COMMON_VERBS: list[tuple[str, str]] = [
    (
        "rollback",
        r"\broll(?:ed|ing)?[\s-]?back\b|\brollback\b|\brollout\s+undo\b|\brevert\b|\bundo\b"
        r"|\broll\s+(?:[\w-]+\s+){1,2}back\b",
    ),
    ("restart", r"\brestart\b|\bbounce\b|\brecycle\b|\breboot\b|\brollout\s+restart\b"),
    ("scale", r"\bscal(?:e|ed|ing)\b|\breplicas?\b"),
    (
        "deploy",
        r"\b(?:re)?deploy\b|\bship\b|\brelease\b|\broll(?:ing)?[\s-]?out\b|\bpromote\b|\bupgrade\b"
        r"|\bset\s+image\b|\bhelm\s+install\b",
    ),
    (
        "delete",
        r"\bdelete\b|\bremove\b|\bdestroy\b|\btear\s*down\b|\bkill\b|\buninstall\b|\bdecommission\b",
    ),
    ("cordon", r"\b(?:un)?cordon\b|\bdrain\b"),
    ("stop", r"\bstop\b|\bsuspend\b|\bpause\b|\bhalt\b|\bfreeze\b"),
    ("start", r"\bresume\b|\bunpause\b|\bstart\b"),
    ("provision", r"\bprovision\w*\b|\bspin\s+up\b|\bterraform\b|\bstand\s+up\b"),
    ("silence", r"\bsilence\b|\bmute\b|\bsnooze\b|\bsuppress\b"),
    ("acknowledge", r"\back(?:nowledge)?\b"),
    ("resolve", r"\bresolve\b|\bclose\b|\bmitigate\b"),
    ("page", r"\bpage\b|\bpaging\b|\bescalate\b"),
    ("backup", r"\bbackup\b|\bback\s+up\b|\bsnapshot\b|\bdump\b"),
    ("restore", r"\brestore\b"),
    (
        "investigate",
        r"\binvestigat\w*\b|\bdebug\w*\b|\btroubleshoot\w*\b|\bdiagnos\w*\b|\bdig\s+in\w*\b"
        r"|\blook\s+into\b|\bwhy\b|\brca\b|\broot\s+cause\b|\btriage\b",
    ),
    ("test", r"\brun\s+(?:the\s+)?(?:\w+\s+){0,2}tests?\b|\brun\s+(?:the\s+)?(?:\w+\s+)?suite\b"),
    ("generate", r"\bgenerat\w*\b|\bcode[\s-]?gen\b|\bwrite\b"),
    (
        "trigger",
        r"\btrigger\b|\bre-?run\b|\bkick\s+off\b|\brun\s+(?:the\s+)?(?:[\w-]+\s+)?pipeline\b",
    ),
    (
        "create",
        r"\bcreate\b|\bset\s*up\b|\bsetup\b|\badd\b|\bnew\b|\bdeclare\b|\bopen\s+(?:an?|the|new)\b"
        r"|\bmake\b"
        r"|\bscaffold\b|\bbootstrap\b|\binit\b|\bdesign\b|\bwrite\s+up\b|\bbuild\b",
    ),
    ("update", r"\bupdate\b|\bedit\b|\bchange\b|\bmodify\b|\bbump\b"),
    ("monitor", r"\bmonitor\b|\bwatch\b"),
    ("query", r"\bquery\b|\bselect\b"),
    ("logs", r"\blogs?\b|\btail\b|\bgrep\b"),
    ("metrics", r"\bmetrics?\b|\bgraph\b|\bplot\b|\bchart\b|\btop\b"),
    (
        "status",
        r"\bstatus\b|\bshow\b|\bget\b|\blist\b|\bdescribe\b|\bcheck\b|\bwhat(?:'s|\s+is)\s+running\b"
        r"|\bhow\s+many\b|\bwhich\b",
    ),
]

# The agent a task type goes to without a Harness pipeline (the classifier's view).
_AGENT = {task: route_for(task).agent for task in TASK_TYPES}
_SUPERVISOR = {task: route_for(task).supervisor for task in TASK_TYPES}
_TASK_ACTIONS: dict[str, tuple[str, ...]] = {
    task: actions for spec in REGISTRY for task, actions in spec.vocabulary.task_actions.items()
}
_DEFAULT_ACTION: dict[str, str] = {
    task: action for spec in REGISTRY for task, action in spec.vocabulary.default_action.items()
}
# A task type tries the verbs of the agents under its supervisor, then the shared ones.
_ACTIONS_RE: dict[str, re.Pattern[str]] = {}
for _supervisor in dict.fromkeys(spec.supervisor for spec in REGISTRY):
    _spec_list = [
        *(v for spec in REGISTRY if spec.supervisor == _supervisor for v in spec.vocabulary.verbs),
        *_COMMON_VERBS,
    ]
    _ACTIONS_RE[_supervisor] = re.compile(
        "|".join(f"(?P<{name}_{i}>{pat})" for i, (name, pat) in enumerate(_spec_list))
    )
_LEADING: list[tuple[str, re.Pattern[str]]] = [
    (task, re.compile(pattern)) for spec in REGISTRY for task, pattern in spec.vocabulary.leading
]


def _mask_name(m: re.Match[str]) -> str:
    word = m.group(0)
    if word in _HYPHEN_KEYWORDS or _ENV_WORD_RE.match(word) or _SEV_OR_INC.match(word):
        return word
    return "xname"


_ENV_WORD_RE = re.compile(rf"^(?:{_ENV_ALT})$")
_SEV_OR_INC = re.compile(r"^(?:sev|p|inc|prio)-?\d+$")


def _score(
    low: str, ctx: dict[str, Any], facts: dict[str, Any], alarm: bool, present: set[str]
) -> dict[str, float]:
    if "-" in low:
        low = _HYPHENATED.sub(_mask_name, low)
    scores: dict[str, float] = {}
    for task, weight, rx, lits in _SIGNALS:
        if lits is not None and present.isdisjoint(lits):
            continue
        if rx.search(low):
            scores[task] = scores.get(task, 0.0) + weight

    def add(task: str, w: float) -> None:
        scores[task] = scores.get(task, 0.0) + w

    certain_keys = facts.get("sure", ())

    if facts.get("kube_refs"):
        add("kubernetes", 2)
    if facts.get("image_seen") or "image" in ctx:
        add("deploy", 2 if "image" in certain_keys else 1.5)
    if "replicas" in ctx:
        add("kubernetes", 1.5)
    if facts.get("incident_seen"):
        add("incident_response", 2.5)
    if "severity" in ctx and "severity" in certain_keys:
        add("incident_response", 2)
    if alarm:
        add("incident_response", 1.5)
    if "pipeline_name" in ctx:
        add("pipeline", 2.5 if "pipeline_name" in certain_keys else 1)
    if "environments" in ctx:
        add("pipeline", 1)
    if "repository" in ctx:
        add("pipeline", 0.5)
        add("scaffold", 0.5)
    if "alert_name" in ctx:
        add("alert", 1)
    if "image_tag" in ctx and "image" not in ctx:
        add("deploy", 0.5)
    if "promql" in ctx:
        add("metrics", 5)
    if "silence_id" in ctx:
        add("alert", 4)

    # Leading imperative.
    head = _POLITE.sub("", low.lstrip(" |,.!:-"), count=1).lstrip(" |,.!:-")
    for task, rx in _LEADING:
        if rx.match(head):
            add(task, _LEAD_BONUS)
            break
    if "health" in head and _HEALTH.search(head) and not _KUBE_WORDS.search(head):
        add("monitor", 5)
        facts["health"] = True

    # Corrections.
    if _LOG_LEVEL.search(low):
        add("kubernetes", 4)
        add("debug", -4.5)
        add("logs", -3.5)
    if "incident_id" in ctx and _ACK.search(low):
        add("incident", 3)
    if scores.get("deploy") and _AFTER_DEPLOY.search(low):
        add("deploy", -2.5)
    if scores.get("pipeline") and _PIPELINE_PROBLEM.search(low):
        add("debug", 3)
    if scores.get("metrics") and _METRIC_QUESTION.search(low):
        add("metrics", 1.5)
    if "restart" in low and _RESTART_COUNT.search(low):
        add("metrics", 5)
        if scores.get("kubernetes"):
            add("kubernetes", -5)
    if scores.get("scaffold") and not scores.get("pipeline") and _SERVICE_NEW.search(low):
        add("scaffold", 0.5)
    if scores.get("test") and _TESTS_FAILING.search(low):
        add("test", 3)
    if scores.get("test") and _TEST_ACTION.search(low):
        add("test", 1.5)
    if scores.get("migration") and scores.get("schema") and "migration" in low:
        add("migration", 1)
    if "migration" in low and _ROLLBACK_WORD.search(low):
        add("migration", 3.5)
    if scores.get("provision") and _DB_OBJECT.search(low) and "namespace" not in low:
        add("database", 1)
    return scores


def _confidence(scores: dict[str, float]) -> tuple[str | None, float]:
    """Pick the agent first (its best task score plus half of its siblings'), then the
    task type within it; confidence from the winner's strength and its margin over the
    best other agent."""
    if not scores:
        return None, 0.0
    by_agent: dict[str, list[float]] = {}
    for task, v in scores.items():
        by_agent.setdefault(_AGENT[task], []).append(v)
    agent_score = {a: max(vs) + _SIBLING_WEIGHT * (sum(vs) - max(vs)) for a, vs in by_agent.items()}
    ranked = sorted(agent_score.items(), key=lambda kv: kv[1], reverse=True)
    agent, s1 = ranked[0]
    if max(by_agent[agent]) < _MIN_SCORE:
        return None, 0.0
    s2 = ranked[1][1] if len(ranked) > 1 else 0.0
    top = max((t for t in scores if _AGENT[t] == agent), key=lambda t: scores[t])
    strength = min(1.0, s1 / 4.0)
    separation = max(0.0, (s1 - s2) / s1)
    conf = 0.1 + 0.6 * strength + 0.25 * separation
    return top, max(0.05, min(0.97, conf))


def _pick_action(low: str, task: str) -> str | None:
    allowed = _TASK_ACTIONS.get(task, ())
    rx = _ACTIONS_RE[_SUPERVISOR[task]]
    for m in rx.finditer(low):
        name = m.lastgroup.rsplit("_", 1)[0] if m.lastgroup else None
        if name in allowed:
            return name
    return _DEFAULT_ACTION.get(task)
