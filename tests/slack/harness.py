"""A local Slack: a Web API server that records every call, and a client that signs like Slack.

`MockSlack` binds port 0 in the test's event loop and answers like Slack does
(`{"ok": true, "ts": ...}`), so the app under test talks real HTTP through slack_sdk.
File uploads follow slack_sdk's `files_upload_v2`: `files.getUploadURLExternal` (its
arguments in the query string) hands out an upload URL on this server, the bytes are
POSTed there, and `files.completeUploadExternal` shares them in a channel/thread;
`MockSlack.files` lists what was shared, bytes included.
Files people share (`MockSlack.share_file`) are described by `files.info` and served at
their `url_private_download`, as Slack does: only with `Authorization: Bearer <the bot
token>` (403 otherwise, 404 for a file it does not have).
`SlackSender` builds requests exactly as Slack sends them: form-encoded slash commands,
`payload=` JSON for interactivity, event_callback JSON for events, and the
`X-Slack-Signature` / `X-Slack-Request-Timestamp` headers.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from bot.app import build_app, runtime_of
from bot.runtime import BotRuntime
from bot.server import create_web_app
from bot.settings import Settings
from workflow.assembly import ServiceOptions, open_service
from workflow.sandbox.kube_api import KubeApiServer

__all__ = [
    "SECRET",
    "BotUnderTest",
    "Call",
    "MockSlack",
    "SlackSender",
    "running_bot",
    "text_of",
    "two_replicas",
]

SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
BOT_USER = "UBOT"
TEAM = "T1"
CHANNEL = "C1"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None = None
    response: dict[str, Any] = field(default_factory=dict)


class MockSlack:
    """Slack's Web API on loopback; `calls` is every request in arrival order."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.not_in: set[str] = set()  # channels where chat.postMessage says not_in_channel
        self.delay = 0.0  # seconds every chat.* call takes, to show the ack does not wait
        self.usergroups: dict[str, list[str]] = {}  # user-group id -> member user ids
        # Web API method (or "upload", the upload URL) -> the error it answers with
        self.errors: dict[str, str] = {}
        self.uploads: dict[str, dict[str, Any]] = {}  # file id -> name, length, bytes
        self.files: list[dict[str, Any]] = []  # completed uploads, in order
        self.shared: dict[str, dict[str, Any]] = {}  # files people shared: id -> object
        self.shared_bytes: dict[str, bytes] = {}
        self.accepted_token = BOT_TOKEN  # the token url_private_download accepts
        self._ts = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    async def start(self) -> str:
        app = web.Application()
        app.add_routes(
            [
                web.post("/api/{method}", self._api),
                web.get("/api/{method}", self._api),  # slack_sdk GETs a few methods
                web.post("/respond/{key}", self._respond),
                web.post("/upload/{file_id}", self._upload),
                web.get("/files-pri/{team_file}/download/{name}", self._download),
            ]
        )
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url + "/api/"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)  # slack_sdk sends some POSTs' args here
        if request.method == "GET":
            pass
        elif request.content_type == "application/json":
            args.update(await request.json())
        else:
            args.update(await request.post())
        for key in ("blocks", "view", "attachments", "files"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        if self.delay and method.startswith("chat."):
            await asyncio.sleep(self.delay)
        auth = request.headers.get("Authorization", "")
        answer = self._answer(method, args)
        self.calls.append(Call(method, args, auth.removeprefix("Bearer ") or None, answer))
        return web.json_response(answer)

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method in self.errors:
            return {"ok": False, "error": self.errors[method]}
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://acme.slack.com/",
                "team": "Acme",
                "user": "devops-bot",
                "team_id": TEAM,
                "user_id": BOT_USER,
                "bot_id": "BBOT",
            }
        if method == "chat.postMessage" and args.get("channel") in self.not_in:
            return {"ok": False, "error": "not_in_channel"}
        if method == "chat.postMessage":
            ts = self.next_ts()
            return {"ok": True, "channel": args.get("channel"), "ts": ts, "message": {"ts": ts}}
        if method == "chat.update":
            return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self.next_ts()}
        if method == "usergroups.users.list":
            group = args.get("usergroup")
            if group not in self.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": list(self.usergroups[group])}
        if method == "views.open":
            return {"ok": True, "view": {**args.get("view", {}), "id": f"V{next(self._ts)}"}}
        if method == "files.getUploadURLExternal":
            return self._upload_url(args)
        if method == "files.completeUploadExternal":
            return self._complete(args)
        if method == "files.info":
            found = self.shared.get(str(args.get("file")))
            return (
                {"ok": True, "file": found} if found else {"ok": False, "error": "file_not_found"}
            )
        return {"ok": True}

    def _upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._file_ids):06d}"
        self.uploads[file_id] = {
            "filename": args["filename"],
            "length": int(args["length"]),
            "alt_txt": args.get("alt_txt"),
            "data": None,
        }
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _complete(self, args: dict[str, Any]) -> dict[str, Any]:
        listed = args.get("files")
        if not isinstance(listed, list) or not listed:
            return {"ok": False, "error": "invalid_arguments"}
        shared = []
        for item in listed:
            upload = self.uploads.get(item.get("id"))
            if upload is None or upload["data"] is None:
                return {"ok": False, "error": "file_not_found"}
            shared.append(
                {
                    "id": item["id"],
                    "title": item.get("title"),
                    "name": upload["filename"],
                    "alt_txt": upload["alt_txt"],
                    "content": upload["data"],
                    "channel_id": args.get("channel_id"),
                    "thread_ts": args.get("thread_ts"),
                    "initial_comment": args.get("initial_comment"),
                }
            )
        self.files += shared
        return {
            "ok": True,
            "files": [{"id": f["id"], "title": f["title"], "name": f["name"]} for f in shared],
        }

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload URL: Slack answers 200 "OK - <bytes>" in text/plain."""
        file_id = request.match_info["file_id"]
        data = await request.read()
        self.calls.append(Call("upload", {"file_id": file_id, "size": len(data)}))
        upload = self.uploads.get(file_id)
        if upload is None:
            return web.Response(status=404, text="file not found")
        if "upload" in self.errors:  # e.g. the upload host is down
            return web.Response(status=500, text=self.errors["upload"])
        upload["data"] = data
        return web.Response(text=f"OK - {len(data)}")

    def share_file(
        self, name: str, content: bytes, *, mimetype: str = "text/plain", filetype: str = "text"
    ) -> dict[str, Any]:
        """A file a person uploaded: its file object, as events and files.info carry it."""
        file_id = f"FU{next(self._file_ids):06d}"
        url = f"{self.url}/files-pri/{TEAM}-{file_id}/download/{name}"
        self.shared[file_id] = {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": filetype,
            "size": len(content),
            "mode": "hosted",
            "url_private": url,
            "url_private_download": url,
        }
        self.shared_bytes[file_id] = content
        return dict(self.shared[file_id])

    async def _download(self, request: web.Request) -> web.Response:
        """url_private_download: the bytes for the bot token only."""
        file_id = request.match_info["team_file"].removeprefix(f"{TEAM}-")
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        self.calls.append(Call("download", {"file_id": file_id}, token))
        if file_id not in self.shared_bytes:
            return web.Response(status=404, text="file not found")
        if token != self.accepted_token:
            return web.Response(status=403, text="forbidden")
        return web.Response(
            body=self.shared_bytes[file_id], content_type=self.shared[file_id]["mimetype"]
        )

    async def _respond(self, request: web.Request) -> web.Response:
        args = await request.json()
        self.calls.append(Call("response_url", {"key": request.match_info["key"], **args}))
        return web.Response(text="ok")

    # -- assertions --------------------------------------------------------------------------

    def opened_views(self) -> list[dict[str, Any]]:
        """The modals opened so far, as Slack answered views.open (with their view ids)."""
        return [
            c.response["view"]
            for c in self.calls
            if c.method == "views.open" and c.response.get("ok")
        ]

    def of(self, method: str) -> list[dict[str, Any]]:
        return [c.args for c in self.calls if c.method == method]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            found = predicate()
            if found:
                return found
            if time.monotonic() > deadline:
                summary = [(c.method, str(c.args)[:200]) for c in self.calls]
                raise AssertionError(f"timed out waiting; calls so far: {summary}")
            await asyncio.sleep(0.02)


def sign(body: str | bytes, timestamp: int | str, secret: str = SECRET) -> str:
    raw = body if isinstance(body, bytes) else body.encode()
    base = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackSender:
    """Sends what Slack sends, signed (or deliberately mis-signed)."""

    def __init__(self, session: aiohttp.ClientSession, base: str, response_base: str) -> None:
        self.session = session
        self.base = base
        self.response_base = response_base
        self._ids = itertools.count(1)

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        return await self.post_bytes(
            body.encode(), content_type, timestamp=timestamp, signature=signature, headers=headers
        )

    async def post_bytes(
        self,
        body: bytes,
        content_type: str | None,
        *,
        timestamp: int | str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        signed: bool = True,
    ) -> tuple[int, str]:
        """POST `body` as is; signed over its bytes unless `signed=False` (no Slack headers)."""
        ts = int(time.time()) if timestamp is None else timestamp
        all_headers = {"Content-Type": content_type} if content_type is not None else {}
        if signed:
            all_headers["X-Slack-Request-Timestamp"] = str(ts)
            all_headers["X-Slack-Signature"] = signature or sign(body, ts)
        all_headers.update(headers or {})
        async with self.session.post(
            self.base + "/slack/events", data=body, headers=all_headers
        ) as resp:
            return resp.status, await resp.text()

    async def command(
        self, text: str, *, user: str = "U1", channel: str = CHANNEL, **kw: Any
    ) -> tuple[int, str]:
        n = next(self._ids)
        form = {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "ops",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/devops",
            "text": text,
            "api_app_id": "A1",
            "is_enterprise_install": "false",
            "response_url": f"{self.response_base}/respond/cmd{n}",
            "trigger_id": f"trigger-cmd-{n}",
        }
        return await self.post(urlencode(form), "application/x-www-form-urlencoded", **kw)

    async def interactive(self, payload: dict[str, Any], **kw: Any) -> tuple[int, str]:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", **kw)

    async def click(
        self, card: dict[str, Any], action_id: str, *, user: str, value: str | None = None
    ) -> tuple[int, str]:
        """Click a button on a posted card (`card` is the recorded chat.postMessage args)."""
        n = next(self._ids)
        button = next(
            e
            for b in card["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == action_id
        )
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A1",
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": card["ts"],
                "channel_id": card["channel"],
                "is_ephemeral": False,
                "thread_ts": card.get("thread_ts"),
            },
            "trigger_id": f"trigger-click-{n}",
            "team": {"id": TEAM, "domain": "acme"},
            "channel": {"id": card["channel"], "name": "ops"},
            "message": {
                "type": "message",
                "ts": card["ts"],
                "thread_ts": card.get("thread_ts"),
                "text": card.get("text", ""),
                "blocks": card["blocks"],
            },
            "response_url": f"{self.response_base}/respond/click{n}",
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "approval_actions",
                    "value": value if value is not None else button["value"],
                    "action_ts": str(time.time()),
                }
            ],
        }
        return await self.interactive(payload)

    async def submit_view(
        self, view: dict[str, Any], *, user: str, values: dict[str, Any]
    ) -> tuple[int, str]:
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "acme"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A1",
            "token": "legacy-verification-token",
            "trigger_id": f"trigger-view-{next(self._ids)}",
            "view": {**view, "id": view.get("id", "V0"), "state": {"values": values}},
        }
        return await self.interactive(payload)

    async def event(
        self, event: dict[str, Any], *, event_id: str, retry: int | None = None
    ) -> tuple[int, str]:
        body = {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {"team_id": TEAM, "user_id": BOT_USER, "is_bot": True, "enterprise_id": None}
            ],
        }
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.post(
            json.dumps(body), "application/json", headers=headers if retry else None
        )


@dataclass
class BotUnderTest:
    slack: MockSlack
    send: SlackSender
    runtime: BotRuntime
    data_dir: Path
    base: str
    session: aiohttp.ClientSession
    extra: dict[str, Any] = field(default_factory=dict)

    def deployment(self, name: str = "api-server", namespace: str = "production") -> dict:
        return KubeApiServer(self.data_dir / "sandbox-cluster.json").snapshot()[namespace][name]

    def cards(self) -> list[dict[str, Any]]:
        """Approval cards posted so far (chat.postMessage args plus the ts Slack gave them)."""
        return [a for a in self._posted() if _has_buttons(a.get("blocks"), "approval_")]

    def findings(self) -> list[dict[str, Any]]:
        """Incident findings messages posted so far (they carry the incident buttons)."""
        return [a for a in self._posted() if _has_buttons(a.get("blocks"), "incident_")]

    def _posted(self) -> list[dict[str, Any]]:
        return [
            {**c.args, "ts": c.response["ts"]}
            for c in self.slack.calls
            if c.method == "chat.postMessage" and c.response.get("ok")
        ]

    def posted(self) -> list[dict[str, Any]]:
        return self._posted()

    async def wait_card(self, count: int = 1) -> dict[str, Any]:
        """The `count`th approval card, once the bot has recorded it (as a person sees it
        only then: Slack shows a message after answering chat.postMessage)."""
        cards = await self.slack.wait_for(lambda: len(self.cards()) >= count and self.cards())
        card = cards[count - 1]
        deadline = asyncio.get_running_loop().time() + 10
        while await self.runtime.origins.of_message(card["channel"], card["ts"]) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"card {card['ts']} was posted but never recorded")
            await asyncio.sleep(0.005)
        return card

    def updates_of(self, ts: str) -> list[dict[str, Any]]:
        return [a for a in self.slack.of("chat.update") if a.get("ts") == ts]

    def ephemerals_to(self, user: str) -> list[dict[str, Any]]:
        return [a for a in self.slack.of("chat.postEphemeral") if a.get("user") == user]

    async def get(self, path: str) -> tuple[int, str, str]:
        async with self.session.get(self.base + path) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


def text_of(block_list: list[dict[str, Any]] | None) -> str:
    """The visible text of a message's blocks (sections, fields, context elements)."""
    out = []
    for b in block_list or []:
        if isinstance(b.get("text"), dict):
            out.append(b["text"]["text"])
        for f in b.get("fields", []) + b.get("elements", []):
            if isinstance(f.get("text"), str):
                out.append(f["text"])
    return "\n".join(out)


