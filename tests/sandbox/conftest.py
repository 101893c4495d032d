"""The sandbox cluster, Prometheus and Alertmanager on one clock, and the real clients."""

from __future__ import annotations

import time

import pytest

from workflow.sandbox.alertmanager_api import SandboxAlertmanager
from workflow.sandbox.kube_api import KubeApiServer
from workflow.sandbox.prom_api import SandboxPrometheus
from workflow.tools.alertmanager import AlertmanagerClient
from workflow.tools.kubernetes import KubernetesBackend
from workflow.tools.prometheus import PrometheusClient

ROLLOUT = 0.1


class Clock:
    """Wall-clock time plus an offset the test moves forward; `freeze()` stops it."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.frozen: float | None = None

    def __call__(self) -> float:
        return self.frozen if self.frozen is not None else time.time() + self.offset

    def advance(self, seconds: float) -> None:
        if self.frozen is not None:
            self.frozen += seconds
        self.offset += seconds

    def freeze(self) -> float:
        self.frozen = self()
        return self.frozen


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def kube(clock):
    with KubeApiServer(rollout_seconds=ROLLOUT, clock=clock) as srv:
        yield srv


@pytest.fixture
def prom_server(kube, clock):
    with SandboxPrometheus(kube, clock=clock) as srv:
        yield srv


@pytest.fixture
def am_server(kube, clock, prom_server):
    with SandboxAlertmanager(kube, clock=clock, prometheus_url=prom_server.url) as srv:
        yield srv


@pytest.fixture
async def prom(prom_server):
    async with PrometheusClient(prom_server.url, backoff=0.01) as client:
        yield client


@pytest.fixture
async def am(am_server):
    async with AlertmanagerClient(am_server.url, backoff=0.01) as client:
        yield client


@pytest.fixture
async def backend(kube):
    b = KubernetesBackend.from_url(kube.url, poll_interval=0.02, rollout_timeout=5)
    yield b
    await b.aclose()
