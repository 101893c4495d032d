"""Serve an aiohttp application from a daemon thread with its own event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Self

from aiohttp import web

__all__ = ["ThreadedServer"]


class ThreadedServer:
    """Base of the sandbox's HTTP servers: `start()` serves `_make_app()` on `host:port`
    (port 0: a free one) from a daemon thread, so it also works when the caller is inside
    a running event loop, and returns the base URL; `stop()` shuts it down."""

    _label = "sandbox server"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0):
        self._host, self._port = host, port
        self.url: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _make_app(self) -> web.Application:  # pragma: no cover - overridden
        raise NotImplementedError

    def start(self) -> str:
        """Serve in a background thread; returns the base URL."""
        if self._thread is not None:
            assert self.url
            return self.url
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            runner = web.AppRunner(self._make_app(), access_log=None, shutdown_timeout=1.0)
            try:
                loop.run_until_complete(runner.setup())
                site = web.TCPSite(runner, self._host, self._port)
                loop.run_until_complete(site.start())
                port = runner.addresses[0][1]
                self.url = f"http://{self._host}:{port}"
            except BaseException as exc:  # surfaced to the caller of start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(runner.cleanup())
                loop.close()

        self._thread = threading.Thread(target=run, name=self._label, daemon=True)
        self._thread.start()
        if not ready.wait(15):
            raise RuntimeError(f"the {self._label} did not start within 15 s")
        if failure:
            self._thread = None
            raise failure[0]
        assert self.url
        return self.url

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = self._loop = None
        self.url = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
