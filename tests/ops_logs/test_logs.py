"""log_search: LokiLogSearch against a local Loki-compatible server, KubernetesLogSearch
against the sandbox Kubernetes API server."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest
from pydantic import ValidationError

from tests.ops_logs.fake_loki import FakeLoki, parse_logql
from workflow.sandbox.kube_api import KubeApiServer
from workflow.tools.errors import BackendError, BackendNotConfigured
from workflow.tools.kubernetes import KubernetesBackend
from workflow.tools.logs import (
    KubernetesLogSearch,
    LogQuery,
    LokiLogSearch,
    detect_level,
    logql_string,
    normalise_message,
)

MIN = 60 * 10**9
WEIRD = 'value=say "hi" to C:\\temp\\new\\ | } {app=~".+"} \\" end'


def _checkout_lines(now: int) -> list[tuple[int, str]]:
    lines = []
    for i in range(5):
        lines.append(
            (
                now - (30 - i * 5) * MIN,
                f'level=error msg="upstream timeout" request_id=9f1c{i}e2a-1b2c-4d5e-8f90-'
                f"0123456789a{i} after={1.5 + i}s upstream=10.0.3.{i}:8080",
            )
        )
    for i in range(3):
        lines.append((now - (20 - i) * MIN, f'level=warn msg="slow query" took={120 + i}ms'))
    for i in range(10):
        lines.append((now - (40 - i) * MIN, f'level=info msg="request" status=200 id={i}'))
    lines.append((now - 12 * MIN, f"level=error msg=bad input {WEIRD}"))
    lines.append((now - 11 * MIN, 'level=fatal msg="panic: nil map" goroutine=17'))
    # outside the default 60-minute window
    lines.append((now - 120 * MIN, 'level=error msg="old failure" code=1'))
    return lines


@pytest.fixture
def loki():
    now = time.time_ns()
    with FakeLoki() as server:
        server.push(
            {"app": "checkout", "namespace": "production", "pod": "checkout-7d9f-abcde"},
            _checkout_lines(now),
        )
        server.push(
            {"app": "checkout", "namespace": "staging", "pod": "checkout-5c4b-zzzzz"},
            [(now - 5 * MIN, 'level=error msg="upstream timeout" in staging')],
        )
        server.push(
            {"app": "payment-service", "namespace": "production", "pod": "payment-1"},
            [(now - 3 * MIN, 'level=error msg="card declined" code=51')],
        )
        yield server


@pytest.fixture
async def search(loki):
    async with LokiLogSearch(loki.url, timeout=5) as s:
        yield s


async def test_search_by_service_namespace_and_level(loki, search):
    result = await search.search(
        LogQuery(service="checkout", namespace="production", level="error")
    )
    assert result.source == "loki"
    messages = [line.message for line in result.lines]
    assert len(messages) == 7  # 5 timeouts, the bad input, the fatal one; not the old one
    assert all("staging" not in m and "card declined" not in m for m in messages)
    assert "old failure" not in " ".join(messages)
    assert [line.ts for line in result.lines] == sorted(line.ts for line in result.lines)
    assert {line.level for line in result.lines} == {"error"}
    assert all(line.pod == "checkout-7d9f-abcde" for line in result.lines)
    assert result.lines[0].labels["namespace"] == "production"
    assert not result.truncated

    request = loki.requests[-1]
    assert request["path"] == "/loki/api/v1/query_range"
    params = request["params"]
    assert params["direction"] == "backward"
    assert params["limit"] == "201"
    assert int(params["end"]) - int(params["start"]) == 60 * MIN
    assert params["query"] == result.query
    assert result.query.startswith('{app="checkout",namespace="production"} |~ "(?i)')


async def test_level_warn_includes_errors_and_info_drops_nothing_but_debug(search):
    warn = await search.search(LogQuery(service="checkout", namespace="production", level="warn"))
    assert len(warn.lines) == 10
    everything = await search.search(LogQuery(service="checkout", namespace="production"))
    assert len(everything.lines) == 20


async def test_term_is_case_insensitive_literal_text(loki, search):
    result = await search.search(
        LogQuery(service="checkout", namespace="production", term="UPSTREAM timeout")
    )
    assert len(result.lines) == 5
    assert all("upstream timeout" in line.message for line in result.lines)
    # a regex-looking term is literal text: "." matches only a dot
    none = await search.search(LogQuery(service="checkout", namespace="production", term="t.meout"))
    assert none.lines == []


async def test_groups_repeated_messages_after_normalising(search):
    result = await search.search(LogQuery(service="checkout", namespace="production"))
    top = result.groups[0]
    assert top.count == 10
    assert 'msg="request"' in top.pattern
    timeouts = next(g for g in result.groups if "upstream timeout" in g.pattern)
    assert timeouts.count == 5
    assert "<uuid>" in timeouts.pattern and "<duration>" in timeouts.pattern
    assert "<ip>" in timeouts.pattern
    assert timeouts.first_ts < timeouts.last_ts
    assert "request_id=9f1c4e2a" in timeouts.example  # the newest occurrence
    slow = next(g for g in result.groups if "slow query" in g.pattern)
    assert slow.count == 3 and "<duration>" in slow.pattern
    counts = [g.count for g in result.groups]
    assert counts == sorted(counts, reverse=True)
    assert sum(counts) == len(result.lines)


async def test_limit_keeps_the_newest_lines_and_flags_truncation(loki, search):
    result = await search.search(LogQuery(service="checkout", namespace="production", limit=3))
    assert result.truncated
    assert len(result.lines) == 3
    assert loki.requests[-1]["params"]["limit"] == "4"
    # the newest three: bad input (-12 min), panic (-11 min), a timeout (-10 min)
    assert "bad input" in result.lines[0].message
    assert "panic: nil map" in result.lines[1].message
    assert "upstream timeout" in result.lines[2].message
    full = await search.search(
        LogQuery(service="checkout", namespace="production", since_minutes=180, limit=2000)
    )
    assert not full.truncated
    assert len(full.lines) == 21  # now including the two-hour-old line


async def test_term_with_quotes_and_backslashes_round_trips(loki, search):
    result = await search.search(LogQuery(service="checkout", namespace="production", term=WEIRD))
    assert [line.message for line in result.lines] == [f"level=error msg=bad input {WEIRD}"]
    matchers, filters = parse_logql(loki.requests[-1]["params"]["query"])
    assert [(name, op, value) for name, op, value in matchers] == [
        ("app", "=", "checkout"),
        ("namespace", "=", "production"),
    ]
    assert len(filters) == 1 and filters[0][0] == "|~"


@pytest.mark.parametrize(
    "hostile",
    [
        '"} or {app=~".+"}',
        'x" |~ ".*',
        "\\",
        '`{app=~".+"}`',
        "line\nbreak\ttab\x00nul",
    ],
)
async def test_hostile_terms_and_services_stay_literal(loki, search, hostile):
    result = await search.search(LogQuery(service="checkout", namespace="production", term=hostile))
    # only lines that contain the term literally (just the WEIRD line, for a backslash)
    assert all(hostile.lower() in line.message.lower() for line in result.lines)
    assert len(result.lines) <= 1
    result = await search.search(LogQuery(service=hostile, namespace="production"))
    assert result.lines == []
    matchers, _ = parse_logql(loki.requests[-1]["params"]["query"])
    assert matchers[0] == ("app", "=", hostile)
    assert loki.requests and all(r["path"].endswith("query_range") for r in loki.requests)


async def test_other_label_names_come_from_configuration(loki):
    loki.push(
        {"service_name": "checkout", "k8s_namespace": "prod"},
        [(time.time_ns() - MIN, "level=error msg=boom")],
    )
    async with LokiLogSearch(
        loki.url, labels="service_name", namespace_label="k8s_namespace"
    ) as custom:
        result = await custom.search(LogQuery(service="checkout", namespace="prod"))
    assert [line.message for line in result.lines] == ["level=error msg=boom"]
    with pytest.raises(ValueError):
        LokiLogSearch(loki.url, labels='app="x"')


async def test_loki_400_surfaces_its_error_text_without_retrying(loki):
    class Broken(LokiLogSearch):
        def build_logql(self, query):
            return '{app="checkout"'

    async with Broken(loki.url) as broken:
        with pytest.raises(BackendError) as info:
            await broken.search(LogQuery(service="checkout"))
    assert info.value.status == 400
    assert "parse error at line 1" in str(info.value)
    assert 'rejected the query {app="checkout" (HTTP 400)' in str(info.value)
    assert len(loki.requests) == 1

    loki.max_entries = 100
    async with LokiLogSearch(loki.url) as search:
        with pytest.raises(BackendError, match=r"max entries limit per query exceeded"):
            await search.search(LogQuery(service="checkout", limit=500))


async def test_transient_errors_are_retried(loki, search):
    loki.fail_next = [503, 502]
    result = await search.search(
        LogQuery(service="checkout", namespace="production", level="error")
    )
    assert len(result.lines) == 7
    assert len(loki.requests) == 3
    loki.fail_next = [429]  # Loki's "too many outstanding requests"
    assert len((await search.search(LogQuery(service="checkout", level="error"))).lines) == 8
    assert len(loki.requests) == 5


async def test_persistent_5xx_gives_backend_error(loki):
    loki.fail_next = [503] * 5
    async with LokiLogSearch(loki.url, retries=2) as search:
        with pytest.raises(BackendError) as info:
            await search.search(LogQuery(service="checkout"))
    assert len(loki.requests) == 2
    assert info.value.status == 503
    assert str(info.value) == (
        f'Loki at {loki.url} answered HTTP 503 to the query {{app="checkout"}} '
        "after 2 attempts: injected failure"
    )


async def test_unreachable_loki_gives_backend_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    async with LokiLogSearch(f"http://127.0.0.1:{port}", timeout=1) as search:
        with pytest.raises(
            BackendError,
            match=rf"Loki at http://127\.0\.0\.1:{port} is unreachable after 3 attempts: "
            "ConnectError",
        ):
            await search.search(LogQuery(service="checkout"))
    assert time.monotonic() - started < 5


async def test_read_timeout_is_not_retried():
    calls = []

    def slow(request):
        calls.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    transport = httpx.MockTransport(slow)
    async with LokiLogSearch("http://loki.test", timeout=2, transport=transport) as search:
        with pytest.raises(BackendError) as info:
            await search.search(LogQuery(service="checkout"))
    assert len(calls) == 1
    assert str(info.value) == "Loki at http://loki.test timed out after 2s (ReadTimeout)"


def test_loki_not_configured():
    for url in (None, ""):
        with pytest.raises(BackendNotConfigured, match="LOKI_URL is not set"):
            LokiLogSearch(url)


def test_query_validation():
    assert LogQuery(service="x").limit == 200
    assert LogQuery(service="x").since_minutes == 60
    assert LogQuery(service="x", level="WARNING").level == "warn"
    assert LogQuery(service="x", term="  ").term is None
    with pytest.raises(ValidationError):
        LogQuery(service="x", limit=2001)
    with pytest.raises(ValidationError):
        LogQuery(service="x", level="verbose")
    with pytest.raises(ValidationError):
        LogQuery(service="")


def test_helpers():
    assert logql_string('a"b\\c\n') == '"a\\"b\\\\c\\n"'
    assert detect_level('{"level":"ERROR","msg":"x"}') == "error"
    assert detect_level("2024 WARN disk almost full") == "warn"
    assert detect_level("level=fatal msg=x") == "error"
    assert detect_level("hello") is None
    assert (
        normalise_message(
            "req 123e4567-e89b-12d3-a456-426614174000 took 250ms at 0xdeadbeef id=ab12cd34ef56"
        )
        == "req <uuid> took <duration> at <hex> id=<hex>"
    )
    assert normalise_message("retry 3 of 5 for order ord_8f3k2j9d77") == (
        "retry <n> of <n> for order <id>"
    )


# ---------------------------------------------------------------------------- Kubernetes


@pytest.fixture
def kube():
    with KubeApiServer(rollout_seconds=0.1) as srv:
        yield srv


@pytest.fixture
async def backend(kube):
    b = KubernetesBackend.from_url(kube.url, poll_interval=0.02, rollout_timeout=5)
    yield b
    await b.aclose()


async def test_kubernetes_reads_pod_logs_of_the_deployment(backend):
    search = KubernetesLogSearch(backend)
    result = await search.search(LogQuery(service="checkout", namespace="production"))
    assert result.source == "kubernetes"
    pods = {line.pod for line in result.lines}
    assert len(pods) == 3 and all(p.startswith("checkout-") for p in pods)
    assert "tailLines=201" in result.query and "production/checkout-" in result.query
    starting = next(g for g in result.groups if "starting checkout" in g.pattern)
    assert starting.count == 3
    assert all(line.labels["namespace"] == "production" for line in result.lines)
    # The seed's production checkout runs the known-bad v2.4.1: its errors are timeouts.
    errors = {line.message for line in result.lines if line.level == "error"}
    assert errors and all("upstream request failed" in m for m in errors)

    limited = await search.search(LogQuery(service="checkout", namespace="production", limit=4))
    assert len(limited.lines) == 4 and limited.truncated


async def test_kubernetes_error_logs_of_a_crashlooping_rollout(backend):
    plan = await backend.plan(
        "deploy",
        namespace="production",
        name="checkout",
        environment="production",
        image="registry.example.com/checkout:v9-crashloop",
    )
    await backend.apply(plan, wait=False)
    search = KubernetesLogSearch(backend)
    result = None
    for _ in range(50):
        result = await search.search(
            LogQuery(service="checkout", namespace="production", level="error")
        )
        # (the old v2.4.1 pods of the seed keep serving and logging their own errors)
        if sum("exiting" in g.pattern or "startup check" in g.pattern for g in result.groups) == 2:
            break
        await asyncio.sleep(0.1)
    assert result is not None
    patterns = [g.pattern for g in result.groups]
    assert any("startup check failed" in p and "schema version <n>" in p for p in patterns)
    assert any("checkout exiting" in p and "v9-crashloop" in p for p in patterns)
    assert all(line.level == "error" for line in result.lines)

    term = await search.search(
        LogQuery(service="checkout", namespace="production", term="SCHEMA VERSION")
    )
    assert term.lines and all("schema version" in line.message for line in term.lines)


async def test_kubernetes_missing_deployment_and_bad_names(backend):
    search = KubernetesLogSearch(backend)
    with pytest.raises(BackendError, match="deployment 'nope' not found in namespace 'production'"):
        await search.search(LogQuery(service="nope", namespace="production"))
    with pytest.raises(BackendError, match="invalid deployment name"):
        await search.search(LogQuery(service='x"} |= "', namespace="production"))


async def test_kubernetes_unreachable_gives_backend_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = KubernetesBackend.from_url(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(BackendError, match="cannot reach the Kubernetes API"):
            await KubernetesLogSearch(backend, retries=2).search(
                LogQuery(service="checkout", namespace="production")
            )
    finally:
        await backend.aclose()
