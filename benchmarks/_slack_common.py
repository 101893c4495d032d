"""Shared pieces of the Slack benchmarks: percentiles, an event-loop stall probe, call timing.

Both benchmarks reuse the test harness (`tests.slack.harness`): the real app over HTTP on
127.0.0.1, a local Slack Web API server that records every call, and a sender that signs
requests exactly as Slack does.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tests` is not installed; the benchmarks run from anywhere
    sys.path.insert(0, str(ROOT))

__all__ = [
    "ROOT",
    "StallProbe",
    "TimedCalls",
    "app_processes",
    "fmt_ms",
    "free_port",
    "loop_lag_histogram",
    "percentile",
    "quiet_logs",
    "sandbox_process",
]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); nan for an empty list."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def fmt_ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


class StallProbe:
    """A task that sleeps `interval` in a loop and records how late each wake-up was.

    The overshoot is how long the event loop was busy with something else (a stall).
    """

    def __init__(self, interval: float = 0.010) -> None:
        self.interval = interval
        self.overshoots: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._running = False

    async def _run(self) -> None:
        while self._running:  # bounded by stop()
            start = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.overshoots.append(max(0.0, time.perf_counter() - start - self.interval))

    def start(self) -> None:
        self.overshoots = []
        self._running = True
        self._task = asyncio.create_task(self._run(), name="stall-probe")

    async def stop(self) -> float:
        """Stop and return the largest stall seen (seconds)."""
        self._running = False
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        return max(self.overshoots, default=0.0)

    @property
    def max(self) -> float:
        return max(self.overshoots, default=0.0)


class TimedCalls(list):
    """A drop-in for `MockSlack.calls` that also records when each call arrived."""

    def __init__(self, existing: list[Any]) -> None:
        super().__init__(existing)
        now = time.perf_counter()
        self.times: list[float] = [now] * len(existing)

    def append(self, item: Any) -> None:  # MockSlack only ever appends
        self.times.append(time.perf_counter())
        super().append(item)


def quiet_logs() -> None:
    """Keep the app's structlog JSON lines out of the figures (warnings and errors stay)."""
    import logging

    import structlog

    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


@contextlib.contextmanager
def sandbox_process(data_dir: Path) -> Iterator[Path]:
    """`devops-bot sandbox serve` in a child process; yields the kubeconfig that points at it.

    A real cluster is another machine: serving the sandbox from its own process keeps its
    CPU out of the measured app's process (in-process it shares the app's GIL).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    kubeconfig = data_dir / "sandbox.kubeconfig"
    env = {**os.environ, "DEVOPS_BOT_DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
    code = "import sys; from bot.cli import main; sys.exit(main(sys.argv[1:]))"
    child = subprocess.Popen(
        [sys.executable, "-c", code, "sandbox", "serve", "--kubeconfig", str(kubeconfig)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()  # "SANDBOX cluster (simulated) serving at URL"
        if "serving at" not in first or not kubeconfig.exists():
            raise RuntimeError(f"the sandbox cluster did not start: {first!r}")
        yield kubeconfig
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def app_processes(count: int, env: dict[str, str], data_dir: Path) -> Iterator[list[str]]:
    """`count` replicas of the app, each `devops-bot serve --http` in its own process on
    its own port (as dynos behind a router); yields their base URLs once each is healthy.
    `env` is the configuration they share (Slack, Redis, KUBECONFIG, policy)."""
    import urllib.request

    children, bases = [], []
    code = "import sys; from bot.cli import main; sys.exit(main(sys.argv[1:]))"
    try:
        for i in range(count):
            port = free_port()
            folder = data_dir / f"replica-{i}"
            folder.mkdir(parents=True, exist_ok=True)
            children.append(
                subprocess.Popen(
                    [sys.executable, "-c", code, "serve", "--http", "--port", str(port)],
                    env={
                        **os.environ,
                        **env,
                        "DEVOPS_BOT_DATA_DIR": str(folder),
                        "LOG_LEVEL": "WARNING",
                    },
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        for base, child in zip(bases, children, strict=True):
            deadline = time.monotonic() + 60
            while True:  # bounded by the deadline
                if child.poll() is not None:
                    raise RuntimeError(f"the app at {base} exited with {child.returncode}")
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=1) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the app at {base} did not become healthy in 60 s")
                time.sleep(0.1)
        yield bases
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def loop_lag_histogram(metrics_text: str) -> dict[str, float]:
    """{upper bound: cumulative count} of `devops_bot_event_loop_lag_seconds`, plus "max"."""
    out: dict[str, float] = {}
    for line in metrics_text.splitlines():
        if line.startswith('devops_bot_event_loop_lag_seconds_bucket{le="'):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            out[bound] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("devops_bot_event_loop_lag_seconds_max "):
            out["max"] = float(line.rsplit(" ", 1)[1])
    return out
