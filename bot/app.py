"""The Slack app: `build_app()` wires the listeners (bot.listeners) to one `BotRuntime`.

Listeners only ack and hand off; the runtime (bot.runtime) does the work in background
tasks, so every request is acknowledged well inside Slack's 3 seconds however long the
graph takes. The flows: a request (bot.requests), a click on an approval card or the
reject modal (bot.voting), the expiry sweeper and restart recovery (bot.recovery).

One Slack thread is one graph thread: `slack:{team}:{channel}:{thread_ts}` (bot.threads).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot import listeners, messages
from bot.health import is_store_error
from bot.metrics import Metrics
from bot.middleware import validate_payload
from bot.runtime import REMEDIATION_CLAIM_TTL, BotRuntime, ServiceSource
from bot.settings import Settings
from bot.stores import (
    CancelRequests,
    CardIndex,
    IncidentHeaders,
    InFlight,
    RetryDeduper,
    redis_client,
)

__all__ = ["build_app", "runtime_of"]


def build_app(
    service: ServiceSource,
    settings: Settings,
    *,
    client: AsyncWebClient | None = None,
    sandbox: bool | None = None,
    llm: Any = None,
    metrics: Metrics | None = None,
    deduper: RetryDeduper | None = None,
    update_interval: float = 1.0,
    card_index: CardIndex | None = None,
    key_prefix: str = "devops-bot",
    sweep_interval: float | None = None,
    group_cache_ttl: float = 60.0,
    max_runs: int | None = None,
    request_verification: bool = True,
) -> AsyncApp:
    """An AsyncApp serving /devops, approval clicks, the reject modal and app mentions.

    `service` is a DevOpsService or a zero-argument callable returning one (resolved per
    request, so a server can open the service after building the app). The expiry sweeper
    runs every `sweep_interval` seconds (default: the setting `DEVOPS_BOT_SWEEP_INTERVAL`) once
    the server calls `runtime_of(app).start_sweeper()`.

    At most `max_runs` request runs (default: the setting `DEVOPS_BOT_MAX_RUNS`) drive the graph
    at once; later ones are acked at once and wait, their status message saying "queued".

    `request_verification=False` turns off bolt's own signature check. Only for a server
    that checks every request itself before dispatching (`bot.server.create_web_app` does),
    or Socket Mode; never behind an adapter that does not.
    """
    if client is None:
        base_url = settings.slack_api_url
        client = AsyncWebClient(
            token=settings.require("slack_bot_token"),
            base_url=base_url if base_url.endswith("/") else base_url + "/",
        )
    if llm is None:
        llm = settings.llm()
    redis = redis_client(settings.redis_url)  # one client for every store, closed by the runtime
    if deduper is None:
        deduper = RetryDeduper(redis, prefix=key_prefix)
    if card_index is None:
        card_index = CardIndex(redis, prefix=key_prefix)
    if sweep_interval is None:
        sweep_interval = settings.devops_bot_sweep_interval
    if max_runs is None:
        max_runs = settings.devops_bot_max_runs
    runtime = BotRuntime(
        service,
        settings,
        sandbox=settings.devops_bot_sandbox if sandbox is None else sandbox,
        llm=llm,
        metrics=metrics,
        deduper=deduper,
        update_interval=update_interval,
        client=client,
        card_index=card_index,
        sweep_interval=sweep_interval,
        group_cache_ttl=group_cache_ttl,
        inflight=InFlight(redis, prefix=key_prefix, lease=max(3 * sweep_interval, 10.0)),
        max_runs=max_runs,
        claims=RetryDeduper(redis, prefix=key_prefix, ttl=REMEDIATION_CLAIM_TTL, namespace="claim"),
        incident_headers=IncidentHeaders(redis, prefix=key_prefix),
        cancels=CancelRequests(redis, prefix=key_prefix),
        redis=redis,
    )
    secret = settings.slack_signing_secret
    app = AsyncApp(
        name="devops-bot",
        client=client,
        signing_secret=secret.get_secret_value() if secret else "",
        # Listeners ack and hand off to runtime.spawn(); the response goes out right away.
        process_before_response=True,
        request_verification_enabled=request_verification,
        # Malformed payloads are refused before bolt's own middleware reads them (Socket
        # Mode; over HTTP bot.server has already answered 400).
        before_authorize=validate_payload,
    )

    async def attach_runtime(
        req: AsyncBoltRequest, resp: BoltResponse, context: dict[str, Any], next: Any
    ) -> BoltResponse:
        # No state store, no work: say so instead of starting something that cannot be
        # recorded (checked before anything touches Redis; a PING bounded by a second).
        if not runtime.store.available or not await runtime.store.check():
            return store_unavailable(runtime, req.body)
        if req.body.get("type") == "event_callback" and req.body.get("event_id"):
            try:
                first = await runtime.deduper.first_time(str(req.body["event_id"]))
            except Exception as exc:
                if not is_store_error(exc):
                    raise
                runtime.store.mark_down(exc)
                return store_unavailable(runtime, req.body)
            if not first and req.headers.get("x-slack-retry-num"):
                runtime.metrics.inc("devops_bot_slack_retries_ignored_total")
                return BoltResponse(status=200, body="")
        context["devops"] = runtime
        await next()
        return resp

    app.use(attach_runtime)
    app._devops_runtime = runtime  # type: ignore[attr-defined]

    listeners.register(app)
    return app


def store_unavailable(runtime: BotRuntime, body: dict[str, Any]) -> BoltResponse:
    """The answer to a request while Redis is unreachable: an ephemeral message to whoever
    sent it (in the slash command's response, an error under the modal's input, or
    chat.postEphemeral for clicks and mentions), and nothing started."""
    runtime.metrics.inc("devops_bot_state_store_refusals_total")
    text = messages.state_store_unavailable()
    if body.get("command"):
        return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})
    kind = body.get("type")
    user = channel = None
    if kind == "view_submission":
        blocks = (body.get("view") or {}).get("blocks") or []
        inputs = [b.get("block_id") for b in blocks if b.get("type") == "input"]
        if inputs and isinstance(inputs[0], str):
            return BoltResponse(
                status=200, body={"response_action": "errors", "errors": {inputs[0]: text}}
            )
    elif kind in ("block_actions", "message_action", "shortcut"):
        user = (body.get("user") or {}).get("id")
        channel = (body.get("channel") or {}).get("id")
    elif kind == "event_callback":
        event = body.get("event") or {}
        if event.get("type") == "app_mention":  # not every message in every thread
            user, channel = event.get("user"), event.get("channel")
    client = runtime.client
    if client is not None and isinstance(user, str) and isinstance(channel, str):

        async def tell() -> None:
            await client.chat_postEphemeral(channel=channel, user=user, text=text)

        runtime.spawn(tell(), name="state-store-unavailable")
    return BoltResponse(status=200, body="")


def runtime_of(app: AsyncApp) -> BotRuntime:
    return app._devops_runtime  # type: ignore[attr-defined]
