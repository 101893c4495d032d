"""Log search: Loki (LogQL over `/loki/api/v1/query_range`) or Kubernetes pod logs.

Both backends take a `LogQuery` (service, namespace, level, search term, time range, bounded
number of lines) and return a `LogResult` with the matching lines (oldest first, the newest
`limit` of them), the repeated messages grouped after normalising numbers, ids, uuids, hex
strings and durations, and whether the result was cut off.

The level filter is a minimum severity: `error` matches error/fatal/critical/panic lines,
`warn` adds warnings, `info` adds info lines (so it only drops debug/trace lines).
The search term is matched case-insensitively as literal text.

Everything the user types ends up in LogQL only as an escaped string literal (label values,
the term as an escaped regular expression), so user input cannot change the query's shape.

The package: `model` (what both backends share: models, levels, grouping, escaping), `loki`
and `pods` (the Kubernetes pod-logs backend).
"""

from __future__ import annotations

from workflow.tools.logs.loki import LokiLogSearch
from workflow.tools.logs.model import (
    MAX_GROUPS,
    MAX_LIMIT,
    Level,
    LogGroup,
    LogLine,
    LogQuery,
    LogResult,
    detect_level,
    group_messages,
    logql_string,
    normalise_message,
    re2_escape,
)
from workflow.tools.logs.pods import KubernetesLogSearch

__all__ = [
    "MAX_GROUPS",
    "MAX_LIMIT",
    "KubernetesLogSearch",
    "Level",
    "LogGroup",
    "LogLine",
    "LogQuery",
    "LogResult",
    "LokiLogSearch",
    "detect_level",
    "group_messages",
    "logql_string",
    "normalise_message",
    "re2_escape",
]
