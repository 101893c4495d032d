"""Words and values the rules classifier understands: the stopwords that are never a
service name, `is_service_name`, and the normalisers of context values (severity, time
range, duration, log level, incident id, image, repository, environments, counts).

`workflow.classify.llm` validates the LLM's output with the same normalisers.
"""

from __future__ import annotations

import re
from typing import Any

from workflow.classify.clean import ascii_digits
from workflow.classify.model import LOG_LEVELS
from workflow.environments import ENVIRONMENT_ALIASES, canonical_environment

__all__ = [
    "duration_minutes",
    "is_service_name",
    "normalise_image",
    "normalise_incident_id",
    "normalise_level",
    "normalise_repository",
    "normalise_severity",
    "normalise_time_range",
]


# ----------------------------------------------------------------------- vocabulary

_ENV_WORDS = frozenset(ENVIRONMENT_ALIASES)
# Aliases that are also ordinary English and only count after a preposition.
_WEAK_ENV = frozenset({"live", "stage", "develop", "sandbox", "devel"})

_STOP = (
    frozenset(
        """
    a an the this that these those it its it's them they their there here me my mine us we
    our ours you your i im i'm he she his her one some any all every each both either none
    no not nor yes and or but if then than so too very just only also even still again
    to in on of for from with without at by into onto over under about after before
    between through during since until ago via per as up down out off
    is are was were be been being am do does did done doing have has had having
    can could would should will shall may might must need needs want wants like
    please pls plz thanks thank thx ty hi hello hey yo ok okay sure hmm lol
    what whats what's which who whos who's whom whose why how when where whats
    now right today tonight yesterday tomorrow currently again ever never always
    new old latest previous prev last past next current recent recently first
    hour hours minute minutes min mins day days week weeks month months second seconds
    deploy deploys deployed deploying redeploy ship ships shipped release releases
    released rollout rollouts roll rolled rolling rollback rollbacks revert promote
    upgrade scale scaled scaling restart restarts restarted restarting bounce recycle
    delete deleted remove removed destroy kill cordon uncordon drain taint evict
    provision provisioned create created creating make add added setup set
    show shows get gets list lists describe check checks tail grep find look
    view display fetch see tell give help monitor monitoring watch debug debugging
    troubleshoot investigate investigating diagnose dig generate generated write run
    runs running ran trigger triggered test tests testing tested silence silenced mute
    snooze ack acknowledge page paging open opened declare resolve resolved close
    closed update updated edit change changed fix fixed build builds built migrate
    backup restore query undo design scaffold bootstrap start started stop stopped
    pause resume apply sync exec patch pull push bump bumped plot graph chart kick
    keep keeps kept going went seeing seems seem looks look looking happening happened
    pod pods deployment deployments svc service services app apps application
    applications microservice microservices container containers node nodes
    namespace namespaces ns image images tag tags version versions replica replicas
    instance instances log logs logging metric metrics alert alerts alerting incident
    incidents pipeline pipelines job jobs cronjob cronjobs statefulset statefulsets
    daemonset daemonsets replicaset replicasets ingress configmap configmaps secret
    secrets hpa pvc pv volume volumes events event cluster clusters region zone
    env envs environment environments stage stages infra infrastructure
    cpu memory mem ram disk network latency error errors rate rates traffic request
    requests throughput usage utilization saturation dashboard dashboards
    database databases db dbs schema schemas migration migrations table tables column
    columns row rows index indexes test suite coverage status health healthy unhealthy
    everything anything something nothing stuff thing things everyone someone anyone
    team teams squad repo repository repositories project projects code client sdk
    model models stub stubs type types template templates boilerplate skeleton
    python go golang java node nodejs js javascript typescript ts rust ruby php scala
    kotlin csharp dotnet fastapi flask django express spring springboot nestjs nextjs
    react vue grpc rest http https openapi swagger proto protobuf graphql json yaml yml
    docker helm kubectl k8s kubernetes kube terraform pulumi harness github gitlab
    jenkins circleci ci cd cicd prometheus grafana datadog loki kibana splunk
    outage down crash crashing crashed crashloop crashlooping crashloopbackoff failing
    fail fails failed failure failures broken slow spike spikes spiking high low
    elevated degraded timeout timeouts oom oomkilled issue issues problem problems
    p0 p1 p2 p3 p4 p5 sev sev0 sev1 sev2 sev3 sev4 sev5 critical crit medium major minor
    severity priority urgent asap emergency call oncall on-call
    5xx 4xx 500 500s 502 502s 503 503s 504 504s
    unit integration e2e smoke load regression
    bucket buckets vpc vm vms queue topic certificate cert role
    top firing fired active open resolved pending
    many more most few several lot lots bunch much other others another same such own
    readiness liveness startup maintenance throwing returning serving handling
    nightly daily weekly hourly scheduled default canary contract acceptance performance
    perf stress ui component snapshot mutation fuzz chaos synthetic
    increase decrease improve reduce raise lower boost measure enable disable configure
    install connect hook wire integrate expose rotate renew downgrade rename move copy
    clone merge split tear re ve ll s t d m needed required asap urgently
    dns tls ssl networking resolution connectivity good great nice job work hotfix patch
    evicted completed terminated succeeded
    pagerduty opsgenie slack jira statuspage sentry newrelic
    spin bring level history revision revisions rollout fire stuck hung zombie orphaned stale shell
    really very super totally completely quite so
    handler handlers function functions module modules endpoint endpoints class method
    field fields file files feature features flag flags lines line step steps
    main master branch commit pr prs tool tools cli side
    rps qps promql logql percentile percentiles median warn warning warnings info
    unsilence unmute expire expired postmortem postmortems summary changes count
    containing contains matching matches mentioning including
    """.split()
    )
    | _ENV_WORDS
)

