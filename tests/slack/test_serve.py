"""`devops-bot serve` as a person starts it: a real process, real ports, signed requests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from tests.slack.harness import BOT_TOKEN, SECRET, MockSlack, SlackSender

BOT = Path(sys.executable).parent / "devops-bot"
_SETTINGS = ("SLACK_", "REDIS_URL", "DEVOPS_BOT_", "OPENAI_", "KUBECONFIG", "LOG_", "PORT")


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTINGS)}
    return {**env, **values}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_serve_http_answers_slack_health_and_metrics(tmp_path):
    slack = MockSlack()
    api_url = await slack.start()
    port = _free_port()
    env = _env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=api_url,
        DEVOPS_BOT_DATA_DIR=str(tmp_path),
        DEVOPS_BOT_SANDBOX="true",
    )
    proc = await asyncio.create_subprocess_exec(
        str(BOT), "serve", "--http", "--port", str(port), "--host", "127.0.0.1",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(base + "/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("devops-bot serve --http did not come up")
            send = SlackSender(session, base, slack.url)
            status, _ = await send.command("deploy api-server:v1.2.3 prod", user="U1")
            assert status == 200
            await slack.wait_for(
                lambda: [a for a in slack.of("chat.postMessage") if a.get("blocks")]
            )
            assert {c.token for c in slack.calls} == {BOT_TOKEN}
            status, _ = await send.post("x=1", "text/plain", signature="v0=bad")
            assert status == 401
            async with session.get(base + "/metrics") as resp:
                text = await resp.text()
            assert "devops_bot_runs_started_total 1" in text
            assert 'devops_bot_slack_requests_total{status="401"} 1' in text
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert BOT_TOKEN not in err.decode() and SECRET not in err.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await slack.stop()


async def test_serve_socket_without_app_token_names_the_variable(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        str(BOT), "serve", "--socket",
        env=_env(SLACK_BOT_TOKEN=BOT_TOKEN, DEVOPS_BOT_DATA_DIR=str(tmp_path)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert lines == ["devops-bot: SLACK_APP_TOKEN is not set; this command needs it"]
