"""How deploy, kubernetes (workload operations) and provision requests are recognised."""

from workflow.agents.spec import Vocabulary

__all__ = ["VOCABULARY"]

# "the deploy", "before release": the noun, not the imperative.
NOT_NOUN = (
    r"(?<!\bthe )(?<!\ba )(?<!\bthis )(?<!\bthat )(?<!\blast )(?<!\bnext )(?<!\bnew )"
    r"(?<!\blatest )(?<!\bbefore )(?<!\bafter )(?<!\bsince )(?<!\bof )"
)

SIGNALS: tuple[tuple[str, float, str], ...] = (
    (
        "deploy",
        3,
        NOT_NOUN + r"\b(?:re)?deploy(?:ing)?\b(?!\s*(?:pipeline|job|step|stage|/))",
    ),
    ("deploy", 3, NOT_NOUN + r"\b(?:ship|release)\b(?!\s+(?:notes|pipeline|branch|train))"),
    (
        "deploy",
        1,
        r"\b(?:the|a|this|that|last|next|new|latest|before|after|since|of)\s+(?:re)?(?:deploy|release)\b",
    ),
    (
        "deploy",
        3,
        NOT_NOUN
        + r"(?<!\d )\broll(?:ing)?[\s-]?out\b(?!\s+(?:restart|status|history|pause|resume|undo))",
    ),
    (
        "deploy",
        3.5,
        r"\broll(?:ed|ing)?[\s-]?back\b|\brollback\b|\brollout\s+undo\b|\broll\s+[\w-]+\s+back\b",
    ),
    ("deploy", 2.5, r"\brevert\b(?!\s+(?:the\s+)?(?:commit|pr|migration))"),
    ("deploy", 3, r"\bpromote\b|\bhelm\s+(?:install|upgrade)\b|\bset\s+image\b"),
    ("deploy", 2, r"\bupgrade\b|\bcanary\b|\bblue[\s/-]?green\b|\bhotfix\b|\bgo\s+live\b"),
    ("deploy", 2, r"\b(?:update|bump|change)\s+(?:the\s+)?(?:image|version|tag)\b"),
    ("deploy", 2, r"\bpush\b[^.]{0,40}\bto\s+(?:prod|production|staging|stg|dev)\b"),
    ("deploy", 1, r"\bdeployed\b"),
    ("deploy", 2, r"\bdeploys\b"),
    ("deploy", 2.5, r"\b(?:bump|upgrade|update|move)\s+[\w-]+\s+to\s+v?\d+(?:\.\d+)*\b"),
    ("deploy", 3.5, r"\bundo\b[^.]{0,20}?\b(?:rollout|deploy|deployment|release|upgrade)\b"),
    ("deploy", 1.5, r"\b(?:on|to|at)\s+v?\d+(?:\.\d+)+\b"),
    ("deploy", 3, r"\broll(?:ing)?\s+forward\b"),
    ("kubernetes", 3, r"\bscal(?:e|ed|ing)\b(?!\s+(?:test|testing))"),
    ("kubernetes", 3, r"\brestart\b|\bbounce\b|\brecycle\b|\breboot\b"),
    ("kubernetes", 4, r"\brollout\s+(?:restart|status|history|pause|resume)\b"),
    ("kubernetes", 3.5, r"\b(?:un)?cordon\b|\bdrain\b|\btaint\b"),
    (
        "kubernetes",
        3,
        r"\bevict\b|\bexec\b|\bport[\s-]?forward\b|\bshell\s+(?:in|into|on)\b|\bssh\s+into\b",
    ),
    ("kubernetes", 3.5, r"\b(?:pause|resume|restart|check)\s+(?:the\s+)?(?:[\w-]+\s+)?rollout\b"),
    ("kubernetes", 2, r"\b(?:stop|suspend|pause|resume|unpause|halt)\b"),
    ("kubernetes", 2, r"\bhelm\b|\bapply\b|\bmanifests?\b|\bkustomiz\w*\b"),
    (
        "kubernetes",
        2.5,
        r"\b(?:deploy|rollout|release|deployment|upgrade)\s+(?:is\s+)?(?:done|finished|complete|over|through)\b"
        r"|\b(?:latest|current|running|deployed)\s+version\b|\bversion\s+of\b"
        r"|\b(?:rollout|deployment|deploy)\s+history\b|\brevisions?\b",
    ),
    (
        "kubernetes",
        3.5,
        r"\b(?:add|configure|set|update|change|fix)\b[^.]{0,20}?\b(?:readiness|liveness|startup)\s+probes?\b",
    ),
    (
        "kubernetes",
        2,
        r"\bhow(?:'s|\s+is|\s+are)\s+(?!(?:you|u|we|they|things|it|life|everyone|everybody|ya)\b)"
        r"[\w-]+\s+(?:looking|doing)\b|\bstatus\s+(?:report|check)\b"
        r"|\b(?:is|are)\s+(?:the\s+)?[\w-]+\s+(?:still\s+)?healthy\b"
        r"|\bif\s+(?:the\s+)?[\w-]+\s+(?:is|are)\s+(?:still\s+)?(?:healthy|up|running|ok)\b",
    ),
    ("kubernetes", 2, r"\b(?:delete|kill|remove|destroy|uninstall)\b|\btear\s*down\b"),
    ("kubernetes", 2, r"\bkubectl\b|\bk8s\b|\bkubernetes\b|\bkube\b"),
    ("kubernetes", 1.5, r"\bpods?\b"),
    ("kubernetes", 1, r"\bnodes?\b|\bcontainers?\b|\bevents\b"),
    ("kubernetes", 1.5, r"\bdeployments?\b|\bstatefulsets?\b|\bdaemonsets?\b|\breplicasets?\b"),
    ("kubernetes", 1.5, r"\bconfigmaps?\b|\bhpa\b|\bingress\b|\bcronjobs?\b|\bpvcs?\b"),
    ("kubernetes", 2, r"\breplicas?\b"),
    ("kubernetes", 2.5, r"\bdescribe\b"),
    (
        "kubernetes",
        3,
        r"\bget\s+(?:pods?|po|deploy\w*|svc|services|nodes|ns|namespaces|all|events|hpa|ingress"
        r"|cm|configmaps?|secrets?|sts|statefulsets?|rs|jobs|cronjobs)\b",
    ),
    ("kubernetes", 1.5, r"\bstatus\s+(?:of|for)\b|\brollout\s+status\b|\bdeployment\s+status\b"),
    ("kubernetes", 1, r"\bstatus\b"),
    ("kubernetes", 1.5, r"\b(?:show|list|get|see|display)\b[^.]{0,20}?\bpods?\b"),
    (
        "kubernetes",
        3,
        r"\bwhat(?:'s|\s+is)\s+(?:running|deployed)\b|\b(?:which|what)\s+version\b"
        r"|\bhow\s+many\s+(?:pods|replicas|instances)\b|\bwhat\s+pods\b"
        r"|\bwhat\s+(?:image|tag)\b",
    ),
    ("kubernetes", 1, r"\bhealth\w*\b|\bup\s+and\s+running\b"),
    ("kubernetes", 1.5, r"\b(?:is|are)\s+(?:the\s+)?\S+\s+(?:still\s+)?up\b"),
    ("kubernetes", 1.5, r"\b(?:is|are)\s+(?:the\s+)?[\w-]+\s+running\b"),
    ("kubernetes", 1.5, r"\bcluster\b"),
    (
        "kubernetes",
        3.5,
        r"\b(?:increase|decrease|raise|lower|bump|set|change|update|adjust)\b[^.]{0,30}?"
        r"\b(?:limits?|requests|quotas?|resources)\b",
    ),
    ("kubernetes", 2, r"\b(?:memory|cpu|mem)\s+(?:limits?|requests?)\b|\bresource\s+quotas?\b"),
    (
        "provision",
        4,
        r"\bprovision\w*\b|\bterraform\b|\bpulumi\b|\bcloudformation\b|\bcrossplane\b",
    ),
    ("provision", 2.5, r"\bspin\s+up\b|\bstand\s+up\b"),
    (
        "provision",
        2.5,
        r"\b(?:create|make|add|new|set\s*up|setup|spin\s+up|need)\b[^.]{0,30}?\bnamespace\b",
    ),
    (
        "provision",
        3.5,
        r"\b(?:create|provision|new|spin\s+up|set\s*up|setup|add|need|stand\s+up)\b[^.]{0,20}?"
        r"\b(?:cluster|bucket|s3|vpc|vms?|node\s*pool|nodegroup|(?:ephemeral\s+|preview\s+)?"
        r"environment|rds|instance|queue|topic|load\s*balancer|dns\s+record|certificate"
        r"|iam\s+role|service\s*account|subnet|gke|eks|aks)\b",
    ),
    ("provision", 1.5, r"\bnamespace\b"),
    ("provision", 1.5, r"\binfra(?:structure)?\b|\bbuckets?\b|\bvpc\b|\bnode\s*pools?\b|\biam\b"),
)

