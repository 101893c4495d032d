"""What an approval card and a click's answer say must match the audit trail: racing
replicas, a Slack retry of a click, a long rollout, and clicks or modals that do not belong
to the request they name. Over real HTTP, signed, on Redis Stack like production."""

from __future__ import annotations

import asyncio
import json
import re
import time

from tests.slack.harness import TEAM, BotUnderTest, MockSlack, text_of, two_replicas

NEW = "registry.example.com/api-server:v1.2.3"


def _value(card: dict, action_id: str = "approval_approve") -> str:
    return next(
        e["value"]
        for b in card["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )


def _thread_of(card: dict) -> str:
    return json.loads(_value(card))["thread_id"]


def _named_approvers(slack: MockSlack, card_ts: str) -> set[str]:
    """Every user any version of the card ever named as its approver."""
    named = set()
    for update in slack.of("chat.update"):
        if update.get("ts") == card_ts:
            text = text_of(update.get("blocks") or []) + "\n" + str(update.get("text") or "")
            named |= set(re.findall(r"Approved by <@(\w+)>", text))
    return named


async def _decisions(bot: BotUnderTest, thread_id: str) -> list[dict]:
    rows = await bot.runtime.service.audit.read(thread_id=thread_id)
    return [r for r in rows if r["event"] == "decision"]


async def test_racing_replicas_and_a_retried_click_name_only_the_decider(
    tmp_path, key_prefix, redis_url
):
    """Each card: U2 on replica a, U3 on replica b at the same instant, plus Slack's retry of
    U2's click. The card never names anyone but the decider the audit records; losers are
    told who decided, never an error."""
    async with two_replicas(tmp_path, redis_url=redis_url, key_prefix=key_prefix) as (a, b):
        for n in range(3):
            await a.send.command(f"deploy api-server:v1.3.{n} prod", user="U1")
            card = await a.wait_card(n + 1)
            before = len(a.slack.of("chat.postEphemeral"))
            await asyncio.gather(
                a.send.click(card, "approval_approve", user="U2"),
                b.send.click(card, "approval_approve", user="U3"),
                a.send.click(card, "approval_approve", user="U2"),
            )
            await a.slack.wait_for(lambda n=before: len(a.slack.of("chat.postEphemeral")) >= n + 2)
            await asyncio.gather(a.runtime.drain(), b.runtime.drain())

            thread_id = _thread_of(card)
            decisions = await _decisions(a, thread_id)
            assert len(decisions) == 1, decisions
            decider = decisions[0]["user"]
            assert _named_approvers(a.slack, card["ts"]) == {decider}
            answers = [e["text"] for e in a.slack.of("chat.postEphemeral")[before:]]
            assert len(answers) == 2, "the two clicks that lost are each answered once"
            for text in answers:
                assert "Something went wrong" not in text
                assert f"<@{decider}>" in text or "already voted" in text, text
            applies = [
                r
                for r in await a.runtime.service.audit.read(thread_id=thread_id)
                if r["event"] == "apply"
            ]
            assert len(applies) == 1
        assert a.deployment()["image"] == "registry.example.com/api-server:v1.3.2"


async def test_clicks_during_a_long_rollout_are_answered_at_once_and_truly(
    tmp_path, key_prefix, redis_url
):
    """The winner holds the thread through apply and a rollout that never completes; a click
    racing it, and clicks on the closed card while it rolls out, get a true answer within a
    second or so, not a lock timeout."""
    async with two_replicas(
        tmp_path, redis_url=redis_url, key_prefix=key_prefix, rollout_timeout=8
    ) as (a, b):
        await a.send.command("deploy api-server:v1.2.4-crashloop prod", user="U1")
        card = await a.wait_card()
        await asyncio.gather(
            a.send.click(card, "approval_approve", user="U2"),
            b.send.click(card, "approval_approve", user="U3"),
        )
        started = time.monotonic()
        loser = await a.slack.wait_for(
            lambda: a.ephemerals_to("U2") or a.ephemerals_to("U3"), timeout=5
        )
        waited = time.monotonic() - started
        decider = "U3" if a.ephemerals_to("U2") else "U2"
        assert f"Already approved by <@{decider}>" in loser[0]["text"], loser[0]["text"]
        assert waited < 3.0, f"the losing click waited {waited:.2f}s for its answer"

        # Later clicks on the closed card, while the rollout is followed: "applying" or
        # "rolling out", named by the decider, at once.
        await a.slack.wait_for(
            lambda: [p for p in a.posted() if p["text"].startswith("*Applied*")], timeout=5
        )
        for replica, user in ((a, "U4"), (b, "U5")):
            started = time.monotonic()
            await replica.send.click(card, "approval_approve", user=user)
            told = await a.slack.wait_for(lambda u=user: a.ephemerals_to(u), timeout=5)
            waited = time.monotonic() - started
            assert waited < 3.0, f"a click during the rollout waited {waited:.2f}s"
            text = told[0]["text"]
            assert f"already approved by <@{decider}>" in text and "rolling out" in text, text
            assert "did not finish" not in text and "Something went wrong" not in text
        # A follow-up typed in the thread meanwhile starts no second run on the same graph
        # thread: it waits for the rollout (saying so), then gives up after busy_wait.
        b.runtime.busy_wait = 1.0
        reply = {
            "type": "message",
            "channel": card["channel"],
            "user": "U1",
            "text": "now scale it to 4 replicas",
            "ts": "1700000100.000001",
            "thread_ts": card["thread_ts"],
            "team": TEAM,
        }
        await b.send.event(reply, event_id="EvFollowUp")
        busy = await a.slack.wait_for(
            lambda: [
                u for u in a.slack.of("chat.update") if "still following the rollout" in u["text"]
            ],
            timeout=5,
        )
        assert "Nothing was started" in busy[0]["text"]
        assert any("waiting for the rollout" in u["text"] for u in a.slack.of("chat.update"))
        await asyncio.gather(a.runtime.drain(), b.runtime.drain())
        assert len(a.cards()) == 1, "no second approval card"
        assert _named_approvers(a.slack, card["ts"]) == {decider}
        said = [p["text"] for p in a.posted() if "rollout" in p["text"]]
        assert any("did not complete" in t for t in said), said


async def test_a_button_value_from_another_card_changes_nothing(tmp_path, key_prefix, redis_url):
    """Card A in C0OPS, card B in C0OTHER. Approve, Reject and Full preview clicked on A but
    carrying B's value; a click from a message that does not exist; a reject modal nobody
    opened, and one opened for someone else: all refused privately, audited, nothing moves."""
    async with two_replicas(tmp_path, redis_url=redis_url, key_prefix=key_prefix) as (a, b):
        await a.send.command("deploy api-server:v1.2.3 prod", user="U1", channel="C0OPS")
        card_a = await a.wait_card(1)
        await a.send.command("scale web to 4 in prod", user="U1", channel="C0OTHER")
        card_b = await a.wait_card(2)
        thread_b = _thread_of(card_b)
        service = a.runtime.service

        value_b = _value(card_b)
        buttons = [
            {"type": "button", "action_id": action, "value": value_b}
            for action in ("approval_approve", "approval_reject", "approval_full_preview")
        ]
        # A's message, carrying B's button values.
        forged = {**card_a, "blocks": [{"type": "actions", "elements": buttons}]}
        await a.send.click(forged, "approval_approve", user="U2")
        await b.send.click(forged, "approval_full_preview", user="U9")
        await a.send.click(forged, "approval_reject", user="U3")
        ghost = {**card_b, "ts": "1700009999.000001"}  # a message the bot never posted
        await b.send.click(ghost, "approval_approve", user="U4")
        await a.slack.wait_for(lambda: all(a.ephemerals_to(u) for u in ("U2", "U9", "U3", "U4")))
        for user in ("U2", "U9", "U3", "U4"):
            told = a.ephemerals_to(user)
            assert len(told) == 1 and "does not belong to this request" in told[0]["text"]
            assert "```" not in told[0]["text"], "no preview was disclosed"
        assert a.ephemerals_to("U9")[0]["channel"] == "C0OPS"
        assert a.slack.of("views.open") == [], "no reject modal for a foreign button"

        # A reject modal never opened, naming B in its metadata.
        metadata = json.dumps(
            {**json.loads(_value(card_b)), "channel": "C0OPS", "card_ts": card_a["ts"]}
        )
        view = {
            "type": "modal",
            "callback_id": "approval_reject_reason",
            "private_metadata": metadata,
        }
        reason = {"reason": {"reason_input": {"type": "plain_text_input", "value": "nope"}}}
        status, _ = await a.send.submit_view({**view, "id": "V999"}, user="U2", values=reason)
        assert status == 200

        # A modal the bot did open, for U3 on B's card, submitted by U5.
        await a.send.click(card_b, "approval_reject", user="U3")
        opened = (await a.slack.wait_for(a.slack.opened_views))[0]
        await b.send.submit_view(opened, user="U5", values=reason)
        await asyncio.gather(a.runtime.drain(), b.runtime.drain())

        assert (await service.report(thread_b)).status == "awaiting_approval"
        assert (await service.report(_thread_of(card_a))).status == "awaiting_approval"
        assert a.updates_of(card_a["ts"]) == [] and a.updates_of(card_b["ts"]) == []
        assert a.deployment()["image"] != NEW
        refused = [r for r in await service.audit.read() if r["event"] == "click_refused"]
        assert len(refused) == 6, refused
        assert {r["user"] for r in refused} == {"U2", "U9", "U3", "U4", "U5"}
        status, _, metrics = await a.get("/metrics")
        assert "devops_bot_clicks_foreign_total" in metrics

        # B's own card still works, and U3's own modal too.
        await a.send.submit_view(opened, user="U3", values=reason)
        rejected = await a.slack.wait_for(lambda: a.updates_of(card_b["ts"]))
        assert "Rejected by <@U3>" in text_of(rejected[-1]["blocks"])
        assert thread_b.startswith(f"slack:{TEAM}:C0OTHER:")
