"""`bot.middleware.validate_payload`: the same check as HTTP mode, for Socket Mode payloads
(bolt dispatches them without `bot.server`)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.middleware import validate_payload
from bot.server import parse_body
from tests.slack.harness import BOT_TOKEN
from tests.slack.test_request_bodies import CLICK, COMMAND, MALFORMED, MENTION, SUBMIT


@pytest.fixture
async def app(slack):
    app = AsyncApp(
        client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.url + "/api/"),
        request_verification_enabled=False,
        process_before_response=True,
        before_authorize=validate_payload,  # as build_app should register it
    )
    app.seen: list[str] = []  # type: ignore[attr-defined]

    async def listener(ack: Any, body: dict[str, Any]) -> None:
        app.seen.append(body.get("type") or body.get("command"))  # type: ignore[attr-defined]
        await ack()

    app.command("/devops")(listener)
    app.event("app_mention")(listener)
    app.action("approval_approve")(listener)
    app.view("approval_reject_reason")(listener)
    return app


def _socket_request(body: dict[str, Any]) -> AsyncBoltRequest:
    return AsyncBoltRequest(body=body, mode="socket_mode")


async def test_well_formed_socket_mode_payloads_reach_their_listeners(app):
    for body in (COMMAND, MENTION, CLICK, SUBMIT):
        response = await app.async_dispatch(_socket_request(json.loads(json.dumps(body))))
        assert response.status == 200, body
    assert app.seen == ["/devops", "event_callback", "block_actions", "view_submission"]


async def test_malformed_socket_mode_payloads_get_400_and_reach_no_listener(app):
    refused_by_bolt = []
    for name, (raw, content_type) in MALFORMED.items():
        try:
            request = _socket_request(parse_body(raw.decode(), content_type))
        except Exception:
            refused_by_bolt.append(name)  # raises before any middleware can run
            continue
        response = await app.async_dispatch(request)
        assert response.status == 400, name
        assert json.loads(response.body)["error"].startswith("malformed request body: ")
    # bolt's request constructor reads event.user / event.channel as strings; in Socket
    # Mode slack_sdk logs the exception and the envelope goes unacknowledged.
    assert refused_by_bolt == ["mention, user a number", "mention, channel a number"]
    assert app.seen == []


async def test_url_verification_is_still_answered_by_bolt(app):
    body = {"type": "url_verification", "challenge": "abc", "token": "t"}
    response = await app.async_dispatch(AsyncBoltRequest(body=json.dumps(body)))
    assert response.status == 200 and json.loads(response.body) == {"challenge": "abc"}


async def test_build_app_registers_the_check_for_socket_mode(slack, tmp_path):
    """The app the server and Socket Mode run is the one with the check in front."""
    from bot.app import build_app
    from bot.settings import Settings

    settings = Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret="s",
        slack_api_url=slack.url + "/api/",
        devops_bot_data_dir=tmp_path,
        openai_api_key=None,
    )

    def no_service():
        raise AssertionError("a malformed payload must not reach the service")

    app = build_app(no_service, settings, request_verification=False)
    click_without_actions = {**CLICK, "actions": []}
    response = await app.async_dispatch(_socket_request(click_without_actions))
    assert response.status == 400
    assert json.loads(response.body)["error"].startswith("malformed request body: ")
