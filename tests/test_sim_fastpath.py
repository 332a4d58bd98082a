"""The simulated flow's fast paths make what the general paths make, the book's count of
users' orders (which chooses between them) stays true, and the clock's held frames released a
run at a time reach each connection as they would one by one."""

from __future__ import annotations

from typing import Any

from feeds.sim.engine import MarketEngine
from feeds.sim.market import MatchingBook, RestingOrder
from tests.conftest import SIM_SEED, SIM_START_MS
from tests.sim_support import HashingHub

_STREAMS = ("btcusd_perp@aggTrade", "ethusd_perp@aggTrade", "xrpusd_perp@aggTrade", "dogeusd_perp@aggTrade",
            "btcusd_perp@depth@100ms", "!miniTicker@arr", "btcusd_perp@kline_1m", "!forceOrder@arr", "!bookTicker")
"""(aggTrade of contracts with 1, 2, 4 and 6 decimals: the fast path writes its frames out itself)"""


def _run(general: bool) -> tuple[str, int, list[Any]]:
    hub = HashingHub(_STREAMS)
    eng = MarketEngine(seed=SIM_SEED, speed=300.0, start_ms=SIM_START_MS, hub=hub)
    if general:
        for st in eng.syms.values():
            st.book.owned = 1  # as if a user's order rested: every draw and take goes the general way
    eng.step(8)
    state = [(s, st.trade_id, st.agg_id, st.book.update_id, st.recent_trades(30), list(st.agg_rows)[-30:],
              st.book.top("BUY", 500), st.book.top("SELL", 500), st.trades.cur["1m"] if st.trades else None)
             for s, st in eng.syms.items()]
    return hub.digest.hexdigest(), hub.frames, state


def test_fast_paths_make_the_same_market_as_the_general_ones() -> None:
    """The flow's takers matched and recorded in one pass, and its cancels drawn straight from
    a level's queue, while no user order rests: the same frames, tapes, books and candles for
    the seed as the general paths (which check every maker's owner)."""
    fast, general = _run(False), _run(True)
    assert fast[1] > 1000  # a busy market was compared
    assert fast == general


def test_owned_counts_the_users_resting_orders() -> None:
    book = MatchingBook("BTCUSD_PERP", 1)
    account = object()
    owner = type("Owner", (), {"account": account})()

    def rest(side: str, ticks: int, qty: int, who: Any = None) -> RestingOrder:
        book.begin(0)
        order = RestingOrder(len(book.levels["BUY"]) + len(book.levels["SELL"]) + 1, side, ticks, qty, who)
        book.add(order)
        return order

    rest("SELL", 101, 5)
    mine = rest("SELL", 101, 3, owner)
    rest("SELL", 102, 4, owner)
    assert book.owned == 2
    book.begin(0)
    fills = book.match("BUY", 6, None)  # the flow's 5, then 1 of the user's 3
    assert [(f.ticks, f.qty) for f in fills] == [(101, 5), (101, 1)] and book.owned == 2
    book.begin(0)
    book.match("BUY", 2, None)  # the rest of the user's order: it leaves the book
    assert mine.qty == 0 and book.owned == 1
    expired: list[RestingOrder] = []
    book.begin(0)
    assert book.match("BUY", 1, None, owner=account, expired=expired) == []  # self-trade: expired
    assert len(expired) == 1 and book.owned == 0
    other = rest("BUY", 99, 2, owner)
    assert book.owned == 1
    book.begin(0)
    book.cancel(other)
    assert book.owned == 0 and not book.levels["BUY"]


def test_released_runs_reach_each_connection_as_frame_by_frame() -> None:
    """The clock's held aggTrade frames go out a run of one stream at a time: each connection
    gets the same frames, in the same order, as sending them one by one (a connection held by a
    fault queues them all)."""
    import asyncio

    from feeds.sim.exchange import Hub, StreamConn

    def conns() -> list[StreamConn]:
        out = [StreamConn(object(), combined, "market") for combined in (False, True, True)]  # type: ignore[arg-type]
        out[2].stalled_until = float("inf")  # a fault holds this one: its frames queue
        return out

    frames = [("a@aggTrade", b'{"n":1}'), ("a@aggTrade", b'{"n":2}'), ("b@aggTrade", b'{"n":3}'),
              ("a@aggTrade", b'{"n":4}'), ("a@aggTrade", b'{"n":5}'), ("a@aggTrade", b'{"n":6}')]

    async def run(batched: bool) -> list[tuple[list[bytes], list[Any]]]:
        hub, cs = Hub(), conns()
        for c in cs:
            for stream in ("a@aggTrade", "b@aggTrade"):
                hub.add(c, stream)
        if batched:
            hub.release(frames)
        else:
            for stream, data in frames:
                hub._fan(stream, data, hub.subs[stream])
        return [(list(c.pending), [c.queue.get_nowait() for _ in range(c.queue.qsize())]) for c in cs]

    one_by_one, batched = asyncio.run(run(False)), asyncio.run(run(True))
    assert batched == one_by_one
    assert len(one_by_one[0][0]) == 6 and len(one_by_one[2][1]) == 6
