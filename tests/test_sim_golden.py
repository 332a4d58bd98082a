"""The market a seed makes, pinned: every frame of the dashboard's streams (and the all-market
ones), then each contract's tapes, ids, book, resting queues, candles and the generators' state,
hashed after a run at 1x and at 1000x. The engine's hot loops are rewritten for speed from time
to time (inlined draws, levels as lists, floor for int, ...), always meant to make the very same
bytes; this says whether they do. A change that moves the market on purpose updates PINNED
(and says so in its commit)."""

from __future__ import annotations

from feeds.sim.engine import MarketEngine
from tests.sim_support import HashingHub

_STREAMS = ("btcusd_perp@depth@100ms", "btcusd_perp@aggTrade", "btcusd_perp@markPrice@1s", "btcusd@indexPrice@1s",
            "btcusd_perp@ticker", "btcusd_perp@kline_1m", "btcusd_perp@forceOrder", "!miniTicker@arr",
            "ethusd_perp@aggTrade", "!forceOrder@arr", "!bookTicker", "ethusd_perp@depth20@100ms",
            "!ticker@arr", "btcusd_perp@depth", "ethusd_perp@depth@500ms", "btcusd_perp@markPriceKline_1m")

PINNED = {
    (1.0, 400): (2102, "5ead7c427d1be3d1"),
    (1000.0, 12): (21419, "4879c1fd464cc1c5"),
}
"""(speed, steps of 50 ms) -> (frames sent, the first 16 hex digits of the run's digest)."""


def _run(speed: float, steps: int) -> tuple[int, str]:
    hub = HashingHub(sorted(_STREAMS))
    engine = MarketEngine(seed=7, speed=speed, start_ms=1_790_000_000_000 - 61_000, hub=hub)
    engine.step(steps)
    for symbol, st in sorted(engine.syms.items()):
        book = st.book
        assert st.trades is not None
        hub.digest.update(repr((
            symbol, st.recent_trades(50), list(st.agg_rows)[-50:], st.trade_id, st.agg_id, st.last_price,
            st.last_qty, book.update_id, book.top("BUY", 1000), book.top("SELL", 1000),
            [(t, [(o.oid, o.qty) for o in q]) for t, q in sorted(book.levels["BUY"].items())[-50:]],
            [(t, [(o.oid, o.qty) for o in q]) for t, q in sorted(book.levels["SELL"].items())[:50]],
            st.sim_oid, st.mark, [(i, (b.o, b.h, b.l, b.c, b.v, b.base, b.tbv, b.tbb, b.n, b.f, b.L))
                                  for i, b in st.trades.cur.items()],
            st.rng.getstate() if st.rng is not None else None,
        )).encode())
    hub.digest.update(repr(engine.rng.getstate()).encode())
    return hub.frames, hub.digest.hexdigest()[:16]


def test_a_seed_makes_the_same_market_as_pinned() -> None:
    got = {key: _run(*key) for key in PINNED}
    assert got == PINNED
