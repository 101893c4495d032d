"""PrometheusClient and charts against a real Prometheus scraping a test exporter every second."""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from workflow.tools.charts import render_chart
from workflow.tools.errors import BackendError, BackendNotConfigured, InvalidRequestError
from workflow.tools.prometheus import (
    MetricLabels,
    MetricResult,
    PrometheusClient,
    summarize_points,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ERROR_RATE = 5.0  # 500s per second during the spike; 200s stay at 20/s
# Short windows so the test data (seconds old) fills them.
FAST = {"namespace": "production", "window": "10s", "range_minutes": 1, "step": "1s"}


def _query(url: str, promql: str) -> list[dict]:
    return httpx.get(f"{url}/api/v1/query", params={"query": promql}).json()["data"]["result"]


@pytest.fixture(scope="module")
def spike(exporter, prometheus_url) -> float:
    """Baseline without errors for a few seconds, then an error spike Prometheus has seen.

    Returns the spike's start time."""
    ratio = PrometheusClient(prometheus_url).promql("error_ratio", service="checkout", window="10s")
    deadline = time.monotonic() + 20
    baseline_since = None
    while True:  # a few seconds of 0% errors first, so windows before the spike have data
        result = _query(prometheus_url, ratio)
        if result and float(result[0]["value"][1]) == 0.0:
            baseline_since = baseline_since or time.monotonic()
            if time.monotonic() - baseline_since >= 4:
                break
        assert time.monotonic() < deadline, "no baseline error ratio from Prometheus"
        time.sleep(0.25)
    started = time.time()
    exporter.set(rates={"500": ERROR_RATE})
    deadline = time.monotonic() + 20
    while True:
        result = _query(prometheus_url, ratio)
        if result and float(result[0]["value"][1]) > 0.15:
            return started
        assert time.monotonic() < deadline, "Prometheus did not see the error spike"
        time.sleep(0.25)


@pytest.fixture
async def client(prometheus_url):
    async with PrometheusClient(prometheus_url, timeout=5.0, backoff=0.05) as c:
        yield c


def _direct_range(url: str, result: MetricResult) -> list[dict]:
    answer = httpx.get(
        f"{url}/api/v1/query_range",
        params={
            "query": result.promql,
            "start": f"{result.start:.3f}",
            "end": f"{result.end:.3f}",
            "step": result.step,
        },
    ).json()
    assert answer["status"] == "success"
    return answer["data"]["result"]


def _assert_same_as_prometheus(url: str, result: MetricResult) -> None:
    direct = _direct_range(url, result)
    assert len(direct) == len(result.series)
    for raw, series in zip(direct, result.series, strict=True):
        assert series.labels == raw["metric"]
        assert series.points == [[float(t), float(v)] for t, v in raw["values"]]


def _assert_summary_matches_points(result: MetricResult) -> None:
    assert len(result.series) == 1
    values = [v for _, v in result.series[0].points if math.isfinite(v)]
    s = result.summary
    assert not s.no_data
    assert s.points == len(result.series[0].points)
    assert s.first == values[0] and s.last == values[-1] and s.current == values[-1]
    assert s.min == min(values) and s.max == max(values)
    assert s.mean == pytest.approx(sum(values) / len(values))
    assert s.start == result.series[0].points[0][0]
    assert s.end == result.series[0].points[-1][0]


async def test_error_ratio_is_prometheus_number(client, prometheus_url, spike):
    result = await client.named("error_ratio", service="checkout", end=time.time(), **FAST)
    assert result.unit == "ratio"
    assert 'code=~"5.."' in result.promql and 'service="checkout"' in result.promql
    _assert_same_as_prometheus(prometheus_url, result)
    _assert_summary_matches_points(result)
    s = result.summary
    # 5 errors out of 25 requests per second once the 10 s window is past the spike.
    assert 0.1 < s.current <= 0.2 + 1e-9
    assert s.first == 0.0  # the range starts in the baseline without errors
    assert s.trend == "rising" and s.change is None  # from exactly 0: no relative change
    assert "rising" in s.text


async def test_request_rate(client, prometheus_url, spike):
    result = await client.named("request_rate", service="checkout", end=time.time(), **FAST)
    _assert_same_as_prometheus(prometheus_url, result)
    _assert_summary_matches_points(result)
    assert result.unit == "req/s"
    assert result.summary.current > 0
    assert 15 < result.summary.current < 35  # 20/s + 5/s


@pytest.mark.parametrize("quantile", ["latency_p50", "latency_p95", "latency_p99"])
async def test_latency_quantiles_inside_the_bucket(client, prometheus_url, spike, quantile):
    result = await client.named(quantile, service="checkout", end=time.time(), **FAST)
    _assert_same_as_prometheus(prometheus_url, result)
    _assert_summary_matches_points(result)
    assert result.unit == "s"
    assert f"histogram_quantile({int(quantile[-2:]) / 100}, " in result.promql
    # Every request is observed at 0.2 s: the quantile is interpolated in (0.1, 0.25].
    assert 0.1 < result.summary.min and result.summary.max <= 0.25


async def test_compare_windows(client, spike):
    if time.time() < spike + 3:
        await asyncio.sleep(spike + 3 - time.time())
    cmp = await client.compare(
        "error_ratio",
        "checkout",
        spike + 1,
        time.time(),
        spike - 4,
        spike - 1,
        namespace="production",
        window="10s",
        step="1s",
    )
    assert cmp.previous_mean == 0.0
    assert cmp.window_mean is not None and 0 < cmp.window_mean <= 0.2 + 1e-9
    assert cmp.window_mean == cmp.window_summary.mean
    assert cmp.change is None  # the previous mean is 0
    assert "error_ratio of checkout" in cmp.text


async def test_raw_promql_and_instant_query(client, prometheus_url, spike):
    promql = 'sum by (code) (rate(http_requests_total{service="checkout"}[10s]))'
    result = await client.raw(promql, range_minutes=1, step="1s", end=time.time())
    _assert_same_as_prometheus(prometheus_url, result)
    assert {s.labels["code"] for s in result.series} == {"200", "500"}
    assert result.summary.aggregation and "highest current value" in result.summary.aggregation
    for series in result.series:
        values = [v for _, v in series.points]
        assert series.summary.max == max(values)
    instant = await client.query(promql)
    assert {r["metric"]["code"] for r in instant} == {"200", "500"}
    assert all(float(r["value"][1]) >= 0 for r in instant)
    assert await client.query("1 + 1") == [
        {"metric": {}, "value": [pytest.approx(time.time(), abs=30), "2"]}
    ]


async def test_unknown_service_says_no_data(client, spike):
    result = await client.named("error_ratio", service="no-such-service", end=time.time(), **FAST)
    assert result.series == []
    assert result.summary.no_data and result.summary.current is None
    assert result.summary.text == "no data"


async def test_promql_syntax_error_is_prometheus_message(client):
    with pytest.raises(BackendError) as err:
        await client.raw("sum(rate(http_requests_total[5m]")
    assert err.value.status == 400 and err.value.error_type == "bad_data"
    assert "parse error" in err.value.message
    # Prometheus's own message, as it answers it directly (instant query this time).
    with pytest.raises(BackendError) as instant_err:
        await client.query("sum(rate(http_requests_total[5m]")
    async with httpx.AsyncClient() as http:
        answer = await http.get(
            f"{client.base_url}/api/v1/query",
            params={"query": "sum(rate(http_requests_total[5m]"},
        )
    direct = answer.json()["error"]
    assert direct in instant_err.value.message


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_unreachable_backend_error_after_retries():
    url = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    async with PrometheusClient(url, timeout=0.5, retries=3, backoff=0.01) as c:
        with pytest.raises(BackendError) as err:
            await c.query("up")
    assert "unreachable after 3 attempts" in err.value.message and url in err.value.message
    assert time.monotonic() - started < 5


async def test_transient_503_is_retried():
    calls = []

    class Flaky(BaseHTTPRequestHandler):
        def do_GET(self):
            calls.append(self.path)
            if len(calls) < 3:
                body, status = b"service unavailable", 503
            else:
                body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
                status = 200
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        async with PrometheusClient(url, timeout=2, retries=3, backoff=0.01) as c:
            assert await c.query("up") == []
        assert len(calls) == 3
        calls.clear()
        async with PrometheusClient(url, timeout=2, retries=2, backoff=0.01) as c:
            with pytest.raises(BackendError) as err:
                await c.query("up")
        assert len(calls) == 2
        assert err.value.status == 503 and "service unavailable" in err.value.message
        assert "HTTP 503" in err.value.message and "after 2 attempts" in err.value.message
    finally:
        server.shutdown()
        server.server_close()


def test_not_configured():
    for url in (None, ""):
        with pytest.raises(BackendNotConfigured, match="PROMETHEUS_URL is not set"):
            PrometheusClient(url)


async def test_invalid_requests_fail_before_http():
    def refuse(request):
        raise AssertionError(f"unexpected HTTP call {request.url}")

    async with PrometheusClient("http://127.0.0.1:9", transport=httpx.MockTransport(refuse)) as c:
        with pytest.raises(InvalidRequestError, match="unknown metric"):
            await c.named("throughput", service="checkout")
        with pytest.raises(InvalidRequestError, match="invalid window"):
            await c.named("cpu", service="checkout", window="5 minutes")
        with pytest.raises(InvalidRequestError, match="empty PromQL"):
            await c.raw("  ")


def test_labels_come_from_configuration():
    labels = MetricLabels.parse("service_label=app,request_counter=requests_total")
    client = PrometheusClient("http://127.0.0.1:9", labels=labels)
    promql = client.promql("request_rate", service="checkout", namespace="prod")
    assert promql == 'sum(rate(requests_total{app="checkout",namespace="prod"}[5m]))'
    cpu = client.promql("cpu", service="checkout", namespace="prod")
    assert 'pod=~"checkout-.*"' in cpu and 'container!=""' in cpu
    assert 'service="a\\"b"' in PrometheusClient("http://x").promql("request_rate", service='a"b')
    with pytest.raises(ValueError, match="invalid Prometheus label name"):
        MetricLabels(service_label="bad-label")


def test_metric_labels_parse():
    labels = MetricLabels.parse(
        "service_label=app, namespace_label=kubernetes_namespace,"
        "request_counter=http_server_requests_seconds_count,"
    )
    assert labels == MetricLabels(
        service_label="app",
        namespace_label="kubernetes_namespace",
        request_counter="http_server_requests_seconds_count",
    )
    assert MetricLabels.parse(None) == MetricLabels.parse("  ") == MetricLabels()
    bad = {
        "service_lable=app": "unknown field 'service_lable'",
        "service_label=bad-label": "service_label: invalid Prometheus label name 'bad-label'",
        "request_counter=1requests": "request_counter: invalid Prometheus metric name",
        "service_label": "'service_label' is not field=value",
        "service_label=": "service_label has an empty value",
        "pod_label=a,pod_label=b": "pod_label is given twice",
    }
    for spec, message in bad.items():
        with pytest.raises(InvalidRequestError) as err:
            MetricLabels.parse(spec)
        assert message in err.value.message and err.value.backend == "Prometheus"


def test_summary_from_points_only():
    assert summarize_points([]).no_data
    flat = summarize_points([[1, 10.0], [2, 10.2], [3, 10.1]])
    assert flat.trend == "flat" and flat.change == pytest.approx(0.01)
    falling = summarize_points([[1, 4.0], [2, 3.0], [3, 2.0]])
    assert falling.trend == "falling" and falling.change == pytest.approx(-0.5)
    assert (falling.min, falling.max, falling.mean, falling.current) == (2.0, 4.0, 3.0, 2.0)
    with_nan = summarize_points([[1, math.nan], [2, 1.0], [3, 2.0]])
    assert with_nan.non_finite_points == 1 and with_nan.first == 1.0 and with_nan.points == 3
    assert summarize_points([[1, math.nan]]).no_data


async def test_chart_png(client, spike):
    result = await client.raw(
        'sum by (code) (rate(http_requests_total{service="checkout"}[10s]))',
        range_minutes=1,
        step="1s",
    )
    png = render_chart(result, title="checkout requests by code")
    assert png.startswith(PNG_SIGNATURE) and len(png) > 1000
    empty = await client.named("error_ratio", service="no-such-service", **FAST)
    assert render_chart(empty, title="nothing").startswith(PNG_SIGNATURE)


async def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("authorization")))
        return httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": "x"})

    client = PrometheusClient(
        "http://reader:s3cr%40t@prom.example:9090/", transport=httpx.MockTransport(handler)
    )
    async with client:
        assert client.base_url == "http://prom.example:9090"
        with pytest.raises(BackendError) as err:
            await client.query("up")
    url, authorization = seen[0]
    assert url.startswith("http://prom.example:9090/api/v1/query") and "s3cr" not in url
    assert authorization == httpx.BasicAuth("reader", "s3cr@t")._auth_header
    assert "s3cr" not in str(err.value) and "reader" not in str(err.value)
