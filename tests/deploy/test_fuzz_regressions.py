"""Failures benchmarks/reliability.py's fuzzer found, each kept as a regression test."""

from __future__ import annotations

import json

from tests.slack.harness import running_bot


async def test_an_unknown_payload_type_with_a_string_view_gets_400_not_500(tmp_path):
    """bolt's log line for an unhandled request reads `view` as an object: a signed payload
    of a type no listener handles, with a string `view`, made it answer 500."""
    async with running_bot(tmp_path) as bot:
        for kind in ("x" * 40, "unknown", "shortcut"):
            payload = {"type": kind, "user": {"id": "U3", "team_id": "T1"}, "view": "x" * 100}
            status, body = await bot.send.interactive(payload)
            assert status == 400, (kind, body)
            assert "view: must be an object" in body
        # the same kinds with an object view are still bolt's: 404, no listener
        status, _ = await bot.send.interactive({"type": "unknown", "view": {"type": "modal"}})
        assert status == 404
        _, _, metrics = await bot.get("/metrics")
        assert 'status="500"' not in metrics


async def test_a_vote_cut_off_by_a_dead_replica_is_told_to_the_voter(tmp_path, redis_url):
    """benchmarks/reliability.py killed a replica (SIGKILL) just after an Approve click: the
    request stayed pending, as it should, but the approver was never told their click did
    not go through. The sweeper of a surviving replica now tells them."""
    import asyncio
    import uuid

    from bot.stores import InFlight

    prefix = f"t{uuid.uuid4().hex[:8]}"
    async with running_bot(
        tmp_path, redis_url=redis_url, key_prefix=prefix, sweep_interval=0.3
    ) as bot:
        await bot.send.command("deploy api-server:v1.2.4 prod", user="U1")
        card = await bot.wait_card()
        thread_id = next(
            json.loads(e["value"])["thread_id"]
            for b in card["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
        )
        # What the dead replica left: its in-flight entry for the vote, no heartbeat.
        dead = InFlight(redis_url, prefix=prefix, lease=0.2, instance_id="dead-replica")
        await dead.begin(
            thread_id,
            channel=card["channel"],
            status_ts="",
            card_ts=card["ts"],
            user="U2",
            vote="approve",
        )
        await dead._redis.aclose()  # no aclose(): a dead process deletes nothing
        told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U2"), timeout=10)
        assert "Approve click was cut off" in told[0]["text"]
        assert told[0]["thread_ts"] == card["thread_ts"]
        await asyncio.sleep(0.5)
        assert len(bot.ephemerals_to("U2")) == 1, "told once (one replica takes the entry)"
        # The request still waits, and the click now goes through.
        report = await bot.runtime.service.report(thread_id)
        assert report.status == "awaiting_approval"
        await bot.send.click(card, "approval_approve", user="U2")
        await bot.slack.wait_for(
            lambda: [p for p in bot.posted() if p["text"].startswith("*Applied*")]
        )


async def test_a_decision_claimed_by_a_dead_replica_is_finished_by_another(tmp_path, redis_url):
    """benchmarks/reliability.py killed a replica between its claim on an approval (SET NX)
    and the resume: later clicks were told "already approved, applying now" and nothing was
    ever applied. The sweeper of a surviving replica now finishes that decision, once."""
    import uuid

    from bot.stores import InFlight

    prefix = f"t{uuid.uuid4().hex[:8]}"
    async with running_bot(
        tmp_path, redis_url=redis_url, key_prefix=prefix, sweep_interval=0.3
    ) as bot:
        await bot.send.command("deploy api-server:v1.2.4 prod", user="U1")
        card = await bot.wait_card()
        thread_id = next(
            json.loads(e["value"])["thread_id"]
            for b in card["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
        )
        service = bot.runtime.service
        report = await service.report(thread_id)
        # What the dead replica did: claimed U2's approval, then died before resuming.
        vote = {"decision": "approve", "user": "U2", "at": "2026-01-01T00:00:00+00:00"}
        assert await service.approvals.claim(f"vote:{report.approval['id']}:U2", vote)
        assert await service.approvals.claim(
            f"interrupt:{report.interrupt_id}", {**vote, "closes": True}
        )
        dead = InFlight(redis_url, prefix=prefix, lease=0.2, instance_id="dead-replica")
        await dead.begin(
            thread_id,
            channel=card["channel"],
            status_ts="",
            card_ts=card["ts"],
            user="U2",
            vote="approve",
        )
        await dead._redis.aclose()
        applied = await bot.slack.wait_for(
            lambda: [p for p in bot.posted() if p["text"].startswith(("*Applied*", "*Rolled"))],
            timeout=20,
        )
        assert "approved by U2" in applied[0]["text"]
        await bot.runtime.drain(20)
        assert bot.deployment()["image"].endswith("v1.2.4")
        rows = await service.audit.read(thread_id=thread_id)
        assert [r["event"] for r in rows].count("decision") == 1
        assert [r["event"] for r in rows].count("apply") == 1
        told = [e["text"] for e in bot.ephemerals_to("U2")]
        assert len(told) == 1 and "Another replica is finishing it now" in told[0], told
        assert "No need to click again" in told[0], "nobody is told to click again"


async def test_a_request_acked_by_a_replica_that_died_at_once_is_told_to_the_asker(
    tmp_path, redis_url
):
    """benchmarks/reliability.py killed a replica a few milliseconds after it acked a
    command, before its status message: the asker heard nothing. A request is now recorded
    before the ack; the sweeper of a surviving replica tells the asker it was lost."""
    import asyncio
    import uuid

    from bot.stores import InFlight

    prefix = f"t{uuid.uuid4().hex[:8]}"
    async with running_bot(
        tmp_path, redis_url=redis_url, key_prefix=prefix, sweep_interval=0.3
    ) as bot:
        # A request this replica runs leaves no accepted entry behind.
        await bot.send.command("deploy api-server:v1.2.4 prod", user="U1")
        await bot.wait_card()
        entries = await bot.runtime.inflight._redis.hgetall(f"{prefix}:slack:inflight")
        assert not [k for k in entries if k.startswith(b"accepted:")], entries
        # What a replica killed right after its ack left: the accepted entry, no heartbeat.
        dead = InFlight(redis_url, prefix=prefix, lease=0.2, instance_id="dead-replica")
        await dead.begin(
            "accepted:0123456789abcdef",
            kind="accepted",
            channel="C1",
            user="U7",
            text="scale web to 3 in staging",
        )
        await dead._redis.aclose()  # no aclose(): a dead process deletes nothing
        told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U7"), timeout=10)
        assert "`scale web to 3 in staging`" in told[0]["text"]
        assert "Nothing was run and nothing was changed" in told[0]["text"]
        await asyncio.sleep(0.6)
        assert len(bot.ephemerals_to("U7")) == 1, "told once"
