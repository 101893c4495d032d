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
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from workflow.agents.registry import REGISTRY
from workflow.classify.model import (
    ACTIONS,
    LOG_LEVELS,
    METRICS,
    OPS_TASK_TYPES,
    TASK_TYPES,
    TaskRequest,
)
from workflow.environments import ENVIRONMENT_ALIASES, canonical_environment
from workflow.routing import route_for

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
MAX_ANALYSED_CHARS = 4000

# --------------------------------------------------------------------------- cleaning

_SLACK_USER = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>", re.I)
_SLACK_CHANNEL = re.compile(r"<#[A-Z0-9]+(?:\|([^>]*))?>", re.I)
_SLACK_SPECIAL = re.compile(r"<!(?:subteam\^)?[\w^-]+(?:\|[^>]*)?>")
_SLACK_LINK = re.compile(r"<((?:https?|ftp|mailto):[^|>\s]+)(?:\|([^>]*))?>", re.I)
_EMOJI = re.compile(r":[a-z0-9_+'-]*[a-z][a-z0-9_+'-]*:(?::skin-tone-\d:)?", re.I)
_ALARM_EMOJI = re.compile(
    r":(?:fire|rotating_light|rotating-light|sos|boom|bangbang|red_circle|"
    r"this-is-fine(?:-fire)?|scream|fire_engine|warning|alert|siren|pager):",
    re.I,
)
_CODE_FENCE = re.compile(r"```|`")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_QUOTE = re.compile(r"(?m)^\s*>\s?")
_DASH_FLAG = re.compile(r"[\u2014\u2013](?=[a-z])", re.I)  # autocorrected "--flag"
_DASH = re.compile(r"[\u2014\u2013]")
_LEAD_CMD = re.compile(r"^\s*/?devops(?:[-_]?bot)?\b[:,]?\s*", re.I)
_WS = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def _unwrap_link(m: re.Match[str]) -> str:
    url, label = m.group(1), m.group(2)
    if url.lower().startswith("mailto:"):
        return label or url[7:]
    if not label:
        return url
    bare = re.sub(r"^[a-z]+://", "", url, flags=re.I).rstrip("/")
    if label.rstrip("/").lower() in (bare.lower(), url.rstrip("/").lower()):
        return url
    return f"{label} ({url})"


class _DigitTable(dict[int, int | str]):
    """`str.translate` table filled on demand: a character with a digit value (any
    script's decimal digits, superscripts, circled and parenthesised digits, full-width
    digits) -> that ASCII digit; a numeral whose compatibility form is ASCII digits
    (circled ten ⑩) -> those digits. Everything else maps to itself, and only numerals
    are remembered (a few thousand at most)."""

    def __missing__(self, code: int) -> int | str:
        char = chr(code)
        if unicodedata.numeric(char, None) is None:
            return code
        digit = unicodedata.digit(char, None)
        if digit is not None:
            value: int | str = str(digit)
        else:
            compat = unicodedata.normalize("NFKC", char)
            value = compat if compat.isascii() and compat.isdecimal() else code
        self[code] = value
        return value


_DIGITS = _DigitTable()


def ascii_digits(text: str) -> str:
    """`text` with every character that stands for digits written as ASCII digits.

    `str.isdigit()` accepts "³" and "①", which `int()` refuses: numbers from users are
    read only after this, and only with `[0-9]` or `str.isdecimal()`. Numerals that are
    not digits (三, ½, Ⅻ) are left as they are.
    """
    return text if text.isascii() else text.translate(_DIGITS)


