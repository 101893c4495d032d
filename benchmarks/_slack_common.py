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
    "fmt_ms",
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
