"""LangGraph Studio for real: `langgraph dev` (the in-memory LangGraph API server) serves the
graph of `langgraph.json` on loopback, and a client drives it as Studio does: a thread, a
chat message run to the approval pause, a refused self-approval, an approval by someone
else, the state applied."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli_helpers import DROPPED_ENV, REPO
from workflow.sandbox.kube_api import KubeApiServer

pytestmark = pytest.mark.slow

LANGGRAPH = Path(sys.executable).parent / "langgraph"
STARTUP_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, data directory) of a `langgraph dev` started for this test."""
    # find_spec, not an import: importing the in-memory runtime makes .langgraph_api/ here.
    if importlib.util.find_spec("langgraph_runtime_inmem") is None or not LANGGRAPH.exists():
        pytest.skip(f"needs langgraph-cli[inmem], its CLI next to the interpreter: {LANGGRAPH}")
    data, log = tmp_path / "data", tmp_path / "langgraph-dev.log"
    # The repository's langgraph.json with its paths made absolute, so that the server can
    # run in tmp_path: it keeps its threads in .langgraph_api/ under its working directory.
    config = json.loads((REPO / "langgraph.json").read_text())
    config["dependencies"] = [str(REPO / dep) for dep in config["dependencies"]]
    config["graphs"] = {name: str(REPO / spec) for name, spec in config["graphs"].items()}
    (tmp_path / "langgraph.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(DEVOPS_BOT_DATA_DIR=str(data), LANGSMITH_TRACING="false")
    port = _free_port()
    args = [
        str(LANGGRAPH),
        "dev",
        "--config",
        str(tmp_path / "langgraph.json"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-browser",
        "--no-reload",
        "--allow-blocking",
    ]
    with open(log, "w") as out:
        # Its own session, so that the server and its workers are stopped together.
        proc = subprocess.Popen(
            args,
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"langgraph dev exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{base}/ok", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"langgraph dev did not start in {STARTUP_TIMEOUT} s:\n{log.read_text()}"
                )
            time.sleep(0.25)
        yield base, data
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def test_studio_runs_a_deploy_to_its_approval_and_applies_it(studio):
    base, data = studio
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:

        async def run(thread: str, **body) -> dict:
            res = await http.post(
                f"/threads/{thread}/runs/wait", json={"assistant_id": "devops", **body}
            )
            assert res.status_code == 200, res.text
            out = res.json()
            assert "__error__" not in out, out
            return out

        thread = (await http.post("/threads", json={})).json()["thread_id"]
        message = {"role": "user", "content": "deploy api-server:v1.2.3 prod", "name": "U1"}
        out = await run(thread, input={"messages": [message]})
        [pause] = out["__interrupt__"]
        assert pause["value"]["kind"] == "approval_request"
        assert pause["value"]["requester"] == "U1"
        assert pause["value"]["environment"] == "production"
        assert out["outcome"] is None

        # The requester approving their own production deploy: refused by the policy.
        out = await run(thread, command={"resume": {"decision": "approve", "user": "U1"}})
        assert out["approval"]["status"] == "pending"
        assert "self-approval" in out["approval"]["refusals"][-1]["reason"]

        # Another approver, the vote keyed by the pending interrupt's id, as Studio sends it.
        state = (await http.get(f"/threads/{thread}/state")).json()
        [task] = [t for t in state["tasks"] if t["interrupts"]]
        interrupt_id = task["interrupts"][0]["id"]
        vote = {"decision": "approve", "user": "U2"}
        out = await run(thread, command={"resume": {interrupt_id: vote}})
        assert "__interrupt__" not in out

        state = (await http.get(f"/threads/{thread}/state")).json()
        values = state["values"]
        assert values["outcome"]["status"] == "applied", values["outcome"]
        assert values["approval"]["status"] == "approved"
        assert values["approval"]["decided_by"] == "U2"
        assert not state["next"], "the run is over"
    with KubeApiServer(data / "sandbox-cluster.json") as cluster:
        image = cluster.snapshot()["production"]["api-server"]["image"]
    assert image == "registry.example.com/api-server:v1.2.3"
