"""Chart studies over candles: SMA, EMA, Bollinger bands, RSI and the session VWAP; the depth chart.

Pure functions on ``Decimal`` (no Textual, no floats): each takes the candles' closes (or the
candles) oldest first and returns one value per candle, ``None`` while the study has too few
candles to say anything (its warm-up). The chart turns them into plot coordinates; a figure
shown as text is rounded to the contract's tick by the caller.

Definitions (the usual ones, stated so the tests can be worked by hand):

- SMA(n): the mean of the last n closes.
- EMA(n): seeded with the SMA of the first n closes, then ``ema += (close - ema) * 2 / (n + 1)``.
- Bollinger(n, k): the SMA(n) and SMA ± k population standard deviations of the same n closes.
- RSI(n), Wilder's: the first average gain/loss is the mean of the first n changes, then
  ``avg = (avg * (n - 1) + change) / n``; ``RSI = 100 - 100 / (1 + gain / loss)`` (100 when
  there was no loss).
- Session VWAP: from the first candle of each UTC day, Σ(typical price × coin volume) /
  Σ(coin volume), typical price = (high + low + close) / 3. COIN-M volume is counted in
  contracts of a fixed USD value; the coin volume (``base_volume``) is the quantity a price is
  paid per, so it is the weight. Candles without volume (mark and index series) have no VWAP.
- Depth chart: around the mid (halfway between the best bid and ask), at each bid price the
  contracts bid at or above it, at each ask price the contracts offered at or below it, out to
  ``span`` of the mid (or the nearer side's deepest known level).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

from feeds.decimals import fmt_step
from feeds.models import Kline

__all__ = [
    "Bollinger",
    "ChartLevel",
    "DEPTH_POINTS",
    "DEPTH_SPAN",
    "DepthCurve",
    "DepthStep",
    "STUDY_PRESETS",
    "StudySpec",
    "account_levels",
    "bollinger",
    "book_depth",
    "depth_curve",
    "depth_group_ticks",
    "ema",
    "parse_studies",
    "rsi",
    "session_vwap",
    "sma",
]

DAY_MS = 86_400_000

_PRECISION = 34
"""Digits the studies' arithmetic keeps (more than any price or volume has)."""

Series = list[Decimal | None]


def sma(values: Sequence[Decimal], n: int) -> Series:
    """Simple moving average of ``n`` values (a running sum: exact additions, one division)."""
    _check_length(n)
    out: Series = []
    total = Decimal(0)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        for i, v in enumerate(values):
            total += v
            if i >= n:
                total -= values[i - n]
            out.append(total / n if i >= n - 1 else None)
    return out


def ema(values: Sequence[Decimal], n: int) -> Series:
    """Exponential moving average, seeded with the SMA of the first ``n`` values."""
    _check_length(n)
    out: Series = []
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        alpha = Decimal(2) / (n + 1)
        current: Decimal | None = None
        for i, v in enumerate(values):
            if i < n - 1:
                out.append(None)
                continue
            if current is None:
                current = sum(values[: n], Decimal(0)) / n
            else:
                current = current + (v - current) * alpha
            out.append(current)
    return out


@dataclass(frozen=True, slots=True)
class Bollinger:
    """Bollinger bands, one value per candle in each list."""

    middle: Series
    upper: Series
    lower: Series


def bollinger(values: Sequence[Decimal], n: int = 20, k: Decimal = Decimal(2)) -> Bollinger:
    """The SMA(n) and the bands ``k`` population standard deviations above and below it."""
    _check_length(n)
    middle = sma(values, n)
    upper: Series = []
    lower: Series = []
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        for i, mid in enumerate(middle):
            if mid is None:
                upper.append(None)
                lower.append(None)
                continue
            window = values[i - n + 1: i + 1]
            variance = sum(((v - mid) ** 2 for v in window), Decimal(0)) / n
            width = k * variance.sqrt()
            upper.append(mid + width)
            lower.append(mid - width)
    return Bollinger(middle, upper, lower)


def rsi(values: Sequence[Decimal], n: int = 14) -> Series:
    """Wilder's relative strength index (0-100); ``None`` for the first ``n`` values."""
    _check_length(n)
    out: Series = [None] * min(len(values), n)
    if len(values) <= n:
        return out
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        changes = [values[i] - values[i - 1] for i in range(1, len(values))]
        gain = sum((c for c in changes[:n] if c > 0), Decimal(0)) / n
        loss = sum((-c for c in changes[:n] if c < 0), Decimal(0)) / n
        out.append(_rsi(gain, loss))
        for c in changes[n:]:
            gain = (gain * (n - 1) + (c if c > 0 else 0)) / n
            loss = (loss * (n - 1) + (-c if c < 0 else 0)) / n
            out.append(_rsi(gain, loss))
    return out


def _rsi(gain: Decimal, loss: Decimal) -> Decimal:
    if not loss:
        return Decimal(100) if gain else Decimal(50)
    return 100 - 100 / (1 + gain / loss)


