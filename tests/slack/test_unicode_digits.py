"""Numbers typed with Unicode digits, over HTTP: acked, then answered like their ASCII twin."""

from __future__ import annotations

import pytest

from tests.slack.harness import CHANNEL, TEAM, text_of


def _replies(bot) -> list[dict]:
    return bot.slack.of("response_url") + bot.slack.of("chat.postMessage")


@pytest.mark.parametrize(
    "text",
    [
        "kubectl scale deployment/a --replicas=³ -n uat",
        "scale api-server --replicas ¹ -n production",
        "scale api-server replicas=① -n production",
        "scale api-server --replicas=\uff13 -n production",
    ],
)
async def test_a_slash_command_with_unicode_digits_gets_a_reply(bot, text):
    status, body = await bot.send.command(text)
    assert status == 200 and body == ""
    await bot.runtime.drain()
    replies = _replies(bot)
    assert replies, "the command was acked and then never answered"
    assert not bot.runtime.busy


async def test_a_mention_with_full_width_digits_scales_like_ascii(bot):
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": "<@UBOT> scale api-server to \uff13 replicas -n production",
        "ts": "1699999999.000001",
        "channel": CHANNEL,
        "event_ts": "1699999999.000001",
        "team": TEAM,
    }
    status, _ = await bot.send.event(event, event_id="EvDigits")
    assert status == 200
    card = await bot.wait_card()
    assert "replicas: 3" in text_of(card["blocks"])
