"""LoopLag: a blocked event loop shows up in the histogram and the max."""

from __future__ import annotations

import asyncio
import time

from bot.looplag import LoopLag


async def test_a_blocked_loop_is_measured():
    lag = LoopLag(interval=0.005)
    lag.start()
    await asyncio.sleep(0.05)
    time.sleep(0.15)  # noqa: ASYNC251 - hold the loop, as a CPU-bound step would
    await asyncio.sleep(0.05)
    await lag.stop()
    assert lag.max >= 0.1
    text = lag.render()
    assert 'devops_bot_event_loop_lag_seconds_bucket{le="0.1"}' in text
    over = int(text.split('_bucket{le="+Inf"} ')[1].split()[0]) - int(
        text.split('_bucket{le="0.1"} ')[1].split()[0]
    )
    # The blocked wake-up, at least (a loaded machine may add one of its own).
    assert 1 <= over <= 2, over
