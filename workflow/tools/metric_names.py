"""The named metrics: one list for the classifier, the Prometheus client and the agents.

Cheap to import (no HTTP client), so the classifier can read it. The PromQL of each name is
built in `workflow.tools.prometheus.build_promql`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NAMED_METRICS", "NamedMetric"]


@dataclass(frozen=True)
class NamedMetric:
    title: str  # how a summary names it
    unit: str
    # whether series add up: a summary then covers their per-timestamp sum
    summed: bool


NAMED_METRICS: dict[str, NamedMetric] = {
    "request_rate": NamedMetric("request rate", "req/s", True),
    "error_ratio": NamedMetric("error ratio", "ratio", False),
    "latency_p50": NamedMetric("p50 latency", "s", False),
    "latency_p95": NamedMetric("p95 latency", "s", False),
    "latency_p99": NamedMetric("p99 latency", "s", False),
    "cpu": NamedMetric("CPU", "cores", True),
    "memory": NamedMetric("memory", "bytes", True),
    "restarts": NamedMetric("restarts", "restarts", True),
}