def session_vwap(bars: Sequence[Kline]) -> Series:
    """The volume-weighted average price since the start of each candle's UTC day."""
    out: Series = []
    day = None
    paid = Decimal(0)
    volume = Decimal(0)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        for k in bars:
            if k.open_time // DAY_MS != day:
                day, paid, volume = k.open_time // DAY_MS, Decimal(0), Decimal(0)
            weight = k.base_volume
            paid += (k.high + k.low + k.close) / 3 * weight
            volume += weight
            out.append(paid / volume if volume else None)
    return out


def _check_length(n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"a study's length must be a whole number of candles, at least 1 (got {n!r})")


# ---------------------------------------------------------------------------- what to draw


@dataclass(frozen=True, slots=True)
class StudySpec:
    """One overlay on the price pane: ``sma``/``ema`` (length), ``bb`` (length, width) or ``vwap``."""

    kind: str
    length: int = 0
    width: Decimal = Decimal(2)

    @property
    def label(self) -> str:
        if self.kind == "vwap":
            return "VWAP"
        if self.kind == "bb":
            return f"BB {self.length},{self.width}"
        return f"{self.kind.upper()} {self.length}"

    def compute(self, bars: Sequence[Kline]) -> list[tuple[str, Series]]:
        """The study's lines over ``bars`` (one for SMA/EMA/VWAP, three for Bollinger)."""
        closes = [k.close for k in bars]
        if self.kind == "sma":
            return [(self.label, sma(closes, self.length))]
        if self.kind == "ema":
            return [(self.label, ema(closes, self.length))]
        if self.kind == "vwap":
            return [(self.label, session_vwap(bars))]
        bands = bollinger(closes, self.length, self.width)
        return [(self.label, bands.middle), ("", bands.upper), ("", bands.lower)]


def parse_studies(text: str) -> tuple[StudySpec, ...]:
    """``"sma:20,ema:50,bb:20:2,vwap"`` as specs (for presets and the config).

    Raises:
        ValueError: an unknown study or a length that is not a positive whole number.
    """
    out = []
    for part in filter(None, (p.strip().lower() for p in text.split(","))):
        kind, *args = part.split(":")
        try:
            if kind in ("sma", "ema") and len(args) == 1:
                out.append(StudySpec(kind, int(args[0])))
            elif kind == "bb" and len(args) in (1, 2):
                out.append(StudySpec("bb", int(args[0]), Decimal(args[1]) if len(args) == 2 else Decimal(2)))
            elif kind == "vwap" and not args:
                out.append(StudySpec("vwap"))
            else:
                raise ValueError
        except (ValueError, ArithmeticError):
            raise ValueError(f"study {part!r}: expected sma:N, ema:N, bb:N[:K] or vwap") from None
        if out[-1].kind != "vwap":
            _check_length(out[-1].length)
    return tuple(out)


STUDY_PRESETS: tuple[tuple[StudySpec, ...], ...] = (
    (),
    parse_studies("sma:20,sma:50"),
    parse_studies("ema:9,ema:21"),
    parse_studies("bb:20:2"),
    parse_studies("vwap"),
    parse_studies("ema:21,bb:20:2,vwap"),
)
"""What the chart's study key cycles through (the first: candles alone)."""


# ---------------------------------------------------------------------------- the trader's levels


@dataclass(frozen=True, slots=True)
class ChartLevel:
    """A horizontal line on the price pane: an open order, a position's entry or its liquidation."""

    kind: str
    """``buy``, ``sell``, ``entry`` or ``liquidation``."""
    price: Decimal
    label: str


def account_levels(account: object, symbol: str, tick: Decimal) -> tuple[ChartLevel, ...]:
    """The trader's own prices on ``symbol``: resting orders (their limit or stop price), each
    position leg's entry and liquidation price (the live figure when the margin maths has one).
    Labels carry the price to the tick (an entry or liquidation price rounded half-even).

    ``account`` is a :class:`feeds.account.AccountState` (typed loosely: studies stay free of it).
    """
    out: list[ChartLevel] = []
    orders: Any = getattr(account, "open_orders")(symbol)  # noqa: B009 - duck-typed on purpose
    for o in orders:
        price = o.price if o.price else o.stop_price
        if price:
            out.append(ChartLevel(o.side.lower(), price,
                                  f"{o.side[0]} {o.remaining.normalize():f} @ {fmt_step(price, tick)}"))
    risk: Any = getattr(account, "position_risk", {})
    for (sym, side), pos in getattr(account, "positions", {}).items():
        if sym != symbol or not pos.amount:
            continue
        leg = "" if side == "BOTH" else f" {side[0]}"
        out.append(ChartLevel("entry", pos.entry_price, f"entry{leg} {fmt_step(pos.entry_price, tick)}"))
        row = risk.get((sym, side))
        liq = row.liquidation_price if row is not None else pos.liquidation_price
        if liq:
            out.append(ChartLevel("liquidation", liq, f"liq{leg} {fmt_step(liq, tick)}"))
    return tuple(sorted(out, key=lambda lv: (lv.price, lv.kind)))


