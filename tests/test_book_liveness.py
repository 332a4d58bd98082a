"""Issue 12 §2 through the dashboard's session: with only the depth frames stopped (trades, mark
price and tickers still flowing), or a depth frame undecodable, the book is not shown live."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from feeds.session import DashboardSession
from feeds.sim import SimExchange
from feeds.streams import FeedStatus

pytestmark = pytest.mark.timeout(40)


async def until(cond: Callable[[], object], timeout: float = 10.0) -> float:
    start = time.monotonic()
    while not cond():
        assert time.monotonic() - start < timeout, "timed out"
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def book_line(session: DashboardSession) -> tuple[str, str]:
    line = next(f for f in session.feed_summaries() if f.name == "book")
    return line.status, line.reason


async def test_depth_only_stall_and_bad_frame_are_shown_stale(sim: SimExchange) -> None:
    session = DashboardSession.for_sim(sim, trading=False)
    await session.start()
    try:
        await until(session.book_live)
        assert session.market is not None and session.stream is not None and session.depth is not None
        market = session.market
        sim.faults.depth_stall(3.0, "BTCUSD_PERP")
        detected = await until(lambda: not session.book_live(), 5)
        assert detected <= 2.0
        status, reason = book_line(session)
        assert status == "stale" and reason.startswith("no depth update for"), reason
        assert session.stream.state.status is FeedStatus.LIVE  # the other streams kept flowing
        trades = market.trades_version
        await until(lambda: market.trades_version > trades, 5)  # trades still print
        await until(session.book_live, 15)  # and it comes back once depth flows again

        depth = session.depth
        sim.faults.bad_depth("BTCUSD_PERP", frames=1, how="nopu")
        await until(lambda: not session.book_live(), 3)
        status, reason = book_line(session)
        assert status == "stale" and reason.startswith("undecodable depth frame"), reason
        assert depth.bad_frames == 1
        await until(session.book_live, 15)
        assert "rest " not in session.weight_text() and session.rest_weight_text().endswith("/2400")
    finally:
        await session.close()
