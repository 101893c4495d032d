"""Serving the app: HTTP mode (aiohttp) for production, Socket Mode for development.

HTTP routes:
    POST /slack/events   Events API, slash commands and interactivity (signature checked)
    GET  /healthz        readiness: 200 while the replica takes new work, 503 once it drains
                         (SIGTERM); the body says whether the state store (Redis) answers
    GET  /livez          liveness: 200 while the event loop answers
    GET  /metrics        Prometheus text format

The signature is checked over the body's bytes before anything decodes or parses them, so a
forged request gets 401 whatever it contains (bytes that are not UTF-8, a bogus `charset=`,
a timestamp that is not ASCII digits included); a correctly signed body that is not UTF-8
(Slack's only encoding: any `charset=` parameter is ignored), cannot be parsed, or is not
the shape Slack sends (`bot.payloads.validate_body`: the fields the listeners read, typed)
gets 400, so no listener sees it (bolt would answer 500 and log a traceback, or hand a
listener a number where it reads a string). `run_http` builds the app with bolt's own
verification off, since every request has been verified before dispatch (an app built with
it on still works here, it just checks twice).

The Web API client gets one aiohttp session for the server's lifetime, opened on start-up
and closed on clean-up, instead of one session per Slack call.

The expiry sweeper (approvals past their TTL are closed and their cards updated) starts
with the server and stops with it, in both modes. Socket Mode serves /healthz, /livez and
/metrics on $PORT too, for the probes.

On SIGTERM (`serve_until_stopped`): /healthz turns 503 at once, the server keeps answering
while the runs in flight finish, for up to DEVOPS_BOT_DRAIN_TIMEOUT seconds; whatever still
runs then is handed over to the other replicas (see `BotRuntime.shutdown`).

While Redis is unreachable, /healthz still answers 200 (taking this replica out of the
Service would leave Slack users with Slack's own error instead of ours) with
`"state_store": "unavailable"`; every Slack request is answered "the state store is
unavailable; nothing was changed" until the probe sees Redis again.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import json
import re
import signal
import time
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import structlog
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.app import build_app, runtime_of
from bot.payloads import validate_body
from bot.runtime import BotRuntime
from bot.settings import Settings

__all__ = [
    "SLACK_PATH",
    "create_health_app",
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
            return _malformed("not UTF-8")
        try:
            parsed = parse_body(raw, request.headers.get("Content-Type"))
        except (ValueError, RecursionError) as exc:
            return _malformed(f"cannot be parsed ({type(exc).__name__})")
        error = validate_body(parsed)
        if error is not None:
            return _malformed(error)
        try:
            bolt_request = AsyncBoltRequest(
                body=raw,
                query=request.query_string,
                headers=request.headers,  # type: ignore[arg-type]
            )
            if bolt_request.body != parsed:
                # bolt reads a form body that merely contains "payload" (`/devops ... payload`)
                # as an empty `payload=`: give it the command, and the context built from it.
                bolt_request.body = parsed
                bolt_request.context = build_async_context(AsyncBoltContext({}), parsed)
        except Exception as exc:
            return _malformed(type(exc).__name__)
        bolt_response = await app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def start_sweeper(_: web.Application) -> None:
        await runtime.open_session()  # one aiohttp session for every Web API call
        runtime.start_sweeper()  # closes approvals past their TTL, now and every interval

    async def stop_sweeper(_: web.Application) -> None:
        await runtime.stop_sweeper()
        await runtime.drain()
        await runtime.close_session()

    web_app = create_health_app(runtime)
    web_app.on_startup.append(start_sweeper)
    web_app.on_cleanup.append(stop_sweeper)
    web_app.add_routes([web.post(path, slack_events)])
    return web_app


def create_health_app(runtime: BotRuntime) -> web.Application:
    """/healthz (readiness), /livez (liveness) and /metrics for `runtime`."""

    async def healthz(_: web.Request) -> web.Response:
        state_store = runtime.store.state
        body = {
            "ok": not runtime.draining and state_store != "unavailable",
            "draining": runtime.draining,
            "state_store": state_store,
            "background_tasks": runtime.busy,
            "queued_runs": runtime.queued,
        }
        if runtime.store.error:
            body["state_store_error"] = runtime.store.error
        return web.json_response(body, status=503 if runtime.draining else 200)

    async def livez(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def prometheus(_: web.Request) -> web.Response:
        up = "0" if runtime.store.state == "unavailable" else "1"
        gauges = (
            "# TYPE devops_bot_state_store_up gauge\n"
            f"devops_bot_state_store_up {up}\n"
            "# TYPE devops_bot_draining gauge\n"
            f"devops_bot_draining {int(runtime.draining)}\n"
        )
        return web.Response(
            body=(runtime.metrics.render() + runtime.loop_lag.render() + gauges).encode(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    web_app = web.Application()
    web_app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/livez", livez),
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


def parse_body(raw: str, content_type: str | None) -> Any:
    """The request as Slack meant it: JSON, a form with a `payload` field holding JSON
    (interactivity), or a plain form (slash commands).

    As bolt's own parser, except that a form is read as `payload=` JSON only when it has a
    `payload` field, not whenever the word appears in it. Raises ValueError (bad JSON) or
    RecursionError (JSON nested beyond the parser's depth).
    """
    if not raw:
        return {}
    if (content_type or "").split(";")[0].strip() == "application/json" or raw.startswith("{"):
        return json.loads(raw)
    form = dict(parse_qsl(raw, keep_blank_values=True))
    if "payload" in form:
        return json.loads(form["payload"])
    return form


def _malformed(reason: str) -> web.Response:
    log.warning("slack.malformed_request", error=reason)
    return web.json_response({"error": f"malformed request body: {reason}"}, status=400)


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
        await runtime_of(app).shutdown(settings.devops_bot_drain_timeout)


async def run_socket(settings: Settings, *, port: int | None = None, host: str = "0.0.0.0") -> None:
    """Serve Socket Mode until SIGINT/SIGTERM (no public URL needed); the probes' routes
    (/healthz, /livez, /metrics) on `port` (default $PORT; 0: none)."""
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
        port = settings.port if port is None else port
        if port:
            runner = web.AppRunner(create_health_app(runtime_of(app)))
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            await web.TCPSite(runner, host, port).start()
        freeze_startup_heap()
        log.warning("serving", mode="socket", health_port=port or None)
        await _until_stopped()
        await runtime_of(app).shutdown(settings.devops_bot_drain_timeout)


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
