"""The simulated market: a seeded, clock-driven flow of makers, takers and liquidations.

Everything advances in fixed ticks of market time (``TICK_MS``); the same seed gives the same
book, trades and events. Stream payloads are built only for streams someone subscribed to
(the hub says which), through :mod:`feeds.models`, so the simulator emits exactly the shapes
the client parses (one exception: the flow's fast taker writes its aggTrade payload out field
for field, and tests/test_sim_fastpath.py compares its bytes with the model's).

The flow's hot loops (makers, cancels, takers) work on the book's queues directly and inline
``random.Random``'s draws as Python 3.11 makes them: the same seed gives the same bytes as
the general paths, which they fall back to while a user's order rests (``book.owned``).
"""

from __future__ import annotations

import functools
import math
import random
import zlib
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import count as _count
from math import floor as _floor
from math import log as _log
from typing import Any, NamedTuple, Protocol

from feeds.decimals import decimals_of
from feeds.models import (
    AggTrade,
    BookTicker,
    ContractInfo,
    DepthUpdate,
    ForceOrder,
    IndexPriceUpdate,
    KlineEvent,
    MarkPriceUpdate,
    MiniTicker,
    Ticker,
)
from feeds.sim.candles import INTERVALS, Bar, aggregate, bucket_start, generate_back, next_bucket, to_kline
from feeds.sim.delivery import Delivery
from feeds.sim.market import (
    ContractSpec,
    Fill,
    MatchingBook,
    RestingOrder,
    contracts_at,
    premium_at,
    symbol_info,
)
from feeds.sim.streams import StreamSpec, parse_stream
from feeds.symbols import SymbolInfo

__all__ = ["Hub", "MarketEngine", "NullHub"]

TICK_MS = 50
_DEPTH_CADENCES = ((100, "@depth@100ms"), (250, "@depth"), (500, "@depth@500ms"))
"""Diff-depth update speeds in ms and their stream-name suffixes."""
_SIM_QUEUE = 8
"""Simulated makers' orders on one level before the newest one grows instead of a new one."""
HISTORY_BARS = 1500
FUNDING_PERIOD_MS = 8 * 3600 * 1000
TAPE_TRADES = 20_000
"""Trades (and aggregate trades) each symbol keeps for REST ``trades``/``historicalTrades``/``aggTrades``."""
FUNDING_KEPT = 1000
"""Funding settlements kept per perpetual for REST ``fundingRate`` (its maximum limit)."""


class TapeTrade(NamedTuple):
    """One trade of the matching engine, as REST ``trades`` shows it (price in ticks)."""

    id: int
    ticks: int
    qty: int
    base: int
    """Coin volume in 1e-8 units."""
    time: int
    buyer_maker: bool


class TapeAgg(NamedTuple):
    """One aggregate trade (one taker order's fills at one price), as REST ``aggTrades`` shows it."""

    id: int
    ticks: int
    qty: int
    first: int
    last: int
    time: int
    buyer_maker: bool


class Hub(Protocol):
    """Where the engine sends stream payloads (the stream server implements it)."""

    def wants(self, stream: str) -> bool: ...
    def send(self, stream: str, payload: Any) -> None: ...
    def active(self) -> Iterable[str]: ...


class NullHub:
    """A hub nobody listens to (engine unit use)."""

    def wants(self, stream: str) -> bool:
        return False

    def send(self, stream: str, payload: Any) -> None:
        pass

    def active(self) -> Iterable[str]:
        return ()


def fmt_units(value: int, scale: int) -> Decimal:
    """An integer with ``scale`` implied decimals as an exact Decimal keeping that scale."""
    return Decimal(value).scaleb(-scale)


class Series:
    """Live candles of every interval for one price series, plus lazily made history.

    Updates are summed in one accumulator and applied to the fifteen live candles when they are
    next read (``cur``): a fast market's trades cost one update each instead of fifteen, and
    every read sees exactly what updating each candle trade by trade would have made.
    """

    __slots__ = ("_acc", "_build", "_closed", "_cur", "_hist", "_history", "scale")

    def __init__(self, scale: int, history: Callable[[str], list[Bar]],
                 build: Callable[[], None] | None = None) -> None:
        self.scale = scale
        self._build = build
        """Completes the candles with their generated past before anything reads them (the
        contract's history is made on first need; until then only the live part is kept)."""
        self._cur: dict[str, Bar] = {}
        self._acc: Bar | None = None
        """The trades not yet applied to the live candles, summed as one bar (by Bar.update)."""
        self._closed: dict[str, deque[Bar]] = {i: deque(maxlen=HISTORY_BARS) for i in INTERVALS}
        self._history = history
        self._hist: dict[str, list[Bar]] = {}

    @property
    def cur(self) -> dict[str, Bar]:
        """Interval -> the live candle, up to date."""
        if self._build is not None:
            self._build()
        if self._acc is not None:
            self._settle()
        return self._cur

    @property
    def closed(self) -> dict[str, deque[Bar]]:
        """Interval -> the candles closed since the simulator started, oldest first."""
        if self._build is not None:
            self._build()
        return self._closed

    def live(self, interval: str, start: int) -> Bar | None:
        """The candle of ``interval`` opening at ``start`` as the live flow made it (current or
        closed since), without completing anything: what the history builder merges into."""
        if self._acc is not None:
            self._settle()
        bar = self._cur.get(interval)
        if bar is not None and bar.t == start:
            return bar
        return next((b for b in self._closed[interval] if b.t == start), None)

    def update(self, price: int, qty: int = 0, base: int = 0, taker_buy: bool = False,
               trade_id: int = -1) -> None:
        acc = self._acc
        if acc is None:
            if not self._cur:
                return
            acc = self._acc = Bar(0, 0, price, price, price, price)
        acc.update(price, qty, base, taker_buy, trade_id)

    def update_run(self, price: int, count: int, qty: int, base: int, taker_buy: bool, first_id: int,
                   last_id: int) -> None:
        """``count`` trades at one price (ids ``first_id``..``last_id``, ``qty`` and ``base`` in
        all): what ``count`` calls of :meth:`update` make."""
        acc = self._acc
        if acc is None:
            if not self._cur:
                return
            acc = self._acc = Bar(0, 0, price, price, price, price)
        acc.update_run(price, count, qty, base, taker_buy, first_id, last_id)

    def _settle(self) -> None:
        acc = self._acc
        assert acc is not None
        self._acc = None
        for bar in self._cur.values():
            bar.absorb(acc)

    def roll(self, now: int) -> list[tuple[str, Bar]]:
        """Close every candle whose time is over; returns (interval, closed bar)."""
        if self._acc is not None:
            self._settle()
        done = []
        cur = self._cur
        for interval, bar in cur.items():
            if now > bar.T:
                self._closed[interval].append(bar)
                start = bucket_start(interval, now)
                cur[interval] = bar.rolled(start, next_bucket(interval, start))
                done.append((interval, bar))
        return done

    def history(self, interval: str) -> list[Bar]:
        if self._build is not None:
            self._build()
        if interval not in self._hist:
            self._hist[interval] = self._history(interval)
        return self._hist[interval]

    def bars(self, interval: str, start: int | None, end: int | None, limit: int) -> list[tuple[Bar, bool]]:
        """Closed history + live closed + the current candle, filtered like REST klines."""
        cur = self.cur[interval]
        rows: list[tuple[Bar, bool]] = []
        if start is None or start <= cur.t:
            # Only materialise the generated history when the request reaches back into it.
            live = list(self.closed[interval])
            need_hist = start is not None or len(live) + 1 < limit
            older = self.history(interval) if need_hist else []
            rows = [(b, True) for b in older] + [(b, True) for b in live]
        rows.append((cur, False))
        if start is not None:
            rows = [r for r in rows if r[0].t >= start]
        if end is not None:
            rows = [r for r in rows if r[0].t <= end]
        if start is not None and end is None:
            return rows[:limit]
        return rows[-limit:]


@dataclass(slots=True)
class PairState:
    pair: str
    index: int
    """Index price in 1e-8 USD."""
    series: Series | None = None
    index_updates: int = 0


