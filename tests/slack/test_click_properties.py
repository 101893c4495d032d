"""Property: no button value that does not match its message changes anything.

Two requests wait for approval, card A in C0OPS and card B in C0OTHER. Hypothesis sends
signed clicks (Approve, Reject, Full preview) from A's message, B's message or a message
the bot never posted, carrying A's value, B's value or either one with its thread, request
or interrupt changed — every combination except a card's own value on its own message.
Each click is answered privately, and afterwards both requests are still pending, neither
card was touched, no modal opened, no preview reached the other channel, and the cluster is
as it was. (A's value with only its interrupt or status ts changed, on A's own card, may
still show A's preview there: that card is the user's to see.)
"""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.slack.harness import running_bot

ACTIONS = ("approval_approve", "approval_reject", "approval_full_preview")
USERS = ("U1", "U2", "U3", "U9")


def _value(card: dict) -> dict:
    button = next(e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"])
    return json.loads(button["value"])


def _mutations(a: dict, b: dict) -> st.SearchStrategy[dict]:
    """Button values: A's or B's, or one of them with fields taken from the other or made up."""
    base = st.sampled_from([a, b])
    junk = st.text(alphabet="0123456789abcdef:.slackTC", min_size=1, max_size=40)
    field = st.sampled_from(["thread_id", "interrupt_id", "approval_id", "status_ts"])

    @st.composite
    def mutated(draw: st.DrawFn) -> dict:
        value = dict(draw(base))
        for _ in range(draw(st.integers(0, 3))):
            key = draw(field)
            value[key] = draw(st.one_of(st.sampled_from([a[key], b[key]]), junk))
        return value

    return mutated()


async def test_no_click_whose_value_does_not_match_its_message_changes_anything(
    tmp_path, key_prefix
):
    async with running_bot(tmp_path, key_prefix=key_prefix) as bot:
        await bot.send.command("deploy api-server:v1.2.3 prod", user="U1", channel="C0OPS")
        card_a = await bot.wait_card(1)
        await bot.send.command("scale web to 4 in prod", user="U1", channel="C0OTHER")
        card_b = await bot.wait_card(2)
        a, b = _value(card_a), _value(card_b)
        ghost = {**card_a, "ts": "1700009999.000001"}
        image = bot.deployment()["image"]
        replicas = bot.deployment("web")["replicas"]
        loop = asyncio.get_running_loop()
        answered = {"clicks": 0}

        async def click(message: dict, value: dict, action: str, user: str) -> None:
            before = len(bot.slack.of("chat.postEphemeral"))
            button = {"type": "button", "action_id": action, "value": json.dumps(value)}
            shown = {**message, "blocks": [{"type": "actions", "elements": [button]}]}
            status, _ = await bot.send.click(shown, action, user=user)
            assert status == 200
            await bot.slack.wait_for(lambda: len(bot.slack.of("chat.postEphemeral")) > before)
            answered["clicks"] += 1

        @settings(
            max_examples=40,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(
            message=st.sampled_from([card_a, card_b, ghost]),
            value=_mutations(a, b),
            action=st.sampled_from(ACTIONS),
            user=st.sampled_from(USERS),
        )
        def foreign_click(message: dict, value: dict, action: str, user: str) -> None:
            own = {card_a["ts"]: a, card_b["ts"]: b}.get(message["ts"])
            if own is not None and value == own:
                return  # a card's own button: not what this property is about
            # Hypothesis drives from a worker thread; the bot keeps running on its loop.
            asyncio.run_coroutine_threadsafe(click(message, value, action, user), loop).result(30)

        await asyncio.to_thread(foreign_click)
        await bot.runtime.drain()

        assert answered["clicks"] >= 20
        for card in (card_a, card_b):
            report = await bot.runtime.service.report(_value(card)["thread_id"])
            assert report.status == "awaiting_approval"
            assert bot.updates_of(card["ts"]) == []
        assert bot.slack.of("views.open") == []
        assert bot.deployment()["image"] == image
        assert bot.deployment("web")["replicas"] == replicas
        # A preview is only ever shown from its own card, in its own channel.
        other = {"C0OPS": "deployment/web", "C0OTHER": "deployment/api-server"}
        for told in bot.slack.of("chat.postEphemeral"):
            assert other[told["channel"]] not in told["text"], told
