"""A local OpenAI-compatible chat completions server for tests.

    server = FakeOpenAI().start()
    server.enqueue({"task_type": "debug", "confidence": 0.9, ...})
    model = ChatOpenAI(base_url=server.base_url, api_key="sk-test", ...)
    ...
    server.requests  # every request body (and headers) received
    server.stop()

`POST /v1/chat/completions` answers from a scripted queue, in the shape the request
asks for:

* ``response_format: {"type": "json_schema", ...}`` (what `ChatOpenAI.with_structured_output`
  sends by default): the payload as JSON in ``message.content``;
* ``tools`` (``method="function_calling"``): a ``tool_calls`` entry calling the tool named
  by ``tool_choice`` (or the first tool) with the payload as its arguments;
* otherwise: the payload (a string, or JSON) as plain content.

Queue items may also be HTTP errors (`enqueue_error`) and may be delayed (to provoke
client timeouts). With nothing queued the server answers 500, so an unexpected call
fails loudly. Runs aiohttp on 127.0.0.1, port 0, in a background thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

__all__ = ["FakeOpenAI", "RecordedRequest"]


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def response_format(self) -> dict[str, Any] | None:
        return self.body.get("response_format")

    @property
    def tools(self) -> list[dict[str, Any]] | None:
        return self.body.get("tools")

    def user_text(self) -> str:
        msgs = [m for m in self.body.get("messages", []) if m.get("role") == "user"]
        content = msgs[-1]["content"] if msgs else ""
        if isinstance(content, list):
            return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        return content


@dataclass
class _Scripted:
    payload: Any = None
    status: int = 200
    delay: float = 0.0
    error: str | None = None


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._queue: deque[_Scripted] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.port: int | None = None

    # ------------------------------------------------------------------ scripting
    def enqueue(self, payload: Any, *, delay: float = 0.0) -> FakeOpenAI:
        """Queue one successful answer: a dict (structured output) or a string."""
        with self._lock:
            self._queue.append(_Scripted(payload=payload, delay=delay))
        return self

    def enqueue_error(
        self, status: int = 500, message: str = "scripted failure", *, delay: float = 0.0
    ) -> FakeOpenAI:
        with self._lock:
            self._queue.append(_Scripted(status=status, error=message, delay=delay))
        return self

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def base_url(self) -> str:
        assert self.port, "server not started"
        return f"http://127.0.0.1:{self.port}/v1"

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 10.0) -> FakeOpenAI:
        self._thread = threading.Thread(target=self._run, name="fake-openai", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("fake OpenAI server did not start")
        if self._startup_error:
            raise RuntimeError("fake OpenAI server failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        if self._loop and self._runner:
            fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            try:
                fut.result(timeout=5)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced by start()
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]

    # ------------------------------------------------------------------- handlers
    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "gpt-4o-mini"}]})

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(
            RecordedRequest(path=request.path, headers=dict(request.headers), body=body)
        )
        with self._lock:
            item = self._queue.popleft() if self._queue else None
        if item is None:
            return _error(500, "fake OpenAI: no scripted response queued")
        if item.delay:
            await asyncio.sleep(item.delay)
        if item.error is not None:
            return _error(item.status, item.error)
        return web.json_response(_completion(body, item.payload))


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "server_error", "param": None, "code": None}},
        status=status,
    )


def _completion(body: dict[str, Any], payload: Any) -> dict[str, Any]:
    as_text = payload if isinstance(payload, str) else json.dumps(payload)
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    finish = "stop"
    response_format = body.get("response_format") or {}
    tools = body.get("tools") or []
    if response_format.get("type") in ("json_schema", "json_object"):
        message["content"] = as_text
    elif tools:
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            name = choice.get("function", {}).get("name")
        else:
            name = tools[0].get("function", {}).get("name")
        message["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": name, "arguments": as_text},
            }
        ]
        finish = "tool_calls"
    else:
        message["content"] = as_text
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        "system_fingerprint": "fake",
    }
