"""The simulator's candles: batched live updates and history match the one-by-one, eager way."""

from __future__ import annotations

import random
from typing import Any

from feeds.sim.candles import INTERVALS, Bar, bucket_start, next_bucket
from feeds.sim.engine import Series


def _fields(bar: Bar) -> tuple[int, ...]:
    return (bar.t, bar.T, bar.o, bar.h, bar.l, bar.c, bar.v, bar.base, bar.tbv, bar.tbb, bar.n, bar.f, bar.L,
            bar.version)


def test_series_sums_updates_into_what_each_update_makes() -> None:
    """A series applies its updates when its candles are read: each read (and each roll) sees
    exactly the candles updating every bar trade by trade gives, with or without volumes and
    trade ids, across rolls."""
    rng = random.Random(5)
    series = Series(2, lambda interval: [])
    plain: dict[str, Bar] = {}
    for interval in INTERVALS:
        series.cur[interval] = Bar(0, 59_999, 500, 520, 480, 505, 3, 30, 1, 10, 3, 7, 9)
        plain[interval] = Bar(0, 59_999, 500, 520, 480, 505, 3, 30, 1, 10, 3, 7, 9)
    series.update(999)  # before any read, into a fresh batch
    for bar in plain.values():
        bar.update(999)
    trade_id = 100
    for step in range(2000):
        price = rng.randint(400, 600)
        kind = rng.random()
        if kind < 0.6:
            trade_id += 1
            args: tuple = (price, rng.randint(1, 9), rng.randint(1, 999), rng.random() < 0.5, trade_id)
        elif kind < 0.8:
            args = (price,)  # a mark or index price: no volume, no trade id
        else:
            args = (price, rng.randint(1, 9), rng.randint(1, 999), rng.random() < 0.5)
        series.update(*args)
        for bar in plain.values():
            bar.update(*args)
        if rng.random() < 0.05:
            assert {i: _fields(b) for i, b in series.cur.items()} == {i: _fields(b) for i, b in plain.items()}
        if step % 500 == 499:  # a roll: the closed candles are the up-to-date ones
            now = (step // 500 + 1) * 60_000
            closed = dict(series.roll(now))
            assert "1m" in closed and (step > 500 or set(closed) == set(INTERVALS))
            for interval, bar in closed.items():
                assert _fields(bar) == _fields(plain[interval])
                start = bucket_start(interval, now)
                plain[interval] = plain[interval].rolled(start, next_bucket(interval, start))
    assert {i: _fields(b) for i, b in series.cur.items()} == {i: _fields(b) for i, b in plain.items()}


_HOUR = 3_600_000
_START = 1_790_000_000_000 - 1_790_000_000_000 % _HOUR + _HOUR - 2_000
"""Two seconds before an hour: the 1m to 1h candles roll 40 ticks in."""


def _candle_state(engine: Any) -> list[Any]:
    """Everything the generated past shows: live and closed candles of every series, some
    history, the 24 h window and the ticker of every contract."""
    out: list[Any] = []
    btc = sorted(s for s in engine.syms if s.startswith("BTCUSD"))  # the perpetual and the quarterlies
    for sym in btc:
        st = engine.syms[sym]
        for series in (st.trades, st.marks, st.premiums):
            out += [(sym, i, _fields(b)) for i, b in sorted(series.cur.items())]
            out += [(sym, i, [_fields(b) for b in d]) for i, d in sorted(series.closed.items())]
            out += [(sym, i, [_fields(b) for b in series.history(i)]) for i in ("1h", "1w")]
        out.append((st.win_stats, [b.t for b in st.window]))
        out.append(engine.ticker(sym).to_wire())
    index = engine.pairs["BTCUSD"].series
    out += [(i, _fields(b)) for i, b in sorted(index.cur.items())]
    out.append([_fields(b) for b in index.history("1h")])
    return out


def test_history_made_late_is_the_history_made_at_listing() -> None:
    """The generated past is made on first need; made at listing (the eager way), before the
    candles roll or after, the candles, windows and tickers at the end are the same."""
    from feeds.sim.engine import MarketEngine

    finals = []
    for read_at in (0, 20, 59):
        engine = MarketEngine(seed=3, speed=5, start_ms=_START)
        assert all(st.unbuilt for st in engine.syms.values())  # nothing made at start
        for tick in range(60):
            if tick == read_at:
                _candle_state(engine)
                assert not any(st.unbuilt for s, st in engine.syms.items() if s.startswith("BTCUSD"))
                assert engine.syms["ETHUSD_PERP"].unbuilt  # made only for what was read
            engine.step(1)
        finals.append(_candle_state(engine))
    assert finals[0] == finals[1] == finals[2]


def test_history_is_what_it_was() -> None:
    """Pinned from the eager builder this replaced (seed 3, listing 2 s before an hour):
    BTCUSD_PERP's 24 h window, its hour and week candles, its mark and index hour candles, and
    a quarterly's day candle, at listing."""
    from feeds.sim.engine import MarketEngine

    engine = MarketEngine(seed=3, speed=5, start_ms=_START)
    st = engine.syms["BTCUSD_PERP"]
    index_series, quarterly = engine.pairs["BTCUSD"].series, engine.syms["BTCUSD_260925"].trades
    assert st.trades is not None and st.marks is not None and index_series is not None and quarterly is not None
    hour = st.trades.cur["1h"]
    assert (hour.o, hour.h, hour.l, hour.c, hour.v, hour.n, hour.f, hour.L) == (
        877958, 880404, 875921, 880000, 38765, 2027, 126622863, 126624889)
    assert st.win_stats == (880404, 846880, 1030647, 119419532308, 56654, 126568236)
    week = st.trades.cur["1w"]  # older than the 1m history: its open is invented
    assert (week.o, week.h, week.l, week.c, week.v, week.n, week.f, week.L) == (
        858690, 880404, 854114, 880000, 635601, 35250, 126589640, 126624889)
    mark, index = st.marks.cur["1h"], index_series.cur["1h"]
    assert (mark.o, mark.h, mark.l, mark.c, mark.n, mark.f, mark.L) == (
        8779580000000, 8804040000000, 8759210000000, 8800000000000, 2027, 1789999200000, 1790002799999)
    assert (index.o, index.h, index.l, index.c, index.n, index.f, index.L) == (
        8779580000000, 8804040000000, 8759210000000, 8800000000000, 2027, 0, 0)
    day = quarterly.cur["1d"]
    assert (day.o, day.h, day.l, day.c, day.v, day.n, day.f, day.L) == (
        881195, 886811, 874312, 882914, 645764, 34594, 164298221, 164332814)


def test_fixed_size_history_is_the_general_loops() -> None:
    """The fixed-size fast path draws and rounds exactly as the general (calendar) loop does,
    down to a floor price and a listing date that cut the history short."""
    from feeds.sim.candles import _generate_back_calendar, generate_back

    start = 1_790_000_000_000 - 1_790_000_000_000 % (7 * 86_400_000) + 4 * 86_400_000  # a Monday
    for interval in ("1m", "5m", "1h", "1d", "1w"):
        assert bucket_start(interval, start) == start  # (the fast path's case)
        for floor, not_before in ((1, 0), (879_000, 0), (1, start - 300 * INTERVALS[interval])):
            args = (interval, start, 880_000, 400, 0.0004, 75, 10**12, floor, not_before)
            fast = generate_back(random.Random(9), *args)
            general = _generate_back_calendar(random.Random(9), *args)
            assert [_fields(b) for b in fast] == [_fields(b) for b in general]
            assert fast and len(fast) <= 400