def clean_text(text: str) -> tuple[str, bool]:
    """Strip Slack markup. Returns the cleaned text and whether an alarm emoji was seen."""
    if not text:
        return "", False
    s = ascii_digits(text).translate(_QUOTES)
    s = _SLACK_USER.sub(" ", s)
    s = _SLACK_CHANNEL.sub(lambda m: f" #{m.group(1)} " if m.group(1) else " ", s)
    s = _SLACK_SPECIAL.sub(" ", s)
    s = _SLACK_LINK.sub(_unwrap_link, s)
    s = _QUOTE.sub("", s)
    s = html.unescape(s) if "&" in s else s
    alarm = bool(_ALARM_EMOJI.search(s))
    if ":" in s:
        s = _EMOJI.sub(" ", s)
    s = _CODE_FENCE.sub(" ", s)
    if "*" in s:
        s = _BOLD.sub(r"\1", s)
    s = _DASH_FLAG.sub("--", s)
    s = _DASH.sub(" - ", s)
    s = _WS.sub(" ", s).strip()
    s = _LEAD_CMD.sub("", s)
    return s, alarm


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


# --------------------------------------------------------------------- extraction

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
_KUBE_REF = re.compile(
    r"(?<![\w/.-])(" + "|".join(sorted(_KUBE_KINDS, key=len, reverse=True)) + r")"
    r"(?:\.[a-z0-9.]+)?/([a-z0-9][\w.-]*[a-z0-9_]|[a-z0-9])(?![\w/-])",
    re.I,
)
_POD_SUFFIX = re.compile(r"-(?:[a-z0-9]{8,10}-)?[a-z0-9]{5}$")

_KV_KEYS: dict[str, str] = {
    "service": "service",
    "svc": "service",
    "app": "service",
    "application": "service",
    "deployment": "service",
    "component": "service",
    "env": "environment",
    "environment": "environment",
    "target": "environment",
    "ns": "namespace",
    "namespace": "namespace",
    "image": "image",
    "img": "image",
    "tag": "image_tag",
    "version": "image_tag",
    "image_tag": "image_tag",
    "image-tag": "image_tag",
    "replicas": "replicas",
    "replica": "replicas",
    "instances": "replicas",
    "count": "replicas",
    "incident": "incident_id",
    "inc": "incident_id",
    "incident_id": "incident_id",
    "incident-id": "incident_id",
    "severity": "severity",
    "sev": "severity",
    "priority": "severity",
    "prio": "severity",
    "pipeline": "pipeline_name",
    "pipeline_name": "pipeline_name",
    "pipeline-name": "pipeline_name",
    "repo": "repository",
    "repository": "repository",
    "git": "repository",
    "envs": "environments",
    "environments": "environments",
    "since": "time_range",
    "last": "time_range",
    "window": "time_range",
    "range": "time_range",
    "time_range": "time_range",
    "time-range": "time_range",
    "period": "time_range",
    "duration": "duration",
    "ttl": "duration",
    "alert": "alert_name",
    "alertname": "alert_name",
    "alert_name": "alert_name",
    "level": "level",
    "lvl": "level",
    "silence_id": "silence_id",
    "silence-id": "silence_id",
    "silenceid": "silence_id",
    "action": "action",
    "op": "action",
    "operation": "action",
    "task": "task_type",
    "type": "task_type",
    "task_type": "task_type",
    "task-type": "task_type",
}
_KV = re.compile(r"(?<![\w/.:-])(?:--?)?([a-z][\w-]*)\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s,;]+)", re.I)
_KV_ENVS = re.compile(r"(?<![\w/.:-])(?:--)?(?:envs|environments)\s*=\s*([\w-]+(?:,[\w-]+)+)", re.I)
# `key: value` only for keys that can't be an image name, or with a space after ':'.
_KV_COLON = re.compile(
    r"(?<![\w/.:-])(env|environment|ns|namespace|sev|severity|replicas|svc|priority)"
    r":\s*([a-z0-9][\w.-]*)|(?<![\w/.:-])([a-z][\w-]*):\s+([^\s,;]+)",
    re.I,
)
_FLAG = re.compile(
    r"(?<!\S)(-n|--namespace|--replicas|--image|--tag|--env|--environment|--service"
    r"|--since|--severity|--sev|--duration|--for|--pipeline|--repo)\s+([^\s,;]+)",
    re.I,
)
_FLAG_KEYS = {
    "-n": "namespace",
    "--namespace": "namespace",
    "--replicas": "replicas",
    "--image": "image",
    "--tag": "image_tag",
    "--env": "environment",
    "--environment": "environment",
    "--service": "service",
    "--since": "time_range",
    "--severity": "severity",
    "--sev": "severity",
    "--duration": "duration",
    "--for": "duration",
    "--pipeline": "pipeline_name",
    "--repo": "repository",
}
_ANY_URL = re.compile(r"(?:https?|ssh)://[^\s<>()]+|git@[\w.-]+:[\w./-]+", re.I)
_IMAGE = re.compile(
    r"(?<![\w./:@-])("
    r"(?:[a-z0-9][a-z0-9.-]*(?::\d+)?/)*[a-z0-9][a-z0-9._-]*"
    r"(?::(?:[\w](?:[\w.-]{0,126}[\w])?))?(?:@sha256:[a-f0-9]{64})?"
    r")(?![\w/:@-]|\.\w)",
    re.I,
)
_REGISTRY_IMAGE = re.compile(r"^[a-z0-9-]+\.[a-z0-9.-]+(?::\d+)?/[\w./-]+$", re.I)
_INCIDENT = re.compile(r"\binc[-_#]?\s?([0-9]{2,10})\b|\bincident\s+#?([0-9]{3,10})\b", re.I)
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
# ------------------------------------------------------------------------ signals


