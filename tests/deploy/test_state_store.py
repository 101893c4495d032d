"""Redis down: every Slack request gets "the state store is unavailable; nothing was changed",
/healthz says so, and the bot recovers by itself when Redis is back (same data directory).

Real Redis Stack (AOF on, as deploy/redis runs it) stopped and restarted under the real app
served over HTTP, requests signed as Slack signs them.
"""

from __future__ import annotations

import asyncio
import json
import signal

import pytest

from bot.messages import STATE_STORE_UNAVAILABLE
from tests.redis_server import RedisStackServer
from tests.slack.harness import CHANNEL, running_bot

NEW = "v1.2.4"


@pytest.fixture
def aof_redis():
    server = RedisStackServer(aof=True).start()
    yield server
    server.stop()


async def health(bot) -> tuple[int, dict]:
    status, _, body = await bot.get("/healthz")
    return status, json.loads(body)


async def wait_health(bot, state: str, within: float = 15.0) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        status, body = await health(bot)
        if body["state_store"] == state:
            assert status == 200, body  # not draining: the replica stays in the Service
            return body
        if loop.time() > deadline:
            raise AssertionError(f"/healthz never said state_store={state}: {body}")
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
async def test_redis_down_is_said_plainly_and_recovered_from(tmp_path, aof_redis, sig):
    async with running_bot(tmp_path, redis_url=aof_redis.url, key_prefix="t") as bot:
        assert (await wait_health(bot, "ok"))["ok"] is True
        status, body = await bot.send.command(f"deploy api-server:{NEW} prod", user="U1")
        assert status == 200 and body == ""
        card = await bot.wait_card()
        image = bot.deployment()["image"]
        assert not image.endswith(NEW)
        calls_before = len(bot.slack.calls)

        aof_redis.halt(sig)

        # A new request: answered in the slash command's own response, nothing started.
        status, body = await bot.send.command("deploy api-server:v9.9.9 prod", user="U3")
        assert status == 200
        assert json.loads(body) == {"response_type": "ephemeral", "text": STATE_STORE_UNAVAILABLE}
        assert "state store is unavailable; nothing was changed" in STATE_STORE_UNAVAILABLE.lower()
        body = await wait_health(bot, "unavailable", within=5)
        assert body["ok"] is False and body["state_store_error"]
        # A click on the pending card: an ephemeral to the clicker, the card untouched.
        status, _ = await bot.send.click(card, "approval_approve", user="U2")
        assert status == 200
        told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U2"))
        assert told[-1]["text"] == STATE_STORE_UNAVAILABLE and told[-1]["channel"] == CHANNEL
        # A mention: the same, privately.
        status, _ = await bot.send.event(
            {
                "type": "app_mention",
                "user": "U3",
                "text": "<@UBOT> deploy web:v2 prod",
                "channel": CHANNEL,
                "ts": "1700000000.000900",
                "event_ts": "1700000000.000900",
            },
            event_id="Ev-down-1",
        )
        assert status == 200
        told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U3"))
        assert told[-1]["text"] == STATE_STORE_UNAVAILABLE
        await bot.runtime.drain(5)
        assert bot.updates_of(card["ts"]) == [], "the card is not touched"
        assert bot.deployment()["image"] == image, "nothing was changed"
        posted_since = [c for c in bot.slack.calls[calls_before:] if c.method != "auth.test"]
        assert {c.method for c in posted_since} == {"chat.postEphemeral"}
        _, _, metrics = await bot.get("/metrics")
        assert "devops_bot_state_store_up 0" in metrics
        assert 'devops_bot_slack_requests_total{status="500"}' not in metrics

        aof_redis.start()  # same port, same data directory (AOF)

        await wait_health(bot, "ok")
        # The pending approval survived; the click now goes through.
        await bot.send.click(card, "approval_approve", user="U2")
        applied = await bot.slack.wait_for(
            lambda: [p for p in bot.posted() if p["text"].startswith("*Applied*")]
        )
        assert "approved by U2" in applied[0]["text"]
        await bot.slack.wait_for(lambda: bot.deployment()["image"].endswith(NEW))
        # And a new request runs as usual.
        status, body = await bot.send.command(f"deploy web:{NEW} prod", user="U1")
        assert status == 200 and body == ""
        await bot.wait_card(2)
        _, _, metrics = await bot.get("/metrics")
        assert "devops_bot_state_store_up 1" in metrics


async def test_redis_lost_mid_run_tells_the_asker(tmp_path, aof_redis):
    """Redis goes away after the edge let a request in: the asker is told, no traceback."""
    async with running_bot(tmp_path, redis_url=aof_redis.url, key_prefix="t") as bot:
        await wait_health(bot, "ok")
        runtime = bot.runtime
        original = runtime.service.start

        async def start_after_redis_died(**kw):
            aof_redis.halt(signal.SIGKILL)
            return await original(**kw)

        runtime.service.start = start_after_redis_died  # type: ignore[method-assign]
        status, _ = await bot.send.command(f"deploy api-server:{NEW} prod", user="U1")
        assert status == 200
        said = await bot.slack.wait_for(
            lambda: [r for r in bot.slack.of("response_url") if "state store" in r.get("text", "")]
        )
        assert "became unavailable" in said[0]["text"]
        assert said[0]["response_type"] == "ephemeral"
        assert bot.cards() == []
        await wait_health(bot, "unavailable", within=5)
        aof_redis.start()
        await wait_health(bot, "ok")
