"""The PromQL of the named queries, built from configurable label and metric names.

Named queries (request rate, error ratio, latency quantiles, CPU, memory, restarts) are built
from templates whose label and metric names come from `MetricLabels`, so a deployment with its
own naming scheme configures names instead of editing PromQL.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from workflow.tools.errors import InvalidRequestError
from workflow.tools.metric_names import NAMED_METRICS

__all__ = ["NAMED_QUERIES", "MetricLabels", "build_promql"]

BACKEND = "Prometheus"
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")


# ---------------------------------------------------------------------------- configuration


class MetricLabels(BaseModel):
    """Label and metric names the named-query templates are built from.

    Defaults follow the common Prometheus client/kube-state-metrics/cAdvisor names; override
    any of them with `MetricLabels(service_label="app", ...)` or, from a setting,
    `MetricLabels.parse("service_label=app,request_counter=http_server_requests_seconds_count")`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    service_label: str = "service"
    namespace_label: str = "namespace"
    code_label: str = "code"
    pod_label: str = "pod"
    container_label: str = "container"
    request_counter: str = "http_requests_total"
    latency_histogram: str = "http_request_duration_seconds_bucket"
    cpu_counter: str = "container_cpu_usage_seconds_total"
    memory_gauge: str = "container_memory_working_set_bytes"
    restarts_counter: str = "kube_pod_container_status_restarts_total"
    # Status codes that count as errors (a regex on `code_label`).
    error_code_regex: str = "5.."

    @field_validator(
        "service_label", "namespace_label", "code_label", "pod_label", "container_label"
    )
    @classmethod
    def _check_label(cls, value: str) -> str:
        if not _LABEL_NAME.match(value):
            raise ValueError(
                f"invalid Prometheus label name {value!r}: letters, digits and '_', "
                "not starting with a digit"
            )
        return value

    @field_validator(
        "request_counter", "latency_histogram", "cpu_counter", "memory_gauge", "restarts_counter"
    )
    @classmethod
    def _check_metric(cls, value: str) -> str:
        if not _METRIC_NAME.match(value):
            raise ValueError(
                f"invalid Prometheus metric name {value!r}: letters, digits, '_' and ':', "
                "not starting with a digit"
            )
        return value

    @classmethod
    def parse(cls, spec: str | None) -> MetricLabels:
        """Defaults overridden by a comma-separated `field=value` list; None or "" keeps them.

        `"service_label=app,namespace_label=kubernetes_namespace"` sets those two fields.
        Raises `InvalidRequestError` naming the entry, field or value that is wrong."""
        values: dict[str, str] = {}
        for entry in (spec or "").split(","):
            if not entry.strip():
                continue
            field, sep, value = (part.strip() for part in entry.partition("="))
            if not sep or not field:
                raise _bad_labels(f"{entry.strip()!r} is not field=value (e.g. service_label=app)")
            if field not in cls.model_fields:
                raise _bad_labels(
                    f"unknown field {field!r}; the fields are {', '.join(cls.model_fields)}"
                )
            if field in values:
                raise _bad_labels(f"{field} is given twice")
            if not value:
                raise _bad_labels(f"{field} has an empty value")
            values[field] = value
        try:
            return cls(**values)
        except ValidationError as exc:
            error = exc.errors()[0]
            reason = error.get("ctx", {}).get("error") or error["msg"]
            raise _bad_labels(f"{error['loc'][0]}: {reason}") from None


def _bad_labels(reason: str) -> InvalidRequestError:
    return InvalidRequestError(f"invalid Prometheus label settings: {reason}", backend=BACKEND)


# ---------------------------------------------------------------------------- templates


def _escape(value: str) -> str:
    """A PromQL double-quoted string body."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _selector(*pairs: tuple[str, str, str]) -> str:
    return "{" + ",".join(f'{name}{op}"{_escape(value)}"' for name, op, value in pairs) + "}"


# name -> (unit, whether series add up: the summary then covers their per-timestamp sum)
NAMED_QUERIES: dict[str, tuple[str, bool]] = {
    name: (metric.unit, metric.summed) for name, metric in NAMED_METRICS.items()
}


def build_promql(
    name: str, labels: MetricLabels, *, service: str, namespace: str | None, window: str
) -> str:
    """The PromQL of a named query for one service."""
    if name not in NAMED_QUERIES:
        raise InvalidRequestError(
            f"unknown metric {name!r}: expected one of {', '.join(NAMED_QUERIES)}",
            backend=BACKEND,
        )
    if not isinstance(service, str) or not service:
        raise InvalidRequestError("a service name is required", backend=BACKEND)
    if not _DURATION.match(window):
        raise InvalidRequestError(
            f"invalid window {window!r}: expected a Prometheus duration such as 5m or 1h",
            backend=BACKEND,
        )
    ns = [(labels.namespace_label, "=", namespace)] if namespace else []
    svc = [(labels.service_label, "=", service), *ns]
    # Container metrics carry pod names, not the service label: pods named "<service>-...".
    pods = [*ns, (labels.pod_label, "=~", f"{re.escape(service)}-.*")]
    requests = f"{labels.request_counter}{_selector(*svc)}"
    if name == "request_rate":
        return f"sum(rate({requests}[{window}]))"
    if name == "error_ratio":
        errors = _selector(*svc, (labels.code_label, "=~", labels.error_code_regex))
        # No error series at all means zero errors; no request series at all stays "no data".
        return (
            f"(sum(rate({labels.request_counter}{errors}[{window}])) or vector(0))"
            f" / sum(rate({requests}[{window}]))"
        )
    if name.startswith("latency_p"):
        q = int(name.removeprefix("latency_p")) / 100
        return (
            f"histogram_quantile({q}, sum by (le) "
            f"(rate({labels.latency_histogram}{_selector(*svc)}[{window}])))"
        )
    containers = _selector(*pods, (labels.container_label, "!=", ""))
    if name == "cpu":
        return f"sum by ({labels.pod_label}) (rate({labels.cpu_counter}{containers}[{window}]))"
    if name == "memory":
        return f"sum by ({labels.pod_label}) ({labels.memory_gauge}{containers})"
    # restarts
    return (
        f"sum by ({labels.pod_label}) "
        f"(increase({labels.restarts_counter}{_selector(*pods)}[{window}]))"
    )