def _required_literals(pattern: str) -> tuple[str, ...] | None:
    """Substrings at least one of which occurs in every match of `pattern`, or None.

    Derived from the parsed regex: a run of >= 2 consecutive literal characters in a
    sequence is required; an alternation requires one of its branches' literals; a group
    or a repeat with min >= 1 requires its body's. Zero-width assertions don't break a
    run. Used to skip `search` calls that can't match (most of them, on a typical text).
    """
    from re import _constants as c
    from re import _parser

    def seq_literals(items) -> set[str] | None:
        required: list[set[str]] = []
        run: list[str] = []

        def flush() -> None:
            if len(run) >= 2:
                required.append({"".join(run)})
            run.clear()

        for op, av in items:
            if op is c.LITERAL:
                run.append(chr(av))
                continue
            if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
                continue
            flush()
            inner: set[str] | None = None
            if op is c.SUBPATTERN:
                inner = seq_literals(av[-1])
            elif op is c.BRANCH:
                branches = [seq_literals(b) for b in av[1]]
                if all(branches):
                    inner = set().union(*branches)  # type: ignore[arg-type]
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1:
                inner = seq_literals(av[2])
            if inner:
                required.append(inner)
        flush()
        if not required:
            return None
        return min(required, key=lambda lits: (len(lits), -min(map(len, lits))))

    try:
        lits = seq_literals(_parser.parse(pattern))
    except Exception:  # pragma: no cover - a parser change: just don't prefilter
        return None
    return tuple(sorted(lits)) if lits else None


# ------------------------------------------------------- the agents' vocabularies

_SIGNALS_SPEC = [signal for spec in REGISTRY for signal in spec.vocabulary.signals]
_SIGNALS: list[tuple[str, float, re.Pattern[str], tuple[str, ...] | None]] = [
    (task, weight, re.compile(pattern), _required_literals(pattern))
    for task, weight, pattern in _SIGNALS_SPEC
]
assert all(task in TASK_TYPES for task, _, _, _ in _SIGNALS)
assert all(task in TASK_TYPES for task, _, _, _ in _SIGNALS)


def _trie_regex(words: set[str]) -> re.Pattern[str]:
    """A regex matching, at a position, the longest of `words` that starts there."""
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if "" in node:
            body = f"(?:{body})?"
        return body

    return re.compile(f"(?=({build(trie)}))")


_SERVICE_LITERALS = {kind: _required_literals(rx.pattern) for kind, rx in _SERVICE_PATTERNS}


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
_SILENCE_ID = re.compile(r"[A-Za-z0-9-]{4,64}")
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


