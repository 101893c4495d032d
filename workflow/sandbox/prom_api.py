"""The sandbox Prometheus: the Prometheus HTTP API over the sandbox cluster's metrics model.

It is not a Prometheus and does not evaluate PromQL. It recognises the queries the bot's
named queries produce (`workflow.tools.prometheus.build_promql` with the default
`MetricLabels()`: request_rate, error_ratio, latency_p50/p95/p99 - any quantile - cpu,
memory and restarts; with or without a namespace matcher; any window) and answers them from
`workflow.sandbox.model`, in exactly the shapes of the Prometheus API (`/api/v1/query`,
`/api/v1/query_range`, GET or POST form, `/api/v1/status/buildinfo`, `/-/ready`). Anything
else is a 400 `bad_data` error saying that this is the sandbox and to set PROMETHEUS_URL.
Every successful answer carries a `warnings` entry saying the data is the sandbox's.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from workflow.sandbox._serve import ThreadedServer
from workflow.sandbox.model import ModelView, SandboxModel

if TYPE_CHECKING:
    from workflow.sandbox.kube_api import KubeApiServer

__all__ = ["SANDBOX_WARNING", "SandboxPrometheus", "UnrecognisedQuery", "parse_named_query"]

VERSION = "2.53.0-devops-bot-sandbox"
SANDBOX_WARNING = (
    "devops-bot sandbox Prometheus: simulated metrics of the sandbox cluster, not real data"
)
MAX_POINTS = 11_000

_UNRECOGNISED = (
    "this is the devops-bot sandbox Prometheus, not a real one: it does not evaluate PromQL "
    "and only answers the bot's named queries (request_rate, error_ratio, latency_p50, "
    "latency_p95, latency_p99, cpu, memory, restarts) about the sandbox cluster; set "
    "PROMETHEUS_URL to query a real Prometheus. Query not recognised: {query}"
)


class UnrecognisedQuery(ValueError):
    """Not one of the bot's named queries."""


# ---------------------------------------------------------------------------- parsing

_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}
_SEL = r'\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}'
_WIN = r"\[([0-9a-z]+)\]"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("request_rate", re.compile(rf"^sum\(rate\(http_requests_total{_SEL}{_WIN}\)\)$")),
    (
        "error_ratio",
        re.compile(
            rf"^\(sum\(rate\(http_requests_total{_SEL}{_WIN}\)\)orvector\(0\)\)"
            rf"/sum\(rate\(http_requests_total{_SEL}{_WIN}\)\)$"
        ),
    ),
    (
        "latency",
        re.compile(
            r"^histogram_quantile\(([0-9.eE+-]+),sumby\(le\)"
            rf"\(rate\(http_request_duration_seconds_bucket{_SEL}{_WIN}\)\)\)$"
        ),
    ),
    (
        "cpu",
        re.compile(rf"^sumby\(pod\)\(rate\(container_cpu_usage_seconds_total{_SEL}{_WIN}\)\)$"),
    ),
    ("memory", re.compile(rf"^sumby\(pod\)\(container_memory_working_set_bytes{_SEL}\)$")),
    (
        "restarts",
        re.compile(
            rf"^sumby\(pod\)\(increase\(kube_pod_container_status_restarts_total{_SEL}{_WIN}\)\)$"
        ),
    ),
]
_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)(=~|!~|!=|=)"((?:[^"\\]|\\.)*)"(?:,|$)')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


@dataclass(frozen=True)
class NamedQuery:
    """A recognised query: what to compute, for which service / pods, over which window."""

    kind: str  # request_rate, error_ratio, latency, cpu, memory, restarts
    namespace: str | None
    window: float  # seconds (0 for memory)
    service: str | None = None  # service-level kinds
    quantile: float | None = None  # latency
    pod_regex: str | None = None  # pod-level kinds


def _strip_spaces(query: str) -> str:
    """The query without whitespace outside double-quoted strings."""
    out, in_string, escaped = [], False, False
    for ch in query:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif not ch.isspace():
            out.append(ch)
    return "".join(out)


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), value)


def _matchers(selector: str) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    pos = 0
    while pos < len(selector):
        match = _MATCHER.match(selector, pos)
        if match is None:
            raise UnrecognisedQuery(selector)
        key = (match.group(1), match.group(2))
        if key in out:
            raise UnrecognisedQuery(selector)
        out[key] = _unescape(match.group(3))
        pos = match.end()
    return out


def _window_seconds(text: str) -> float:
    if not _DURATION.match(text):
        raise UnrecognisedQuery(text)
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def _service_selector(matchers: dict[tuple[str, str], str]) -> tuple[str, str | None]:
    rest = dict(matchers)
    service = rest.pop(("service", "="), None)
    namespace = rest.pop(("namespace", "="), None)
    if not service or rest:
        raise UnrecognisedQuery(str(matchers))
    return service, namespace


