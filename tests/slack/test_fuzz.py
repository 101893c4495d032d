"""Property-based tests of /slack/events over real HTTP (the sandbox cluster, a MockSlack).

Whatever arrives: never a 5xx; unsigned -> 401; a signed slash command that looks like
one gets a reply once the runtime has drained (the ack's own text, an ephemeral answer on
its response_url, or a message in its channel), and no background task fails.

Each property shares one running bot across its examples; the examples are bounded so
the file runs in well under a minute.
"""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any
from urllib.parse import urlencode

import pytest
import structlog
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from bot.messages import HELP_WORDS
from bot.payloads import validate_body
from tests.slack.harness import CHANNEL, TEAM, sign
from tests.slack.test_request_bodies import CLICK, CLOSED, SUBMIT

FORM = "application/x-www-form-urlencoded"
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_ids = itertools.count(1)


@pytest.fixture
def failed_tasks():
    """structlog events of background tasks that raised, while the test runs."""
    with structlog.testing.capture_logs() as logs:
        yield lambda: [e for e in logs if e.get("event") == "slack.task_failed"]


# -- strategies ---------------------------------------------------------------------------

_UNICODE_DIGITS = st.characters(categories=["Nd", "No"])
_COMMANDS = [
    "scale api-server --replicas={d} -n production",
    "kubectl scale deployment/a --replicas={d} -n uat",
    "scale web --replicas {d} -n dev",
    "scale api-server replicas={d}",
    "logs api-server last {d}h",
    "incident {d}{d}{d}",
    "rollback api-server to v{d}.{d}",
    "show p{d}{d} latency for api-server",
]
_CONTROL = st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"])

slash_texts = st.one_of(
    st.text(max_size=80),
    st.sampled_from(sorted(HELP_WORDS)).flatmap(
        lambda w: st.sampled_from([w, w.upper(), f"  {w}\t", f"\n{w}\n"])
    ),
    st.builds(lambda t, d: t.format(d=d), st.sampled_from(_COMMANDS), _UNICODE_DIGITS),
    st.builds(lambda a, b: a + b, st.text(_CONTROL, max_size=10), st.text(max_size=20)),
    st.builds(lambda s, n: (s * n)[:6000], st.text(min_size=1, max_size=12), st.integers(1, 600)),
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)

_DELETE = object()


def _button_value(thread_ts: str, interrupt: str) -> str:
    return json.dumps(
        {
            "thread_id": f"slack:{TEAM}:{CHANNEL}:{thread_ts}",
            "interrupt_id": interrupt,
            "approval_id": interrupt,
            "status_ts": thread_ts,
        }
    )


_CLICK_PATHS = [
    "type",
    "user",
    "user.id",
    "container",
    "container.channel_id",
    "container.message_ts",
    "channel",
    "channel.id",
    "message",
    "message.ts",
    "team",
    "trigger_id",
    "actions",
    "actions.0",
    "actions.0.action_id",
    "actions.0.value",
    "actions.0.block_id",
]
_VIEW_PATHS = [
    "type",
    "user",
    "user.id",
    "team",
    "view",
    "view.id",
    "view.type",
    "view.callback_id",
    "view.private_metadata",
    "view.state",
    "view.state.values",
    "view.state.values.reason",
    "view.state.values.reason.reason_input",
    "view.state.values.reason.reason_input.value",
]
_ACTION_IDS = [
    "approval_approve",
    "approval_reject",
    "approval_full_preview",
    "incident_remediate",
    "incident_postmortem",
    "something_else",
]


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    """Set (or delete) `path` in `body` when every parent on the way is there."""
    *parents, last = path.split(".")
    node: Any = body
    for key in parents:
        if isinstance(node, list) and key.isdecimal() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            return
    if isinstance(node, list) and last.isdecimal() and int(last) < len(node):
        if value is _DELETE:
            del node[int(last)]
        else:
            node[int(last)] = value
    elif isinstance(node, dict):
        if value is _DELETE:
            node.pop(last, None)
        else:
            node[last] = value


