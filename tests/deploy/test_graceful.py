"""Graceful replicas: two real `devops-bot serve --http` processes sharing one Redis Stack
(AOF on), one sandbox cluster and one fake Slack; SIGTERM to one of them.

- readiness (/healthz) turns 503 at once while the process still serves;
- the run in flight finishes (its card is posted) and the process exits 0 within the drain
  timeout; the pending approval is then approved through the other replica and applied;
- a run that cannot finish within the drain timeout is handed over: the other replica's
  sweeper says in its thread where it stands, so no request is left without a word.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from tests.redis_server import RedisStackServer
from tests.slack.harness import BOT_TOKEN, SECRET, MockSlack, SlackSender

BOT = Path(sys.executable).parent / "devops-bot"
_SETTINGS = ("SLACK_", "REDIS_URL", "DEVOPS_BOT_", "OPENAI_", "KUBECONFIG", "LOG_", "PORT")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Replica:
    def __init__(self, proc: asyncio.subprocess.Process, base: str, send: SlackSender):
        self.proc, self.base, self.send = proc, base, send

    async def health(self, session: aiohttp.ClientSession) -> tuple[int, dict]:
        async with session.get(self.base + "/healthz") as resp:
            return resp.status, await resp.json()


@asynccontextmanager
async def replicas(tmp_path: Path, redis_url: str, slack: MockSlack, *, drain: list[float]):
    """One `devops-bot serve --http` per entry of `drain` (its DEVOPS_BOT_DRAIN_TIMEOUT)."""
    procs: list[Replica] = []
    async with aiohttp.ClientSession() as session:
        try:
            for timeout in drain:
                port = _free_port()
                env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTINGS)}
                env.update(
                    SLACK_BOT_TOKEN=BOT_TOKEN,
                    SLACK_SIGNING_SECRET=SECRET,
                    SLACK_API_URL=slack.url + "/api/",
                    REDIS_URL=redis_url,
                    DEVOPS_BOT_DATA_DIR=str(tmp_path),
                    DEVOPS_BOT_SANDBOX="true",
                    DEVOPS_BOT_SWEEP_INTERVAL="1",
                    DEVOPS_BOT_DRAIN_TIMEOUT=str(timeout),
                    LOG_FORMAT="json",
                    LOG_LEVEL="WARNING",
                )
                proc = await asyncio.create_subprocess_exec(
                    str(BOT), "serve", "--http", "--port", str(port), "--host", "127.0.0.1",
                    env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                base = f"http://127.0.0.1:{port}"
                procs.append(Replica(proc, base, SlackSender(session, base, slack.url)))
            for replica in procs:
                for _ in range(600):
                    try:
                        if (await replica.health(session))[0] == 200:
                            break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.05)
                else:
                    raise AssertionError("devops-bot serve --http did not come up")
            yield session, procs
        finally:
            for replica in procs:
                if replica.proc.returncode is None:
                    replica.proc.kill()
                    await replica.proc.wait()


def drained_line(stderr: bytes) -> dict:
    for line in stderr.decode().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "drained":
            return entry
    raise AssertionError(f"no 'drained' line in: {stderr.decode()[-2000:]}")


def posted(slack: MockSlack) -> list[dict]:
    return [
        {**c.args, "ts": c.response["ts"]}
        for c in slack.calls
        if c.method == "chat.postMessage" and c.response.get("ok")
    ]


def cards(slack: MockSlack) -> list[dict]:
    return [
        p
        for p in posted(slack)
        if any(
            e.get("action_id") == "approval_approve"
            for b in p.get("blocks") or []
            for e in b.get("elements", [])
        )
    ]


@pytest.fixture
def aof_redis():
    server = RedisStackServer(aof=True).start()
    yield server
    server.stop()


@pytest.fixture
async def slack():
    fake = MockSlack()
    await fake.start()
    yield fake
    await fake.stop()


async def test_sigterm_finishes_the_run_and_the_other_replica_takes_the_click(
    tmp_path, aof_redis, slack
):
    async with replicas(tmp_path, aof_redis.url, slack, drain=[20, 20]) as (session, (a, b)):
        slack.delay = 0.3  # every chat.* call: the run is still going when SIGTERM comes
        status, _ = await a.send.command("deploy api-server:v1.2.4 prod", user="U1")
        assert status == 200
        await slack.wait_for(lambda: posted(slack))  # the run has started (status message)
        a.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        # Readiness is false at once, while the process still serves.
        for _ in range(100):
            status, body = await a.health(session)
            if status == 503:
                break
            await asyncio.sleep(0.02)
        assert status == 503 and body["draining"] is True and body["ok"] is False
        assert (await b.health(session))[0] == 200
        # The run finishes: its card is posted, then the process exits cleanly.
        card = (await slack.wait_for(lambda: cards(slack), timeout=20))[0]
        _, err = await asyncio.wait_for(a.proc.communicate(), 25)
        assert a.proc.returncode == 0, err.decode()[-2000:]
        assert time.monotonic() - sent < 20 + 5
        assert drained_line(err)["finished"] == 1 and drained_line(err)["handed_over"] == 0
        assert BOT_TOKEN not in err.decode() and SECRET not in err.decode()
        # The pending approval is served by the other replica.
        slack.delay = 0.0
        status, _ = await b.send.click(card, "approval_approve", user="U2")
        assert status == 200
        applied = await slack.wait_for(
            lambda: [p for p in posted(slack) if p["text"].startswith("*Applied*")], timeout=20
        )
        assert "approved by U2" in applied[0]["text"]
        b.proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(b.proc.communicate(), 25)
        assert b.proc.returncode == 0, err.decode()[-2000:]


async def test_a_run_past_the_drain_timeout_is_handed_over(tmp_path, aof_redis, slack):
    async with replicas(tmp_path, aof_redis.url, slack, drain=[0.5, 20]) as (session, (a, b)):
        slack.delay = 1.0  # chat.* calls this slow: the run cannot finish in 0.5 s
        status, _ = await a.send.command("deploy api-server:v1.2.4 prod", user="U1")
        assert status == 200
        root = (await slack.wait_for(lambda: posted(slack), timeout=10))[0]
        a.proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(a.proc.communicate(), 15)
        assert a.proc.returncode == 0, err.decode()[-2000:]
        assert drained_line(err)["handed_over"] >= 1
        slack.delay = 0.0
        # The other replica's sweeper finds the run and says where it stands, in its thread.
        said = await slack.wait_for(
            lambda: [p for p in posted(slack)[1:] if p.get("thread_ts") == root["ts"]],
            timeout=20,
        )
        assert said[0]["text"], said
        assert (await b.health(session))[0] == 200
        # Here the run had paused for approval when it was cut off: the card is in the
        # thread (re-posted by the other replica if need be) and that replica applies it.
        card = (await slack.wait_for(lambda: cards(slack), timeout=10))[-1]
        assert card["thread_ts"] == root["ts"]
        status, _ = await b.send.click(card, "approval_approve", user="U2")
        assert status == 200
        applied = await slack.wait_for(
            lambda: [p for p in posted(slack) if p["text"].startswith("*Applied*")], timeout=20
        )
        assert len(applied) == 1 and "approved by U2" in applied[0]["text"]
        b.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(b.proc.communicate(), 25)
