"""What reaches /slack/events besides Slack's own requests: bytes that are not UTF-8,
bogus charsets, odd signature headers, signed but malformed payloads.

Unsigned (or undecodable before the signature could be checked) -> 401; signed but not
UTF-8 or not the shape Slack sends -> 400; never a 5xx, and the app keeps serving.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from tests.slack.harness import sign

FORM = "application/x-www-form-urlencoded"
NOT_UTF8 = b"command=%2Fdevops&text=\xff\xfe\xc3(&user_id=U1"
HELP = urlencode(
    {
        "command": "/devops",
        "text": "help",
        "team_id": "T1",
        "channel_id": "C1",
        "user_id": "U1",
        "response_url": "http://127.0.0.1:1/respond/x",
    }
).encode()


async def _status_after(bot, send) -> int:
    status, _ = await send
    return status


async def test_bodies_that_cannot_be_verified_get_401_never_500(bot):
    send = bot.send.post_bytes
    now = int(time.time())
    cases = {
        "invalid utf-8, unsigned": send(NOT_UTF8, FORM, signed=False),
        "invalid utf-8, wrong signature": send(NOT_UTF8, FORM, signature="v0=" + "0" * 64),
        "bogus charset, unsigned": send(HELP, FORM + "; charset=bogus-8", signed=False),
        "bogus charset json, unsigned": send(
            b'{"type": "url_verification", "challenge": "c"}',
            "application/json; charset=no-such",
            signed=False,
        ),
        "latin-1 bytes, charset latin-1, unsigned": send(
            "text=caf\u00e9".encode("latin-1"), FORM + "; charset=latin-1", signed=False
        ),
        "binary, no content type, unsigned": send(bytes(range(256)), None, signed=False),
        "empty body, unsigned": send(b"", FORM, signed=False),
        "superscript timestamp": send(HELP, FORM, timestamp="\u00b3", signature=sign(HELP, "³")),
        "full-width timestamp": send(
            HELP, FORM, timestamp="\uff11" * 10, signature=sign(HELP, "\uff11" * 10)
        ),
        "5000-digit timestamp": send(HELP, FORM, timestamp="9" * 5000),
        "negative timestamp": send(HELP, FORM, timestamp=-now, signature=sign(HELP, -now)),
        "non-ascii signature": send(HELP, FORM, signature="v0=\u00e9\u00e9"),
        "signature without v0=": send(HELP, FORM, signature=sign(HELP, now)[3:]),
    }
    statuses = {name: await _status_after(bot, request) for name, request in cases.items()}
    assert statuses == dict.fromkeys(cases, 401)
    assert bot.slack.calls == []
    _, _, metrics = await bot.get("/metrics")
    assert 'status="500"' not in metrics


async def test_signed_bytes_that_are_not_utf8_get_400(bot):
    status, body = await bot.send.post_bytes(NOT_UTF8, FORM)
    assert status == 400
    assert json.loads(body)["error"].startswith("malformed request body")
    status, body = await bot.send.post_bytes(b'{"type": "\xff"}', "application/json")
    assert status == 400


async def test_a_charset_parameter_is_ignored_slack_bodies_are_utf8(bot):
    for content_type in (FORM + "; charset=bogus-8", FORM + "; charset=latin-1", FORM):
        status, body = await bot.send.post_bytes(HELP, content_type)
        assert status == 200, content_type
        assert "Examples" in body