@st.composite
def interactions(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["click", "submit", "closed"]))
    if kind == "click":
        body = copy.deepcopy(CLICK)
        body["actions"][0]["action_id"] = draw(st.sampled_from(_ACTION_IDS))
        ts = draw(st.sampled_from(["1.000001", "1699999999.000001"]))
        body["actions"][0]["value"] = draw(
            st.sampled_from([_button_value(ts, "i1"), json.dumps({"thread_id": "x"}), "v"])
        )
        paths = _CLICK_PATHS
    else:
        body = copy.deepcopy(SUBMIT if kind == "submit" else CLOSED)
        origin = json.dumps({"channel": CHANNEL, "card_ts": "1.1"})
        body["view"]["private_metadata"] = draw(
            st.sampled_from(["{}", origin, _button_value("1.1", "i")])
        )
        paths = _VIEW_PATHS
    for path in draw(st.lists(st.sampled_from(paths), max_size=3, unique=True)):
        _set(body, path, draw(st.just(_DELETE) | json_values))
    return body


# -- properties ---------------------------------------------------------------------------


@FUZZ
@given(text=slash_texts)
@example(text="kubectl scale deployment/a --replicas=\u00b3 -n uat")
@example(text="scale api-server replicas=\u2460 -n production")
@example(text="show me the payload of api-server")
@example(text="\x00\x1b[31m")
async def test_every_slash_command_gets_a_reply_and_never_a_5xx(bot, failed_tasks, text):
    n = next(_ids)
    channel = f"CF{n}"
    form = {
        "command": "/devops",
        "text": text,
        "team_id": TEAM,
        "channel_id": channel,
        "user_id": "U1",
        "response_url": f"{bot.slack.url}/respond/fuzz{n}",
        "trigger_id": f"trigger-fuzz-{n}",
    }
    status, ack = await bot.send.post(urlencode(form), FORM)
    assert status == 200, (status, ack)
    await bot.runtime.drain()
    answered = [c for c in bot.slack.of("response_url") if c["key"] == f"fuzz{n}"]
    posted = [c for c in bot.slack.of("chat.postMessage") if c["channel"] == channel]
    assert ack or answered or posted, f"no reply to {text!r}"
    event("reply: " + ("ack" if ack else "response_url" if answered else "channel message"))
    assert failed_tasks() == []


@FUZZ
@given(payload=interactions(), signed=st.sampled_from([True, True, True, False]))
@example(payload={**CLICK, "actions": []}, signed=True)
@example(payload={**SUBMIT, "user": {"id": 7}}, signed=True)
@example(
    payload={**CLICK, "actions": [{**CLICK["actions"][0], "value": "[" * 1000 + "]" * 1000}]},
    signed=True,
)
@example(
    payload={**SUBMIT, "view": {**SUBMIT["view"], "private_metadata": "[" * 1000 + "]" * 1000}},
    signed=True,
)
async def test_interactions_never_5xx_and_malformed_ones_get_400(
    bot, failed_tasks, payload, signed
):
    body = urlencode({"payload": json.dumps(payload)})
    if signed:
        status, _ = await bot.send.post(body, FORM)
    else:
        status, _ = await bot.send.post_bytes(body.encode(), FORM, signed=False)
    if not signed:
        assert status == 401
    elif validate_body(payload) is not None:
        assert status == 400
    else:
        assert status in (200, 404)  # 404: bolt's "unhandled request" (no listener)
    kind = payload.get("type") if isinstance(payload.get("type"), str) else "(no type)"
    event(f"{kind[:20]} -> {status}")
    await bot.runtime.drain()
    assert failed_tasks() == []


@FUZZ
@given(
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [None, FORM, "application/json", "application/json; charset=bogus", "text/plain"]
    ),
    signing=st.sampled_from(["none", "valid", "wrong", "odd timestamp"]),
    # anything an HTTP client sends as a header value (no control characters)
    timestamp=st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=12),
)
@example(body=b"\xff\xfe", content_type=FORM, signing="valid", timestamp="")
@example(body=b"payload=" + b"[" * 5000, content_type=FORM, signing="valid", timestamp="")
@example(body=b"ssl_check=1&token=x", content_type=FORM, signing="none", timestamp="")
async def test_random_bytes_never_5xx_and_unsigned_get_401(
    bot, body, content_type, signing, timestamp
):
    send = bot.send.post_bytes
    if signing == "none":
        status, _ = await send(body, content_type, signed=False)
    elif signing == "valid":
        status, _ = await send(body, content_type)
    elif signing == "wrong":
        status, _ = await send(body, content_type, signature="v0=" + "ab" * 32)
    else:
        status, _ = await send(body, content_type, timestamp=timestamp, signature=sign(body, 0))
    assert status < 500
    if signing != "valid" and body != b"ssl_check=1&token=x":
        assert status == 401
    if signing == "valid":
        assert status in (200, 400, 404)
    event(f"{signing} -> {status}")
