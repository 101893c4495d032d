"""Session servers for the operations tests: a test exporter scraped every second by a real
Prometheus, and a real Alertmanager. Skipped with a reason when the binaries are missing
(`.ci/run` installs the Debian packages `prometheus` and `prometheus-alertmanager`)."""

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
def prometheus_server(exporter):
    binary = prometheus_binary()
    if binary is None:
        pytest.skip(
            "prometheus binary not found: apt-get install prometheus (Debian package), "
            "as .ci/run does"
        )
    server = PrometheusServer(binary, exporter.target).start()
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
