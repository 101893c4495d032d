"""Serving the app: HTTP mode (aiohttp) for production, Socket Mode for development.

HTTP routes:
    POST /slack/events   Events API, slash commands and interactivity (signature checked)
    GET  /healthz        200 while the process serves
    GET  /metrics        Prometheus text format

The signature is checked over the body's bytes before anything decodes or parses them, so a
forged request gets 401 whatever it contains (bytes that are not UTF-8, a bogus `charset=`,
a timestamp that is not ASCII digits included); a correctly signed body that is not UTF-8
(Slack's only encoding: any `charset=` parameter is ignored) or cannot be parsed gets 400
(bolt would answer 500 and log a traceback). The body is parsed once, here; `run_http`
builds the app with bolt's own verification off, since every request has been verified
before dispatch (an app built with it on still works here, it just checks twice).

The Web API client gets one aiohttp session for the server's lifetime, opened on start-up
and closed on clean-up, instead of one session per Slack call.

The expiry sweeper (approvals past their TTL are closed and their cards updated) starts
with the server and stops with it, in both modes.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import re
import signal
import time
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import parse_qs

import structlog
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.app import build_app, runtime_of
from bot.settings import Settings

__all__ = [
    "SLACK_PATH",
    "create_web_app",
    "freeze_startup_heap",
    "run_http",
    "run_socket",
    "service_options",
]

SLACK_PATH = "/slack/events"
REPLAY_WINDOW = 5 * 60  # seconds: Slack's own limit on a request's timestamp

log = structlog.get_logger("devops-bot.server")


def create_web_app(
    app: AsyncApp, *, signing_secret: str, path: str = SLACK_PATH
) -> web.Application:
    """An aiohttp application serving `app` on `path`, plus /healthz and /metrics."""
    runtime = runtime_of(app)
    metrics = runtime.metrics
    secret = signing_secret.encode()

    async def slack_events(request: web.Request) -> web.Response:
        response = await _slack_events(request)
        metrics.inc("devops_bot_slack_requests_total", status=str(response.status))
        return response

    async def _slack_events(request: web.Request) -> web.Response:
        body = await request.read()
        # Slack's unsigned certificate probe
        if b"ssl_check=" in body and _is_ssl_check(body):
            return web.Response(status=200)
        if not _signed(secret, body, request.headers):
            return web.json_response({"error": "invalid request signature"}, status=401)
        try:
            raw = body.decode("utf-8")
        except UnicodeDecodeError:
            log.warning("slack.malformed_request", error="body is not UTF-8")
            return web.json_response({"error": "malformed request body: not UTF-8"}, status=400)
        try:
            bolt_request = AsyncBoltRequest(
                body=raw,
                query=request.query_string,
                headers=request.headers,  # type: ignore[arg-type]
            )
        except Exception as exc:
            log.warning("slack.malformed_request", error=type(exc).__name__)
            return web.json_response({"error": "malformed request body"}, status=400)
        if not isinstance(bolt_request.body, dict) or not _well_formed(bolt_request.body):
            return web.json_response({"error": "malformed request body"}, status=400)
        bolt_response = await app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response(
            {"ok": True, "background_tasks": runtime.busy, "queued_runs": runtime.queued}
        )

    async def prometheus(_: web.Request) -> web.Response:
        return web.Response(
            body=(metrics.render() + runtime.loop_lag.render()).encode(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    async def start_sweeper(_: web.Application) -> None:
        await runtime.open_session()  # one aiohttp session for every Web API call
        runtime.start_sweeper()  # closes approvals past their TTL, now and every interval

    async def stop_sweeper(_: web.Application) -> None:
        await runtime.stop_sweeper()
        await runtime.drain()
        await runtime.close_session()

    web_app = web.Application()
    web_app.on_startup.append(start_sweeper)
    web_app.on_cleanup.append(stop_sweeper)
    web_app.add_routes(
        [
            web.post(path, slack_events),
            web.get("/healthz", healthz),
            web.get("/metrics", prometheus),
        ]
    )
    return web_app


def _signed(secret: bytes, body: bytes, headers: Any) -> bool:
    """Slack's signature: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body bytes}`, with a
    timestamp of ASCII digits within `REPLAY_WINDOW` of now.

    Computed over the bytes as received (slack_sdk's `SignatureVerifier` decodes them as
    UTF-8 first, and calls `int()` on a timestamp `isdigit()` let through: "³" raised), and
    compared as bytes (`hmac.compare_digest` refuses non-ASCII text), so any header value or
    body gives True or False, never an exception.
    """
    timestamp = headers.get("X-Slack-Request-Timestamp") or ""
    signature = headers.get("X-Slack-Signature") or ""
    if not signature or not _TIMESTAMP.fullmatch(timestamp):
        return False
    if abs(time.time() - int(timestamp)) > REPLAY_WINDOW:
        return False
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace"))


_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII only: `\d` and `isdigit()` take "³"


def _is_ssl_check(body: bytes) -> bool:
    return parse_qs(body.decode("utf-8", "replace")).get("ssl_check") == ["1"]


def _well_formed(body: dict[str, Any]) -> bool:
    """The shape Slack always sends for each kind we accept; anything else is a 400."""
    if isinstance(body.get("command"), str):
        return True
    kind = body.get("type")
    if not isinstance(kind, str):
        return False
    if kind == "event_callback":
        return isinstance(body.get("event"), dict) and isinstance(body["event"].get("type"), str)
    if kind == "block_actions":
        actions = body.get("actions")
        return isinstance(actions, list) and all(isinstance(a, dict) for a in actions)
    if kind in {"view_submission", "view_closed"}:
        view = body.get("view")
        return isinstance(view, dict) and isinstance(view.get("type"), str)
    return True


def service_options(settings: Settings) -> Any:
    return settings.service_options()


async def run_http(settings: Settings, *, port: int, host: str = "0.0.0.0") -> None:
    """Serve HTTP mode until SIGINT/SIGTERM."""
    from workflow.assembly import open_service

    signing_secret = settings.require("slack_signing_secret")
    settings.require("slack_bot_token")
    async with AsyncExitStack() as stack:
        handle = await stack.enter_async_context(open_service(service_options(settings)))
        # create_web_app verifies every request before dispatch: bolt need not do it again.
        app = build_app(handle.service, settings, request_verification=False)
        stack.push_async_callback(runtime_of(app).aclose)
        runner = web.AppRunner(create_web_app(app, signing_secret=signing_secret))
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, host, port).start()
        freeze_startup_heap()
        log.warning("serving", mode="http", host=host, port=port, path=SLACK_PATH)
        await _until_stopped()


async def run_socket(settings: Settings) -> None:
    """Serve Socket Mode until SIGINT/SIGTERM (no public URL needed)."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from workflow.assembly import open_service

    app_token = settings.require("slack_app_token")
    settings.require("slack_bot_token")
    async with AsyncExitStack() as stack:
        handle = await stack.enter_async_context(open_service(service_options(settings)))
        app = build_app(handle.service, settings)
        stack.push_async_callback(runtime_of(app).aclose)
        await runtime_of(app).open_session()
        handler = AsyncSocketModeHandler(app, app_token)
        await handler.connect_async()
        stack.push_async_callback(handler.close_async)
        runtime_of(app).start_sweeper()
        freeze_startup_heap()
        log.warning("serving", mode="socket")
        await _until_stopped()


def freeze_startup_heap() -> None:
    """Move everything alive after start-up (modules, graph, clients) out of the collector.

    Those objects live as long as the process; without this, every full collection walks
    them again, which shows up as event-loop stalls under load.
    """
    gc.collect()
    gc.freeze()


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    await stop.wait()
