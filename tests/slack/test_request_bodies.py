"""What reaches /slack/events besides Slack's own requests: bytes that are not UTF-8,
bogus charsets, odd signature headers, signed but malformed payloads.

Unsigned (or undecodable before the signature could be checked) -> 401; signed but not
UTF-8 or not the shape Slack sends -> 400; never a 5xx, and the app keeps serving.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any
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


# -- signed, but not the shape Slack sends ----------------------------------------------------

RESPOND = "http://127.0.0.1:1/respond/x"

COMMAND = {
    "token": "legacy-verification-token",
    "command": "/devops",
    "text": "help",
    "team_id": "T1",
    "channel_id": "C1",
    "user_id": "U1",
    "response_url": RESPOND,
    "trigger_id": "trigger-1",
}

MENTION = {
    "token": "legacy-verification-token",
    "team_id": "T1",
    "api_app_id": "A1",
    "type": "event_callback",
    "event_id": "Ev-base",
    "event_time": 1700000000,
    "event": {
        "type": "app_mention",
        "user": "U1",
        "text": "<@UBOT> help",
        "ts": "1699999999.000001",
        "channel": "C1",
        "event_ts": "1699999999.000001",
        "team": "T1",
    },
}

CLICK = {
    "type": "block_actions",
    "user": {"id": "U1", "username": "u1", "team_id": "T1"},
    "api_app_id": "A1",
    "token": "legacy-verification-token",
    "container": {"type": "message", "message_ts": "1.000001", "channel_id": "C1"},
    "trigger_id": "trigger-click",
    "team": {"id": "T1", "domain": "acme"},
    "channel": {"id": "C1", "name": "ops"},
    "message": {"type": "message", "ts": "1.000001", "text": "a card"},
    "response_url": RESPOND,
    "actions": [
        {
            "type": "button",
            "action_id": "approval_approve",
            "block_id": "approval_actions",
            "value": "not a devops-bot button",
            "action_ts": "1.2",
        }
    ],
}

SUBMIT = {
    "type": "view_submission",
    "team": {"id": "T1", "domain": "acme"},
    "user": {"id": "U1", "username": "u1", "team_id": "T1"},
    "api_app_id": "A1",
    "token": "legacy-verification-token",
    "trigger_id": "trigger-view",
    "view": {
        "id": "V1",
        "type": "modal",
        "callback_id": "approval_reject_reason",
        "private_metadata": "{}",
        "state": {
            "values": {"reason": {"reason_input": {"type": "plain_text_input", "value": "no"}}}
        },
    },
}

CLOSED = {**SUBMIT, "type": "view_closed", "is_cleared": False}


def _with(base: dict, path: str, value: Any = ...) -> dict:
    """A deep copy of `base` with the dotted `path` set to `value` (deleted when omitted)."""
    body = copy.deepcopy(base)
    *parents, last = path.split(".")
    node: Any = body
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


def _json(body: dict) -> tuple[bytes, str]:
    return json.dumps(body).encode(), "application/json"


def _payload(body: dict) -> tuple[bytes, str]:
    return urlencode({"payload": json.dumps(body)}).encode(), FORM


def _form(body: dict) -> tuple[bytes, str]:
    return urlencode(body).encode(), FORM


MALFORMED: dict[str, tuple[bytes, str]] = {
    # slash commands
    "json command, text a number": _json(_with(COMMAND, "text", 5)),
    "json command, text a list": _json(_with(COMMAND, "text", ["deploy"])),
    "payload= command, text an object": _payload(_with(COMMAND, "text", {"a": 1})),
    "json command, user_id a number": _json(_with(COMMAND, "user_id", 12345)),
    "json command, channel_id an object": _json(_with(COMMAND, "channel_id", {"id": "C1"})),
    "json command, team_id a number": _json(_with(COMMAND, "team_id", 1)),
    "form command without user_id": _form(_with(COMMAND, "user_id")),
    "form command without channel_id": _form(_with(COMMAND, "channel_id")),
    # events
    "mention, text a number": _json(_with(MENTION, "event.text", 5)),
    "mention, text a list": _json(_with(MENTION, "event.text", ["<@UBOT> help"])),
    "thread reply, text an object": _json(
        _with(
            _with(_with(MENTION, "event.type", "message"), "event.thread_ts", "1.0"),
            "event.text",
            {"a": 1},
        )
    ),
    "mention, user a number": _json(_with(MENTION, "event.user", 42)),
    "mention, channel a number": _json(_with(MENTION, "event.channel", 7)),
    "mention, ts a number": _json(_with(MENTION, "event.ts", 1699999999.1)),
    "mention, thread_ts a number": _json(_with(MENTION, "event.thread_ts", 1.5)),
    "event type a number": _json(_with(MENTION, "event.type", 5)),
    "event_id a number": _json(_with(MENTION, "event_id", 5)),
    "event a list": _json(_with(MENTION, "event", [1])),
    "mention, files an object": _json(_with(MENTION, "event.files", {"id": "F1"})),
    "mention, file id a number": _json(_with(MENTION, "event.files", [{"id": 5}])),
    "mention, file without id": _json(_with(MENTION, "event.files", [{"name": "a.json"}])),
    "mention, file size a string": _json(
        _with(MENTION, "event.files", [{"id": "F1", "size": "12"}])
    ),
    "mention, file url a list": _json(
        _with(MENTION, "event.files", [{"id": "F1", "url_private_download": ["x"]}])
    ),
    # block_actions
    "click, no actions": _payload(_with(CLICK, "actions", [])),
    "click, action without action_id": _payload(_with(CLICK, "actions.0.action_id")),
    "click, action_id a number": _payload(_with(CLICK, "actions.0.action_id", 5)),
    "click, action a string": _payload(_with(CLICK, "actions", ["approval_approve"])),
    "click, value a number": _payload(_with(CLICK, "actions.0.value", 5)),
    "click, value an object": _payload(_with(CLICK, "actions.0.value", {"thread_id": "x"})),
    "click, user a string": _payload(_with(CLICK, "user", "U1")),
    "click, user id a number": _payload(_with(CLICK, "user.id", 12345)),
    "click, no user": _payload(_with(CLICK, "user")),
    "click, container a string": _payload(_with(CLICK, "container", "C1")),
    "click, container channel a number": _payload(_with(CLICK, "container.channel_id", 5)),
    "click, container ts a number": _payload(_with(CLICK, "container.message_ts", 1.5)),
    "click, channel a string": _payload(_with(CLICK, "channel", "C1")),
    "click, message a string": _payload(_with(CLICK, "message", "hi")),
    "click, message ts a number": _payload(_with(CLICK, "message.ts", 1.5)),
    "click, team a string": _payload(_with(CLICK, "team", "T1")),
    "click, trigger_id a number": _payload(_with(CLICK, "trigger_id", 5)),
    # view_submission / view_closed
    "submit, private_metadata a number": _payload(_with(SUBMIT, "view.private_metadata", 5)),
    "submit, private_metadata an object": _payload(
        _with(SUBMIT, "view.private_metadata", {"channel": "C1"})
    ),
    "submit, state a string": _payload(_with(SUBMIT, "view.state", "x")),
    "submit, state values a list": _payload(_with(SUBMIT, "view.state.values", ["x"])),
    "submit, block a string": _payload(_with(SUBMIT, "view.state.values.reason", "x")),
    "submit, input a string": _payload(_with(SUBMIT, "view.state.values.reason.reason_input", "x")),
    "submit, reason a number": _payload(
        _with(SUBMIT, "view.state.values.reason.reason_input.value", 5)
    ),
    "submit, reason a list": _payload(
        _with(SUBMIT, "view.state.values.reason.reason_input.value", ["no"])
    ),
    "submit, callback_id a number": _payload(_with(SUBMIT, "view.callback_id", 5)),
    "submit, view a string": _payload(_with(SUBMIT, "view", "V1")),
    "submit, view without type": _payload(_with(SUBMIT, "view.type")),
    "submit, user id a number": _payload(_with(SUBMIT, "user.id", 5)),
    "submit, user a list": _payload(_with(SUBMIT, "user", ["U1"])),
    "closed, view a string": _payload(_with(CLOSED, "view", "V1")),
    "closed, private_metadata a number": _payload(_with(CLOSED, "view.private_metadata", 5)),
    "closed, user id a number": _payload(_with(CLOSED, "user.id", 5)),
}


async def test_the_well_formed_bases_are_accepted(bot):
    """The malformed cases below are these, each with one field broken."""
    for name, (body, kind) in {
        "command": _form(COMMAND),
        "json command": _json(COMMAND),
        "mention": _json(MENTION),
        # a file object carries many fields no listener reads: left alone
        "mention with a file": _json(
            _with(MENTION, "event.files", [{"id": "F1", "name": "openapi.json", "shares": {}}])
        ),
        "click": _payload(CLICK),
        "submit": _payload(SUBMIT),
        "closed": _payload(CLOSED),
    }.items():
        status, _ = await bot.send.post_bytes(body, kind)
        assert status in (200, 404), name  # 404: bolt's "unhandled request" (view_closed)


async def test_signed_malformed_payloads_get_400_and_reach_no_listener(bot):
    statuses, reasons = {}, {}
    for name, (body, kind) in MALFORMED.items():
        status, text = await bot.send.post_bytes(body, kind)
        statuses[name] = status
        if status == 400:
            reasons[name] = json.loads(text)["error"]
    assert statuses == dict.fromkeys(MALFORMED, 400)
    assert all(r.startswith("malformed request body: ") for r in reasons.values())
    await bot.runtime.drain()
    assert bot.slack.of("chat.postMessage") == [] and bot.slack.of("response_url") == []
    assert bot.slack.of("chat.postEphemeral") == [] and bot.slack.of("views.open") == []
    status, body = await bot.send.command("help")
    assert status == 200 and "Examples" in body


async def test_kinds_the_app_does_not_handle_are_passed_to_bolt_as_before(bot):
    status, body = await bot.send.post_bytes(
        *_json({"token": "t", "challenge": "ch4llenge", "type": "url_verification"})
    )
    assert status == 200 and json.loads(body) == {"challenge": "ch4llenge"}
    for body in (
        {"type": "shortcut", "callback_id": "x", "user": {"id": "U1"}, "team": {"id": "T1"}},
        {"type": "message_action", "callback_id": "x", "user": {"id": "U1"}},
        {"type": "block_suggestion", "action_id": "x", "user": {"id": "U1"}, "value": "a"},
    ):
        status, _ = await bot.send.post_bytes(*_payload(body))
        assert status == 404, body["type"]  # bolt: no listener for it
    reaction = _with(MENTION, "event", {"type": "reaction_added", "user": "U1", "item": {}})
    status, _ = await bot.send.post_bytes(*_json(reaction))
    assert status == 404


async def test_a_slash_command_that_mentions_payload_is_a_command(bot):
    """bolt's parser reads any form body containing "payload" as `payload=` JSON (and
    answers {} when there is none): `/devops ... payload ...` used to get a 400."""
    status, body = await bot.send.command("help payload")
    assert status == 200 and body == ""
    replies = await bot.slack.wait_for(lambda: bot.slack.of("response_url"))
    assert "help payload" in replies[0]["text"]
