"""Cancelling long work from its thread: `cancel` / `stop` typed as a reply, on either replica.

The long work is a real API test run (schemathesis through the testing agent) against a
service whose API answers every request after a pause, served on loopback; the run goes
through the real runtime, graph and Slack app. What is checked is what people see and what
the audit trail keeps: the run stops within seconds, the thread says *Cancelled*, an audit
`cancel` entry, nothing applied, and no word from recovery later.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from bot.cancel import is_cancel
from tests.slack.harness import CHANNEL, TEAM, BotUnderTest, running_bot, two_replicas
from workflow.agents.codegen_agent.sandbox_api import api_app, orders_document
from workflow.assembly import SANDBOX_CATALOG
from workflow.sandbox.kube import jobs

TESTS = "run the API tests against slowshop in staging"
_ts = itertools.count(1)


class SlowApi:
    """The sandbox orders API, every call but its document answered after `pause` s;
    `hits` counts the calls the test run made."""

    def __init__(self, pause: float = 0.5) -> None:
        self.pause = pause
        self.hits = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        @web.middleware
        async def slow(request: web.Request, handler):
            if not request.path.endswith("/openapi.json"):
                self.hits += 1
                await asyncio.sleep(self.pause)
            return await handler(request)

        app = api_app(orders_document(), bugs=False)
        app.middlewares.append(slow)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@asynccontextmanager
async def slow_catalog(tmp_path: Path) -> AsyncIterator[tuple[SlowApi, str]]:
    """The sandbox catalog plus `slowshop`, whose staging API is a SlowApi."""
    pytest.importorskip("schemathesis")  # the API test run: the `api` extra
    api = SlowApi()
    url = await api.start()
    catalog = yaml.safe_load(SANDBOX_CATALOG.read_text())
    catalog["services"]["slowshop"] = {"openapi": {"staging": f"{url}/openapi.json"}}
    path = tmp_path / "catalog.yml"
    path.write_text(yaml.safe_dump(catalog))
    try:
        yield api, str(path)
    finally:
        await api.stop()


def _reply(text: str, thread_ts: str, user: str) -> dict:
    ts = f"1800.{next(_ts):06d}"
    return {
        "type": "message",
        "channel": CHANNEL,
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "thread_ts": thread_ts,
        "team": TEAM,
    }


async def _reply_in(bot: BotUnderTest, text: str, root: str, user: str) -> None:
    status, _ = await bot.send.event(_reply(text, root, user), event_id=f"Ev{next(_ts)}")
    assert status == 200


async def _started(bot: BotUnderTest, api: SlowApi) -> str:
    """Start the slow API test run as U1; its thread root once requests reach the API."""
    status, _ = await bot.send.command(TESTS, user="U1")
    assert status == 200
    await bot.slack.wait_for(lambda: api.hits >= 2, timeout=60)
    return bot.posted()[0]["ts"]


def _said(bot: BotUnderTest) -> str:
    return "\n".join(p.get("text", "") for p in bot.posted())


async def _audit(bot: BotUnderTest, event: str) -> list[dict]:
    return [r for r in await bot.runtime.service.audit.read() if r["event"] == event]


async def _assert_stopped(bot: BotUnderTest, api: SlowApi, asked_at: float, by: str) -> None:
    said = await bot.slack.wait_for(
        lambda: [p for p in bot.posted() if p.get("text", "").startswith("*Cancelled*")],
        timeout=10,
    )
    assert time.monotonic() - asked_at < 3.0, "the run stopped within a couple of seconds"
    assert f"<@{by}>" in said[0]["text"] and TESTS in said[0]["text"]
    hits = api.hits
    await asyncio.sleep(2.0)
    assert api.hits <= hits + 2, "the API test run's own stop event ended its requests"
    status_ts = bot.posted()[0]["ts"]
    assert f"cancelled by <@{by}>" in bot.updates_of(status_ts)[-1]["text"]
    (cancel,) = await _audit(bot, "cancel")
    assert cancel["user"] == by and TESTS in cancel["detail"]
    assert "JUnit" not in _said(bot) and not bot.slack.uploads, "no result was posted"


def test_the_words_that_cancel():
    for text in ("cancel", "Stop", "cancel this", "stop the tests", "please stop it", "stop!"):
        assert is_cancel(text), text
    for text in (
        "stop web in prod",
        "cancel the silence for checkout",
        "cancel silence #5f2e9a10",
        "stopped?",
        "scale",
    ):
        assert not is_cancel(text), text


@pytest.mark.slow
async def test_a_run_is_cancelled_from_its_thread_on_the_same_replica(tmp_path, key_prefix):
    async with (
        slow_catalog(tmp_path) as (api, catalog),
        running_bot(tmp_path, key_prefix=key_prefix, catalog_path=catalog) as bot,
    ):
        root = await _started(bot, api)
        # Someone who neither asked nor approves in staging is refused; the run goes on.
        await _reply_in(bot, "stop the tests", root, user="U9")
        told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U9"))
        assert "cannot cancel" in told[0]["text"] and "U1" in told[0]["text"]
        hits = api.hits
        await bot.slack.wait_for(lambda: api.hits > hits, timeout=10)
        assert "*Cancelled*" not in _said(bot)

        asked_at = time.monotonic()
        await _reply_in(bot, "cancel", root, user="U2")  # an approver of staging
        await _assert_stopped(bot, api, asked_at, "U2")
        await bot.runtime.drain(10)
        assert await bot.runtime.inflight.get(_thread(root)) is None

        # Nothing runs now: said so, to a reply and to a mention. The thread stays usable.
        await _reply_in(bot, "cancel", root, user="U1")
        told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U1"))
        assert "Nothing is running" in told[-1]["text"]
        mention = {**_reply("<@UBOT> stop", root, "U1"), "type": "app_mention"}
        await bot.send.event(mention, event_id=f"Ev{next(_ts)}")
        told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U1")[1:])
        assert "Nothing is running" in told[-1]["text"]
        before = len(bot.posted())
        await _reply_in(bot, "status of api-server in staging", root, user="U1")
        await bot.slack.wait_for(lambda: len(bot.posted()) > before, timeout=30)
        await bot.runtime.drain(30)
        assert "*Cancelled*" not in bot.updates_of(bot.posted()[before]["ts"])[-1]["text"]


def _thread(root: str) -> str:
    from bot.threads import thread_id_for

    return thread_id_for(TEAM, CHANNEL, root)


@pytest.mark.slow
async def test_a_run_on_the_other_replica_is_cancelled(tmp_path, key_prefix, redis_url):
    async with (
        slow_catalog(tmp_path) as (api, catalog),
        two_replicas(
            tmp_path, redis_url=redis_url, key_prefix=key_prefix, catalog_path=catalog
        ) as (a, b),
    ):
        root = await _started(a, api)
        entry = await b.runtime.inflight.get(_thread(root))
        assert entry is not None and entry["owner"] == a.runtime.inflight.instance_id

        asked_at = time.monotonic()
        await _reply_in(b, "stop this", root, user="U1")  # the requester, on replica b
        await _assert_stopped(a, api, asked_at, "U1")
        await a.runtime.drain(10)
        assert await b.runtime.inflight.get(_thread(root)) is None

        # Replica a dies: b's recovery finds nothing of this run to call "interrupted".
        await a.runtime.inflight.aclose()
        await b.runtime.inflight.heartbeat()
        await b.runtime.sweep_once()
        await b.runtime.drain(5)
        assert "interrupted" not in _said(a)
        assert not [e for e in a.slack.of("chat.postEphemeral") if "interrupted" in e["text"]]


def _thread_of(card: dict) -> str:
    import json

    return json.loads(card["blocks"][-1]["elements"][0]["value"])["thread_id"]


async def _refused_while_applying(bot: BotUnderTest, root: str, user: str) -> None:
    """Once the thread says *Applied* (the rollout is being followed), a cancel is refused."""
    await bot.slack.wait_for(
        lambda: [p for p in bot.posted() if p.get("text", "").startswith("*Applied")], timeout=30
    )
    await _reply_in(bot, "cancel", root, user=user)
    told = await bot.slack.wait_for(
        lambda: [e for e in bot.ephemerals_to(user) if "Can't stop now" in e["text"]], timeout=10
    )
    assert "Nothing was cancelled" in told[0]["text"]


@pytest.mark.parametrize("bot", ["sqlite", "redis"], indirect=True)
async def test_a_cancel_during_an_apply_is_refused_and_the_apply_completes(bot):
    # An approved production deploy: the vote's run applies it and follows the rollout.
    await bot.send.command("deploy api-server:v1.2.3 prod", user="U1")
    card = await bot.wait_card()
    root = bot.posted()[0]["ts"]
    await bot.send.click(card, "approval_approve", user="U2")
    await _refused_while_applying(bot, root, user="U1")
    await bot.slack.wait_for(
        lambda: [p for p in bot.posted() if p.get("text", "").startswith("*Rolled out")],
        timeout=30,
    )
    assert bot.deployment()["image"] == "registry.example.com/api-server:v1.2.3"

    assert await _audit(bot, "cancel") == []


def _jobs(bot: BotUnderTest) -> dict:
    """The sandbox cluster's Jobs in staging, from its state file."""
    import json

    path = bot.data_dir / "sandbox-cluster.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    cluster = data.get("cluster", data)
    return (cluster.get("jobs") or {}).get("staging") or {}


async def test_a_cancel_while_a_request_applies_is_refused_by_the_replica_driving_it(
    bot, monkeypatch
):
    # A unit-test Job in staging needs no approval: the request's own run creates it in its
    # apply and follows it there. A cancel then is refused; the Job runs to its end.
    monkeypatch.setattr(jobs, "JOB_SECONDS", 4.0)
    await bot.send.command("run the unit tests of checkout in staging", user="U1")
    await bot.slack.wait_for(lambda: _jobs(bot), timeout=30)
    root = bot.posted()[0]["ts"]
    await _reply_in(bot, "stop the tests", root, user="U1")
    told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U1"), timeout=10)
    assert "Can't stop now" in told[0]["text"], told[0]["text"]
    await bot.runtime.drain(30)
    final = bot.updates_of(root)[-1]["text"]
    assert "*Applied*" in final and "passed" in final, final
    assert "*Cancelled*" not in _said(bot)
    assert await _audit(bot, "cancel") == []
