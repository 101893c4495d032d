"""Event-loop lag: how late the loop wakes a task that asked to sleep, as a histogram.

Everything the bot does shares one event loop; a step that holds it (CPU work, a blocking
call) delays every ack and every click behind it. `LoopLag` sleeps `interval` in a loop and
records how late each wake-up is. /metrics shows it as
`devops_bot_event_loop_lag_seconds` (histogram) and `..._max` (largest since start), so a
stall over 100 ms shows up in monitoring (and in `benchmarks/slack_flow.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

__all__ = ["LoopLag"]

NAME = "devops_bot_event_loop_lag_seconds"


class LoopLag:
    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.counts = [0] * (len(self.BUCKETS) + 1)  # the last one: over every bucket
        self.total = 0.0
        self.max = 0.0
        self._task: asyncio.Task[None] | None = None

    def observe(self, lag: float) -> None:
        index = next((i for i, b in enumerate(self.BUCKETS) if lag <= b), len(self.BUCKETS))
        self.counts[index] += 1
        self.total += lag
        self.max = max(self.max, lag)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="event-loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:  # until stop() cancels it
            started = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.observe(max(0.0, time.perf_counter() - started - self.interval))

    def render(self) -> str:
        """The Prometheus text format: a histogram and a gauge."""
        lines = [
            f"# HELP {NAME} How late the event loop woke a task that slept, per wake-up.",
            f"# TYPE {NAME} histogram",
        ]
        running = 0
        for bound, count in zip((*self.BUCKETS, "+Inf"), self.counts, strict=True):
            running += count
            le = bound if isinstance(bound, str) else f"{bound:g}"
            lines.append(f'{NAME}_bucket{{le="{le}"}} {running}')
        lines += [
            f"{NAME}_sum {self.total:.6f}",
            f"{NAME}_count {running}",
            f"# HELP {NAME}_max The largest event-loop lag since the process started.",
            f"# TYPE {NAME}_max gauge",
            f"{NAME}_max {self.max:.6f}",
        ]
        return "\n".join(lines) + "\n"
