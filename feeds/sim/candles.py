"""Candles for the simulator: interval buckets, live bars and generated history.

Bars keep integer prices (ticks for trade candles, 1e-8 units for mark/index candles) and
integer volumes, and become :class:`feeds.models.Kline` only when they go on the wire.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from decimal import Decimal

from feeds.models import Kline

__all__ = ["INTERVALS", "Bar", "bucket_start", "next_bucket", "to_kline"]

MINUTE = 60_000
INTERVALS: dict[str, int] = {
    "1m": MINUTE, "3m": 3 * MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE, "30m": 30 * MINUTE,
    "1h": 60 * MINUTE, "2h": 120 * MINUTE, "4h": 240 * MINUTE, "6h": 360 * MINUTE,
    "8h": 480 * MINUTE, "12h": 720 * MINUTE, "1d": 1440 * MINUTE, "3d": 3 * 1440 * MINUTE,
    "1w": 7 * 1440 * MINUTE, "1M": 30 * 1440 * MINUTE,
}
"""Every kline interval of the spec; the 1M value is nominal (months are calendar months)."""

_WEEK_OFFSET = 4 * 1440 * MINUTE  # 1970-01-01 was a Thursday; Binance weeks start on Monday


def bucket_start(interval: str, t: int) -> int:
    """Open time of the candle of ``interval`` that contains ``t`` (ms, UTC)."""
    if interval == "1M":
        d = dt.datetime.fromtimestamp(t / 1000, dt.UTC)
        return int(dt.datetime(d.year, d.month, 1, tzinfo=dt.UTC).timestamp() * 1000)
    if interval == "1w":
        w = INTERVALS["1w"]
        return (t - _WEEK_OFFSET) // w * w + _WEEK_OFFSET
    size = INTERVALS[interval]
    return t // size * size


def next_bucket(interval: str, start: int) -> int:
    """Open time of the candle after the one opening at ``start``."""
    if interval == "1M":
        d = dt.datetime.fromtimestamp(start / 1000, dt.UTC)
        y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return int(dt.datetime(y, m, 1, tzinfo=dt.UTC).timestamp() * 1000)
    return start + INTERVALS[interval]


def prev_bucket(interval: str, start: int) -> int:
    """Open time of the candle before the one opening at ``start``."""
    return bucket_start(interval, start - 1)


@dataclass(slots=True)
class Bar:
    """One candle with integer prices (``scale`` decimals) and integer volumes."""

    t: int
    T: int
    o: int
    h: int
    l: int  # noqa: E741 - the wire's name
    c: int
    v: int = 0
    base: int = 0
    """Volume in the coin, in 1e-8 units."""
    tbv: int = 0
    tbb: int = 0
    n: int = 0
    f: int = -1
    L: int = -1
    version: int = 0

    def update(self, price: int, qty: int = 0, base: int = 0, taker_buy: bool = False,
               trade_id: int = -1) -> None:
        if price > self.h:
            self.h = price
        if price < self.l:
            self.l = price
        self.c = price
        self.n += 1
        if qty:
            self.v += qty
            self.base += base
            if taker_buy:
                self.tbv += qty
                self.tbb += base
        if trade_id >= 0:
            if self.f < 0:
                self.f = trade_id
            self.L = trade_id
        self.version += 1

    def update_run(self, price: int, count: int, qty: int, base: int, taker_buy: bool, first_id: int,
                   last_id: int) -> None:
        """``count`` trades at one price, ids ``first_id``..``last_id``, ``qty`` contracts and
        ``base`` coin units in all: what ``count`` calls of :meth:`update` make."""
        self.add_trades(price, price, price, count, qty, base, qty if taker_buy else 0, base if taker_buy else 0,
                        first_id, last_id)

    def add_trades(self, hi: int, lo: int, close: int, count: int, qty: int, base: int, buy_qty: int,
                   buy_base: int, first_id: int, last_id: int) -> None:
        """``count`` trades between ``lo`` and ``hi``, the last at ``close``, ids ``first_id``..
        ``last_id`` (-1: none), with their volumes in all: what their :meth:`update` calls make."""
        if hi > self.h:
            self.h = hi
        if lo < self.l:
            self.l = lo
        self.c = close
        self.n += count
        self.v += qty
        self.base += base
        self.tbv += buy_qty
        self.tbb += buy_base
        if last_id >= 0:
            if self.f < 0:
                self.f = first_id
            self.L = last_id
        self.version += count

    def absorb(self, other: Bar) -> None:
        """Add ``other``'s trades (a bar of the trades made since) to this bar."""
        self.add_trades(other.h, other.l, other.c, other.n, other.v, other.base, other.tbv, other.tbb, other.f,
                        other.L)

    def rolled(self, start: int, end: int) -> Bar:
        """The empty bar that follows this one."""
        return Bar(start, end - 1, self.c, self.c, self.c, self.c)

    def scaled(self, factor: int) -> Bar:
        """A copy with prices multiplied (ticks -> 1e-8 units) and no volume."""
        return Bar(self.t, self.T, self.o * factor, self.h * factor, self.l * factor,
                   self.c * factor, n=self.n, f=self.t, L=self.T)


