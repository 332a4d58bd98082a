"""Issue 12 §2 through the dashboard's session: with only the depth frames stopped (trades, mark
price and tickers still flowing), or a depth frame undecodable, the book is not shown live."""

from __future__ import annotations

import pytest

from feeds.session import DashboardSession
from feeds.sim import SimExchange
from feeds.sim.session import sim_session
from feeds.streams import FeedStatus
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(40)


def book_line(session: DashboardSession) -> tuple[str, str]:
    line = next(f for f in session.feed_summaries() if f.name == "book")
    return line.status, line.reason


async def test_depth_only_stall_and_bad_frame_are_shown_stale(sim: SimExchange) -> None:
    session = sim_session(sim, trading=False)
    await session.start()
    try:
        await eventually(session.book_live, "the book live")
        assert session.market is not None and session.stream is not None and session.depth is not None
        market = session.market
        sim.faults.depth_stall(3.0, "BTCUSD_PERP")
        detected = await eventually(lambda: not session.book_live(), "the stall seen", 5)
        assert detected <= 2.0
        status, reason = book_line(session)
        assert status == "stale" and reason.startswith("no depth update for"), reason
        assert session.stream.state.status is FeedStatus.LIVE  # the other streams kept flowing
        trades = market.trades_version
        await eventually(lambda: market.trades_version > trades, "a trade", 5)  # trades still print
        await eventually(session.book_live, "the book live again", 15)  # and it comes back once depth flows again

        depth = session.depth
        sim.faults.bad_depth("BTCUSD_PERP", frames=1, how="nopu")
        await eventually(lambda: not session.book_live(), "the bad frame seen", 3)
        status, reason = book_line(session)
        assert status == "stale" and reason.startswith("undecodable depth frame"), reason
        assert depth.bad_frames == 1
        await eventually(session.book_live, "the book live after the bad frame", 15)
        assert "rest " not in session.weight_text() and session.rest_weight_text().endswith("/2400")
    finally:
        await session.close()
