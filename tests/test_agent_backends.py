"""An agent that owns a backend opens it from its own folder: `AgentSpec.connect` reads the
agent's settings from the environment the edge passed, the assembly opens and closes it, and
nodes find it with `deps.backend(name)` or why it is missing with `deps.why_missing(name)`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

import workflow.assembly as assembly
from workflow.agents.registry import REGISTRY
from workflow.agents.spec import OPS, AgentSpec, BackendContext, Connected, TaskRoute, lazy
from workflow.assembly import ServiceOptions, open_service

OPENED: list[str] = []
CLOSED: list[str] = []


class ToyClient:
    def __init__(self, url: str) -> None:
        self.url = url


@contextlib.asynccontextmanager
async def connect_toy(context: BackendContext) -> AsyncIterator[Connected]:
    url = context.environ.get("TOY_URL")
    if not url:
        yield Connected(unavailable={"toy": "the toy backend is not configured: set TOY_URL"})
        return
    OPENED.append(url)
    try:
        yield Connected(backends={"toy": ToyClient(url)})
    finally:
        CLOSED.append(url)


TOY = AgentSpec(
    name="toy_agent",
    supervisor=OPS,
    routes=(TaskRoute("toy", "Widget frobnication", row=18),),
    capability="widget frobnication",
    backends={"toy": "the toy backend is not configured"},
    connect=lazy("tests.test_agent_backends:connect_toy"),
)


@pytest.fixture
def with_toy(monkeypatch):
    monkeypatch.setattr(assembly, "REGISTRY", (*REGISTRY, TOY))
    OPENED.clear()
    CLOSED.clear()


def _options(tmp_path, environ: dict[str, str]) -> ServiceOptions:
    return ServiceOptions(
        data_dir=tmp_path,
        persistence="memory",
        kubernetes=False,
        operations=False,
        environ=environ,
    )


async def test_an_agent_opens_and_closes_its_own_backend(tmp_path, with_toy):
    secret_env = {"TOY_URL": "http://127.0.0.1:9/toy", "SLACK_BOT_TOKEN": "xoxb-not-shown"}
    options = _options(tmp_path, secret_env)
    assert "xoxb" not in repr(options), "the environment never shows in a repr"
    async with open_service(options) as handle:
        client = handle.service.deps.backend("toy")
        assert isinstance(client, ToyClient) and client.url == "http://127.0.0.1:9/toy"
        assert OPENED == ["http://127.0.0.1:9/toy"] and CLOSED == []
    assert CLOSED == ["http://127.0.0.1:9/toy"]


async def test_a_backend_its_agent_cannot_open_is_explained(tmp_path, with_toy):
    async with open_service(_options(tmp_path, {})) as handle:
        deps = handle.service.deps
        assert deps.backend("toy") is None
        assert deps.why_missing("toy") == "the toy backend is not configured: set TOY_URL"
