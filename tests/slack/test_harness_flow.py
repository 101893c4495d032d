"""A deploy through a Harness pipeline from Slack, over real HTTP with signed requests: the
card shows the execution's runtime inputs, the inputs file is uploaded into the thread, a
second person's click starts it ("*Started*" with its link), the status message follows it
stage by stage, and the execution's end closes the thread ("*Done*")."""

from __future__ import annotations

import json

from tests.slack.harness import text_of

DEPLOY = "deploy payment-service:v2.0.0 prod"
NEW = "registry.example.com/payment-service:v2.0.0"


def _approve_button(card: dict) -> dict:
    return next(
        e
        for b in card["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "approval_approve"
    )


async def test_deploy_through_a_pipeline_from_slack(bot):
    harness = bot.runtime.service.deps.backend("harness")
    harness.sandbox_server.stage_seconds = 0.05
    harness.poll_interval = 0.05
    before = bot.deployment("payment-service")["image"]

    status, _ = await bot.send.command(DEPLOY, user="U1")
    assert status == 200
    card = await bot.wait_card()
    root = bot.posted()[0]
    text = text_of(card["blocks"])
    assert "Run pipeline payment_service_deploy" in text
    assert "pipeline.variables.image_tag.value = v2.0.0" in text
    assert json.loads(_approve_button(card)["value"])["thread_id"].endswith(root["ts"])
    uploads = await bot.slack.wait_for(lambda: list(bot.slack.uploads.values()))
    assert uploads[0]["filename"] == "payment_service_deploy-inputs.yaml"
    assert bot.deployment("payment-service")["image"] == before, "nothing before approval"
    assert harness.sandbox_server.executions == {}

    await bot.send.click(card, "approval_approve", user="U2")
    started = await bot.slack.wait_for(
        lambda: [p for p in bot.posted() if p.get("text", "").startswith("*Started*")]
    )
    assert started[0]["thread_ts"] == root["ts"]
    assert "/executions/" in started[0]["text"], "the execution's link, at once"
    done = await bot.slack.wait_for(
        lambda: [p for p in bot.posted() if p.get("text", "").startswith("*Done*")], timeout=20
    )
    assert "execution #1 succeeded" in done[0]["text"] and "approved by U2" in done[0]["text"]
    assert bot.deployment("payment-service")["image"] == NEW
    followed = [u["text"] for u in bot.updates_of(root["ts"])]
    assert any("stage Deploy: Running" in t for t in followed), followed[-1]
    assert any("stage Deploy: Success" in t for t in followed), followed[-1]
    closed = bot.updates_of(card["ts"])[-1]
    assert not any(b["type"] == "actions" for b in closed["blocks"])
    assert "Approved by <@U2>" in text_of(closed["blocks"])