# The imperative a request starts with (after politeness): first match wins.
LEADING: tuple[tuple[str, str], ...] = (
    ("kubernetes", r"^rollout\s+(?:restart|status|history|pause|resume)\b"),
    ("deploy", r"^(?:rollout\s+undo|roll\s*back|rollback|revert)\b"),
    ("deploy", r"^(?:re)?deploy\b(?!/)|^(?:ship|release|promote|roll\s*out|rollout|upgrade)\b"),
    (
        "kubernetes",
        r"^(?:scale|restart|bounce|recycle|cordon|uncordon|drain|describe|delete|kill|evict"
        r"|exec|get\s+(?:pods?|deploy\w*|nodes|svc|events|all|ns))\b",
    ),
    ("provision", r"^(?:provision|terraform|spin\s+up)\b"),
)

VOCABULARY = Vocabulary(
    signals=SIGNALS,
    leading=LEADING,
    task_actions={
        "deploy": ("rollback", "deploy"),
        "kubernetes": (
            "rollback",
            "restart",
            "scale",
            "delete",
            "cordon",
            "stop",
            "start",
            "deploy",
            "create",
            "update",
            "status",
        ),
        "provision": ("provision", "delete", "create", "update"),
    },
    default_action={"deploy": "deploy", "kubernetes": "status", "provision": "provision"},
    help={
        "deploy": "deploy, release, ship, promote or roll back a service version",
        "kubernetes": "operate on running workloads: scale, restart, delete, describe,\n"
        "  pod/deployment status, cordon/drain nodes",
        "provision": "create infrastructure: namespaces, clusters, buckets, VPCs, "
        "environments (terraform)",
    },
)