# ---------------------------------------------------------------------------- the depth chart


DEPTH_SPAN = Decimal("0.005")
"""How far either side of the mid the depth chart reaches (a fraction of the mid: 0.5 %)."""
DEPTH_POINTS = 60
"""About how many steps each side of the depth chart has (levels are grouped to fit)."""


@dataclass(frozen=True, slots=True)
class DepthStep:
    """One step of a side's cumulative depth: at ``price``, ``cum`` contracts rest from the touch
    to this price (bids at or above it, asks at or below it)."""

    price: Decimal
    cum: Decimal


@dataclass(frozen=True, slots=True)
class DepthCurve:
    """Cumulative bids and asks around the mid, each side best first.

    The curve reaches ``reach`` either side of the mid: ``span`` of the mid, or less when one
    side of the book ends sooner (past its deepest level nothing is known, so neither side is
    drawn further than the shorter one).
    """

    mid: Decimal
    reach: Decimal
    bids: tuple[DepthStep, ...]
    asks: tuple[DepthStep, ...]
    contract_size: int

    @property
    def low(self) -> Decimal:
        return self.mid - self.reach

    @property
    def high(self) -> Decimal:
        return self.mid + self.reach

    @property
    def bid_total(self) -> Decimal:
        """Contracts bid within the reach."""
        return self.bids[-1].cum if self.bids else Decimal(0)

    @property
    def ask_total(self) -> Decimal:
        return self.asks[-1].cum if self.asks else Decimal(0)

    def usd(self, contracts: Decimal) -> Decimal:
        """The USD value of ``contracts`` (each is ``contract_size`` USD, exact)."""
        return contracts * self.contract_size

    @property
    def imbalance(self) -> Decimal | None:
        """``(bids - asks) / (bids + asks)`` within the reach (None when both are empty)."""
        total = self.bid_total + self.ask_total
        if not total:
            return None
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            return (self.bid_total - self.ask_total) / total


def depth_curve(bids: Iterable[tuple[Decimal, Decimal]], asks: Iterable[tuple[Decimal, Decimal]], *,
                span: Decimal = DEPTH_SPAN, contract_size: int = 1, mid: Decimal | None = None) -> DepthCurve | None:
    """Cumulative depth from ``(price, qty)`` levels (any order; grouped levels work alike).

    The mid is halfway between the best bid and ask given (pass the book's own ``mid`` for
    grouped levels: a group's price is rounded away from it); the reach is ``span`` × mid, cut
    to the distance of the nearer of the two deepest levels given (the book may go deeper; what
    was not given is not drawn). Sums are exact. None when either side has no level.
    """
    bid_levels = sorted(((p, q) for p, q in bids if q), reverse=True)
    ask_levels = sorted((p, q) for p, q in asks if q)
    if not bid_levels or not ask_levels:
        return None
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if mid is None:
            mid = (bid_levels[0][0] + ask_levels[0][0]) / 2
        reach = min(mid * span, mid - bid_levels[-1][0], ask_levels[-1][0] - mid)
        low, high = mid - reach, mid + reach

        def side(levels: list[tuple[Decimal, Decimal]], inside: Any) -> tuple[DepthStep, ...]:
            out = []
            cum = Decimal(0)
            for price, qty in levels:
                if not inside(price):
                    break
                cum += qty
                out.append(DepthStep(price, cum))
            return tuple(out)

        return DepthCurve(mid, reach, side(bid_levels, lambda p: p >= low), side(ask_levels, lambda p: p <= high),
                          contract_size)


def depth_group_ticks(mid: Decimal, tick: Decimal, *, span: Decimal = DEPTH_SPAN, points: int = DEPTH_POINTS) -> int:
    """Ticks per step so that ``span`` of the mid is about ``points`` steps (at least one tick)."""
    if points < 1 or tick <= 0 or mid <= 0:
        raise ValueError(f"points, tick and mid must be positive: {points}, {tick}, {mid}")
    return max(1, int((mid * span / tick / points).to_integral_value(rounding="ROUND_CEILING")))


def book_depth(book: Any, *, span: Decimal = DEPTH_SPAN, points: int = DEPTH_POINTS,
               contract_size: int = 1) -> DepthCurve | None:
    """The depth curve of a :class:`feeds.book.OrderBook` (levels grouped into steps of
    :func:`depth_group_ticks`: bids rounded down, asks up, so each step's sum is every level at
    or beyond its price). None for a book with an empty side."""
    mid = book.mid()
    if mid is None:
        return None
    group = depth_group_ticks(mid, book.tick_size, span=span, points=points)
    # two groups more than the span needs: a side that has them reaches past the span
    top = book.grouped(points + 2, group)
    return depth_curve(((p, q) for p, q, _cum in top.bids), ((p, q) for p, q, _cum in top.asks),
                       span=span, contract_size=contract_size, mid=mid)
