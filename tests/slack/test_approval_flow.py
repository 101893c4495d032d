"""/devops -> status message -> approval card -> clicks, over real HTTP with signed requests."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.slack.harness import CHANNEL, TEAM, running_bot, text_of, two_replicas

OLD = "registry.example.com/api-server:v1.2.2"
NEW = "registry.example.com/api-server:v1.2.3"
DEPLOY = "deploy api-server:v1.2.3 prod"


def _button(card: dict, action_id: str) -> dict:
    return next(
        e
        for b in card["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )


@pytest.mark.parametrize("bot", ["sqlite", "redis"], indirect=True)
async def test_deploy_to_production_from_command_to_applied(bot):
    status, body = await bot.send.command(DEPLOY, user="U1")
    assert status == 200 and body == ""

    card = await bot.wait_card()
    root = bot.posted()[0]
    assert root["channel"] == CHANNEL and "thread_ts" not in root
    assert root["text"].startswith("<@U1> asked: `deploy api-server:v1.2.3 prod`")
    assert card["thread_ts"] == root["ts"], "the card goes in the request's thread"
    approve, reject = _button(card, "approval_approve"), _button(card, "approval_reject")
    assert approve["style"] == "primary" and reject["style"] == "danger"
    value = json.loads(approve["value"])
    assert value["thread_id"] == f"slack:{TEAM}:{CHANNEL}:{root['ts']}"
    report = await bot.runtime.service.report(value["thread_id"])
    assert value["interrupt_id"] == report.interrupt_id
    assert value["approval_id"] == report.approval["id"]
    text = text_of(card["blocks"])
    for expected in ("deployment/api-server -n production", "production", "<@U1>", "sha256:"):
        assert expected in text
    assert f"+ image: {NEW}" in text and "<@U2>" in text and "0 of 1" in text
    # The status message was updated with the routing trace and where the card is.
    routed = await bot.slack.wait_for(lambda: bot.updates_of(root["ts"]))
    assert "devops_root_supervisor → infrastructure_supervisor" in routed[-1]["text"]
    assert "Waiting for approval" in routed[-1]["text"]
    assert bot.deployment()["image"] == OLD, "nothing may change before approval"

    # Self-approval: refused privately, the card and the cluster stay as they are.
    await bot.send.click(card, "approval_approve", user="U1")
    refusal = await bot.slack.wait_for(lambda: bot.ephemerals_to("U1"))
    assert "self-approval is not allowed" in refusal[0]["text"]
    assert refusal[0]["channel"] == CHANNEL and refusal[0]["thread_ts"] == root["ts"]
    await bot.runtime.drain()
    assert bot.updates_of(card["ts"]) == []
    assert bot.deployment()["image"] == OLD

    # A second person approves: buttons go, "Approved by", result in the thread, applied.
    revision = bot.deployment()["revision"]
    await bot.send.click(card, "approval_approve", user="U2")
    result = await bot.slack.wait_for(
        lambda: [p for p in bot.posted()[2:] if p.get("thread_ts") == root["ts"]]
    )
    assert result[0]["text"].startswith("*Applied*") and "approved by U2" in result[0]["text"]
    assert "Following the rollout" in result[0]["text"]
    assert bot.deployment()["image"] == NEW, "said applied once the API server took it"
    # Then the rollout's end, as the next message in the thread.
    done = await bot.slack.wait_for(
        lambda: [p for p in bot.posted()[2:] if p["text"].startswith("*Rolled out*")]
    )
    assert done[0]["thread_ts"] == root["ts"] and "(rollout complete)" in done[0]["text"]
    thread = [p for p in bot.posted()[2:] if p.get("thread_ts") == root["ts"]]
    assert thread.index(done[0]) == thread.index(result[0]) + 1
    closed = bot.updates_of(card["ts"])[-1]
    assert not any(b["type"] == "actions" for b in closed["blocks"])
    assert "Approved by <@U2> at" in text_of(closed["blocks"])
    assert bot.deployment()["revision"] == revision + 1

    # A late click on the old card changes nothing.
    await bot.send.click(card, "approval_approve", user="U3")
    late = await bot.slack.wait_for(lambda: bot.ephemerals_to("U3"))
    assert "stale" in late[0]["text"]
    await bot.runtime.drain()
    assert bot.deployment()["revision"] == revision + 1


def _reason(text: str) -> dict:
    return {"reason": {"reason_input": {"type": "plain_text_input", "value": text}}}


async def test_reject_asks_for_a_reason_and_applies_nothing(bot):
    await bot.send.command(DEPLOY, user="U1")
    card = await bot.wait_card()
    status, body = await bot.send.click(card, "approval_reject", user="U2")
    assert status == 200 and body == ""
    opened = await bot.slack.wait_for(lambda: bot.slack.of("views.open"))
    assert opened[0]["trigger_id"].startswith("trigger-click-")
    view = bot.slack.opened_views()[0]
    assert view["type"] == "modal" and view["callback_id"] == "approval_reject_reason"

    # A blank reason is refused inside the modal; nothing is decided.
    status, body = await bot.send.submit_view(view, user="U2", values=_reason("   "))
    assert status == 200 and json.loads(body)["response_action"] == "errors"
    assert bot.updates_of(card["ts"]) == []

    status, body = await bot.send.submit_view(view, user="U2", values=_reason("wrong tag"))
    assert status == 200 and body == ""
    closed = await bot.slack.wait_for(lambda: bot.updates_of(card["ts"]))
    text = text_of(closed[-1]["blocks"])
    assert "Rejected by <@U2>" in text and "wrong tag" in text
    assert not any(b["type"] == "actions" for b in closed[-1]["blocks"])
    said = await bot.slack.wait_for(
        lambda: [p for p in bot.posted() if p["text"].startswith("*Rejected*")]
    )
    assert said[0]["thread_ts"] == card["thread_ts"] and "nothing was applied" in said[0]["text"]
    assert bot.deployment()["image"] == OLD
    await bot.runtime.drain()
    status, _, metrics = await bot.get("/metrics")
    assert 'devops_bot_approval_decisions_total{outcome="rejected"} 1' in metrics


async def test_unauthorised_approver_is_told_privately(bot):
    await bot.send.command(DEPLOY, user="U1")
    card = await bot.wait_card()
    await bot.send.click(card, "approval_approve", user="U9")
    told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U9"))
    assert "U9 is not an approver for production" in told[0]["text"]
    # Reject is refused before any modal opens.
    await bot.send.click(card, "approval_reject", user="U9")
    await bot.slack.wait_for(lambda: len(bot.ephemerals_to("U9")) == 2)
    await bot.runtime.drain()
    assert bot.slack.of("views.open") == []
    assert bot.updates_of(card["ts"]) == []
    assert bot.deployment()["image"] == OLD
    report = await bot.runtime.service.report(
        json.loads(_button(card, "approval_approve")["value"])["thread_id"]
    )
    assert report.status == "awaiting_approval"


@pytest.mark.parametrize("bot", ["sqlite", "redis"], indirect=True)
async def test_two_concurrent_approvals_apply_once(bot):
    await bot.send.command(DEPLOY, user="U1")
    card = await bot.wait_card()
    revision = bot.deployment()["revision"]
    results = await asyncio.gather(
        bot.send.click(card, "approval_approve", user="U2"),
        bot.send.click(card, "approval_approve", user="U3"),
    )
    assert [status for status, _ in results] == [200, 200]
    await bot.slack.wait_for(lambda: bot.ephemerals_to("U2") or bot.ephemerals_to("U3"))
    await bot.runtime.drain()
    applied = [p for p in bot.posted() if p["text"].startswith("*Applied*")]
    assert len(applied) == 1
    assert bot.deployment()["revision"] == revision + 1
    losers = [u for u in ("U2", "U3") if bot.ephemerals_to(u)]
    assert len(losers) == 1, "exactly one of the two clicks loses, and is told so"
    winner = "U3" if losers == ["U2"] else "U2"
    assert f"approved by {winner}" in applied[0]["text"]


async def test_quorum_of_two_keeps_the_card_open_with_votes(tmp_path, key_prefix):
    policy = tmp_path / "policy.yml"
    policy.write_text(
        "environments:\n"
        "  production:\n"
        "    require_approval: writes\n"
        "    approvers:\n"
        "      users: [U1, U2, U3]\n"
        "    min_approvals: 2\n"
        "    allow_self_approval: false\n"
        "    ttl_minutes: 60\n"
    )
    async with running_bot(tmp_path, key_prefix=key_prefix, policy_path=str(policy)) as bot:
        await bot.send.command(DEPLOY, user="U1")
        card = await bot.wait_card()
        assert "0 of 2" in text_of(card["blocks"])
        await bot.send.click(card, "approval_approve", user="U2")
        voted = await bot.slack.wait_for(lambda: bot.updates_of(card["ts"]))
        assert "1 of 2: <@U2>" in text_of(voted[-1]["blocks"])
        assert any(b["type"] == "actions" for b in voted[-1]["blocks"]), "still open"
        assert bot.deployment()["image"] == OLD
        # The old buttons carry the previous interrupt id: stale.
        await bot.send.click(card, "approval_approve", user="U3")
        stale = await bot.slack.wait_for(lambda: bot.ephemerals_to("U3"))
        assert "stale" in stale[0]["text"]
        # The updated card's buttons work.
        current = {**card, "blocks": voted[-1]["blocks"]}
        await bot.send.click(current, "approval_approve", user="U3")
        await bot.slack.wait_for(
            lambda: [p for p in bot.posted() if p["text"].startswith("*Applied*")]
        )
        closed = bot.updates_of(card["ts"])[-1]
        assert "Approved by <@U3>" in text_of(closed["blocks"])
        assert bot.deployment()["image"] == NEW


async def test_a_click_after_expiry_closes_the_card_as_expired(bot):
    from datetime import UTC, datetime, timedelta

    await bot.send.command(DEPLOY, user="U1")
    card = await bot.wait_card()
    later = datetime.now(UTC) + timedelta(hours=2)  # the sandbox policy's TTL is 60 minutes
    bot.runtime.service.deps.clock = lambda: later
    await bot.send.click(card, "approval_approve", user="U2")
    said = await bot.slack.wait_for(
        lambda: [p for p in bot.posted() if p["text"].startswith("*Expired*")]
    )
    assert "nothing was applied" in said[0]["text"]
    closed = bot.updates_of(card["ts"])[-1]
    assert "Expired at" in text_of(closed["blocks"])
    assert not any(b["type"] == "actions" for b in closed["blocks"])
    assert bot.deployment()["image"] == OLD
    await bot.send.click(card, "approval_approve", user="U3")
    stale = await bot.slack.wait_for(lambda: bot.ephemerals_to("U3"))
    assert "stale" in stale[0]["text"]


async def test_two_replicas_two_concurrent_approvals_apply_once(tmp_path, key_prefix, redis_url):
    """Two app instances on the same Redis and data dir; one Approve click reaches each."""
    async with two_replicas(tmp_path, redis_url=redis_url, key_prefix=key_prefix) as (a, b):
        assert a.base != b.base, "each replica has its own HTTP server"
        await a.send.command(DEPLOY, user="U1")
        card = await a.wait_card()
        revision = a.deployment()["revision"]
        results = await asyncio.gather(
            a.send.click(card, "approval_approve", user="U2"),
            b.send.click(card, "approval_approve", user="U3"),
        )
        assert [status for status, _ in results] == [200, 200]
        await a.slack.wait_for(lambda: a.ephemerals_to("U2") or a.ephemerals_to("U3"))
        await asyncio.gather(a.runtime.drain(), b.runtime.drain())

        applied = [p for p in a.posted() if p["text"].startswith("*Applied*")]
        assert len(applied) == 1, "exactly one apply across both replicas"
        assert a.deployment()["revision"] == revision + 1
        assert a.deployment()["image"] == NEW
        losers = [u for u in ("U2", "U3") if a.ephemerals_to(u)]
        assert len(losers) == 1, "exactly one of the two clicks loses, and is told so"
        winner = "U3" if losers == ["U2"] else "U2"
        assert f"approved by {winner}" in applied[0]["text"]

        # The card ends in one consistent state: closed, approved by the winner.
        closed = a.updates_of(card["ts"])[-1]
        assert not any(blk["type"] == "actions" for blk in closed["blocks"])
        text = text_of(closed["blocks"])
        assert f"Approved by <@{winner}> at" in text
        loser = losers[0]
        assert f"Approved by <@{loser}>" not in text
        thread_id = json.loads(_button(card, "approval_approve")["value"])["thread_id"]
        for replica in (a, b):
            report = await replica.runtime.service.report(thread_id)
            assert report.status == "applied"
            assert report.approval["decided_by"] == winner


async def test_a_vote_that_does_not_stand_never_shows_on_the_card(bot):
    """The card says "Approved by" only once the service has decided: a vote the resume
    refuses (another decision first, a duplicate) leaves the card as it was."""
    from workflow.service import RefusedError

    await bot.send.command(DEPLOY, user="U1")
    card = await bot.wait_card()

    async def lost(*args, **kwargs):
        raise RefusedError("another decision was taken first")

    bot.runtime.service.approve = lost  # the policy accepts U2; the resume then loses
    await bot.send.click(card, "approval_approve", user="U2")
    told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U2"))
    assert "another decision was taken first" in told[0]["text"]
    await bot.runtime.drain()
    assert bot.updates_of(card["ts"]) == [], "the card never named U2"
    assert bot.deployment()["image"] == OLD


async def test_commands_beyond_the_run_limit_are_queued_and_then_run(tmp_path, key_prefix):
    async with running_bot(tmp_path, key_prefix=key_prefix, max_runs=1) as bot:
        bot.runtime.queue_grace = 0.0  # say "queued" at once instead of after a second
        results = await asyncio.gather(
            bot.send.command(DEPLOY, user="U1"),
            bot.send.command("deploy web:v2.0.0 prod", user="U1"),
        )
        assert [r for r in results] == [(200, ""), (200, "")], "the ack never waits"
        await bot.wait_card(2)
        await bot.runtime.drain()
        roots = [p for p in bot.posted() if "thread_ts" not in p]
        assert len(roots) == 2
        queued = [p for p in roots if "queued" in p["text"]]
        assert len(queued) == 1, [p["text"] for p in roots]
        updates = bot.updates_of(queued[0]["ts"])
        assert "routing" in updates[0]["text"], "told when it leaves the queue"
        assert bot.runtime.queued == 0
