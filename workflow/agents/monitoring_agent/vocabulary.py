"""How monitor, metrics, logs and alert requests are recognised."""

from workflow.agents.spec import Vocabulary

__all__ = ["VOCABULARY"]

# "expire silence <id>", "unsilence the checkout alerts".
EXPIRE_SILENCE = (
    r"\bun-?silence[sd]?\b|\bunmute\b|\b(?:expire|delete|remove|cancel|end|lift|drop|clear)\s+"
    r"(?:the\s+|that\s+|this\s+|my\s+|our\s+|all\s+|a\s+)?(?:[\w-]+\s+)?silences?\b"
)

SIGNALS: tuple[tuple[str, float, str], ...] = (
    ("monitor", 3.5, r"\bmonitor(?:ing|s)?\b|\bdashboards?\b|\bobservability\b"),
    ("monitor", 2, r"\bgrafana\b|\bdatadog\b|\bnew\s*relic\b|\buptime\b|\bsynthetics?\b"),
    ("monitor", 2.5, r"\bslos?\b|\bslis?\b|\bslas?\b|\berror\s+budget\b|\bburn\s+rate\b"),
    ("monitor", 1.5, r"\bwatch\b|\bprometheus\b|\bkeep\s+an\s+eye\b"),
    ("metrics", 3, r"\bmetrics?\b|\bp(?:50|75|90|95|99|999)\b|\bpromql\b|\bpercentiles?\b"),
    ("metrics", 2, r"\blatency\b|\bresponse\s+times?\b|\bapdex\b"),
    (
        "metrics",
        2.5,
        r"\berror[\s-]rates?\b|\b(?:request|req|traffic)[\s-]?rates?\b|\brps\b|\bqps\b|\bthroughput\b",
    ),
    (
        "metrics",
        2,
        r"\bcpu\b|\bmemory\b|\bmem\b|\bram\b|\bdisk\b|\bbandwidth\b|\butili[sz]ation\b"
        r"|\busage\b|\bsaturation\b|\bconnections\b|\bheap\b",
    ),
    ("metrics", 4, r"\bkubectl\s+top\b|\btop\s+(?:pods?|nodes?)\b"),
    ("metrics", 2, r"\bgraph\b|\bplot\b|(?<!helm )\bchart\b|\btrends?\b|\bover\s+time\b"),
    (
        "metrics",
        2.5,
        r"\bslowest\b|\bfastest\b|\btop\s+\d+\b|\bqueue\s+depth\b|\bbacklog\b|\bconsumer\s+lag\b",
    ),
    (
        "metrics",
        2.5,
        r"\b(?:show|graph|plot|chart|count|rate|ratio|breakdown|compare)\b[^.]{0,20}?\b[45](?:xx|\d\d)s?\b"
        r"|\b[45](?:xx|\d\d)s?\s+(?:vs|rate|ratio|count|breakdown)\b|\bbreakdown\b",
    ),
    ("metrics", 2.5, r"\btraces?\b|\btracing\b|\bjaeger\b|\btempo\b|\bspans?\b|\bapm\b"),
    ("metrics", 1, r"\bhow\s+(?:much|many|fast)\b|\baverage\b|\bavg\b"),
    ("metrics", 2.5, r"\brequests?\s+(?:per|a|/)\s*(?:second|sec|s|minute|min)\b|\breq/s\b"),
    (
        "metrics",
        2,
        r"\btraffic\b|\berrors?\s*%|\berrors?\s+percent(?:age)?\b|\berror[\s-]ratios?\b",
    ),
    ("logs", 3.5, r"\blogs\b|\blog\b(?!\s+(?:in|into|on|out)\b)|\blogging\b"),
    ("logs", 2, r"\btail\b|\bgrep\b"),
    (
        "logs",
        1.5,
        r"\b(?:show|tail|get|pull|fetch|grep|search|view|check|see|dump|any)\b[^.]{0,30}?\blogs\b",
    ),
    (
        "logs",
        2.5,
        r"\bloki\b|\bkibana\b|\bsplunk\b|\belk\b|\bcloudwatch\b|\bstackdriver\b|\blogql\b",
    ),
    ("logs", 1, r"\bstack\s*traces?\b|\btracebacks?\b|\bexceptions?\b"),
    ("alert", 3.5, r"\balert(?:s|ing)?\b"),
    ("alert", 2.5, r"\bfiring\b|\bfired\b"),
    ("alert", 3, r"\bsilence[sd]?\b|\bmute\b|\bsnooze\b|\bsuppress\b"),
    ("alert", 1.5, r"\back(?:nowledge)?\b|\balertmanager\b|\bthresholds?\b"),
    ("alert", 3, EXPIRE_SILENCE),
)

# The imperative a request starts with (after politeness): first match wins.
LEADING: tuple[tuple[str, str], ...] = (
    ("alert", r"^(?:silence|mute|snooze|ack|acknowledge)\b"),
    ("monitor", r"^monitor\b"),
    ("logs", r"^(?:tail|grep|logs?)\b"),
    ("metrics", r"^top\s+(?:pods?|nodes?)\b"),
)

# Verbs only this agent's task types take (tried before the shared verbs).
VERBS: tuple[tuple[str, str], ...] = (("expire_silence", EXPIRE_SILENCE),)

VOCABULARY = Vocabulary(
    signals=SIGNALS,
    leading=LEADING,
    verbs=VERBS,
    task_actions={
        "monitor": ("health", "create", "update", "monitor", "status"),
        "metrics": ("metrics",),
        "logs": ("logs",),
        "alert": (
            "expire_silence",
            "silence",
            "acknowledge",
            "create",
            "delete",
            "update",
            "alerts",
        ),
    },
    default_action={"monitor": "health", "metrics": "metrics", "logs": "logs", "alert": "alerts"},
    context_keys=("metric", "metrics", "level", "search_term"),
    help={
        "monitor": "set up monitoring, dashboards, SLOs",
        "metrics": "question about metrics: latency, error rate, CPU, memory, throughput",
        "logs": "search or show logs",
        "alert": "list, create, silence or acknowledge alerts",
    },
)
