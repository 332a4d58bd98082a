"""Session start-up order: the book starts while the clock is measured, trading only after both.

The clock offset (three ``/time`` round trips) is needed by signed requests only, so the market
stream and the book's first wait (a depth event buffered before the snapshot) overlap it. Fail
closed stays: ``start`` returns, and the account (signed) starts, only once the rules and the
clock are known, and a clock that cannot be read fails start-up with the same message as before.
"""

from __future__ import annotations

import asyncio

import pytest

from feeds.errors import MalformedFrame
from feeds.rest import RestUnavailable
from feeds.session import DashboardSession, SessionError
from feeds.sim.exchange import SimExchange
from feeds.sim.session import sim_session

pytestmark = pytest.mark.timeout(30)


async def _until(cond: object, what: str, timeout: float = 10.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not cond():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def test_the_book_starts_while_the_clock_is_measured_and_trading_waits_for_it(sim: SimExchange) -> None:
    session: DashboardSession = sim_session(sim, trading=True)
    clock_may_answer = asyncio.Event()
    real_sync = session.rest.sync_time
    account_started: list[bool] = []

    async def slow_clock(samples: int = 3) -> int:
        await clock_may_answer.wait()
        return await real_sync(samples)

    real_account = session._start_account

    async def start_account() -> None:
        account_started.append(session.rest.clock_rtt_ms is not None)
        await real_account()

    session.rest.sync_time = slow_clock  # type: ignore[method-assign]
    session._start_account = start_account  # type: ignore[method-assign]
    start = asyncio.ensure_future(session.start())
    try:
        # the rules are loaded and the book syncs although the clock has not answered
        await _until(lambda: session.depth is not None and session.depth.synced, "the book, before the clock")
        assert not start.done()
        assert account_started == []  # no signed request before the clock offset is known
        assert session.latency_ms() is None  # not on venue time yet: no latency figure
        clock_may_answer.set()
        await asyncio.wait_for(start, 10)
        assert session.rest.clock_rtt_ms is not None
        await _until(lambda: account_started, "the account start")
        assert account_started == [True]
        await _until(lambda: session.latency_ms() is not None, "a latency figure on venue time")
    finally:
        start.cancel()
        await session.close()


@pytest.mark.parametrize(("error", "shown"), [
    (RestUnavailable("/time: venue unreachable (refused)"), "cannot load the venue's rules from {url}: {error}"),
    (MalformedFrame("/time: serverTime is not an integer: 'x'"), "the venue's rules cannot be read: {error}"),
])
async def test_a_clock_that_cannot_be_read_fails_start_up_as_before(
    sim: SimExchange, error: Exception, shown: str,
) -> None:
    session: DashboardSession = sim_session(sim, trading=False)

    async def broken_clock(samples: int = 3) -> int:
        raise error

    session.rest.sync_time = broken_clock  # type: ignore[method-assign]
    try:
        with pytest.raises(SessionError) as raised:
            await session.start()
        assert str(raised.value) == shown.format(url=session.venue.rest_url, error=error)
        assert raised.value.retryable
    finally:
        await session.close()
    assert all(t.done() for t in session._tasks)  # the streams started meanwhile are stopped


async def test_the_open_interest_sweep_waits_for_the_book(sim: SimExchange) -> None:
    """The watchlist's open interest (a request per contract, not on the main screen) is asked
    for once the shown book has synced, not while its snapshot is on the way (issue 19)."""
    session: DashboardSession = sim_session(sim, trading=False)
    snapshot_may_answer = asyncio.Event()
    snapshot_asked = asyncio.Event()
    real_depth = session.rest.depth
    asked: list[str] = []
    real_open_interest = session.rest.open_interest

    async def held_depth(symbol: str, limit: int = 1000, **kwargs: object) -> object:
        if limit > 5:  # the snapshot; not the quiet-stream check
            snapshot_asked.set()
            await snapshot_may_answer.wait()
        return await real_depth(symbol, limit, **kwargs)  # type: ignore[arg-type]

    async def open_interest(symbol: str) -> object:
        asked.append(symbol)
        return await real_open_interest(symbol)

    session.rest.depth = held_depth  # type: ignore[method-assign]
    session.rest.open_interest = open_interest  # type: ignore[method-assign]
    try:
        await asyncio.wait_for(session.start(), 10)
        await asyncio.wait_for(snapshot_asked.wait(), 10)
        for _ in range(20):  # loop turns (and 0.2 s) in which the sweep would have begun
            await asyncio.sleep(0.01)
        assert asked == [] and session.depth is not None and not session.depth.synced
        snapshot_may_answer.set()
        await _until(lambda: session.depth is not None and session.depth.synced, "the book")
        await _until(lambda: asked, "the open-interest sweep")
    finally:
        snapshot_may_answer.set()
        await session.close()


async def test_the_depth_stream_opens_while_the_rules_load(sim: SimExchange) -> None:
    """The book's first step (open the diff-depth stream, buffer an event) overlaps the
    exchangeInfo round trip; what arrived meanwhile goes to the book, and the other market
    streams are subscribed once the rules name them (issue 19)."""
    session: DashboardSession = sim_session(sim, trading=False)
    rules_may_answer = asyncio.Event()
    real_rules = session.rest.exchange_info

    async def held_rules() -> object:
        await rules_may_answer.wait()
        return await real_rules()

    session.rest.exchange_info = held_rules  # type: ignore[method-assign]
    start = asyncio.ensure_future(session.start())
    try:
        await _until(lambda: session._early_depth, "a depth event before the rules")
        assert session.stream is not None and session.stream.streams == ["btcusd_perp@depth@100ms"]
        assert session.depth is None and session.market is None
        rules_may_answer.set()
        await asyncio.wait_for(start, 10)
        assert session.market is not None and session.depth is not None
        assert session.stream.streams == session.market.streams()  # the rest subscribed, depth kept
        assert session.depth.sync.buffered or session.depth.synced  # the early events went to the book
        await _until(lambda: session.depth is not None and session.depth.synced, "the book")
        await _until(lambda: session.market is not None and session.market.ticker is not None, "the ticker")
    finally:
        rules_may_answer.set()
        start.cancel()
        await session.close()


async def test_a_worker_cancelled_before_it_ran_is_closed_not_left_unawaited(sim: SimExchange) -> None:
    """A candle fetch cancelled before its task starts (a symbol switched twice in one loop turn)
    is closed: Python warned "coroutine '_fetch_klines' was never awaited" when it was dropped."""
    session = sim_session(sim, trading=False)
    ran = []

    async def work() -> None:
        ran.append(1)

    coro = work()
    task = session._spawn(coro, "candles")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)  # the done callbacks
    assert not ran and task not in session._tasks
    assert coro.cr_frame is None  # closed (a coroutine never started and never closed keeps its frame)
