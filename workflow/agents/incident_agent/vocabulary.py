"""How incident_response, incident and debug requests are recognised."""

from workflow.agents.spec import Vocabulary

__all__ = ["VOCABULARY"]

# "what changed?", "any recent deploys?": the change history, for an incident.
CHANGES = (
    r"\bwhat(?:'s|\s+has|\s+have)?\s+(?:been\s+)?changed\b|\banything\s+changed\b"
    r"|\b(?:did|has)\s+(?:anything|something|anyone|someone|somebody)\s+(?:\w+\s+)?"
    r"(?:change|changed|deploy|deployed|ship|shipped|release|released)\b"
    r"|\b(?:any|recent|latest)\s+(?:recent\s+|config\s+)?"
    r"(?:changes|deploys|deployments|releases|rollouts)\b"
    r"|\bwhat\s+(?:was|got|were|has\s+been)\s+(?:deployed|released|shipped|rolled\s+out|changed)\b"
    r"|\bchanges\s+(?:@time|since|today)\b"
)

# "postmortem", "incident summary", "write up the incident".
POSTMORTEM = (
    r"\bpost[\s-]?mortems?\b|\bpost[\s-]incident\b|\bretro(?:spective)?\b"
    r"|\bincident\s+(?:summary|report|review|write[\s-]?up)\b"
    r"|\bwrite[\s-]?up\s+(?:of\s+)?(?:the\s+|this\s+|that\s+|an\s+)?(?:incident|outage)\b"
    r"|\b(?:write|draft|prepare)\s+(?:up\s+)?(?:the\s+|a\s+|an\s+)?"
    r"(?:post[\s-]?mortem|incident\s+(?:summary|report))"
)

