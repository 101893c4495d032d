"""LangGraph Studio's graph (`bot.studio`), driven in-process the way the LangGraph API
drives it: the factory called with a server runtime, a context dict of `{}` on every run,
a chat message as input, votes as resume values. `test_studio_server.py` does the same
through a real `langgraph dev`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from bot.settings import Settings, load_settings
from bot.studio import StudioSetupError, studio_graph, uses_sandbox
from tests.cli_helpers import DROPPED_ENV
from workflow.sandbox.kube_api import KubeApiServer

DEPLOY = "deploy api-server:v1.2.3 prod"
NEW = "registry.example.com/api-server:v1.2.3"


class _Run:
    """Stands in for the server runtime of a run (`threads.create_run`)."""

    access_context = "threads.create_run"

    @property
    def execution_runtime(self) -> _Run:
        return self


class _Read:
    """Stands in for the server runtime of a read (state, schemas, the drawing)."""

    access_context = "threads.read"
    execution_runtime = None


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in DROPPED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEVOPS_BOT_DATA_DIR", str(tmp_path))
    return tmp_path


class Studio:
    """One thread of a LangGraph server: every call opens the graph anew, as the server
    does, over one checkpointer that outlives them."""

    def __init__(self) -> None:
        self.checkpointer = InMemorySaver()
        self.config = {"configurable": {"thread_id": "studio-1"}}

    @asynccontextmanager
    async def graph(self) -> AsyncIterator[Any]:
        async with studio_graph(_Run()) as graph:
            yield graph.copy(update={"checkpointer": self.checkpointer})

    async def run(self, graph_input: Any) -> dict[str, Any]:
        async with self.graph() as graph:
            return await graph.ainvoke(graph_input, self.config, context={})

    async def say(self, text: str, name: str | None = "U1") -> dict[str, Any]:
        message = {"role": "user", "content": text, **({"name": name} if name else {})}
        return await self.run({"messages": [message]})

    async def state(self):
        async with studio_graph(_Read()) as graph:
            return await graph.copy(update={"checkpointer": self.checkpointer}).aget_state(
                self.config
            )


async def test_a_chat_message_is_classified_planned_and_paused_then_approved(data_dir):
    studio = Studio()
    out = await studio.say(DEPLOY)
    [pause] = out["__interrupt__"]
    request = pause.value
    assert request["kind"] == "approval_request" and request["requester"] == "U1"
    assert request["environment"] == "production" and request["sandbox"] is True
    assert out["context"]["service"] == "api-server" and out["task_type"] == "deploy"
    assert out["supervisor_path"][:2] == ["devops_root_supervisor", "infrastructure_supervisor"]
    assert out["outcome"] is None, "nothing is applied before approval"

    # Self-approval: refused by the policy, the request waits on.
    out = await studio.run(Command(resume={"decision": "approve", "user": "U1"}))
    assert out["approval"]["status"] == "pending"
    assert "self-approval" in out["approval"]["refusals"][-1]["reason"]
    [pause] = out["__interrupt__"]

    # Someone else, the vote keyed by the interrupt's id: applied and rolled out.
    out = await studio.run(Command(resume={pause.id: {"decision": "approve", "user": "U2"}}))
    assert "__interrupt__" not in out
    assert out["outcome"]["status"] == "applied", out["outcome"]
    assert out["approval"]["decided_by"] == "U2"
    assert (await studio.state()).values["outcome"]["status"] == "applied"
    with KubeApiServer(data_dir / "sandbox-cluster.json") as cluster:
        assert cluster.snapshot()["production"]["api-server"]["image"] == NEW


async def test_what_is_not_a_request_or_not_a_vote_is_said_so(data_dir):
    studio = Studio()
    out = await studio.say("hello there")
    assert out["outcome"]["status"] == "failed" and "__interrupt__" not in out

    out = await studio.say(DEPLOY, name=None)
    assert out["__interrupt__"][0].value["requester"] == "studio"
    first = out["approval"]["id"]
    for resume in ("approve", {"approve": True}, {"decision": "yes", "user": "U2"}):
        out = await studio.run(Command(resume=resume))
        assert out["approval"]["status"] == "pending", resume
        assert 'a vote is {"decision"' in out["approval"]["refusals"][-1]["reason"]

    # A new message while the approval waits does not drop it: the thread pauses on it again.
    out = await studio.say("restart web in dev")
    assert out["__interrupt__"][0].value["id"] == first
    out = await studio.run(Command(resume={"decision": "reject", "user": "U2", "reason": "no"}))
    assert out["outcome"]["status"] == "rejected"

    # The next message is a new run in the same thread.
    out = await studio.say("status of web in dev")
    assert out["task_type"] != "deploy" and out["outcome"]["status"] == "done", out["outcome"]


async def test_reads_open_nothing_and_see_the_same_graph(data_dir):
    async with studio_graph(_Read()) as read:
        nodes = set(read.get_graph().nodes)
        assert {"intake", "human_approval", "apply"} <= nodes
        assert read.get_context_jsonschema() == {"type": "object", "properties": {}}
        assert "messages" in read.get_input_jsonschema()["properties"]
    assert not list(data_dir.iterdir()), "a read opened the sandbox"
    async with studio_graph(_Run()) as run:
        assert set(run.get_graph().nodes) == nodes


async def test_langgraph_dev_without_allow_blocking_is_told_what_to_do(data_dir, monkeypatch):
    monkeypatch.setenv("LANGGRAPH_ALLOW_BLOCKING", "false")
    with pytest.raises(StudioSetupError, match="--allow-blocking"):
        async with studio_graph(_Run()):
            pass


def test_the_langgraph_api_hands_the_factory_its_runtime():
    factory_utils = pytest.importorskip("langgraph_api._factory_utils")
    hook = factory_utils._classify_factory(studio_graph)
    assert hook({"configurable": {}}, "RUNTIME") == {"runtime": "RUNTIME"}


@pytest.mark.parametrize(
    ("env", "sandbox"),
    [
        ({}, True),
        ({"KUBECONFIG": "/somewhere/kubeconfig"}, False),
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, False),
        ({"KUBECONFIG": "/somewhere/kubeconfig", "DEVOPS_BOT_SANDBOX": "1"}, True),
        ({"DEVOPS_BOT_SANDBOX": "0"}, False),
        ({"PROMETHEUS_URL": "http://prometheus:9090"}, True),
    ],
)
def test_studio_is_on_the_sandbox_unless_the_environment_names_a_cluster(
    data_dir, monkeypatch, env, sandbox
):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings: Settings = load_settings()
    assert uses_sandbox(settings) is sandbox