def _pod_selector(matchers: dict[tuple[str, str], str]) -> tuple[str, str | None]:
    rest = dict(matchers)
    pods = rest.pop(("pod", "=~"), None)
    namespace = rest.pop(("namespace", "="), None)
    if rest.get(("container", "!=")) == "":
        rest.pop(("container", "!="))
    if not pods or rest:
        raise UnrecognisedQuery(str(matchers))
    return pods, namespace


def parse_named_query(query: str) -> NamedQuery:
    """The named query `query` is, or UnrecognisedQuery."""
    text = _strip_spaces(query)
    for kind, pattern in _PATTERNS:
        match = pattern.match(text)
        if match is None:
            continue
        groups = match.groups()
        if kind == "request_rate":
            service, namespace = _service_selector(_matchers(groups[0]))
            return NamedQuery(kind, namespace, _window_seconds(groups[1]), service=service)
        if kind == "error_ratio":
            errors = _matchers(groups[0])
            if errors.pop(("code", "=~"), None) != "5..":
                raise UnrecognisedQuery(query)
            service, namespace = _service_selector(errors)
            if _service_selector(_matchers(groups[2])) != (service, namespace):
                raise UnrecognisedQuery(query)
            if groups[1] != groups[3]:
                raise UnrecognisedQuery(query)
            return NamedQuery(kind, namespace, _window_seconds(groups[1]), service=service)
        if kind == "latency":
            try:
                q = float(groups[0])
            except ValueError:
                raise UnrecognisedQuery(query) from None
            service, namespace = _service_selector(_matchers(groups[1]))
            return NamedQuery(
                kind, namespace, _window_seconds(groups[2]), service=service, quantile=q
            )
        pods, namespace = _pod_selector(_matchers(groups[0]))
        try:
            re.compile(pods)
        except re.error:
            raise UnrecognisedQuery(query) from None
        window = _window_seconds(groups[1]) if kind != "memory" else 0.0
        return NamedQuery(kind, namespace, window, pod_regex=pods)
    raise UnrecognisedQuery(query)


def evaluate(query: NamedQuery, view: ModelView, t: float) -> dict[tuple, float]:
    """{label items: value} of `query` at time `t` (no entry where there is no data)."""
    if query.service is not None:
        values = view.service_values(view.select(query.service, query.namespace), t, query.window)
        if values is None:
            return {}
        if query.kind == "request_rate":
            return {(): values.request_rate}
        if query.kind == "error_ratio":
            return {(): values.error_ratio}
        assert query.quantile is not None
        return {(): values.quantile(query.quantile)}
    assert query.pod_regex is not None
    pattern = re.compile(query.pod_regex)
    out: dict[tuple, float] = {}
    for tl, pod, rollout in view.pods(view.in_namespace(query.namespace), pattern, t):
        if query.kind == "cpu":
            value = view.cpu(tl, pod, rollout, t)
        elif query.kind == "memory":
            value = view.memory(pod, rollout, t)
        else:
            value = float(view.restart_increase(pod, rollout, t, query.window))
        key = (("pod", pod.name),)
        out[key] = out.get(key, 0.0) + value
    return out


# ---------------------------------------------------------------------------- HTTP


class _BadData(Exception):
    pass


