"""The result of classifying a ChatOps request, and the vocabulary it uses.

`TaskRequest.context` only ever holds keys that were actually found in the text.
The keys, normalised:

================  ===========================================================
action            one of `ACTIONS` (the verb: deploy, rollback, scale, ...)
service           DNS-1123-ish, lowercase (``api-server``)
environment       production / staging / dev (via `canonical_environment`)
namespace         only when given explicitly (``-n x``, ``namespace=x``, ...)
image             the full image reference as typed (``ghcr.io/org/api:1.4``)
image_tag         the tag (``v1.2.3``), from the image or a bare version
replicas          int
incident_id       ``INC-12345``
severity          critical / high / medium / low (sev1/p1 -> critical, ...)
pipeline_name     a pipeline explicitly named in the text
repository        a URL or ``org/repo``
environments      list of canonical environments, for pipelines
time_range        look-back window, compact: ``2h``, ``30m``, ``24h``, ``7d``
duration          how long, for silences/mutes: ``for 2h`` -> ``2h``
duration_minutes  the same as an int: ``for 2h`` -> ``120`` (whole minutes only)
alert_name        an alert named in a silence/ack (``HighLatency``)
metric            one of `METRICS` (``p99`` -> ``latency_p99``, ``error rate`` ->
                  ``error_ratio``); only for monitoring/incident asks
metrics           several of `METRICS`, in text order, when more than one is asked
                  (``metric`` is then the first)
promql            raw PromQL as typed (in backticks, or after ``promql``/``query``)
level             log level asked for: ``error`` / ``warn`` / ``info``
search_term       text to find in logs (``containing "timeout"``, ``grep oom``)
silence_id        an Alertmanager silence id (``expire silence 8f4b1c2e-...``);
                  never a service
================  ===========================================================

Keys that only make sense to the monitoring and incident agents (``metric``,
``metrics``, ``level``, ``search_term``) are only set when the task type routes to one
of them (`OPS_TASK_TYPES`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from workflow.agents.registry import REGISTRY
from workflow.routing import TaskType
from workflow.tools.metric_names import NAMED_METRICS

__all__ = [
    "ACTIONS",
    "CONTEXT_KEYS",
    "LOG_LEVELS",
    "METRICS",
    "OPS_CONTEXT_KEYS",
    "OPS_TASK_TYPES",
    "TASK_TYPES",
    "TaskRequest",
]

TASK_TYPES: tuple[str, ...] = tuple(t.value for t in TaskType)

# The keys only read for agents that declare them (`Vocabulary.context_keys`).
OPS_CONTEXT_KEYS: tuple[str, ...] = ("metric", "metrics", "level", "search_term")

# Task types of the agents that read them (monitoring_agent, incident_agent).
OPS_TASK_TYPES: frozenset[str] = frozenset(
    task
    for spec in REGISTRY
    if set(OPS_CONTEXT_KEYS) & set(spec.vocabulary.context_keys)
    for task in spec.task_types
)

# The named metrics (`workflow.tools.metric_names`, which imports no HTTP client).
METRICS: tuple[str, ...] = tuple(NAMED_METRICS)

# The levels a log search filters by (`workflow.tools.logs.LogQuery.level`).
LOG_LEVELS: tuple[str, ...] = ("error", "warn", "info")

# The verbs we normalise to. Small on purpose: agents switch on these.
ACTIONS: tuple[str, ...] = (
    "deploy",  # deploy / ship / release / roll out / promote / upgrade / set image
    "rollback",  # roll back / revert / rollout undo
    "scale",
    "restart",  # restart / bounce / rollout restart / recycle
    "delete",  # delete / remove / destroy / tear down
    "cordon",  # cordon / drain / uncordon a node
    "stop",  # stop / suspend / pause (a rollout, a cronjob, a pipeline)
    "start",  # start / resume / unpause
    "provision",  # provision / spin up / create infra (namespace, cluster, bucket)
    "status",  # status / get / show / list / describe / check
    "logs",
    "metrics",
    "alerts",  # list / show alerts
    "silence",  # silence / mute / snooze an alert
    "expire_silence",  # expire / delete a silence, unsilence, unmute
    "acknowledge",  # ack an alert or page
    "investigate",  # investigate / debug / troubleshoot / dig into / why ...
    "health",  # is X healthy? / health of X (monitoring)
    "changes",  # what changed? / any recent deploys or changes?
    "postmortem",  # postmortem / incident summary / write up the incident
    "create",  # create / set up / add / declare / scaffold
    "update",  # update / edit / change
    "resolve",  # resolve / close an incident
    "generate",  # generate / codegen / write (code, tests, migrations)
    "test",  # run tests
    "trigger",  # run / re-run a pipeline
    "monitor",  # monitor / watch / dashboard
    "backup",
    "restore",
    "query",  # run a database query
    "page",  # page / escalate to on-call
)
# ... and any verb an agent adds in its vocabulary.
ACTIONS += tuple(
    dict.fromkeys(
        action
        for spec in REGISTRY
        for action in (
            *(verb for verb, _ in spec.vocabulary.verbs),
            *(a for actions in spec.vocabulary.task_actions.values() for a in actions),
            *spec.vocabulary.default_action.values(),
        )
        if action not in ACTIONS
    )
)

CONTEXT_KEYS: tuple[str, ...] = (
    "action",
    "service",
    "environment",
    "namespace",
    "image",
    "image_tag",
    "replicas",
    "incident_id",
    "severity",
    "pipeline_name",
    "repository",
    "environments",
    "time_range",
    "duration",
    "duration_minutes",
    "alert_name",
    "metric",
    "metrics",
    "promql",
    "level",
    "search_term",
    "silence_id",
)
# ... and the keys agents read themselves (`Vocabulary.context_keys`).
CONTEXT_KEYS += tuple(
    dict.fromkeys(
        key for spec in REGISTRY for key in spec.vocabulary.context_keys if key not in CONTEXT_KEYS
    )
)

# task type -> the readers of the agents that own it (`Vocabulary.reader`).
READERS: dict[str, tuple[Any, ...]] = {}
for _spec in REGISTRY:
    if _spec.vocabulary.reader is not None:
        for _task in _spec.task_types:
            READERS[_task] = (*READERS.get(_task, ()), _spec.vocabulary.reader)


class TaskRequest(BaseModel):
    """A classified ChatOps request."""

    task_type: str | None = Field(
        default=None, description="A `workflow.routing.TaskType` value, or None."
    )
    context: dict[str, Any] = Field(default_factory=dict)
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    source: Literal["rules", "llm", "none"] = "none"
    hint: str | None = None
    text: str = ""

    @property
    def classified(self) -> bool:
        return self.task_type is not None