class _Work:
    """A lowercase working copy whose consumed spans are blanked with placeholders."""

    __slots__ = ("s",)

    def __init__(self, s: str) -> None:
        self.s = s

    def cut(self, m: re.Match[str], placeholder: str = " ", group: int = 0) -> None:
        a, b = m.span(group)
        self.s = self.s[:a] + placeholder.center(b - a)[: b - a] + self.s[b:]


def _set(ctx: dict[str, Any], certain: set[str], key: str, value: Any, sure: bool) -> None:
    if value is None or value == [] or key in ctx:
        return
    ctx[key] = value
    if sure:
        certain.add(key)


def _apply_kv(ctx: dict[str, Any], certain: set[str], key: str, raw: str, explicit: dict) -> bool:
    """Normalise one explicit key/value; returns whether it was understood."""
    value = raw.strip().strip("\"'").rstrip(".,;")
    if key == "service":
        v = value.lower()
        if "/" in v:
            v = v.rsplit("/", 1)[-1]
        ok = bool(_DNS.match(v) or _BAD_NAME.match(v)) and any(c.isalpha() for c in v)
        if ok:
            _set(ctx, certain, "service", v, True)
        return ok
    if key == "environment":
        env = canonical_environment(value)
        if env:
            _set(ctx, certain, "environment", env, True)
        return env is not None
    if key == "namespace":
        v = value.lower()
        if _DNS.match(v) or _BAD_NAME.match(v):
            _set(ctx, certain, "namespace", v, True)
            return True
        return False
    if key == "image":
        img = normalise_image(value)
        if img:
            _set(ctx, certain, "image", img, True)
            svc, tag = _image_parts(img)
            if tag and "@" not in img:
                _set(ctx, certain, "image_tag", tag, True)
            if svc:
                _set(ctx, certain, "service", svc, True)
        return img is not None
    if key == "image_tag":
        if re.fullmatch(r"[\w][\w.-]{0,127}", value):
            _set(ctx, certain, "image_tag", value, True)
            return True
        return False
    if key == "replicas":
        n = _to_int(value)
        if n is not None:
            _set(ctx, certain, "replicas", n, True)
        return n is not None
    if key == "incident_id":
        inc = normalise_incident_id(value)
        if inc:
            _set(ctx, certain, "incident_id", inc, True)
        return inc is not None
    if key == "severity":
        sev = normalise_severity(value)
        if sev:
            _set(ctx, certain, "severity", sev, True)
        return sev is not None
    if key == "pipeline_name":
        if re.fullmatch(r"[\w][\w.-]{0,127}", value):
            _set(ctx, certain, "pipeline_name", value, True)
            return True
        return False
    if key == "repository":
        repo = normalise_repository(value)
        if repo:
            _set(ctx, certain, "repository", repo, True)
        return repo is not None
    if key == "environments":
        envs = _environment_list(value)
        if envs:
            _set(ctx, certain, "environments", envs, True)
        return envs is not None
    if key in ("time_range", "duration"):
        tr = normalise_time_range(value)
        if tr:
            _set(ctx, certain, key, tr, True)
        return tr is not None
    if key == "alert_name":
        if re.fullmatch(r"[A-Za-z][\w.:-]{0,127}", value):
            _set(ctx, certain, "alert_name", value, True)
            return True
        return False
    if key == "level":
        level = normalise_level(value)
        if level:
            _set(ctx, certain, "level", level, True)
        return level is not None
    if key == "silence_id":
        if _SILENCE_ID.fullmatch(value):
            _set(ctx, certain, "silence_id", value, True)
            return True
        return False
    if key == "action":
        v = value.lower()
        if v in ACTIONS:
            _set(ctx, certain, "action", v, True)
            return True
        return False
    if key == "task_type":
        v = value.lower()
        if v in TASK_TYPES:
            explicit["task_type"] = v
            return True
        return False
    return False