SIGNALS: tuple[tuple[str, float, str], ...] = (
    (
        "incident_response",
        4,
        r"\b(?:is|are|it's|its|went|go(?:ing|es)?|been|was|were)\s+(?:completely\s+|totally\s+)?down\b"
        r"|\w's\s+down\b|\bdown\s+(?:in|on|for)\s+(?:prod|production|staging|stg|all|everyone|customers)",
    ),
    ("incident_response", 4, r"\boutages?\b"),
    ("incident_response", 3, r"\bdegraded\b|\bdegradation\b|\bpartial\s+outage\b"),
    (
        "incident_response",
        3,
        r"\bunavailable\b|\bunreachable\b|\bnot\s+(?:responding|reachable|loading|available)\b"
        r"|\bunresponsive\b|\bhard\s+down\b"
        r"|\b(?:can'?t|cannot|unable\s+to|couldn'?t)\s+(?:reach|connect|access|load|open)\b"
        r"|\bnothing\s+(?:loads|works|is\s+loading)\b|\b(?:won'?t|doesn'?t|does\s+not)\s+load\b",
    ),
    ("incident_response", 2, r"\b(?:5\d\d|5xx|4\d\d|4xx)(?:s|ing|ed)?\b"),
    (
        "incident_response",
        3,
        r"\bspik(?:e|es|ed|ing)\b|\bsurg(?:e|ing)\b|\belevated\b|\bthrough\s+the\s+roof\b"
        r"|\bskyrocket\w*\b|\bjump(?:ed|ing)\b|\bclimbing\b|\bdegrading\b",
    ),
    (
        "incident_response",
        2.5,
        r"\b(?:high|higher|increased|increasing|huge|massive)\s+(?:latency|error|errors|cpu|memory|load|response)\b",
    ),
    (
        "incident_response",
        3.5,
        r"\binvestigat\w*\b|\bdig\s+in(?:to)?\b|\blook\s+into\b|\broot\s+cause\b|\brca\b|\btriage\b",
    ),
    (
        "incident_response",
        3,
        r"\b(?:customers?|users?|clients?)\s+(?:are\s+|is\s+)?(?:reporting|report|seeing|can'?t"
        r"|cannot|unable|getting|complaining)\b",
    ),
    ("incident_response", 1, r"\bemergency\b|\burgent\b|\basap\b"),
    ("incident_response", 2, r"\bon\s+fire\b"),
    ("incident_response", 2, r"\btim(?:e|ing)\s*outs?\b|\btimeouts?\b|\bthrowing\b|\berroring\b"),
    ("incident_response", 2, r"\bdropping\b|\bpacket\s+loss\b|\bslow(?:ness|er)?\b|\bsluggish\b"),
    ("incident_response", 1.5, r"\bsev\b|\bsev\s*\d\b|\bincidents?\b|\bsomeone\s+look\b"),
    ("incident_response", 1, r"\berrors?\b(?![\s-](?:rates?|logs?|budget))|\bfailures\b"),
    (
        "incident",
        5,
        r"\b(?:open|declare|create|start|raise|file|log|kick\s+off|spin\s+up)\s+(?:an?\s+)?(?:new\s+)?"
        r"(?:(?:sev|p)\s*-?\d\s+|major\s+|critical\s+)?incident\b",
    ),
    (
        "incident",
        4,
        r"\bincident\s+(?:status|update|channel|timeline|commander|report|summary|review|doc"
        r"|ticket|room)\b",
    ),
    ("incident", 4.5, r"\bpost[\s-]?mortems?\b|\bretro(?:spective)?\b|\bpost[\s-]incident\b"),
    (
        "incident",
        4.5,
        r"\bwrite[\s-]?up\s+(?:of\s+)?(?:the\s+|this\s+|that\s+|an\s+)?(?:incident|outage)\b",
    ),
    (
        "incident",
        4,
        r"\b(?:resolve|close|mitigate[ds]?|downgrade|upgrade)\b[^.]{0,20}?\bincident\b",
    ),
    ("incident", 3.5, r"\bon[\s-]?call\b|\bpag(?:e|ed|ing)\b|\bescalat\w*\b"),
    ("incident", 3, r"\bwar\s*room\b|\bstatus\s*page\b|\bstatuspage\b|\bpagerduty\b|\bopsgenie\b"),
    ("incident", 2, r"\bincidents?\b"),
    ("debug", 4.5, r"\bdebug\w*\b|\btroubleshoot\w*\b"),
    ("debug", 3, r"\bdiagnos\w*\b"),
    ("debug", 2.5, r"\bwhy\b"),
    ("debug", 3.5, r"\bcrash\w*\b"),
    ("debug", 3.5, r"\boom\w*\b|\bout\s+of\s+memory\b|\bmemory\s+leak\b"),
    (
        "debug",
        4,
        r"\bimagepullbackoff\b|\berrimagepull\b|\bcreatecontainer\w*error\b|\bcontainercreating\b"
        r"|\bbackoff\b|\bterminating\b",
    ),
    (
        "debug",
        4,
        r"\bkeeps?\s+(?:on\s+)?(?:restarting|crashing|dying|failing|getting|erroring|timing)\b"
        r"|\brestart(?:ing)?\s+(?:loop|constantly|repeatedly|over\s+and\s+over)\b"
        r"|\brestart\s+count\b",
    ),
    ("debug", 2.5, r"\bstuck\b|\bhang(?:s|ing)\b|\bfrozen\b"),
    ("debug", 3, r"\bimage[\s-]?pull\w*\b|\bpull\s+(?:errors?|failures?)\b"),
    ("debug", 1.5, r"\bpending\b|\bevicted\b|\bprobe\b|\bunhealthy\b|\bflapping\b"),
    (
        "debug",
        1.5,
        r"\bpods?\b[^.]{0,30}?\b(?:pending|evicted|terminating)\b|\bforever\b|\bfor\s+ages\b",
    ),
    ("debug", 2, r"\bfail(?:s|ed|ing|ures?)?\b"),
    (
        "debug",
        3,
        r"\bdisk\s+(?:is\s+)?full\b|\bout\s+of\s+disk\b|\bdisk\s*pressure\b|\bno\s+space\s+left\b",
    ),
    (
        "debug",
        2.5,
        r"\bbroken\b|\bbroke\b|\bnot\s+working\b|\bdoesn'?t\s+work\b|\bwon'?t\s+(?:start|work|come\s+up)\b"
        r"|\bisn'?t\s+working\b|\bnot\s+starting\b",
    ),
    (
        "debug",
        3,
        r"\bwhat\s+happened\b|\bwhat(?:'s|\s+is)\s+wrong\b|\bwhat\s+went\s+wrong\b"
        r"|\bwhat(?:'s|\s+is)\s+(?:going\s+on|happening|up)\s+with\b|\bwhat'?s\s+up\s*[?!.]*$",
    ),
    (
        "debug",
        1.5,
        r"\bfix\b|\bissues?\b|\bproblems?\b|\bexit\s+code\b|\bexited\b|\bpanic\w*\b|\bsegfault\b",
    ),
    ("debug", 1, r"\berrors?\b(?![\s-](?:rates?|logs?|budget))"),
    ("debug", 5, CHANGES),
)

# The imperative a request starts with (after politeness): first match wins.
LEADING: tuple[tuple[str, str], ...] = (
    ("debug", r"^(?:debug|troubleshoot|diagnose|why)\b"),
    ("incident_response", r"^(?:investigate|dig\s+in|look\s+into|triage)\b"),
    ("incident", r"^(?:page|escalate|declare)\b"),
)

# Verbs only this agent's task types take (tried before the shared verbs).
VERBS: tuple[tuple[str, str], ...] = (
    ("postmortem", POSTMORTEM),
    ("changes", CHANGES),
)

VOCABULARY = Vocabulary(
    signals=SIGNALS,
    leading=LEADING,
    verbs=VERBS,
    task_actions={
        "incident_response": ("investigate", "changes"),
        "incident": (
            "postmortem",
            "create",
            "resolve",
            "page",
            "update",
            "status",
            "acknowledge",
            "investigate",
            "changes",
        ),
        "debug": ("investigate", "changes"),
    },
    default_action={"incident_response": "investigate", "debug": "investigate"},
    context_keys=("metric", "metrics", "level", "search_term"),
    help={
        "incident_response": "a live problem to investigate: something down, slow, erroring, "
        "an outage",
        "incident": "manage an incident: declare/open, status update, page on-call, resolve, "
        "postmortem",
        "debug": "find why something is broken: crashloops, OOMKilled, failing pods or deploys",
    },
)
