"""The simulator's candles: batched live updates and history match the one-by-one, eager way."""

from __future__ import annotations

import random

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
