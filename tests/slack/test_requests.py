"""Help, unclassifiable text, signatures, malformed bodies, health, metrics, retries, mentions."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from tests.slack.harness import CHANNEL, TEAM, sign, text_of
from tests.slack.test_approval_flow import DEPLOY, NEW, OLD


async def test_help_and_empty_text_show_usage_with_examples(bot):
    for text in ("help", ""):
        status, body = await bot.send.command(text)
        assert status == 200
        answer = json.loads(body)
        assert answer["response_type"] == "ephemeral"
        usage = answer["blocks"][0]["text"]["text"]
        assert "/devops deploy api-server:v1.2.3 prod" in usage and usage.count("• `/devops") >= 3
    assert bot.posted() == [], "help is private and starts nothing"


async def test_the_command_is_acked_before_any_slack_call_or_graph_work(bot):
    bot.slack.delay = 0.5  # a slow Slack: the ack must not wait for it
    await bot.send.command("help")  # the first request pays for bolt's auth.test
    started = time.monotonic()
    status, body = await bot.send.command(DEPLOY, user="U1")
    acked = time.monotonic() - started
    assert status == 200 and body == ""
    assert acked < 0.3, f"ack took {acked:.3f}s"
    card = await bot.wait_card()
    assert card["thread_ts"]


async def test_unclassifiable_text_gets_a_private_hint_with_examples(bot):
    status, body = await bot.send.command("make me a sandwich")
    assert status == 200 and body == ""
    replies = await bot.slack.wait_for(lambda: bot.slack.of("response_url"))
    reply = replies[0]
    assert reply["response_type"] == "ephemeral"
    assert "make me a sandwich" in reply["text"] and reply["text"].count("`") >= 6
    await bot.runtime.drain()
    assert bot.posted() == []


async def test_a_channel_the_bot_is_not_in_gets_a_private_explanation(bot):
    bot.slack.not_in.add("C9")
    await bot.send.command(DEPLOY, channel="C9")
    replies = await bot.slack.wait_for(lambda: bot.slack.of("response_url"))
    assert "/invite @devops-bot" in replies[0]["text"]
    await bot.runtime.drain()
    assert bot.posted() == [] and bot.slack.of("chat.update") == []


async def test_bad_signature_and_stale_timestamp_get_401(bot):
    form = urlencode({"command": "/devops", "text": "help", "team_id": TEAM, "user_id": "U1"})
    kind = "application/x-www-form-urlencoded"
    status, _ = await bot.send.post(form, kind, signature="v0=" + "0" * 64)
    assert status == 401
    old = int(time.time()) - 6 * 60
    status, _ = await bot.send.post(form, kind, timestamp=old, signature=sign(form, old))
    assert status == 401
    status, _ = await bot.send.post(form, kind, signature=sign(form, 0, secret="other"))
    assert status == 401
    async with bot.session.post(bot.base + "/slack/events", data=form) as resp:
        assert resp.status == 401, "no signature headers at all"
    missing_ts = {"X-Slack-Request-Timestamp": "", "X-Slack-Signature": "v0=abc"}
    async with bot.session.post(bot.base + "/slack/events", data=form, headers=missing_ts) as resp:
        assert resp.status == 401
    assert bot.slack.calls == []


async def test_malformed_payloads_get_400_and_the_app_keeps_serving(bot):
    kind = "application/x-www-form-urlencoded"
    for body, content_type in (
        ("payload=%7Bnot-json", kind),
        ("[1, 2, 3]", "application/json"),
        ('{"hello": "world"}', "application/json"),
        (urlencode({"payload": "[]"}), kind),
        (urlencode({"payload": json.dumps({"type": "view_submission", "view": {}})}), kind),
        (urlencode({"payload": json.dumps({"type": "block_actions", "actions": "x"})}), kind),
        (json.dumps({"type": "event_callback", "event_id": "Ev9"}), "application/json"),
    ):
        status, _ = await bot.send.post(body, content_type)
        assert status == 400, body
    status, _, health = await bot.get("/healthz")
    assert status == 200 and json.loads(health)["ok"] is True
    status, body = await bot.send.command("help")
    assert status == 200 and "Examples" in body


async def test_metrics_in_prometheus_format(bot):
    await bot.send.command(DEPLOY, user="U1")
    card = await bot.wait_card()
    await bot.send.click(card, "approval_approve", user="U2")
    await bot.slack.wait_for(lambda: [p for p in bot.posted() if p["text"].startswith("*Applied")])
    await bot.runtime.drain()
    status, content_type, text = await bot.get("/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    assert "# TYPE devops_bot_runs_started_total counter" in text
    assert "devops_bot_runs_started_total 1" in text
    assert 'devops_bot_slack_requests_total{status="200"} 2' in text
    assert 'devops_bot_approval_decisions_total{outcome="applied"} 1' in text
    # The event loop's lag, measured all along: a histogram whose buckets add up.
    assert "# TYPE devops_bot_event_loop_lag_seconds histogram" in text
    buckets = [
        int(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("devops_bot_event_loop_lag_seconds_bucket")
    ]
    assert buckets == sorted(buckets) and buckets[-1] > 0
    assert f"devops_bot_event_loop_lag_seconds_count {buckets[-1]}" in text
    assert "devops_bot_event_loop_lag_seconds_max " in text


def _mention(text: str, ts: str, thread_ts: str | None = None, user: str = "U1") -> dict:
    event = {
        "type": "app_mention",
        "user": user,
        "text": f"<@UBOT> {text}",
        "ts": ts,
        "channel": CHANNEL,
        "event_ts": ts,
        "team": TEAM,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


@pytest.mark.parametrize("bot", ["sqlite", "redis"], indirect=True)
async def test_mention_starts_a_thread_retries_are_ignored_and_follow_ups_keep_context(bot):
    root = "1699999999.000001"
    status, _ = await bot.send.event(_mention(DEPLOY, root), event_id="Ev1")
    assert status == 200
    card = await bot.wait_card()
    assert card["thread_ts"] == root
    value = json.loads(card["blocks"][-2]["elements"][0]["value"])
    assert value["thread_id"] == f"slack:{TEAM}:{CHANNEL}:{root}"

    # Slack retries the same event: acked, ignored.
    status, _ = await bot.send.event(_mention(DEPLOY, root), event_id="Ev1", retry=1)
    assert status == 200
    await bot.runtime.drain()
    assert len([p for p in bot.posted() if "asked:" in p["text"]]) == 1
    _, _, metrics = await bot.get("/metrics")
    assert "devops_bot_slack_retries_ignored_total 1" in metrics

    # A new request in the thread while it waits for approval leaves the approval alone.
    await bot.send.event(
        _mention("scale it to 5 replicas", "1699999999.000002", root), event_id="Ev2"
    )
    pending = await bot.slack.wait_for(
        lambda: (
            [p for p in bot.posted() if "Waiting for approval" in p["text"]]
            or [p for p in bot.posted() if p["text"].startswith(":pause_button:")]
        )
    )
    assert pending[0]["thread_ts"] == root and "waiting for approval" in pending[0]["text"]
    assert len(bot.cards()) == 1

    await bot.send.click(card, "approval_approve", user="U2")
    await bot.slack.wait_for(lambda: [p for p in bot.posted() if p["text"].startswith("*Applied")])
    assert bot.deployment()["image"] == NEW

    # A follow-up in the thread continues the same graph thread and inherits its context.
    await bot.send.event(
        _mention("scale it to 5 replicas", "1699999999.000003", root), event_id="Ev3"
    )
    second = await bot.wait_card(2)
    assert second["thread_ts"] == root
    text = text_of(second["blocks"])
    assert "deployment/api-server -n production" in text and "`scale`" in text
    assert (
        json.loads(second["blocks"][-2]["elements"][0]["value"])["thread_id"] == value["thread_id"]
    )
    assert bot.deployment()["image"] == NEW and OLD not in text
