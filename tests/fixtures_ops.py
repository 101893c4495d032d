"""Session servers for the operations tests: a test exporter scraped every second by a real
Prometheus, and a real Alertmanager. Skipped with a reason when the binaries are missing
(`.ci/run` installs the Debian packages `prometheus` and `prometheus-alertmanager`).

A plugin of the root conftest (`pytest_plugins`), so that tests/ops and the agents' tests in
tests/agents/<name>/ share one set of servers. The fixtures are lazy: a server starts only
when a test of the session first asks for it."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.ops.servers import (
    AlertmanagerServer,
    Exporter,
    PrometheusServer,
    alertmanager_binary,
    prometheus_binary,
)


@pytest.fixture(scope="session")
def exporter():
    exp = Exporter().start()
    yield exp
    exp.stop()


@pytest.fixture(scope="session")
def incident_exporter():
    """The `web` service in production, healthy until an incident test breaks it."""
    exp = Exporter(service="web", namespace="production")
    exp.set(rates={"200": 50.0, "500": 0.1}, latency=0.04)
    exp.start()
    yield exp
    exp.stop()


@pytest.fixture(scope="session")
def prometheus_server(exporter, incident_exporter):
    binary = prometheus_binary()
    if binary is None:
        pytest.skip(
            "prometheus binary not found: apt-get install prometheus (Debian package), "
            "as .ci/run does"
        )
    server = PrometheusServer(binary, exporter.target, incident_exporter.target).start()
    # Bounded wait until Prometheus has scraped enough to compute rates over a short window.
    deadline = time.monotonic() + 20
    query = 'sum(rate(http_requests_total{service="checkout"}[10s]))'
    while True:
        answer = httpx.get(f"{server.url}/api/v1/query", params={"query": query}).json()
        if answer["data"]["result"]:
            break
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail("Prometheus did not scrape the test exporter within 20 s")
        time.sleep(0.25)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def prometheus_url(prometheus_server) -> str:
    return prometheus_server.url


@pytest.fixture(scope="session")
def alertmanager_server():
    binary = alertmanager_binary()
    if binary is None:
        pytest.skip(
            "alertmanager binary not found: apt-get install prometheus-alertmanager "
            "(Debian package), as .ci/run does"
        )
    server = AlertmanagerServer(binary).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def alertmanager_url(alertmanager_server) -> str:
    return alertmanager_server.url


@pytest.fixture
def ops_service(tmp_path, prometheus_url, alertmanager_url):
    """`async with ops_service(ops=..., **options) as service`: the real graph and service on
    the sandbox cluster, with the session's real Prometheus and Alertmanager."""
    from contextlib import asynccontextmanager

    from workflow.assembly import ServiceOptions, open_service

    @asynccontextmanager
    async def open_(**options):
        settings = ServiceOptions(
            data_dir=tmp_path,
            sandbox=True,
            persistence="memory",
            prometheus_url=prometheus_url,
            alertmanager_url=alertmanager_url,
            rollout_timeout=10,
            **options,
        )
        async with open_service(settings) as handle:
            yield handle.service

    return open_
