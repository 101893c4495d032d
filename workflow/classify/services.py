"""The service a request is about, from prose: name patterns, strongest first.

Run on the working copy after the explicit structures and the operations terms are cut
out of it (`workflow.classify.context`, `workflow.classify.ops`).
"""

from __future__ import annotations

import re

from workflow.classify.context import _Work
from workflow.classify.literals import _required_literals
from workflow.classify.normalise import _POD_HASH, is_service_name
from workflow.environments import canonical_environment

# Service-name patterns, strongest first. Each yields group 1.


_N = r"(?<!['\w-])([a-z0-9][a-z0-9-]*)(?![\w-]|\.\w)"
_DET = r"(?:(?:the|our|my|a|an|this|that)\s+)?"
_SERVICE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "verb-badname",
        re.compile(
            r"\b(?:deploy|redeploy|restart|scale|rollback|delete|describe|status\s+of|logs\s+of"
            r"|deployment)\s+(?:the\s+)?([a-z0-9][\w.-]*_[\w.-]*[a-z0-9])\b",
            re.I,
        ),
    ),
    ("named", re.compile(rf"\b(?:called|named|call\s+it|name\s+it)\s+[\"']?{_N}", re.I)),
    (
        "x-pipeline",
        re.compile(
            rf"\b{_N}\s+(?:(?:ci\s*/\s*cd|ci|cd|cicd|build|deploy|deployment|release|harness|unit"
            r"|integration|e2e|smoke|load|contract|regression|api)\s+)?"
            r"(?:pipeline|tests?|suite|logs|dashboard|alerts?|database|db|repo|repository)\b",
            re.I,
        ),
    ),
    ("x-service", re.compile(rf"\b{_N}\s+(?:micro)?service\b(?!\s*(?:account|mesh|level))", re.I)),
    (
        "x-kind",
        re.compile(
            rf"\b{_N}\s+(?:deployment|deploy|svc|app|application|statefulset|sts|daemonset"
            r"|pods?|containers?|workers?|cronjob|job)\b",
            re.I,
        ),
    ),
    (
        "kind-x",
        re.compile(
            rf"\b(?:deployment|statefulset|sts|daemonset|svc|service|app|cronjob|pod)\s+{_N}",
            re.I,
        ),
    ),
    ("roll-x-back", re.compile(rf"\broll\s+{_DET}{_N}\s+back\b", re.I)),
    ("x-replicas", re.compile(rf"{_N}\s+(?:to\s+)?\d+\s+(?:replicas|pods|instances)\b", re.I)),
    ("x-version", re.compile(rf"{_N}\s+(?:v\d+(?:\.\d+)*|\d+\.\d+(?:\.\d+)*)(?![\w.])", re.I)),
    (
        "verb-x",
        re.compile(
            r"\b(?:deploy|redeploy|ship|release|restart|bounce|recycle|scale(?:\s+(?:up|down|out|in))?"
            r"|roll\s*back|rollback|revert|promote|monitor|debug|troubleshoot|investigate"
            r"|describe|upgrade|roll\s+out|rollout|logs?|tail|watch|fix|deploys|releases|ships|bump"
            r"|stop|suspend|pause|resume|roll\s+forward)\s+"
            + _DET
            + r"(?:(?:prod|production|prd|staging|stg|dev)\s+)?"
            + r"(?:(?:crashlooping|failing|broken|stuck|flaky|slow|whole|entire|existing"
            + r"|current)\s+)?"
            + _N,
            re.I,
        ),
    ),
    (
        "changes-x",
        re.compile(
            rf"\b(?:changes|changed|(?:recent|any)\s+(?:deploys|deployments|releases|rollouts))"
            rf"\s+(?:to|in|on|for|of)\s+{_DET}{_N}",
            re.I,
        ),
    ),
    (
        "why-x",
        re.compile(
            rf"(?:\bwhy(?:\s+(?:is|are|does|do|did|has|have|was|were|can'?t|cannot|won'?t"
            rf"|doesn'?t|isn'?t|aren'?t|didn'?t))?|^(?:is|are|does|did)|"
            rf"\b(?:does|do|is|are)(?=\s+{_DET}[a-z0-9-]+\s+(?:have|has|run|running|up|healthy"
            rf"|using|use|ok|okay|alive|serving|handling|doing|taking|processing)\b))\s+{_DET}{_N}",
            re.I,
        ),
    ),
    ("for-x", re.compile(rf"\b(?:for|of|between)\s+{_DET}{_N}", re.I)),
    (
        "x-is",
        re.compile(
            rf"\b{_N}(?:'s|\s+is|\s+are|\s+keeps?|\s+seems|\s+looks|\s+has\s+been|\s+was|\s+went)?"
            r"(?:\s+(?:really|very|super|totally|completely|still|now|currently|so|quite|all))?"
            r"\s+(?:down|crash\w*|failing|broken|slow|erroring|throwing|returning|timing|dead"
            r"|unhealthy|flapping|degraded|oom\w*|restarting|stuck|unavailable|unreachable"
            r"|hanging|spiking|not\s+\w+|getting|latency|error|errors|cpu|memory|logs|bumped|scaled"
            r"|restarted|redeployed|rolled|5\d\d\w*|5xx\w*|healthy|running|dying|exiting|flaking)\b",
            re.I,
        ),
    ),
    ("on-x", re.compile(rf"\b(?:on|in|against|from)\s+{_DET}{_N}", re.I)),
]
_NOT_SERVICE_AFTER = re.compile(
    r"\s+(?:team|squad|org|folks|people|channel|node|cluster|handler|function|module|class"
    r"|method|endpoint|table|column|field|file|feature|flag|page|controller|component|probe"
    r"|check|stage|step|panel|widget)s?\b",
    re.I,
)
_WEAK_KINDS = frozenset({"why-x", "for-x", "x-is", "on-x"})
_DB_ENGINES = frozenset(
    "postgres postgresql pg mysql mariadb mongo mongodb redis dynamodb cassandra sqlite aurora rds"
    " cockroachdb clickhouse elasticsearch".split()
)
_QUERY_CONTEXT = re.compile(r"\b(?:grep|search|find|look(?:ing)?|filter)\b[^.;]*$", re.I)