def aggregate(bars: list[Bar], start: int, end: int) -> Bar | None:
    """One bar summing ``bars`` (oldest first) into the bucket [start, end)."""
    if not bars:
        return None
    out = Bar(start, end - 1, bars[0].o, max([b.h for b in bars]), min([b.l for b in bars]), bars[-1].c)
    v = base = tbv = tbb = n = 0
    first = last = -1
    for b in bars:
        v += b.v
        base += b.base
        tbv += b.tbv
        tbb += b.tbb
        n += b.n
        if b.f >= 0 and first < 0:
            first = b.f
        if b.L >= 0:
            last = b.L
    out.v, out.base, out.tbv, out.tbb, out.n, out.f, out.L = v, base, tbv, tbb, n, first, last
    return out


def generate_back(rng: random.Random, interval: str, first_start: int, first_open: int,
                  count: int, vol_per_min: float, base_qty: int, coin_per_qty_tick: int,
                  min_price: int, not_before: int) -> list[Bar]:
    """``count`` bars ending just before ``first_start`` whose last close is ``first_open``.

    ``coin_per_qty_tick`` is contractSize × 1e8 × 10^decimals: coin volume of one contract at
    price p ticks is ``coin_per_qty_tick // p`` in 1e-8 units.
    """
    if interval == "1M" or bucket_start(interval, first_start) != first_start:
        return _generate_back_calendar(rng, interval, first_start, first_open, count, vol_per_min, base_qty,
                                       coin_per_qty_tick, min_price, not_before)
    # Fixed-size buckets: the same draws and arithmetic as the general loop, with what does not
    # change from bar to bar worked out once (this runs for 1500 bars of each contract).
    size = INTERVALS[interval]
    minutes = size / MINUTE
    sigma = vol_per_min * math.sqrt(minutes)
    sigma6 = sigma * 0.6
    rate = 1 / (40 * minutes)
    gauss, expovariate, uniform, exp = rng.gauss, rng.expovariate, rng.uniform, math.exp
    bars: list[Bar] = []
    close = first_open
    end = first_start
    for _ in range(count):
        start = end - size
        if start < not_before:
            break
        o = round(close * exp(gauss(0, sigma)))
        if o < min_price:
            o = min_price
        spread = abs(gauss(0, sigma6))
        top = o if o > close else close
        h = top + round(top * spread)
        bottom = o if o < close else close
        lo = bottom - round(bottom * abs(gauss(0, sigma6)))
        if lo < min_price:
            lo = min_price
        n = int(expovariate(rate))
        if n < 1:
            n = 1
        v = int(n * base_qty * uniform(0.3, 1.7))
        if v < 1:
            v = 1
        tbv = int(v * uniform(0.35, 0.65))
        mid = (h + lo) // 2
        if mid < 1:
            mid = 1
        bars.append(Bar(start, end - 1, o, h, lo, close, v, v * coin_per_qty_tick // mid, tbv,
                        tbv * coin_per_qty_tick // mid, n))
        close = o
        end = start
    bars.reverse()
    return bars


def _generate_back_calendar(rng: random.Random, interval: str, first_start: int, first_open: int,
                            count: int, vol_per_min: float, base_qty: int, coin_per_qty_tick: int,
                            min_price: int, not_before: int) -> list[Bar]:
    bars: list[Bar] = []
    close = first_open
    start = first_start
    for _ in range(count):
        start = prev_bucket(interval, start)
        if start < not_before:
            break
        end = next_bucket(interval, start)
        minutes = (end - start) / MINUTE
        sigma = vol_per_min * math.sqrt(minutes)
        o = max(min_price, round(close * math.exp(rng.gauss(0, sigma))))
        spread = abs(rng.gauss(0, sigma * 0.6))
        h = max(o, close) + round(max(o, close) * spread)
        lo = max(min_price, min(o, close) - round(min(o, close) * abs(rng.gauss(0, sigma * 0.6))))
        n = max(1, int(rng.expovariate(1 / (40 * minutes))))
        v = max(1, int(n * base_qty * rng.uniform(0.3, 1.7)))
        tbv = int(v * rng.uniform(0.35, 0.65))
        mid = max(1, (h + lo) // 2)
        base = v * coin_per_qty_tick // mid
        bars.append(Bar(start, end - 1, o, h, lo, close, v, base, tbv, tbv * coin_per_qty_tick // mid, n))
        close = o
    bars.reverse()
    return bars


def to_kline(bar: Bar, interval: str, scale: int, *, closed: bool, symbol: str | None,
             volumes: bool = True) -> Kline:
    """The wire candle; ``volumes=False`` gives the all-zero volumes of mark/index candles."""
    def px(v: int) -> Decimal:
        return Decimal(v).scaleb(-scale)

    zero = Decimal(0)
    return Kline(
        open_time=bar.t,
        close_time=bar.T,
        interval=interval,
        open=px(bar.o),
        high=px(bar.h),
        low=px(bar.l),
        close=px(bar.c),
        volume=Decimal(bar.v) if volumes else zero,
        base_volume=Decimal(bar.base).scaleb(-8) if volumes else zero,
        trades=bar.n,
        taker_buy_volume=Decimal(bar.tbv) if volumes else zero,
        taker_buy_base_volume=Decimal(bar.tbb).scaleb(-8) if volumes else zero,
        is_closed=closed,
        first_id=bar.f,
        last_id=bar.L,
        symbol=symbol,
    )