def _has_buttons(block_list: list[dict[str, Any]] | None, prefix: str) -> bool:
    return any(
        e.get("action_id", "").startswith(prefix)
        for b in block_list or []
        if b.get("type") == "actions"
        for e in b.get("elements", [])
    )


@asynccontextmanager
async def running_bot(
    data_dir: Path,
    *,
    redis_url: str | None = None,
    key_prefix: str = "devops-bot",
    policy_path: str | None = None,
    sweep_interval: float = 30.0,
    slack: MockSlack | None = None,
    max_runs: int | None = None,
    **service_options: Any,
) -> AsyncIterator[BotUnderTest]:
    """The real app over HTTP (port 0) on a real DevOpsService, talking to a MockSlack.

    Pass a running `slack` to share one MockSlack between app instances (restarts); it is
    then left running for the caller to stop. Other keyword arguments are `ServiceOptions`
    fields (the sandbox Prometheus and Alertmanager start unless URLs are given).
    """
    owned = slack is None
    slack = slack or MockSlack()
    api_url = await slack.start() if owned else slack.url + "/api/"
    settings = Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=api_url,
        redis_url=redis_url,
        devops_bot_data_dir=data_dir,
        devops_bot_sandbox=True,
        openai_api_key=None,
    )
    options = ServiceOptions(
        **{
            "data_dir": data_dir,
            "sandbox": True,
            "redis_url": redis_url,
            "key_prefix": key_prefix,
            "policy_path": policy_path,
            "rollout_timeout": 10,
            **service_options,
        }
    )
    try:
        async with open_service(options) as handle:
            app = build_app(
                handle.service,
                settings,
                key_prefix=key_prefix,
                sweep_interval=sweep_interval,
                max_runs=max_runs,
                # As in `run_http`: create_web_app verifies every request before dispatch.
                request_verification=False,
            )
            runtime = runtime_of(app)
            runner = web.AppRunner(create_web_app(app, signing_secret=SECRET))
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            try:
                async with aiohttp.ClientSession() as session:
                    yield BotUnderTest(
                        slack,
                        SlackSender(session, base, slack.url),
                        runtime,
                        data_dir,
                        base,
                        session,
                    )
            finally:
                await runtime.aclose()
                await runner.cleanup()
    finally:
        if owned:
            await slack.stop()


@asynccontextmanager
async def two_replicas(
    data_dir: Path, *, redis_url: str, key_prefix: str, **options: Any
) -> AsyncIterator[tuple[BotUnderTest, BotUnderTest]]:
    """Two app instances on one Redis, data dir and MockSlack, each with its own HTTP server.

    `options` go to both (`running_bot` keyword arguments)."""
    slack = MockSlack()
    await slack.start()
    shared = {"redis_url": redis_url, "key_prefix": key_prefix, "slack": slack, **options}
    try:
        async with (
            running_bot(data_dir, **shared) as a,
            running_bot(data_dir, **shared) as b,
        ):
            yield a, b
    finally:
        await slack.stop()
