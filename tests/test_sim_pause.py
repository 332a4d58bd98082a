"""A paused real-time simulator waits a tick between its depth flushes, whatever the last step cost.

The clock loop spaces its ticks by what is left of the tick after stepping. While paused it only
flushes depth, and it used to keep the last step's cost: after a step longer than a tick (a loaded
machine, a collector pause) the wait was zero and the paused loop spun a core until resumed
(`make screenshots` and the Pilot tests pause it; a test pressing keys then waited Textual's
1 s "not idle" cap per key: 20-40 s flows).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from tests.sim_support import serving


async def test_a_paused_market_waits_a_tick_between_flushes_after_a_slow_step(tmp_path: Path) -> None:
    async with serving(seed=7, speed=1.0, data_dir=tmp_path / "sim", realtime=True) as exchange:
        eng = exchange.engine
        real_step, real_flush = eng.step, eng.flush_depth
        slowed = asyncio.Event()
        flushes = 0

        def step(n: int = 1) -> None:
            real_step(n)
            if not slowed.is_set():
                time.sleep(0.08)  # one step longer than a 50 ms tick...
                exchange.pause()  # ...and the market paused right after it
                slowed.set()

        def flush() -> Any:
            nonlocal flushes
            flushes += 1
            return real_flush()

        eng.step = step  # type: ignore[method-assign]
        eng.flush_depth = flush  # type: ignore[method-assign]
        await asyncio.wait_for(slowed.wait(), 10)
        before = flushes
        await asyncio.sleep(0.5)
        # one flush a 50 ms tick (10 in 0.5 s), with room for a slow machine; spinning made thousands
        assert flushes - before <= 14, flushes - before