_DNS = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# A name someone clearly meant as a name but that Kubernetes will refuse (Web_App,
# staging_old). Kept as typed, lowercased, so the agent can say exactly what is wrong
# instead of the classifier quietly shortening it into a different, valid name.
_DNS_SUBDOMAIN = re.compile(
    r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$"
)
_BAD_NAME = re.compile(r"^[a-z0-9][\w.-]*_[\w.-]*$")
_TIMEISH = re.compile(r"^\d+(?:s|m|h|d|w|ms|min|mins|hr|hrs)$")
_VERSIONISH = re.compile(r"^v?\d+(?:[.-]\d+)*$")
_PCTL = re.compile(r"^p\d{1,3}$|^ip-\d+-\d+-\d+-\d+$|^node-\d+$")
_POD_HASH = re.compile(r"-[a-z0-9]{8,10}-[a-z0-9]{5}$")


def is_service_name(name: str | None) -> bool:
    """DNS-1123-ish (lowercase letters, digits, '-'), has a letter, not a stopword."""
    if not name or not _DNS.match(name):
        return False
    if name in _STOP or _TIMEISH.match(name) or _VERSIONISH.match(name) or _PCTL.match(name):
        return False
    return any(c.isalpha() for c in name)


# ------------------------------------------------------------------- normalisation

_SEV_NUM = {"0": "critical", "1": "critical", "2": "high", "3": "medium", "4": "low", "5": "low"}
_SEV_WORD = {
    "critical": "critical",
    "crit": "critical",
    "blocker": "critical",
    "high": "high",
    "major": "high",
    "urgent": "high",
    "medium": "medium",
    "med": "medium",
    "moderate": "medium",
    "normal": "medium",
    "low": "low",
    "minor": "low",
    "trivial": "low",
}
_SEV_CODE = re.compile(r"^(?:sev(?:erity)?|p|prio(?:rity)?)[\s_-]?([0-5])$")


def normalise_severity(value: Any) -> str | None:
    if value is None:
        return None
    v = str(value).strip().lower()
    if v in _SEV_WORD:
        return _SEV_WORD[v]
    if v in _SEV_NUM:
        return _SEV_NUM[v]
    m = _SEV_CODE.match(v)
    return _SEV_NUM[m.group(1)] if m else None


_UNIT = {
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "m": "m",
    "min": "m",
    "mins": "m",
    "minute": "m",
    "minutes": "m",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "d": "d",
    "day": "d",
    "days": "d",
    "w": "w",
    "wk": "w",
    "wks": "w",
    "week": "w",
    "weeks": "w",
}
_NUMWORD = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "zero": 0,
    "couple": 2,
    "few": 3,
}
_UNIT_RE = r"(?:seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|wks?|w)"
_NUM_RE = (
    r"(?:[0-9]+|an?|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|thirty)"
)
_DURATION = re.compile(rf"^({_NUM_RE})\s*({_UNIT_RE})$")


def _compact(num: str, unit: str) -> str | None:
    n = int(num) if num.isascii() and num.isdecimal() else _NUMWORD.get(num)
    u = _UNIT.get(unit)
    if n is None or u is None or n <= 0 or n > 10_000:
        return None
    if u == "d" and n == 1:
        return "24h"
    if u == "w":
        return f"{n * 7}d"
    return f"{n}{u}"


def normalise_time_range(value: Any) -> str | None:
    """'2h', '2 hours', 'last 30 minutes', 'yesterday' -> '2h', '2h', '30m', '24h'."""
    if value is None:
        return None
    v = ascii_digits(str(value)).strip().lower()
    v = re.sub(r"^(?:the\s+)?(?:last|past|previous)\s+", "", v)
    v = re.sub(r"\s+ago$", "", v)
    if v in ("yesterday", "day", "today", "24h"):
        return "24h"
    if v in ("hour", "minute", "week"):
        return _compact("1", v)
    m = _DURATION.match(v)
    return _compact(m.group(1), m.group(2)) if m else None