def _extract_explicit(
    clean: str, work: _Work, ctx: dict[str, Any], certain: set[str], explicit: dict
) -> dict[str, Any]:
    facts: dict[str, Any] = {"kube_refs": [], "image_seen": False}
    low = work.s
    # CLI flags with a space (-n prod, --replicas 3)
    if "-" in low:
        for m in _FLAG.finditer(low):
            key = _FLAG_KEYS[m.group(1).lower()]
            if _apply_kv(ctx, certain, key, clean[m.start(2) : m.end(2)], explicit):
                work.cut(m, "|")
    # URLs (repositories first)
    if "://" in low or "git@" in low or ".com/" in low or ".org/" in low:
        for m in _REPO_URL.finditer(work.s):
            repo = normalise_repository(clean[m.start() : m.end()])
            if repo:
                _set(ctx, certain, "repository", repo, True)
            work.cut(m, "@url")
        for m in _ANY_URL.finditer(work.s):
            work.cut(m, "@url")
    # key=value / key: value
    if "=" in work.s:
        for m in _KV_ENVS.finditer(work.s):
            if _apply_kv(ctx, certain, "environments", clean[m.start(1) : m.end(1)], explicit):
                work.cut(m, "|")
        for m in _KV.finditer(work.s):
            key = _KV_KEYS.get(m.group(1).lower().lstrip("-"))
            if key and _apply_kv(ctx, certain, key, clean[m.start(2) : m.end(2)], explicit):
                work.cut(m, "|")
    if ":" in work.s:
        for m in _KV_COLON.finditer(work.s):
            k, g = (m.group(1), 2) if m.group(1) else (m.group(3), 4)
            key = _KV_KEYS.get(k.lower())
            if key and _apply_kv(ctx, certain, key, clean[m.start(g) : m.end(g)], explicit):
                work.cut(m, "|")
    # kubectl kind/name refs
    if "/" in work.s:
        for m in _KUBE_REF.finditer(work.s):
            kind, name = m.group(1).lower(), m.group(2).lower()
            cls = _KUBE_KINDS[kind]
            facts["kube_refs"].append((kind, name))
            if cls == "pod":
                name = _POD_SUFFIX.sub("", name) or name
            named = _DNS_SUBDOMAIN.match(name) or _BAD_NAME.match(name)
            if cls in ("workload", "pod") and named and any(c.isalpha() for c in name):
                _set(ctx, certain, "service", name, True)
            elif kind in ("namespace", "ns") and named:
                _set(ctx, certain, "namespace", name, True)
            work.cut(m, "@kref")
    # incident ids
    for m in _INCIDENT.finditer(work.s):
        _set(ctx, certain, "incident_id", f"INC-{m.group(1) or m.group(2)}", True)
        facts["incident_seen"] = True
        work.cut(m, "@inc")
    # images (name:tag, registry/name[:tag], @sha256)
    if ":" in work.s or "/" in work.s or "@" in work.s:
        for m in _IMAGE.finditer(work.s):
            ref = m.group(1)
            has_tag = ":" in ref.rsplit("/", 1)[-1] or "@sha256:" in ref
            if not has_tag and not _REGISTRY_IMAGE.match(ref):
                continue
            name_part = ref.split(":", 1)[0] if has_tag else ref
            if not any(c.isalpha() for c in name_part) or name_part in _KV_KEYS:
                continue
            typed = clean[m.start(1) : m.end(1)]
            _set(ctx, certain, "image", typed, True)
            svc, tag = _image_parts(typed)
            if tag and "@" not in typed.rsplit("/", 1)[-1].split(":", 1)[0]:
                _set(ctx, certain, "image_tag", tag, True)
            if svc:
                _set(ctx, certain, "service", svc, True)
            facts["image_seen"] = True
            work.cut(m, "@img")
    return facts


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
                if name.lower() not in _STOP and not name.lower().startswith(("ci-", "ci_")):
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
    result.task_type = task
    result.confidence = conf
    result.context = ctx
    result.certain = certain
    return result


def classify_rules(text: str) -> TaskRequest:
    """Rules-only classification: pure, no I/O."""
    return analyse(text).to_request()
