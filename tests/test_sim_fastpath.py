"""The simulated flow's fast paths make what the general paths make, and the book's count of
users' orders (which chooses between them) stays true."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from feeds.sim.engine import MarketEngine
from feeds.sim.market import MatchingBook, RestingOrder
from tests.conftest import SIM_SEED, SIM_START_MS

_STREAMS = ("btcusd_perp@aggTrade", "ethusd_perp@aggTrade", "xrpusd_perp@aggTrade", "dogeusd_perp@aggTrade",
            "btcusd_perp@depth@100ms", "!miniTicker@arr", "btcusd_perp@kline_1m", "!forceOrder@arr", "!bookTicker")
"""(aggTrade of contracts with 1, 2, 4 and 6 decimals: the fast path writes its frames out itself)"""


class _Recorder:
    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.frames = 0

    def wants(self, stream: str) -> bool:
        return stream in _STREAMS

    def active(self) -> tuple[str, ...]:
        return _STREAMS

    def send(self, stream: str, payload: Any) -> None:
        self.digest.update(stream.encode() + orjson.dumps(payload))
        self.frames += 1


def _run(general: bool) -> tuple[str, int, list[Any]]:
    hub = _Recorder()
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