_MINUTES_PER = {"m": 1, "h": 60, "d": 24 * 60, "w": 7 * 24 * 60}
_COMPACT = re.compile(r"^([0-9]+)([smhdw])$")


def duration_minutes(value: Any) -> int | None:
    """'2h' -> 120, '30m' -> 30, '1d' -> 1440; None unless a whole number of minutes."""
    m = _COMPACT.match(ascii_digits(str(value or "")))
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2)
    if unit == "s":
        return n // 60 if n >= 60 and n % 60 == 0 else None
    return n * _MINUTES_PER[unit] or None


_LEVEL_ALIASES = {
    "error": "error",
    "errors": "error",
    "err": "error",
    "fatal": "error",
    "critical": "error",
    "crit": "error",
    "panic": "error",
    "warn": "warn",
    "warns": "warn",
    "warning": "warn",
    "warnings": "warn",
    "info": "info",
}


def normalise_level(value: Any) -> str | None:
    """A log level to filter by: error / warn / info (fatal/critical -> error), else None."""
    if value is None:
        return None
    level = _LEVEL_ALIASES.get(str(value).strip().strip("\"'").lower())
    return level if level in LOG_LEVELS else None


_INC_ID = re.compile(r"^(?:inc(?:ident)?)?[\s_#-]*([0-9]{2,10})$", re.I)


def normalise_incident_id(value: Any) -> str | None:
    if value is None:
        return None
    m = _INC_ID.match(ascii_digits(str(value)).strip())
    return f"INC-{m.group(1)}" if m else None


_IMAGE_FULL = re.compile(
    r"^(?:[a-z0-9][a-z0-9.-]*(?::\d+)?/)*[a-z0-9][a-z0-9._-]*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$",
    re.I,
)


def normalise_image(value: Any) -> str | None:
    if value is None:
        return None
    v = str(value).strip().strip("\"'")
    if not v or not _IMAGE_FULL.match(v) or not any(c.isalpha() for c in v.split(":")[0]):
        return None
    return v


def _image_parts(image: str) -> tuple[str | None, str | None]:
    """(service-ish name, tag) of an image reference."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    name, _, tag = last.partition(":")
    name = name.lower()
    return (name if is_service_name(name) else None), (tag or None)


_REPO_URL = re.compile(
    r"(?:https?://|ssh://|git@)?(?:www\.)?"
    r"(?:github\.com|gitlab\.com|bitbucket\.org|dev\.azure\.com|codeberg\.org)[/:]"
    r"[\w.-]+/[\w.-]+(?:/[\w.-]+)*",
    re.I,
)
_ORG_REPO = re.compile(r"^[a-z0-9][\w.-]*/[\w.-]+$", re.I)


def normalise_repository(value: Any) -> str | None:
    if value is None:
        return None
    v = str(value).strip().strip("\"'<>").rstrip(".,;)")
    if not v:
        return None
    if v.lower().startswith(("http://", "https://", "ssh://", "git@")):
        return v
    if _REPO_URL.fullmatch(v):
        return "https://" + v
    if (
        _ORG_REPO.match(v)
        and v.split("/", 1)[0].lower() not in _KUBE_KINDS
        and v.lower()
        not in (
            "ci/cd",
            "n/a",
        )
    ):
        return v
    return None


def _environment_list(value: Any) -> list[str] | None:
    items = (
        value if isinstance(value, list | tuple) else re.split(r"[\s,;/+|]+|\band\b", str(value))
    )
    out: list[str] = []
    for item in items:
        env = canonical_environment(str(item).strip()) if item else None
        if env and env not in out:
            out.append(env)
    return out or None


def _to_int(value: Any) -> int | None:
    v = ascii_digits(str(value)).strip().lower()
    n = int(v) if v.isascii() and v.isdecimal() else _NUMWORD.get(v)
    return n if n is not None and 0 <= n <= 1000 and v not in ("a", "an") else None


# kubectl kinds (`kind/name` refs; `normalise_repository` never takes `deployment/x`)


_KUBE_KINDS = {
    "deployment": "workload",
    "deployments": "workload",
    "deploy": "workload",
    "statefulset": "workload",
    "statefulsets": "workload",
    "sts": "workload",
    "daemonset": "workload",
    "daemonsets": "workload",
    "ds": "workload",
    "replicaset": "workload",
    "rs": "workload",
    "service": "workload",
    "services": "workload",
    "svc": "workload",
    "pod": "pod",
    "pods": "pod",
    "po": "pod",
    "job": "workload",
    "jobs": "workload",
    "cronjob": "workload",
    "cronjobs": "workload",
    "cj": "workload",
    "hpa": "workload",
    "horizontalpodautoscaler": "workload",
    "ingress": "workload",
    "ing": "workload",
    "node": "other",
    "nodes": "other",
    "no": "other",
    "configmap": "other",
    "cm": "other",
    "secret": "other",
    "secrets": "other",
    "namespace": "other",
    "ns": "other",
    "pvc": "other",
}
