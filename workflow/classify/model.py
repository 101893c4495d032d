"""The result of classifying a ChatOps request, and the vocabulary it uses.

`TaskRequest.context` only ever holds keys that were actually found in the text.
The keys, normalised:

==============  ===========================================================
action          one of `ACTIONS` (the verb: deploy, rollback, scale, ...)
service         DNS-1123-ish, lowercase (``api-server``)
environment     production / staging / dev (via `canonical_environment`)
namespace       only when given explicitly (``-n x``, ``namespace=x``, ...)
image           the full image reference as typed (``ghcr.io/org/api:1.4``)
image_tag       the tag (``v1.2.3``), from the image or a bare version
replicas        int
incident_id     ``INC-12345``
severity        critical / high / medium / low (sev1/p1 -> critical, ...)
pipeline_name   a pipeline explicitly named in the text
repository      a URL or ``org/repo``
environments    list of canonical environments, for pipelines
time_range      look-back window, compact: ``2h``, ``30m``, ``24h``, ``7d``
duration        how long, for silences/mutes: ``for 2h`` -> ``2h``
alert_name      an alert named in a silence/ack (``HighLatency``)
==============  ===========================================================
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from workflow.routing import TaskType

__all__ = ["ACTIONS", "CONTEXT_KEYS", "TASK_TYPES", "TaskRequest"]

TASK_TYPES: tuple[str, ...] = tuple(t.value for t in TaskType)

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
    "acknowledge",  # ack an alert or page
    "investigate",  # investigate / debug / troubleshoot / dig into / why ...
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
    "alert_name",
)


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
