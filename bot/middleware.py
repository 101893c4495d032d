"""bolt global middleware: drop payloads that are not the shape Slack sends.

HTTP mode checks every body in `bot.server` before dispatch; Socket Mode hands bolt the
payloads straight from the websocket, so the same check (`bot.payloads.validate_body`)
runs here. A malformed payload is logged and answered 400 (in Socket Mode bolt logs the
status and does not acknowledge the envelope); no listener sees it.

Give it to the app as its `before_authorize` middleware in `build_app`:

    AsyncApp(..., before_authorize=validate_payload)

so it runs right after bolt's signature check and before bolt's own built-in middleware
reads the body (authorization, ignoring the bot's own events: an `event` that is a list
would make those raise, a 500). `app.use(validate_payload)` would come after them. Kinds no
listener reads pass through: bolt still answers a url_verification challenge.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import structlog
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.payloads import validate_body

__all__ = ["ValidatePayload", "validate_payload"]

log = structlog.get_logger("devops-bot.slack")


class ValidatePayload(AsyncMiddleware):
    """A middleware class, not a function: bolt builds every argument a function middleware
    could ask for (`action` included, `body["actions"][0]`) before calling it, which
    raises on the very payloads this is here to refuse."""

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse:
        error = validate_body(req.body)
        if error is not None:
            log.warning("slack.malformed_request", error=error, mode=req.mode)
            return BoltResponse(
                status=400,
                body=json.dumps({"error": f"malformed request body: {error}"}),
                headers={"content-type": "application/json; charset=utf-8"},
            )
        return await next()


validate_payload = ValidatePayload()