@dataclass(slots=True)
class SymState:
    spec: ContractSpec
    info: SymbolInfo
    decimals: int
    tick_units: int
    """One tick in 1e-8 USD."""
    book: MatchingBook
    fair: int = 0
    """Fair value in 1e-8 USD."""
    premium: float = 0.0
    """The perpetual's mean-reverting premium over the index (fraction)."""
    mark: int = 0
    basis_ema: float = 0.0
    funding_rate: Decimal | None = None
    trade_id: int = 0
    agg_id: int = 0
    last_price: int = 0
    last_qty: int = 0
    burst_ticks: int = 0
    burst_dir: int = 0
    trades: Series | None = None
    marks: Series | None = None
    premiums: Series | None = None
    """Premium index ((mark - index) / index) candles in 1e-8 units."""
    agg_rows: deque[tuple[int, int, int, int, int, int, bool, tuple[int, ...] | None]] = field(
        default_factory=lambda: deque(maxlen=TAPE_TRADES))
    """The kept aggregate trades as plain tuples: :class:`TapeAgg`'s fields, then each trade's
    quantity (None for one trade: its quantity is the total). The trades themselves are made
    from them when read (:meth:`recent_trades`): a fast market makes thousands a second, and a
    record kept (and dropped) for each cost an eighth of the simulator's CPU. Each aggregate
    holds at least one trade, so these hold at least the last ``TAPE_TRADES`` trades."""
    hist1m: list[Bar] = field(default_factory=list)
    window: deque[Bar] = field(default_factory=lambda: deque(maxlen=HISTORY_BARS))
    """Closed 1m bars of the rolling 24 h window (the ticker)."""
    win_stats: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0)
    """(high, low, volume, base volume, trades, first trade id) of the closed window bars."""
    changed_since_arr: bool = False
    last_force: ForceOrder | None = None
    last_force_ms: int = 0
    last_book_top: tuple[Any, ...] = ()
    price_minute_ago: int = 0
    sim_oid: int = 0
    rng: random.Random | None = None
    """A quarterly's own random flow (listing or delivering one leaves the others' market as it was)."""
    coin_per_qty_tick: int = 0
    base_qty: int = 1
    taker_qty: int = 1
    born: tuple[int, int, int] = (0, 0, 0)
    """(market time, price in ticks, trade id) at listing: where the generated past ends."""
    unbuilt: bool = False
    """The generated past (1m history, 24 h window, earlier part of the live candles) is not
    made yet: :meth:`MarketEngine.build_history` makes it on first need."""
    window_cut: int | None = None
    """The last minute roll's time: the 24 h window keeps bars from a day before it."""
    agg_stream: str = ""
    """The symbol's ``<symbol>@aggTrade`` stream name."""

    def recent_trades(self, n: int = TAPE_TRADES) -> list[tuple[int, int, int, int, int, bool]]:
        """The last ``n`` trades (at most ``TAPE_TRADES``), oldest first, as plain tuples in
        :class:`TapeTrade`'s order."""
        n = min(n, TAPE_TRADES)
        cpq = self.coin_per_qty_tick
        out: list[tuple[int, int, int, int, int, bool]] = []
        for _, ticks, total, first, _, when, buyer_maker, qtys in reversed(self.agg_rows):
            if len(out) >= n:
                break
            if qtys is None:
                out.append((first, ticks, total, total * cpq // ticks, when, buyer_maker))
            else:
                for i in range(len(qtys) - 1, -1, -1):
                    q = qtys[i]
                    out.append((first + i, ticks, q, q * cpq // ticks, when, buyer_maker))
        del out[n:]
        out.reverse()
        return out

    @property
    def tape(self) -> list[TapeTrade]:
        """The kept trades (the last ``TAPE_TRADES``), oldest first."""
        return list(map(TapeTrade._make, self.recent_trades()))

    @property
    def agg_tape(self) -> list[TapeAgg]:
        """The kept aggregate trades, oldest first."""
        return [TapeAgg._make(row[:7]) for row in self.agg_rows]


_RATE40 = 1 / 40
"""The rate of the exponential draws of a maker's distance from fair value (mean 40 levels)."""
_NEG_RATE40 = -_RATE40
"""``-log(1 - u) / _RATE40`` is written ``log(1 - u) / _NEG_RATE40``: the same float (IEEE
division is symmetric in sign), without making the negated log as a float of its own."""
_SPAN_01_15 = 1.5 - 0.1
_SPAN_03_10 = 1.0 - 0.3
"""``b - a`` of the uniform draws inlined from ``random.uniform(a, b)`` (the same float)."""
_PARETO_EXP = -1.0 / 1.6
"""``random.paretovariate(1.6)``'s exponent: a taker's size is ``taker_qty * u ** _PARETO_EXP``."""
# The hot loops truncate draws with ``_floor`` rather than ``int``: every value truncated there is
# >= 0 (a size, or a distance from a draw in [0, 1)), where floor and int give the same int. On
# 3.11 ``int(x)`` is a type call (argument parsing, then ``__trunc__``), ~85 ns against ~27 ns for
# ``math.floor`` of a float, and a 1000x step makes ~45,000 of them.
_new_tuple = tuple.__new__
_new_object = object.__new__

_POISSON_PART = 500.0
"""Largest mean drawn in one product of uniforms: past ~745, exp(-mean) underflows to 0.0 and
the product stops only when it underflows too, so every draw came out ~745 whatever the mean
(a fast market's activity stopped growing with the speed)."""


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam < 0.05:
        return 1 if rng.random() < lam else 0
    parts = 1
    if lam > _POISSON_PART:
        # A sum of Poisson draws is a Poisson draw of the summed means.
        parts = math.ceil(lam / _POISSON_PART)
        lam = lam / parts
    limit = math.exp(-lam)
    random_ = rng.random
    total = 0
    for _ in range(parts):
        p = 1.0
        for k in _count():  # k: the uniforms multiplied in before this one
            p *= random_()
            if p <= limit:
                total += k
                break
    return total


class MarketEngine:
    """Deterministic market generator and matching for every simulated contract."""

    def __init__(self, seed: int = 1, speed: float = 1.0, start_ms: int = 0, hub: Hub | None = None) -> None:
        self.seed = seed
        self.speed = speed
        self.rng = random.Random(seed)
        self.hub: Hub = hub or NullHub()
        self.now_ms = start_ms - start_ms % TICK_MS
        self.start_ms = self.now_ms
        self._minute = self.now_ms // 60_000
        self.ticks = 0
        specs = contracts_at(self.now_ms)
        self.symbols = {spec.symbol: symbol_info(spec) for spec in specs}
        self.syms: dict[str, SymState] = {}
        self.pairs: dict[str, PairState] = {}
        self.accounts: Any = None
        """The paper-trading side (``feeds.sim.accounts.Accounts``), told about trades and marks."""
        self.trade_listeners: list[Callable[[str, int, int, str], None]] = []
        self._parsed: dict[str, StreamSpec | None] = {}
        self._sent_versions: dict[str, tuple[int, int]] = {}
        self._dropped_depth: dict[str, set[int]] = {}
        """symbol -> cadences whose next diff is still to be dropped (the depth_gap fault)."""
        self._next_funding = (self.now_ms // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
        self.funding_history: dict[str, deque[tuple[int, Decimal]]] = {}
        """Perpetual -> (funding time, rate) of each settlement since start, oldest first."""
        self.minute_listeners: list[Callable[[int], None]] = []
        """Called with the new minute's start after each minute boundary (statistics sampling)."""
        self._symbol_set = set(self.symbols)
        self._pair_set = {i.pair for i in self.symbols.values()}
        for spec in specs:
            self._init_symbol(spec)
        for st in self.syms.values():
            self._init_marks(st)
        self.delivery = Delivery(self)
        """The quarterlies' settle price, delivery and listing of the next quarter (its clock is this one)."""

    def list_contract(self, spec: ContractSpec) -> None:
        """List a new contract now (a new quarterly after a delivery): its book, candles and streams."""
        self.symbols[spec.symbol] = symbol_info(spec)
        self._symbol_set.add(spec.symbol)
        self._pair_set.add(self.symbols[spec.symbol].pair)
        self._parsed.clear()  # a stream of the new symbol named before it was listed
        self._init_symbol(spec)
        self._init_marks(self.syms[spec.symbol])

    # ------------------------------------------------------------------ initial state
    def _sub_rng(self, *parts: Any) -> random.Random:
        return random.Random(zlib.crc32(repr((self.seed, *parts)).encode()))

    def _init_symbol(self, spec: ContractSpec) -> None:
        info = self.symbols[spec.symbol]
        tick = info.tick_size
        # prices are kept in ticks and written with ``decimals`` places: the tick must be 10^-decimals
        # ("0.000010" is five places, not the six its text has)
        decimals = decimals_of(tick)
        if tick != Decimal(1).scaleb(-decimals):
            raise ValueError(f"{spec.symbol}: the simulator needs a power-of-ten tick, not {tick}")
        tick_units = int(tick * 100_000_000)
        first_id = 1_000_000_000 + self._sub_rng(spec.symbol, "uid").randrange(1_000_000_000)
        st = SymState(spec, info, decimals, tick_units, MatchingBook(spec.symbol, first_id))
        st.agg_stream = f"{spec.symbol.lower()}@aggTrade"
        st.coin_per_qty_tick = spec.contract_size * 100_000_000 * 10 ** decimals
        start_ticks = int(Decimal(spec.start_price) / tick)
        st.fair = start_ticks * tick_units
        st.mark = st.fair
        st.last_price = start_ticks
        st.price_minute_ago = start_ticks
        st.base_qty = 120 if spec.contract_size == 100 else 250
        st.taker_qty = 6 if spec.contract_size == 100 else 25
        st.trade_id = 100_000_000 + self._sub_rng(spec.symbol, "tid").randrange(100_000_000)
        st.agg_id = st.trade_id // 3
        if spec.contract_type == "PERPETUAL":
            st.funding_rate = Decimal("0.00010000")
        else:
            st.rng = self._sub_rng(spec.symbol, "flow")
        self.syms[spec.symbol] = st
        pair = info.pair
        if pair not in self.pairs:
            idx = int(st.fair / (1 + float(spec.basis)))
            self.pairs[pair] = PairState(pair, idx)
        self._init_history(st, start_ticks)
        self._seed_book(st)

    def _init_history(self, st: SymState, start_ticks: int) -> None:
        # Only the live candles from now; their generated past is made on first need
        # (build_history): fourteen contracts' 1500 minutes each were most of the start-up.
        st.born = (self.now_ms, start_ticks, st.trade_id)
        st.unbuilt = True
        st.trades = Series(st.decimals, functools.partial(self._trade_history, st),
                           functools.partial(self.build_history, st))
        for interval in INTERVALS:
            start = bucket_start(interval, self.now_ms)
            end = next_bucket(interval, start)
            st.trades._cur[interval] = Bar(start, end - 1, start_ticks, start_ticks, start_ticks, start_ticks)

    def build_history(self, st: SymState) -> None:
        """Make ``st``'s generated past: its 1m history (the 24 h window's bars), and the part of
        each live candle from before listing, merged into the candles the flow has made since.

        The same whichever time it runs: everything comes from the symbol's own seeded random
        stream and its listing state, and the merge gives what updating the eager candles
        trade by trade gives (tests/test_sim_candles.py).
        """
        if not st.unbuilt:
            return
        st.unbuilt = False
        assert st.trades is not None and st.marks is not None and st.premiums is not None
        pair = self.pairs[st.info.pair]
        sources = [st.trades, st.marks, st.premiums]
        if pair.series is not None and pair.series._build is st.trades._build:
            sources.append(pair.series)
        for series in sources:
            series._build = None
        born_ms, start_ticks, born_tid = st.born
        rng = self._sub_rng(st.spec.symbol, "1m")
        minute = bucket_start("1m", born_ms)
        vol = 0.0004
        bars = generate_back(rng, "1m", minute, start_ticks, HISTORY_BARS, vol, st.taker_qty * 3,
                             st.coin_per_qty_tick, int(st.info.min_price / st.info.tick_size), 0)
        tid = born_tid - sum(b.n for b in bars)
        for b in bars:
            b.f, b.L = tid, tid + b.n - 1
            tid += b.n
        st.hist1m = bars
        live_window = list(st.window)
        st.window.clear()
        st.window.extend(bars[-1439:])
        st.window.extend(live_window)
        if st.window_cut is not None:
            while st.window and st.window[0].t < st.window_cut - 86_400_000 + 60_000:
                st.window.popleft()
        self._recompute_window(st)
        factor = st.tick_units
        for interval in INTERVALS:
            start = bucket_start(interval, born_ms)
            end = next_bucket(interval, start)
            first = (start - bars[0].t) // 60_000
            inside = bars[max(0, first):] if first < len(bars) else []
            past = aggregate(inside, start, end) if inside and start <= bars[-1].t else None
            if past is None:
                continue  # the candle opened at listing: the live one is all of it
            past.c = start_ticks
            if first < 0:  # bucket older than the 1m history: invent its earlier part
                past.o = int(past.o * math.exp(rng.gauss(0, vol * math.sqrt(-first))))
                past.h, past.l = max(past.h, past.o), min(past.l, past.o)
            # The past's close is the listing price, inside its range: the merged high and low
            # are the flow's extremes against the past's.
            bar = st.trades.live(interval, start)
            if bar is not None:
                bar.o, bar.h, bar.l = past.o, max(bar.h, past.h), min(bar.l, past.l)
                bar.n += past.n
                bar.v += past.v
                bar.base += past.base
                bar.tbv += past.tbv
                bar.tbb += past.tbb
                if past.f >= 0:
                    bar.f = past.f
                if bar.L < 0:
                    bar.L = past.L
            for series in sources[1:]:
                if series is st.premiums:
                    continue  # premium candles start from the premium at listing
                bar = series.live(interval, start)
                if bar is not None:
                    bar.o = past.o * factor
                    bar.h, bar.l = max(bar.h, past.h * factor), min(bar.l, past.l * factor)
                    bar.n += past.n

    def _ensure_history(self, symbol: str) -> None:
        st = self.syms.get(symbol)
        if st is not None and st.unbuilt:
            self.build_history(st)

    def _trade_history(self, st: SymState, interval: str) -> list[Bar]:
        one = st.hist1m
        if interval == "1m":
            return list(one)
        assert st.trades is not None
        init_start = bucket_start(interval, self.start_ms)
        agg: list[Bar] = []
        b = bucket_start(interval, init_start - 1)
        while b >= one[0].t:
            e = next_bucket(interval, b)
            i0 = (b - one[0].t) // 60_000
            i1 = (e - one[0].t) // 60_000
            bar = aggregate(one[i0:i1], b, e)
            if bar is None:
                break
            agg.append(bar)
            b = bucket_start(interval, b - 1)
        agg.reverse()
        first_start = agg[0].t if agg else init_start
        first_open = agg[0].o if agg else self._init_open(st, interval)
        gen = generate_back(self._sub_rng(st.spec.symbol, interval), interval, first_start, first_open,
                            HISTORY_BARS - len(agg), 0.0004, st.taker_qty * 3, st.coin_per_qty_tick,
                            int(st.info.min_price / st.info.tick_size), st.info.onboard_date)
        return gen + agg

    def _init_open(self, st: SymState, interval: str) -> int:
        # The open of the candle that was current when the simulator started.
        assert st.trades is not None
        hist = st.trades.closed[interval]
        return hist[0].o if hist else st.trades.cur[interval].o

    def _init_marks(self, st: SymState) -> None:
        factor = st.tick_units
        assert st.trades is not None
        trades = st.trades
        build = trades._build
        st.marks = Series(8, lambda i: [b.scaled(factor) for b in trades.history(i)], build)
        for interval, bar in trades._cur.items():
            st.marks._cur[interval] = bar.scaled(factor)
        pair = self.pairs[st.info.pair]
        if pair.series is None and st.info.is_perpetual:
            pair.series = Series(8, lambda i: [b.scaled(factor) for b in trades.history(i)], build)
            for interval, bar in trades._cur.items():
                s = bar.scaled(factor)
                s.f = s.L = 0
                pair.series._cur[interval] = s
        self._update_marks(st, count=False)
        self._init_premiums(st)

    def _init_premiums(self, st: SymState) -> None:
        # The premium's past is what the mark and index candles' past says: (mark / index - 1).
        marks = st.marks
        index = self.pairs[st.info.pair].series
        assert marks is not None

        def ratio(m: Bar, i: Bar | None) -> Bar:
            def p(a: int, b: int) -> int:
                return round((a - b) * 100_000_000 / b) if b else 0
            if i is None:
                return Bar(m.t, m.T, 0, 0, 0, 0, n=m.n)
            o, c = p(m.o, i.o), p(m.c, i.c)  # (highs and lows of a ratio are not kept: o/c bound it)
            return Bar(m.t, m.T, o, max(o, c), min(o, c), c, n=m.n)

        def history(interval: str) -> list[Bar]:
            idx = {b.t: b for b in index.history(interval)} if index is not None else {}
            return [ratio(b, idx.get(b.t)) for b in marks.history(interval)]

        st.premiums = Series(8, history, marks._build)
        now_p = self.premium_units(st.info.symbol)
        for interval, bar in marks._cur.items():
            st.premiums._cur[interval] = Bar(bar.t, bar.T, now_p, now_p, now_p, now_p)

    def premium_units(self, symbol: str) -> int:
        """The premium index now, (mark - index) / index, in 1e-8 units."""
        st = self.syms[symbol]
        index = self.pairs[st.info.pair].index
        if not index:
            return 0
        return int((Decimal((st.mark - index) * 100_000_000) / index).to_integral_value())  # half-even

    def _seed_book(self, st: SymState) -> None:
        rng = self._sub_rng(st.spec.symbol, "book")
        book = st.book
        fair_t = st.fair // st.tick_units
        grid = st.spec.grid
        book.begin(self.now_ms)
        for k in range(350):
            for side, sign in (("BUY", -1), ("SELL", 1)):
                qty = max(1, int(st.base_qty * (0.3 + k / 60) * rng.uniform(0.2, 1.8)))
                self._sim_add(st, side, fair_t + sign * grid * (k + 1), qty)
        for c in book.CADENCES:
            book.take_diff(c)
        st.last_book_top = self._book_top(st)

    def _sim_add(self, st: SymState, side: str, ticks: int, qty: int) -> None:
        if ticks <= 0:
            return
        book = st.book
        queue = book.levels[side].get(ticks)
        if queue is not None and len(queue) >= _SIM_QUEUE and queue[-1].owner is None:
            # A crowded level: the flow's newest order there grows instead (the level's size
            # and every queue position are as if a new order had joined at the back). Without
            # this the flow's partial cancels leave orders behind faster than takers eat them:
            # ~600 more a second at 10x, without bound.
            book.grow(queue[-1], qty)
            return
        st.sim_oid += 1
        book.add(RestingOrder(st.sim_oid, side, ticks, qty))

    # ------------------------------------------------------------------ time
    def step(self, n: int = 1) -> None:
        """Advance market time by ``n`` ticks of ``TICK_MS``."""
        for _ in range(n):
            self._tick()

    def _tick(self) -> None:
        self.now_ms += TICK_MS
        self.ticks += 1
        now = self.now_ms
        if now // 60_000 != self._minute:
            # Compared, not "now % 60000 == 0": a real-time catch-up may jump over the boundary.
            self._minute = now // 60_000
            self._roll_minute()
            for listener in self.minute_listeners:
                listener(now - now % 60_000)
        if now >= self._next_funding:
            for sym, st in self.syms.items():
                if st.info.is_perpetual and st.funding_rate is not None:
                    self.funding_history.setdefault(sym, deque(maxlen=FUNDING_KEPT)).append(
                        (self._next_funding, st.funding_rate))
            self._next_funding += FUNDING_PERIOD_MS
            if self.accounts is not None:
                self.accounts.on_funding(now)
        for pair in self.pairs.values():
            self._walk_index(pair)
        for st in self.syms.values():
            if st.info.status == "TRADING":
                self._activity(st)
        if now % 1000 == 0:
            for st in self.syms.values():
                self._update_marks(st)
            for pair in self.pairs.values():
                if pair.series is not None:
                    pair.series.update(pair.index)
                    pair.index_updates += 1
            if self.accounts is not None:
                self.accounts.on_marks(now)
        self.delivery.on_tick(now)
        if self.accounts is not None:
            self.accounts.on_tick(now)
        self._flush(now)

    def _roll_minute(self) -> None:
        now = self.now_ms
        for st in self.syms.values():
            assert st.trades is not None and st.marks is not None
            closed = st.trades.roll(now)
            for interval, bar in closed:
                if interval == "1m":
                    st.window.append(bar)
                    st.window_cut = now
                    while st.window and st.window[0].t < now - 86_400_000 + 60_000:
                        st.window.popleft()
                    if not st.unbuilt:
                        self._recompute_window(st)
                self._emit_closed_kline(st, interval, bar)
            for interval, bar in st.marks.roll(now):
                self._emit_mark_kline(st, interval, bar, closed=True)
            if st.premiums is not None:
                st.premiums.roll(now)
            st.price_minute_ago = st.last_price
        for pair in self.pairs.values():
            if pair.series is not None:
                for interval, bar in pair.series.roll(now):
                    self._emit_index_kline(pair, interval, bar, closed=True)

    def _recompute_window(self, st: SymState) -> None:
        w = st.window
        if not w:
            st.win_stats = (0, 0, 0, 0, 0, -1)
            return
        firsts = [b.f for b in w if b.f >= 0]
        st.win_stats = (max(b.h for b in w), min(b.l for b in w), sum(b.v for b in w),
                        sum(b.base for b in w), sum(b.n for b in w), firsts[0] if firsts else -1)

    # ------------------------------------------------------------------ dynamics
    def _walk_index(self, pair: PairState) -> None:
        rng = self.rng
        sigma = 0.000006 * math.sqrt(max(self.speed, 0.01))
        drift = 0.0
        for st in self.syms.values():
            if st.info.pair == pair.pair and st.info.is_perpetual and st.burst_ticks:
                drift = st.burst_dir * sigma * 0.5
                break
        pair.index = max(1, round(pair.index * (1 + rng.gauss(drift, sigma))))

    def _basis(self, st: SymState) -> float:
        """A quarterly's premium over the index now (shrinking to zero over ``CONVERGE_MS``)."""
        basis = float(st.spec.basis)
        return premium_at(basis, st.info.delivery_date, self.now_ms) if basis else 0.0

    def _activity(self, st: SymState) -> None:
        # The random draws (their order and formulas) are exactly those of ``random.Random``'s
        # uniform/expovariate/paretovariate/choice inlined: the same seed makes the same market.
        rng = st.rng or self.rng
        random_ = rng.random
        speed = self.speed
        info = st.info
        pair = self.pairs[info.pair]
        if info.contract_type == "PERPETUAL":
            st.premium = st.premium * 0.999 + rng.gauss(0, 0.000004)
            st.fair = int(pair.index * (1 + st.premium))
        else:
            st.fair = int(pair.index * (1 + self._basis(st)))
        if st.burst_ticks:
            st.burst_ticks -= 1
        elif random_() < 0.0015 * speed:
            st.burst_ticks = rng.randint(20, 80)
            st.burst_dir = rng.choice((-1, 1))
        book = st.book
        grid = st.spec.grid
        fair_t = st.fair // st.tick_units
        now = self.now_ms
        begin = book.begin
        sim_add = self._sim_add
        bids, asks = book.sorted["BUY"], book.sorted["SELL"]
        base_qty = st.base_qty
        # Makers: add and cancel. (Each change is one matching-engine operation: ``begin`` once
        # and the update id moved on by the rest, nothing reading it meanwhile.)
        side_levels = book.levels
        # (the book's add, grow and reduce inlined for the flow's own orders: the same changes;
        # each side's side name, queues, sizes, sorted levels and touched set, chosen as a tuple)
        bid_side = ("BUY", side_levels["BUY"], book.qty["BUY"], bids, book._recent_bids)
        ask_side = ("SELL", side_levels["SELL"], book.qty["SELL"], asks, book._recent_asks)
        # Only the flow's orders rest (the usual case): a level's newest order is the flow's.
        flow_only = not book.owned
        oid = st.sim_oid  # (the flow's order ids, written back after the loop)
        # Every maker drawn is an operation but those that would cross the touch, and every
        # cancel drawn but those with nothing to cancel: the few not made are counted, not the
        # many made.
        makers = _poisson(rng, 0.7 * speed)
        not_made = 0
        for _ in range(makers):
            if random_() < 0.5:
                ticks = fair_t - grid * (_floor(_log(1.0 - random_()) / _NEG_RATE40) + 1)
                if asks and ticks >= asks[0]:
                    not_made += 1
                    continue
                side, queues, sizes, levels, touched = bid_side
            else:
                ticks = fair_t + grid * (_floor(_log(1.0 - random_()) / _NEG_RATE40) + 1)
                if bids and ticks <= bids[-1]:
                    not_made += 1
                    continue
                side, queues, sizes, levels, touched = ask_side
            qty = _floor(base_qty * (0.1 + _SPAN_01_15 * random_()))
            if ticks <= 0:
                continue
            if qty < 1:
                qty = 1
            queue = queues.get(ticks)
            if queue is not None and len(queue) >= _SIM_QUEUE and (flow_only or queue[-1].owner is None):
                queue[-1].qty += qty  # (a crowded level's newest order grows, as in _sim_add)
                sizes[ticks] += qty
            else:
                oid += 1
                # RestingOrder(oid, side, ticks, qty) without its Python __init__ (half the cost)
                o = _new_object(RestingOrder)
                o.oid, o.side, o.ticks, o.qty, o.owner = oid, side, ticks, qty, None
                if queue is None:
                    queues[ticks] = [o]
                    insort(levels, ticks)
                    sizes[ticks] = qty
                else:
                    queue.append(o)
                    sizes[ticks] += qty
            touched.add(ticks)
        st.sim_oid = oid
        getrandbits = rng.getrandbits
        cancels = _poisson(rng, 0.6 * speed)
        for _ in range(cancels):
            _, queues, sizes, levels, touched = bid_side if random_() < 0.5 else ask_side
            n = len(levels)
            if n < 50:
                not_made += 1
                continue
            idx = _floor(_log(1.0 - random_()) / _NEG_RATE40)
            if idx > n - 1:
                idx = n - 1
            t = levels[-1 - idx] if levels is bids else levels[idx]
            queue = queues[t]
            pool: Any = queue
            if not flow_only:
                pool = [o for o in queue if o.owner is None]
                if not pool:
                    not_made += 1
                    continue
            # rng.choice(pool), its _randbelow inlined: the same draws
            n = len(pool)
            k = n.bit_length()
            r = getrandbits(k)
            while r >= n:
                r = getrandbits(k)
            o = pool[r]
            left = o.qty
            by = _floor(left * (0.3 + _SPAN_03_10 * random_()))
            if by < 1:
                by = 1
            left -= by
            o.qty = left
            sizes[t] -= by
            if left <= 0:
                if pool is queue:
                    del queue[r]  # (the same order: the one drawn)
                else:
                    queue.remove(o)
                if not queue:
                    del queues[t]
                    del sizes[t]
                    del levels[bisect_left(levels, t)]
            touched.add(t)
        ops = makers + cancels - not_made
        if ops:
            begin(now)
            book.update_id += ops - 1
        # Keep the touch near fair value and the depth in the hundreds of levels.
        for side, sign in (("BUY", -1), ("SELL", 1)):
            best = book.best_bid() if side == "BUY" else book.best_ask()
            target = fair_t + sign * grid
            if best is None or sign * (best - fair_t) > 3 * grid:
                opp = book.best_ask() if side == "BUY" else book.best_bid()
                if opp is None or sign * (target - opp) > 0:
                    begin(now)
                    sim_add(st, side, target, max(1, int(base_qty * rng.uniform(0.2, 1.0))))
            else:
                # Quotes left on the wrong side of fair value: their makers pull them.
                for _ in range(20):
                    best = book.best_bid() if side == "BUY" else book.best_ask()
                    if best is None or sign * (fair_t - best) <= 2 * grid:
                        break
                    stale = [o for o in side_levels[side][best] if o.owner is None]
                    if not stale:
                        break
                    begin(now)
                    for o in stale:
                        book.cancel(o)
            n = book.depth_count(side)
            if 0 < n < 300:  # (an empty side is refilled at the touch above, next tick if crossed)
                far = book.sorted[side][0] if side == "BUY" else book.sorted[side][-1]
                begin(now)
                sim_add(st, side, far + sign * grid * rng.randint(1, 3), max(1, int(base_qty * rng.uniform(2, 8))))
            elif n > 450:
                # Pull the farthest quotes until the depth is back in range (a fast flow adds
                # many levels a tick; pulling one a tick let the book grow without bound).
                begin(now)
                levels = book.sorted[side]
                queues = side_levels[side]
                if not book.owned:
                    # Only the flow's orders rest: each far level goes whole, farthest first (what
                    # reducing each of its orders to nothing does, one level at a time below).
                    sizes = book.qty[side]
                    far_levels = levels[:n - 450] if side == "BUY" else levels[:449 - n:-1]
                    for far in far_levels:
                        del queues[far]
                        del sizes[far]
                    (book._recent_bids if side == "BUY" else book._recent_asks).update(far_levels)
                    if side == "BUY":
                        del levels[:n - 450]
                    else:
                        del levels[450 - n:]
                else:
                    kept = 0  # far levels that only the users' own orders hold
                    for _ in range(n - 450):
                        if kept >= len(levels):
                            break
                        far = levels[kept] if side == "BUY" else levels[-1 - kept]
                        for o in [o for o in queues[far] if o.owner is None]:
                            book.reduce(o, o.qty)
                        if far in queues:
                            kept += 1
        # Takers push the price towards fair value.
        if bids and asks:
            bb, ba = bids[-1], asks[0]
            gap = (fair_t * 2 - bb - ba) / (2 * grid)
            p_buy = 0.5 + max(-0.45, min(0.45, gap * 0.15))
            if st.burst_ticks:
                p_buy = 0.5 + 0.4 * st.burst_dir
            rate = (0.12 if st.spec.contract_size == 100 else 0.08) * speed * (8 if st.burst_ticks else 1)
            n = _poisson(rng, rate)
            cap = base_qty * 20
            if n and not book.owned and not self.trade_listeners:
                self._flow_takers(st, rng, n, p_buy, cap)
            elif n:
                take = self._executor(st)
                for _ in range(n):
                    side = "BUY" if random_() < p_buy else "SELL"
                    qty = _floor(st.taker_qty * (1.0 - random_()) ** _PARETO_EXP)
                    take(side, 1 if qty < 1 else qty if qty < cap else cap)
        # Liquidations of simulated accounts.
        move = (st.last_price - st.price_minute_ago) / max(1, st.price_minute_ago)
        lam = 0.0006 * speed * (1 + min(20.0, abs(move) * 4000))
        if random_() < lam:
            self._liquidate(st, "SELL" if move < 0 or (move == 0 and random_() < 0.5) else "BUY", rng)

    def _liquidate(self, st: SymState, side: str, rng: random.Random) -> None:
        qty = max(1, int(st.taker_qty * rng.uniform(2, 30)))
        best = st.book.best_bid() if side == "SELL" else st.book.best_ask()
        if best is None:
            return
        limit = int(best * (0.99 if side == "SELL" else 1.01))
        fills = self.execute_taker(st.spec.symbol, side, qty, limit)
        filled = sum(f.qty for f in fills)
        if not filled:
            return
        avg = sum((Decimal(f.ticks * f.qty) for f in fills), Decimal(0)) / filled
        d = st.decimals
        st.last_force = ForceOrder(
            event_time=self.now_ms, symbol=st.spec.symbol, pair=st.info.pair, side=side,
            order_type="LIMIT", time_in_force="IOC", orig_qty=Decimal(qty),
            price=fmt_units(limit, d), avg_price=avg.scaleb(-d).quantize(Decimal(1).scaleb(-d)),
            status="FILLED" if filled == qty else "PARTIALLY_FILLED",
            last_filled_qty=Decimal(filled), filled_accumulated_qty=Decimal(filled),
            trade_time=self.now_ms,
        )
        st.last_force_ms = self.now_ms

    def _update_marks(self, st: SymState, count: bool = True) -> None:
        pair = self.pairs[st.info.pair]
        book = st.book
        bb, ba = book.best_bid(), book.best_ask()
        if bb is not None and ba is not None:
            mid = (bb + ba) * st.tick_units // 2
            ref = pair.index if st.info.is_perpetual else int(pair.index * (1 + self._basis(st)))
            basis = (mid - ref) / ref
            st.basis_ema = st.basis_ema * 0.9 + basis * 0.1 if count else basis
            st.mark = int(ref * (1 + st.basis_ema))
            if st.info.is_perpetual:
                rate = max(-0.0075, min(0.0075, st.basis_ema / 3 + 0.0001))
                st.funding_rate = Decimal(f"{rate:.8f}")
        if count and st.marks is not None:
            st.marks.update(st.mark)
            if st.premiums is not None:
                st.premiums.update(self.premium_units(st.info.symbol))

    # ------------------------------------------------------------------ matching
    def execute_taker(self, symbol: str, side: str, qty: int, limit: int | None, owner: Any = None,
                      expired: list[RestingOrder] | None = None) -> list[Fill]:
        """Match a taker order against the book, recording trades and telling makers' owners."""
        return self._executor(self.syms[symbol])(side, qty, limit, owner, expired)

    def _flow_takers(self, st: SymState, rng: random.Random, n: int, p_buy: float, cap: int) -> None:
        """The simulated flow's ``n`` market takers of this tick on ``st``, while only the flow's
        orders rest and nobody listens to trades (nothing outside runs between them): each
        side and size drawn, matched and recorded in one pass, with no fill records, and the
        tick's trades added to the live candles, and the ids and last trade set, once at the
        end. The same draws, trades, ids, candles, tapes and frames as :meth:`_executor`'s
        taker by taker (tests/test_sim_fastpath.py)."""
        random_ = rng.random
        taker_qty = st.taker_qty
        now = self.now_ms
        book = st.book
        bids, asks = book.sorted["BUY"], book.sorted["SELL"]
        # what a buyer takes from (the asks) and a seller (the bids): the side's sorted levels,
        # queues, sizes and touched set, and whether the buyer was the maker
        buyer_takes = (asks, book.levels["SELL"], book.qty["SELL"], book._recent_asks, False)
        seller_takes = (bids, book.levels["BUY"], book.qty["BUY"], book._recent_bids, True)
        symbol = st.spec.symbol
        name = st.agg_stream
        hub = self.hub
        wanted = hub.wants(name)
        agg_tape = st.agg_rows.append
        cpq = st.coin_per_qty_tick
        decimals = st.decimals
        tid = start_tid = st.trade_id
        agg_id = st.agg_id
        # the tick's trades as one candle update: high, low, close, count, volumes, first id
        # (the count is the ids used: tid - start_tid)
        # (the close and the last trade's quantity are the last level's price and fill: t, fq)
        opened = hi = lo = volume = base_volume = buy_volume = buy_base = t = fq = 0
        first_id = -1
        for _ in range(n):
            buy = random_() < p_buy
            qty = _floor(taker_qty * (1.0 - random_()) ** _PARETO_EXP)
            qty = 1 if qty < 1 else qty if qty < cap else cap
            opp, queues, sizes, touched, buyer_maker = buyer_takes if buy else seller_takes
            while qty > 0 and opp:
                t = opp[0] if buy else opp[-1]
                lvl = queues[t]
                touched.add(t)
                first = tid + 1
                total = base_sum = 0
                more = None  # each trade's quantity, from a second trade at this price on
                while qty > 0 and lvl:
                    maker = lvl[0]
                    left = maker.qty
                    if qty < left:  # the taker's last fill, part of this maker
                        maker.qty = left - qty
                        fq = qty
                        qty = 0
                    else:  # this maker filled whole
                        maker.qty = 0
                        del lvl[0]
                        fq = left
                        qty -= left
                    tid += 1
                    if total:  # (not the first trade at this price: every fill is >= 1)
                        if more is None:
                            more = [total]
                        more.append(fq)
                    total += fq
                    base_sum += fq * cpq // t
                if first_id < 0:
                    first_id, opened, hi, lo = first, t, t, t
                elif t > hi:
                    hi = t
                elif t < lo:
                    lo = t
                volume += total
                base_volume += base_sum
                if buy:
                    buy_volume += total
                    buy_base += base_sum
                agg_id += 1
                agg_tape((agg_id, t, total, first, tid, now, buyer_maker, None if more is None else tuple(more)))
                if wanted:  # AggTrade(...).to_wire(), written out (the test compares the two paths' bytes)
                    digits = str(t).rjust(decimals + 1, "0")
                    hub.send(name, {"e": "aggTrade", "E": now, "a": agg_id, "s": symbol,
                                    "p": f"{digits[:-decimals]}.{digits[-decimals:]}" if decimals else digits,
                                    "q": str(total), "f": first, "l": tid, "T": now, "m": buyer_maker})
                if lvl:
                    sizes[t] -= total  # (an emptied level's size is deleted, not updated)
                    break
                del queues[t]
                del sizes[t]
                if buy:
                    del opp[0]
                else:
                    opp.pop()
        # every taker was one matching-engine operation
        book.begin(now)
        book.update_id += n - 1
        if tid == start_tid:
            return
        close = t
        st.trade_id, st.agg_id, st.last_price, st.last_qty = tid, agg_id, close, fq
        st.changed_since_arr = True
        trades = st.trades
        assert trades is not None
        acc = trades._acc
        if acc is None and trades._cur:
            acc = trades._acc = Bar(0, 0, opened, hi, lo, close)
        if acc is not None:  # (what Series.update makes of each trade)
            acc.add_trades(hi, lo, close, tid - start_tid, volume, base_volume, buy_volume, buy_base, first_id, tid)

    def _executor(self, st: SymState) -> Callable[..., list[Fill]]:
        """``execute_taker`` on ``st`` with what it reads bound once: the simulated flow makes
        one per tick for its hundreds of takers (nothing it calls subscribes, unsubscribes or
        moves the clock)."""
        now = self.now_ms
        book = st.book
        begin, match = book.begin, book.match
        symbol = st.spec.symbol
        name = st.agg_stream
        hub = self.hub
        wanted = hub.wants(name)
        accounts = self.accounts
        listeners = self.trade_listeners
        trades = st.trades
        assert trades is not None
        run = trades.update_run
        agg_tape = st.agg_rows.append
        cpq = st.coin_per_qty_tick
        decimals = st.decimals

        def execute(side: str, qty: int, limit: int | None = None, owner: Any = None,
                    expired: list[RestingOrder] | None = None) -> list[Fill]:
            begin(now)
            fills = match(side, qty, limit, owner, expired)
            if not fills:
                return fills
            taker_buy = side == "BUY"
            buyer_maker = not taker_buy
            tid = st.trade_id
            st.changed_since_arr = True
            n_fills = len(fills)
            i = 0
            while i < n_fills:
                ticks = fills[i][0]
                first = start = tid + 1
                total = run_qty = run_base = 0
                fq = 0
                more = None  # each trade's quantity, from a second trade at this price on
                j = i
                while j < n_fills:
                    f = fills[j]
                    if f[0] != ticks:
                        break
                    fq = f[1]
                    tid += 1
                    base = fq * cpq // ticks
                    if tid != first:
                        if more is None:
                            more = [total]
                        more.append(fq)
                    total += fq
                    run_qty += fq
                    run_base += base
                    j += 1
                    maker_owner = f[2].owner
                    if maker_owner is not None and accounts is not None:
                        # The account sees the engine as it was after this very trade.
                        st.trade_id, st.last_price, st.last_qty = tid, ticks, fq
                        run(ticks, tid - start + 1, run_qty, run_base, taker_buy, start, tid)
                        start, run_qty, run_base = tid + 1, 0, 0
                        accounts.on_maker_fill(maker_owner, fq, ticks, tid)
                if tid >= start:
                    run(ticks, tid - start + 1, run_qty, run_base, taker_buy, start, tid)
                st.trade_id, st.last_price, st.last_qty = tid, ticks, fq
                agg_id = st.agg_id = st.agg_id + 1
                agg_tape((agg_id, ticks, total, first, tid, now, buyer_maker, None if more is None else tuple(more)))
                if wanted:
                    hub.send(name, AggTrade(
                        event_time=now, agg_id=agg_id, symbol=symbol,
                        price=fmt_units(ticks, decimals), qty=Decimal(total), first_trade_id=first,
                        last_trade_id=tid, trade_time=now, is_buyer_maker=buyer_maker,
                    ).to_wire())
                i = j
            for listener in listeners:
                listener(symbol, fills[-1].ticks, sum(f.qty for f in fills), side)
            return fills

        return execute

    # ------------------------------------------------------------------ reads
    def book_levels(self, symbol: str) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """The whole true book as (price, qty) Decimals, bids best first, asks best first."""
        st = self.syms[symbol]
        d = st.decimals
        bids = [(fmt_units(t, d), Decimal(q)) for t, q in st.book.top("BUY", 10**9)]
        asks = [(fmt_units(t, d), Decimal(q)) for t, q in st.book.top("SELL", 10**9)]
        return bids, asks

    def true_book(self, symbol: str) -> tuple[int, Any]:
        from feeds.book import book_checksum  # the one checksum the client book uses too

        bids, asks = self.book_levels(symbol)
        return self.syms[symbol].book.update_id, book_checksum(bids, asks)

    def depth_snapshot(self, symbol: str, limit: int) -> dict[str, Any]:
        st = self.syms[symbol]
        d = st.decimals
        return {
            "lastUpdateId": st.book.update_id,
            "E": self.now_ms,
            "T": st.book.last_change_ms or self.now_ms,
            "symbol": symbol,
            "pair": st.info.pair,
            "bids": [[format(fmt_units(t, d), "f"), str(q)] for t, q in st.book.top("BUY", limit)],
            "asks": [[format(fmt_units(t, d), "f"), str(q)] for t, q in st.book.top("SELL", limit)],
        }

    def mark_price(self, symbol: str) -> Decimal:
        return fmt_units(self.syms[symbol].mark, 8)

    def last_price(self, symbol: str) -> Decimal:
        st = self.syms[symbol]
        return fmt_units(st.last_price, st.decimals)

    def next_funding_time(self) -> int:
        return self._next_funding

    def mark_event(self, symbol: str) -> MarkPriceUpdate:
        st = self.syms[symbol]
        pair = self.pairs[st.info.pair]
        perp = st.info.is_perpetual
        settle = None if perp else self.delivery.estimated_settle_units(symbol)
        return MarkPriceUpdate(
            event_time=self.now_ms, symbol=symbol, mark_price=fmt_units(st.mark, 8),
            est_settle_price=fmt_units(pair.index if settle is None else settle, 8),
            index_price=fmt_units(pair.index, 8),
            funding_rate=st.funding_rate if perp else None,
            next_funding_time=self._next_funding if perp else 0,
        )

    def premium_index(self, symbol: str) -> dict[str, Any]:
        st = self.syms[symbol]
        ev = self.mark_event(symbol)
        perp = st.info.is_perpetual
        return {
            "symbol": symbol,
            "pair": st.info.pair,
            "markPrice": format(ev.mark_price, "f"),
            "indexPrice": format(ev.index_price, "f"),
            "estimatedSettlePrice": format(ev.est_settle_price, "f"),
            "lastFundingRate": format(st.funding_rate, "f") if perp and st.funding_rate is not None else "",
            "interestRate": "0.00010000" if perp else "",
            "nextFundingTime": self._next_funding if perp else 0,
            "time": self.now_ms,
        }

    def ticker(self, symbol: str) -> Ticker:
        st = self.syms[symbol]
        if st.unbuilt:
            self.build_history(st)
        assert st.trades is not None
        cur = st.trades.cur["1m"]
        hi, lo, v, base, n, first = st.win_stats
        hi, lo = max(hi, cur.h), min(lo, cur.l) if lo else cur.l
        v, base, n = v + cur.v, base + cur.base, n + cur.n
        o = st.window[0].o if st.window else cur.o
        d = st.decimals
        last = st.last_price
        change = last - o
        pct = (Decimal(change) * 100 / Decimal(o)).quantize(Decimal("0.001")) if o else Decimal("0.000")
        wavg = Decimal(0)
        if base:
            wavg = (Decimal(v * st.spec.contract_size) / Decimal(base).scaleb(-8)).quantize(Decimal("0.00000001"))
        open_time = st.window[0].t if st.window else cur.t
        return Ticker(
            event_time=self.now_ms, symbol=symbol, pair=st.info.pair,
            price_change=fmt_units(change, d), price_change_percent=pct, weighted_avg_price=wavg,
            last_price=fmt_units(last, d), last_qty=Decimal(st.last_qty), open=fmt_units(o, d),
            high=fmt_units(hi, d), low=fmt_units(lo, d), volume=Decimal(v),
            base_volume=Decimal(base).scaleb(-8), open_time=open_time, close_time=self.now_ms,
            first_id=first if first >= 0 else (cur.f if cur.f >= 0 else st.trade_id),
            last_id=st.trade_id, trades=n,
        )

    def mini_ticker(self, symbol: str) -> MiniTicker:
        t = self.ticker(symbol)
        return MiniTicker(event_time=t.event_time, symbol=symbol, pair=t.pair, close=t.last_price,
                          open=t.open, high=t.high, low=t.low, volume=t.volume, base_volume=t.base_volume)

    def ticker_rest(self, symbol: str) -> dict[str, Any]:
        wire = self.ticker(symbol).to_wire()
        names = {"s": "symbol", "ps": "pair", "p": "priceChange", "P": "priceChangePercent",
                 "w": "weightedAvgPrice", "c": "lastPrice", "Q": "lastQty", "o": "openPrice",
                 "h": "highPrice", "l": "lowPrice", "v": "volume", "q": "baseVolume",
                 "O": "openTime", "C": "closeTime", "F": "firstId", "L": "lastId", "n": "count"}
        return {names[k]: v for k, v in wire.items() if k in names}

    def kline_rows(self, kind: str, key: str, interval: str, start: int | None, end: int | None,
                   limit: int) -> list[list[Any]]:
        """REST kline rows. ``kind``: trade (key=symbol), mark (symbol), index (pair)."""
        if kind == "index":
            series = self.pairs[key].series
            scale, volumes, sym = 8, False, "0"
        elif kind == "mark":
            series = self.syms[key].marks
            scale, volumes, sym = 8, False, key
        else:
            st = self.syms[key]
            series, scale, volumes, sym = st.trades, st.decimals, True, key
        assert series is not None
        return [to_kline(b, interval, scale, closed=c, symbol=sym, volumes=volumes).to_rest_row()
                for b, c in series.bars(interval, start, end, limit)]

    def symbol_for(self, pair: str, contract_type: str) -> str | None:
        for sym, info in self.symbols.items():
            if info.pair == pair and info.contract_type == contract_type:
                return sym
        return None

    def parse(self, name: str) -> StreamSpec | None:
        if name not in self._parsed:
            self._parsed[name] = parse_stream(name, self._symbol_set, self._pair_set)
        return self._parsed[name]

    # ------------------------------------------------------------------ emission
    def drop_next_depth(self, symbol: str) -> None:
        """Fault: the next diff-depth event of ``symbol`` (every cadence) is never sent."""
        self._dropped_depth[symbol] = {100, 250, 500}

    def _book_top(self, st: SymState) -> tuple[Any, ...]:
        b = st.book
        bb, ba = b.best_bid(), b.best_ask()
        return (bb, b.qty["BUY"].get(bb, 0) if bb else 0, ba, b.qty["SELL"].get(ba, 0) if ba else 0)

    def flush_depth(self) -> None:
        """Send every diff-depth change not yet sent, whatever the cadence's clock says.

        While the market is paused its clock stands still, so changes made since the last flush
        (the last step's, an order placed meanwhile) would otherwise never reach clients.
        """
        for sym, st in self.syms.items():
            for cadence, suffix in _DEPTH_CADENCES:
                self._send_depth(sym, st, cadence, suffix, self.now_ms)

    def _send_depth(self, sym: str, st: SymState, cadence: int, suffix: str, now: int) -> None:
        name = sym.lower() + suffix
        wanted = self.hub.wants(name)
        diff = st.book.take_diff(cadence, levels=wanted)
        if diff is None:
            return
        dropped = self._dropped_depth
        pending_drop = dropped.get(sym)
        if pending_drop and cadence in pending_drop:
            # Each cadence loses its own next diff (one cadence may have none to send at the
            # tick another flushes).
            pending_drop.discard(cadence)
            if not pending_drop:
                del dropped[sym]
            return
        if wanted:
            U, u, pu, bids, asks = diff
            d = st.decimals
            self.hub.send(name, DepthUpdate(
                event_time=now, transaction_time=st.book.last_change_ms, symbol=sym,
                pair=st.info.pair, first_update_id=U, final_update_id=u,
                prev_final_update_id=pu,
                bids=[[format(fmt_units(t, d), "f"), str(q)] for t, q in bids],
                asks=[[format(fmt_units(t, d), "f"), str(q)] for t, q in asks],
            ).to_wire())

    def _flush(self, now: int) -> None:
        hub = self.hub
        for sym, st in self.syms.items():
            low = sym.lower()
            d = st.decimals
            for cadence, suffix in _DEPTH_CADENCES:
                if not now % cadence:
                    self._send_depth(sym, st, cadence, suffix, now)
            top = self._book_top(st)
            if top != st.last_book_top:
                st.last_book_top = top
                for name in (low + "@bookTicker", "!bookTicker"):
                    if hub.wants(name) and top[0] is not None and top[2] is not None:
                        hub.send(name, BookTicker(
                            update_id=st.book.update_id, symbol=sym, pair=st.info.pair,
                            bid_price=fmt_units(top[0], d), bid_qty=Decimal(top[1]),
                            ask_price=fmt_units(top[2], d), ask_qty=Decimal(top[3]),
                            transaction_time=st.book.last_change_ms, event_time=now,
                        ).to_wire())
        for name in list(hub.active()):
            spec = self.parse(name)
            if spec is None or not spec.period_ms or now % spec.period_ms:
                continue
            payload = self._periodic(spec, now)
            if payload is not None:
                hub.send(name, payload)
        if now % 1000 == 0:
            for st in self.syms.values():
                st.changed_since_arr = False
                # pushed (above) as this second's snapshot: the latest liquidation of the second
                # goes out once, never again the next second (the spec: "only the latest one
                # liquidation order within 1000ms", and nothing when there was none)
                st.last_force = None

    def _periodic(self, spec: StreamSpec, now: int) -> Any:
        kind = spec.kind
        if kind == "partialDepth":
            st = self.syms[spec.key]
            n = int(spec.arg)
            d = st.decimals
            u = st.book.update_id
            return DepthUpdate(
                event_time=now, transaction_time=st.book.last_change_ms, symbol=spec.key,
                pair=st.info.pair, first_update_id=u, final_update_id=u, prev_final_update_id=u,
                bids=[[format(fmt_units(t, d), "f"), str(q)] for t, q in st.book.top("BUY", n)],
                asks=[[format(fmt_units(t, d), "f"), str(q)] for t, q in st.book.top("SELL", n)],
            ).to_wire()
        if kind == "markPrice":
            return self.mark_event(spec.key).to_wire()
        if kind == "pairMarkPrice":
            return [self.mark_event(s).to_wire() for s, i in self.symbols.items() if i.pair == spec.key]
        if kind == "indexPrice":
            return IndexPriceUpdate(event_time=now, pair=spec.key,
                                    index_price=fmt_units(self.pairs[spec.key].index, 8)).to_wire()
        if kind == "miniTicker":
            return self.mini_ticker(spec.key).to_wire()
        if kind == "ticker":
            return self.ticker(spec.key).to_wire()
        if kind == "!miniTicker@arr":
            out = [self.mini_ticker(s).to_wire() for s, st in self.syms.items() if st.changed_since_arr]
            return out or None
        if kind == "!ticker@arr":
            out = [self.ticker(s).to_wire() for s, st in self.syms.items() if st.changed_since_arr]
            return out or None
        if kind == "forceOrder":
            st = self.syms[spec.key]
            return st.last_force.to_wire() if st.last_force is not None else None
        if kind == "!forceOrder@arr":
            for st in self.syms.values():
                if st.last_force is not None:
                    self.hub.send(spec.name, st.last_force.to_wire())
            return None
        if kind in ("kline", "markPriceKline", "indexPriceKline", "continuousKline"):
            return self._kline_payload(spec, now)
        return None

    def _kline_payload(self, spec: StreamSpec, now: int, force: bool = False) -> Any:
        kind = spec.kind
        if kind == "continuousKline":
            ct, interval = spec.arg.split(":")
            sym = self.symbol_for(spec.key, ct)
            if sym is None:
                return None
            st = self.syms[sym]
            assert st.trades is not None
            bar = st.trades.cur[interval]
        elif kind == "indexPriceKline":
            interval = spec.arg
            series = self.pairs[spec.key].series
            assert series is not None
            bar = series.cur[interval]
        else:
            interval = spec.arg
            st = self.syms[spec.key]
            series = st.trades if kind == "kline" else st.marks
            assert series is not None
            bar = series.cur[interval]
        key = spec.name
        if not force and self._sent_versions.get(key) == (bar.t, bar.version):
            return None
        self._sent_versions[key] = (bar.t, bar.version)
        return self._kline_event(spec, bar, now, closed=False)

    def _kline_event(self, spec: StreamSpec, bar: Bar, now: int, closed: bool) -> dict[str, Any]:
        kind = spec.kind
        if kind == "kline":
            st = self.syms[spec.key]
            k = to_kline(bar, spec.arg, st.decimals, closed=closed, symbol=spec.key)
            return KlineEvent("kline", now, k, symbol=spec.key).to_wire()
        if kind == "markPriceKline":
            k = to_kline(bar, spec.arg, 8, closed=closed, symbol=spec.key, volumes=False)
            return KlineEvent("markPrice_kline", now, k, pair=self.symbols[spec.key].pair).to_wire()
        if kind == "indexPriceKline":
            k = to_kline(bar, spec.arg, 8, closed=closed, symbol="0", volumes=False)
            return KlineEvent("indexPrice_kline", now, k, pair=spec.key).to_wire()
        ct, interval = spec.arg.split(":")
        sym = self.symbol_for(spec.key, ct)
        assert sym is not None
        k = to_kline(bar, interval, self.syms[sym].decimals, closed=closed, symbol=None)
        return KlineEvent("continuous_kline", now, k, pair=spec.key, contract_type=ct).to_wire()

    def _emit_closed(self, kind: str, key: str, interval: str, bar: Bar) -> None:
        for name in list(self.hub.active()):
            spec = self.parse(name)
            if spec is None or spec.kind != kind:
                continue
            if kind == "continuousKline":
                ct, iv = spec.arg.split(":")
                if iv != interval or self.symbol_for(spec.key, ct) != key:
                    continue
            elif spec.key != key or spec.arg != interval:
                continue
            # (the rolled candle is completed in place if its past was not made yet)
            if kind == "indexPriceKline":
                for st in self.syms.values():
                    if st.info.pair == key and st.unbuilt:
                        self.build_history(st)
            else:
                self._ensure_history(key)
            self.hub.send(name, self._kline_event(spec, bar, self.now_ms, closed=True))

    def _emit_closed_kline(self, st: SymState, interval: str, bar: Bar) -> None:
        self._emit_closed("kline", st.spec.symbol, interval, bar)
        self._emit_closed("continuousKline", st.spec.symbol, interval, bar)

    def _emit_mark_kline(self, st: SymState, interval: str, bar: Bar, closed: bool) -> None:
        self._emit_closed("markPriceKline", st.spec.symbol, interval, bar)

    def _emit_index_kline(self, pair: PairState, interval: str, bar: Bar, closed: bool) -> None:
        self._emit_closed("indexPriceKline", pair.pair, interval, bar)

    def contract_info(self, symbol: str, with_brackets: bool = True) -> None:
        """Push a ``contractInfo`` event for ``symbol`` (a bracket update) to ``!contractInfo``."""
        from feeds.models import Bracket

        info = self.symbols[symbol]
        brackets = (
            Bracket(1, Decimal(0), Decimal(5), Decimal("0.01"), Decimal(0), 21, 125),
            Bracket(2, Decimal(5), Decimal(10), Decimal("0.025"), Decimal("0.075"), 11, 20),
        ) if with_brackets else None
        if self.hub.wants("!contractInfo"):
            self.hub.send("!contractInfo", ContractInfo(
                event_time=self.now_ms, symbol=symbol, pair=info.pair, contract_type=info.contract_type,
                delivery_date=info.delivery_date, onboard_date=info.onboard_date, status=info.status,
                brackets=brackets,
            ).to_wire())
