"""Expiry sweeper, restarts, user-group approvers, thread replies and the full preview.

All over real HTTP with signed requests against the local Slack Web API server.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.stores import InFlight
from tests.slack.harness import CHANNEL, TEAM, running_bot, text_of

OLD = "registry.example.com/api-server:v1.2.2"
NEW = "registry.example.com/api-server:v1.2.3"
DEPLOY = "deploy api-server:v1.2.3 prod"


def _buttons(block_list: list[dict]) -> list[str]:
    return [e["action_id"] for b in block_list if b["type"] == "actions" for e in b["elements"]]


def _thread_of(card: dict) -> str:
    return json.loads(card["blocks"][-2]["elements"][0]["value"])["thread_id"]


def _later(hours: int = 2):
    moment = datetime.now(UTC) + timedelta(hours=hours)  # the sandbox TTL is 60 minutes
    return lambda: moment


# -- 1. expiry sweeper ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_the_sweeper_closes_an_expired_card_and_applies_nothing(
    backend, request, tmp_path, key_prefix
):
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else None
    async with running_bot(
        tmp_path, redis_url=redis_url, key_prefix=key_prefix, sweep_interval=0.05
    ) as bot:
        await bot.send.command(DEPLOY, user="U1")
        card = await bot.wait_card()
        root = bot.posted()[0]
        thread_id = _thread_of(card)
        assert await bot.runtime.cards.get(thread_id) is not None
        await asyncio.sleep(0.2)  # a few sweeps before the TTL: nothing happens
        assert bot.updates_of(card["ts"]) == []

        bot.runtime.service.deps.clock = _later()
        started = time.monotonic()
        closed = await bot.slack.wait_for(
            lambda: [u for u in bot.updates_of(card["ts"]) if "blocks" in u]
        )
        assert time.monotonic() - started < 2.0
        assert "Expired at" in text_of(closed[-1]["blocks"])
        assert "nothing was applied" in text_of(closed[-1]["blocks"])
        assert _buttons(closed[-1]["blocks"]) == []
        said = await bot.slack.wait_for(
            lambda: [p for p in bot.posted() if p["text"].startswith("*Expired*")]
        )
        assert said[0]["thread_ts"] == root["ts"] and "nothing was applied" in said[0]["text"]
        status = await bot.slack.wait_for(
            lambda: [u for u in bot.updates_of(root["ts"]) if "*Expired*" in u["text"]]
        )
        assert status
        assert (await bot.runtime.service.report(thread_id)).status == "expired"
        assert await bot.runtime.cards.get(thread_id) is None
        assert bot.deployment()["image"] == OLD

        # Later sweeps leave it alone; a click on the old card is stale.
        await asyncio.sleep(0.2)
        assert len([p for p in bot.posted() if p["text"].startswith("*Expired*")]) == 1
        await bot.send.click(card, "approval_approve", user="U2")
        stale = await bot.slack.wait_for(lambda: bot.ephemerals_to("U2"))
        assert "stale" in stale[0]["text"]
        _, _, metrics = await bot.get("/metrics")
        assert 'devops_bot_approval_decisions_total{outcome="expired"} 1' in metrics


# -- 2. restart recovery --------------------------------------------------------------------


async def _card_left_by_a_first_instance(tmp_path, redis_url, key_prefix, slack):
    """Instance A posts a production deploy's card, then stops: (the card, A's base URL)."""
    async with running_bot(
        tmp_path, redis_url=redis_url, key_prefix=key_prefix, slack=slack
    ) as first:
        await first.send.command(DEPLOY, user="U1")
        return await first.wait_card(), first.base


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_a_new_instance_serves_the_buttons_of_the_previous_one(
    backend, request, tmp_path, key_prefix, slack
):
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else None
    card, first_base = await _card_left_by_a_first_instance(tmp_path, redis_url, key_prefix, slack)
    # Instance A is gone; B opens the same Redis / data dir.
    async with running_bot(
        tmp_path, redis_url=redis_url, key_prefix=key_prefix, slack=slack
    ) as second:
        assert second.base != first_base
        await second.send.click(card, "approval_approve", user="U2")
        applied = await slack.wait_for(
            lambda: [p for p in second.posted() if p["text"].startswith("*Applied*")]
        )
        assert applied[0]["thread_ts"] == card["thread_ts"]
        closed = second.updates_of(card["ts"])[-1]
        assert "Approved by <@U2>" in text_of(closed["blocks"])
        assert _buttons(closed["blocks"]) == []
        assert second.deployment()["image"] == NEW


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_a_new_instance_closes_the_previous_ones_expired_request(
    backend, request, tmp_path, key_prefix, slack
):
    """Redis: the card index is shared, so B edits the card A posted. Without Redis B
    does not know the card: it still expires the request and says so in the thread."""
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else None
    card, _ = await _card_left_by_a_first_instance(tmp_path, redis_url, key_prefix, slack)
    async with running_bot(
        tmp_path, redis_url=redis_url, key_prefix=key_prefix, slack=slack, sweep_interval=0.05
    ) as second:
        second.runtime.service.deps.clock = _later()
        said = await slack.wait_for(
            lambda: [p for p in second.posted() if p["text"].startswith("*Expired*")]
        )
        assert said[0]["thread_ts"] == card["thread_ts"]
        closed = [u for u in second.updates_of(card["ts"]) if "blocks" in u]
        if backend == "redis":
            assert "Expired at" in text_of(closed[-1]["blocks"])
            assert _buttons(closed[-1]["blocks"]) == []
        else:
            assert closed == []
        assert second.deployment()["image"] == OLD


# -- 3. user-group approvers ----------------------------------------------------------------


async def test_approvers_listed_as_a_slack_user_group(tmp_path, key_prefix):
    policy = tmp_path / "policy.yml"
    policy.write_text(
        "environments:\n"
        "  production:\n"
        "    require_approval: writes\n"
        "    approvers:\n"
        "      groups: [S0SRE]\n"
        "    min_approvals: 1\n"
        "    allow_self_approval: false\n"
        "    ttl_minutes: 60\n"
    )
    async with running_bot(tmp_path, key_prefix=key_prefix, policy_path=str(policy)) as bot:
        bot.slack.usergroups = {"S0SRE": ["U7", "U1"]}
        await bot.send.command(DEPLOY, user="U1")
        card = await bot.wait_card()
        assert "<!subteam^S0SRE>" in text_of(card["blocks"])

        # U8 is not in the group: refused privately, for Approve and for Reject.
        await bot.send.click(card, "approval_approve", user="U8")
        told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U8"))
        assert "U8 is not an approver for production" in told[0]["text"]
        await bot.send.click(card, "approval_reject", user="U8")
        await bot.slack.wait_for(lambda: len(bot.ephemerals_to("U8")) == 2)
        await bot.runtime.drain()
        assert bot.slack.of("views.open") == [] and bot.updates_of(card["ts"]) == []
        # The requester is in the group but may not approve their own request.
        await bot.send.click(card, "approval_approve", user="U1")
        self_vote = await bot.slack.wait_for(lambda: bot.ephemerals_to("U1"))
        assert "self-approval is not allowed" in self_vote[0]["text"]
        assert bot.deployment()["image"] == OLD

        # U7 is: applied.
        await bot.send.click(card, "approval_approve", user="U7")
        applied = await bot.slack.wait_for(
            lambda: [p for p in bot.posted() if p["text"].startswith("*Applied*")]
        )
        assert "approved by U7" in applied[0]["text"]
        assert bot.deployment()["image"] == NEW
        lookups = bot.slack.of("usergroups.users.list")
        assert lookups and all(a["usergroup"] == "S0SRE" for a in lookups)
        assert len(lookups) == 1, "group members are cached between clicks"


async def test_an_unknown_user_group_fails_closed(tmp_path, key_prefix):
    policy = tmp_path / "policy.yml"
    policy.write_text(
        "environments:\n"
        "  production:\n"
        "    require_approval: writes\n"
        "    approvers:\n"
        "      groups: [S0GONE]\n"
        "    ttl_minutes: 60\n"
    )
    async with running_bot(tmp_path, key_prefix=key_prefix, policy_path=str(policy)) as bot:
        await bot.send.command(DEPLOY, user="U1")
        card = await bot.wait_card()
        await bot.send.click(card, "approval_approve", user="U7")
        told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U7"))
        assert "not an approver" in told[0]["text"]
        assert bot.deployment()["image"] == OLD


# -- 4. thread replies without a mention ----------------------------------------------------


def _reply(text: str, ts: str, thread_ts: str, user: str = "U1", **extra) -> dict:
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
        **extra,
    }


@pytest.mark.parametrize("bot", ["sqlite", "redis"], indirect=True)
async def test_a_plain_reply_in_a_bot_thread_continues_its_graph(bot):
    await bot.send.command(DEPLOY, user="U1")
    card = await bot.wait_card()
    root = bot.posted()[0]["ts"]
    await bot.send.click(card, "approval_approve", user="U2")
    await bot.slack.wait_for(lambda: [p for p in bot.posted() if p["text"].startswith("*Applied")])
    await bot.runtime.drain()
    before = len(bot.slack.calls)

    # Ignored: a reply in someone else's thread, chit-chat, a bot's message, an edit, a
    # top-level message, and a reply that mentions the bot (app_mention answers that one).
    await bot.send.event(_reply("scale it to 4 replicas", "1.1", "1699.000001"), event_id="Ev1")
    await bot.send.event(_reply("thanks, looks good", "1.2", root), event_id="Ev2")
    await bot.send.event(_reply("scale it to 4 replicas", "1.3", root, bot_id="B2"), event_id="Ev3")
    await bot.send.event(
        _reply("scale it to 4 replicas", "1.4", root, subtype="message_changed"), event_id="Ev4"
    )
    await bot.send.event(_reply("scale it to 4 replicas", "1.5", "1.5"), event_id="Ev5")
    await bot.send.event(_reply("<@UBOT> scale it to 4 replicas", "1.6", root), event_id="Ev6")
    await bot.runtime.drain()
    assert bot.slack.calls[before:] == [], "nothing answered, nothing posted"

    # A follow-up in the bot's thread continues that thread and inherits its context.
    status, _ = await bot.send.event(
        _reply("now scale it to 4 replicas", "1.7", root, user="U3"), event_id="Ev7"
    )
    assert status == 200
    second = await bot.wait_card(2)
    assert second["thread_ts"] == root
    assert _thread_of(second) == _thread_of(card)
    text = text_of(second["blocks"])
    assert "`scale`" in text and "deployment/api-server -n production" in text
    assert "<@U3>" in text


# -- 5. full preview on demand --------------------------------------------------------------


async def test_full_preview_button_sends_the_whole_preview_privately(bot):
    bot.runtime.preview_limit = 40  # the deploy preview is short: make the card cut it
    await bot.send.command(DEPLOY, user="U1")
    card = await bot.wait_card()
    assert _buttons(card["blocks"]) == [
        "approval_approve",
        "approval_reject",
        "approval_full_preview",
    ]
    shown = next(t for t in text_of(card["blocks"]).split("\n*") if "Dry-run preview" in t)
    assert "more line(s)" in shown or "more character(s)" in shown
    report = await bot.runtime.service.report(_thread_of(card))
    full = report.approval["preview"].rstrip()

    status, body = await bot.send.click(card, "approval_full_preview", user="U5")
    assert status == 200 and body == ""
    told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U5"))
    assert told[0]["thread_ts"] == card["thread_ts"] and told[0]["channel"] == CHANNEL
    assert told[0]["text"].startswith("*Full dry-run preview*")
    assert full.replace("```", "'''") in told[0]["text"]
    assert f"+ image: {NEW}" in told[0]["text"]
    await bot.runtime.drain()
    assert bot.updates_of(card["ts"]) == [], "the card and the request are untouched"
    assert report.status == "awaiting_approval"
    assert (await bot.runtime.service.report(_thread_of(card))).status == "awaiting_approval"


# -- 2b. runs cut short by a crash ----------------------------------------------------------


async def _dead_replica_was_driving(redis_url: str, key_prefix: str, thread_id: str, root: str):
    """What a replica that died mid-run leaves in Redis: an in-flight entry, no heartbeat."""
    dead = InFlight(redis_url, prefix=key_prefix, instance_id="dead-replica")
    await dead.begin(thread_id, channel=CHANNEL, status_ts=root, user="U1")
    await dead.aclose()  # its heartbeat goes with it


async def test_a_run_cut_short_between_steps_is_reported_by_the_next_instance(
    redis_url, tmp_path, key_prefix, slack
):
    from workflow.classify import classify
    from workflow.graph import RECURSION_LIMIT
    from workflow.state import initial_state

    root = "1699999999.000100"
    thread_id = f"slack:{TEAM}:{CHANNEL}:{root}"
    async with running_bot(
        tmp_path, redis_url=redis_url, key_prefix=key_prefix, slack=slack
    ) as first:
        service = first.runtime.service
        request = await classify(DEPLOY)
        context = {**request.context, "sandbox": True, "requester": "U1"}
        config = {"configurable": {"thread_id": thread_id}, "recursion_limit": RECURSION_LIMIT}
        stream = service.graph.astream(
            initial_state(request.task_type, context, DEPLOY),
            config,
            context=service.deps,
            stream_mode="updates",
        )
        async for _ in stream:
            break  # the process "dies" after the first step
        await stream.aclose()
        snapshot = await service.graph.aget_state(config)
        assert snapshot.next and not snapshot.interrupts
        await _dead_replica_was_driving(redis_url, key_prefix, thread_id, root)

    async with running_bot(
        tmp_path, redis_url=redis_url, key_prefix=key_prefix, slack=slack, sweep_interval=0.05
    ) as second:
        said = await slack.wait_for(
            lambda: [p for p in second.posted() if "was interrupted" in p["text"]]
        )
        assert said[0]["thread_ts"] == root and said[0]["channel"] == CHANNEL
        status = await slack.wait_for(lambda: second.updates_of(root))
        assert "was interrupted" in status[-1]["text"]
        await asyncio.sleep(0.2)  # later sweeps do not report it again
        assert len([p for p in second.posted() if "was interrupted" in p["text"]]) == 1
        assert second.deployment()["image"] == OLD


@pytest.mark.parametrize("earlier_run", [False, True], ids=["new-thread", "follow-up"])
async def test_a_request_lost_before_its_first_checkpoint_is_reported(
    earlier_run, redis_url, tmp_path, key_prefix, slack
):
    """A new request is checkpointed once, when it pauses or reaches its apply: a replica
    that dies before that leaves no trace of it in the graph, only its in-flight entry."""
    async with running_bot(
        tmp_path, redis_url=redis_url, key_prefix=key_prefix, slack=slack
    ) as first:
        root = "1699999999.000150"
        if earlier_run:  # the thread already holds a finished run
            await first.send.command("show pods of web in dev", user="U1")
            await slack.wait_for(lambda: first.posted())
            await first.runtime.drain()
            root = first.posted()[0]["ts"]
        thread_id = f"slack:{TEAM}:{CHANNEL}:{root}"
        await asyncio.sleep(0.01)  # the dead replica began after that run was saved
        dead = InFlight(redis_url, prefix=key_prefix, instance_id="dead-replica")
        header = "<@U1> asked: `deploy api-server:v1.2.3 prod`"
        await dead.begin(thread_id, channel=CHANNEL, status_ts=root, user="U1", header=header)
        await dead.aclose()
        before = await first.runtime.service.state_of(thread_id)
    async with running_bot(
        tmp_path, redis_url=redis_url, key_prefix=key_prefix, slack=slack, sweep_interval=0.05
    ) as second:
        said = await slack.wait_for(
            lambda: [p for p in second.posted() if "before it was planned" in p["text"]]
        )
        assert said[0]["thread_ts"] == root and "Nothing was changed" in said[0]["text"]
        status = await slack.wait_for(
            lambda: [u for u in second.updates_of(root) if "before it was planned" in u["text"]]
        )
        assert status[-1]["text"].startswith(header)
        await asyncio.sleep(0.2)  # reported once
        assert len([p for p in second.posted() if "before it was planned" in p["text"]]) == 1
        assert await second.runtime.service.state_of(thread_id) == before, "state untouched"
        assert second.deployment()["image"] == OLD


async def test_a_run_stopped_while_following_its_rollout_is_finished_by_the_next_instance(
    redis_url, tmp_path, key_prefix, slack
):
    """The apply happened; the process died before the rollout's end was said. The rollout
    step only reads, so the next instance runs it and says how it ended."""
    from langgraph.types import Command

    from workflow.graph import RECURSION_LIMIT

    async with running_bot(
        tmp_path, redis_url=redis_url, key_prefix=key_prefix, slack=slack
    ) as first:
        await first.send.command(DEPLOY, user="U1")
        card = await first.wait_card()
        await first.runtime.drain()
        thread_id, root = _thread_of(card), card["thread_ts"]
        service = first.runtime.service
        report = await service.report(thread_id)
        vote = {
            "decision": "approve",
            "user": "U2",
            "groups": [],
            "reason": None,
            "at": service.deps.clock().isoformat(),
        }
        config = {"configurable": {"thread_id": thread_id}, "recursion_limit": RECURSION_LIMIT}
        await _dead_replica_was_driving(redis_url, key_prefix, thread_id, root)
        async for _ in service.graph.astream(
            Command(resume={report.interrupt_id: vote}),
            config,
            context=service.deps,
            durability="sync",
            interrupt_before=["rollout"],  # the process "dies" right after the apply
        ):
            pass
        assert tuple((await service.graph.aget_state(config)).next) == ("rollout",)
        assert first.deployment()["image"] == NEW

    async with running_bot(
        tmp_path, redis_url=redis_url, key_prefix=key_prefix, slack=slack, sweep_interval=0.05
    ) as second:
        done = await slack.wait_for(
            lambda: [p for p in second.posted() if p["text"].startswith("*Rolled out*")]
        )
        assert done[0]["thread_ts"] == root and "approved by U2" in done[0]["text"]
        said = [p["text"] for p in second.posted() if p.get("thread_ts") == root]
        assert any("Following the rollout again" in t for t in said)
        await second.runtime.drain()
        assert len([p for p in second.posted() if p["text"].startswith("*Rolled out*")]) == 1
        closed = second.updates_of(card["ts"])[-1]
        assert _buttons(closed["blocks"]) == []
        final = await second.runtime.service.report(thread_id)
        assert final.status == "applied" and final.outcome["stage"] == "rolled_out"


async def test_an_approval_paused_before_its_card_was_posted_gets_its_card(
    redis_url, tmp_path, key_prefix, slack
):
    root = "1699999999.000200"
    thread_id = f"slack:{TEAM}:{CHANNEL}:{root}"
    async with running_bot(
        tmp_path, redis_url=redis_url, key_prefix=key_prefix, slack=slack
    ) as first:
        from workflow.classify import classify

        request = await classify(DEPLOY)
        report = await first.runtime.service.start(
            task_type=request.task_type,
            context={**request.context, "sandbox": True},
            text=DEPLOY,
            requester="U1",
            thread_id=thread_id,
        )
        assert report.status == "awaiting_approval"
        await _dead_replica_was_driving(redis_url, key_prefix, thread_id, root)
    assert first.cards() == []

    async with running_bot(
        tmp_path, redis_url=redis_url, key_prefix=key_prefix, slack=slack, sweep_interval=0.05
    ) as second:
        card = await second.wait_card()
        assert card["thread_ts"] == root and _thread_of(card) == thread_id
        await second.send.click(card, "approval_approve", user="U2")
        await slack.wait_for(
            lambda: [p for p in second.posted() if p["text"].startswith("*Applied*")]
        )
        assert second.deployment()["image"] == NEW
        assert len(second.cards()) == 1