_SERVICE_LITERALS = {kind: _required_literals(rx.pattern) for kind, rx in _SERVICE_PATTERNS}


def _find_service(
    work: _Work, alert_name: str | None = None, present: set[str] | None = None
) -> str | None:
    """The first plausible service name, strongest pattern first.

    Among the weak prose patterns ("for X", "X is down", "on X") a name that looks like
    a real service name (has a '-' or a digit) beats a plain English word.
    """
    s = work.s
    weak: list[str] = []
    for kind, rx in _SERVICE_PATTERNS:
        lits = _SERVICE_LITERALS[kind]
        if present is not None and lits is not None and present.isdisjoint(lits):
            continue
        for m in rx.finditer(s):
            name = _POD_HASH.sub("", m.group(1).lower())
            if kind == "verb-badname":
                return name  # kept as typed so the agent can name what is invalid
            if not is_service_name(name):
                continue
            if kind == "x-pipeline" and name in _DB_ENGINES:
                continue
            if _NOT_SERVICE_AFTER.match(s, m.end(1)):
                continue
            if kind == "x-pipeline" and name in ("search", "find"):
                if _SEARCH_LOGS.match(s, m.end(1)):
                    continue  # "search logs for X": the verb
            if kind == "for-x" and _QUERY_CONTEXT.search(s, 0, m.start()):
                continue
            if name == alert_name:
                continue
            if kind in _WEAK_KINDS:
                weak.append(name)
                continue
            if kind == "x-service" and "-" not in name:
                # "payment service" names the payment-service deployment (the seed's
                # Example 2); the catalog maps it back when the service is called "payment".
                return f"{name}-service"
            return name
    if not weak:
        # Last resort: a hyphenated token is almost always a service name in ChatOps
        # ("the queue-consumer in staging is stuck"), unless it is a known keyword.
        for m in _HYPHENATED.finditer(s):
            name = m.group(0).lower()
            if (
                name not in _HYPHEN_KEYWORDS
                and canonical_environment(name) is None
                and is_service_name(name)
                and name != alert_name
                and not s[m.end() : m.end() + 1] == "/"
                and s[max(0, m.start() - 1) : m.start()] not in {"/", ":", "."}
                and not _NOT_SERVICE_BEFORE.search(s, 0, m.start())
            ):
                return name
        return None
    # hyphenated names first, then anything that isn't a database engine's name
    return min(weak, key=lambda n: 0 if "-" in n else 2 if n in _DB_ENGINES else 1)


_SEARCH_LOGS = re.compile(r"\s+logs?\s+(?:for|containing|matching|with|where)\b")
_NOT_SERVICE_BEFORE = re.compile(
    r"\b(?:node|nodes|cluster|pool|table|column|branch|host|bucket|queue|topic)\s+$", re.I
)
_HYPHENATED = re.compile(r"(?<![\w-])[a-z0-9]+(?:-[a-z0-9]+)+(?![\w-])")
# Hyphenated words that are keywords, not names (everything else hyphenated is a name:
# "log-shipper", "payments-db", "perf-test" must not count as logs / database / test).
_HYPHEN_KEYWORDS = frozenset(
    """roll-out rolling-out roll-back rolled-back ci-cd on-call post-mortem post-mortems
    post-incident end-to-end pre-prod pre-production blue-green crash-loop crash-looping
    out-of-memory error-rate error-rates re-run set-up spin-up code-gen codegen node-pool
    port-forward hot-fix health-check smoke-test load-test e2e-tests re-deploy prod-1
    follow-up write-up""".split()
)