def _format_value(value: float) -> str:
    """As Prometheus prints sample values (Go's FormatFloat(v, 'f', -1, 64))."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    if text.endswith(".0"):
        text = text[:-2]
    return text


def _timestamp(value: float) -> float:
    return round(value, 3)


def _parse_time(text: str | None) -> float:
    if text is None or text == "":
        raise ValueError
    try:
        value = float(text)
    except ValueError:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            raise ValueError from None
        return stamp.timestamp()
    if not math.isfinite(value):
        raise ValueError
    return value


def _parse_step(text: str | None) -> float:
    if text is None or text == "":
        raise ValueError
    try:
        value = float(text)
    except ValueError:
        if not _DURATION.match(text):
            raise ValueError from None
        return float(sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text)))
    if not math.isfinite(value):
        raise ValueError
    return value


def _success(data: Any) -> web.Response:
    return web.json_response(
        {"status": "success", "data": data, "warnings": [SANDBOX_WARNING]},
        headers={"X-Devops-Bot-Sandbox": "prometheus"},
    )


def _error(message: str, status: int = 400, kind: str = "bad_data") -> web.Response:
    return web.json_response(
        {"status": "error", "errorType": kind, "error": message},
        status=status,
        headers={"X-Devops-Bot-Sandbox": "prometheus"},
    )


class SandboxPrometheus(ThreadedServer):
    """The Prometheus HTTP API over the sandbox cluster `kube` (read in-process).

    `SandboxPrometheus(kube).start()` returns the base URL for `PrometheusClient`; `clock`
    (default: the cluster's) is the time an instant query without `time` is evaluated at.
    """

    _label = "sandbox Prometheus"

    def __init__(
        self,
        kube: KubeApiServer,
        *,
        clock: Callable[[], float] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        super().__init__(host=host, port=port)
        self.kube = kube
        self.model = SandboxModel(kube, clock=clock)
        self.clock = clock or kube.now
        self.requests: list[dict[str, str]] = []  # every query seen, for tests

    def _make_app(self) -> web.Application:
        app = web.Application()
        r = app.router
        for path, handler in (
            ("/api/v1/query", self._query),
            ("/api/v1/query_range", self._query_range),
        ):
            r.add_get(path, handler)
            r.add_post(path, handler)
        r.add_get("/api/v1/status/buildinfo", self._buildinfo)
        r.add_get("/-/ready", self._ready)
        r.add_get("/-/healthy", self._healthy)
        return app

    @staticmethod
    async def _params(request: web.Request) -> dict[str, str]:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        return params

    def _named(self, query: str | None) -> NamedQuery:
        if not query or not query.strip():
            raise _BadData(
                'invalid parameter "query": 1:1: parse error: no expression found in input'
            )
        try:
            return parse_named_query(query)
        except UnrecognisedQuery:
            raise _BadData(_UNRECOGNISED.format(query=query)) from None

    async def _query(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        self.requests.append({"path": request.path, **params})
        try:
            if params.get("time"):
                try:
                    at = _parse_time(params["time"])
                except ValueError:
                    raise _BadData(
                        f"invalid parameter \"time\": Invalid time value for 'time': cannot "
                        f'parse "{params["time"]}" to a valid timestamp'
                    ) from None
            else:
                at = self.clock()
            named = self._named(params.get("query"))
        except _BadData as exc:
            return _error(str(exc))
        values = evaluate(named, self.model.view(), at)
        result = [
            {"metric": dict(labels), "value": [_timestamp(at), _format_value(value)]}
            for labels, value in sorted(values.items())
        ]
        return _success({"resultType": "vector", "result": result})

    async def _query_range(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        self.requests.append({"path": request.path, **params})
        try:
            start, end = (self._time_param(params, name) for name in ("start", "end"))
            if end < start:
                raise _BadData(
                    'invalid parameter "end": end timestamp must not be before start time'
                )
            try:
                step = _parse_step(params.get("step"))
            except ValueError:
                raise _BadData(
                    f'invalid parameter "step": cannot parse "{params.get("step", "")}" to a '
                    "valid duration"
                ) from None
            if step <= 0:
                raise _BadData(
                    'invalid parameter "step": zero or negative query resolution step widths '
                    "are not accepted. Try a positive integer"
                )
            if (end - start) / step > MAX_POINTS:
                raise _BadData(
                    "exceeded maximum resolution of 11,000 points per timeseries. Try "
                    "decreasing the query resolution (?step=XX)"
                )
            named = self._named(params.get("query"))
        except _BadData as exc:
            return _error(str(exc))
        view = self.model.view()
        series: dict[tuple, list[list[Any]]] = {}
        count = math.floor((end - start) / step + 1e-9) + 1
        for i in range(count):
            at = start + i * step
            for labels, value in evaluate(named, view, at).items():
                series.setdefault(labels, []).append([_timestamp(at), _format_value(value)])
        result = [
            {"metric": dict(labels), "values": points} for labels, points in sorted(series.items())
        ]
        return _success({"resultType": "matrix", "result": result})

    @staticmethod
    def _time_param(params: dict[str, str], name: str) -> float:
        try:
            return _parse_time(params.get(name))
        except ValueError:
            raise _BadData(
                f'invalid parameter "{name}": cannot parse "{params.get(name, "")}" to a '
                "valid timestamp"
            ) from None

    async def _buildinfo(self, request: web.Request) -> web.Response:
        return _success(
            {
                "version": VERSION,
                "revision": "devops-bot-sandbox",
                "branch": "sandbox",
                "buildUser": "devops-bot",
                "buildDate": time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(0)),
                "goVersion": "none (simulated by devops-bot)",
            }
        )

    async def _ready(self, request: web.Request) -> web.Response:
        return web.Response(text="Prometheus Server is Ready.\n")

    async def _healthy(self, request: web.Request) -> web.Response:
        return web.Response(text="Prometheus Server is Healthy.\n")
