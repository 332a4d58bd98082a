"""The simulator's contracts and its price-time-priority matching book.

Prices inside the book are integer ticks and quantities integer contracts (every COIN-M
contract here has a step of one contract), so matching is exact by construction.
"""

from __future__ import annotations

import bisect
import calendar
import datetime
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from feeds.decimals import decimals_of
from feeds.symbols import SymbolInfo

__all__ = [
    "CONTRACTS",
    "PERPETUALS",
    "QUARTERLIES",
    "ContractSpec",
    "Fill",
    "MatchingBook",
    "QuarterlyTemplate",
    "RestingOrder",
    "build_symbols",
    "contracts_at",
    "premium_at",
    "quarter_deliveries",
    "quarterly_spec",
    "quarterly_symbol",
    "symbol_info",
]


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """How one simulated contract looks and behaves."""

    symbol: str
    base: str
    tick: str
    contract_size: int
    start_price: str
    balance: str
    """Paper wallet balance of the margin asset for a fresh account."""
    grid: int
    """Distance in ticks between the price levels makers quote on."""
    contract_type: str = "PERPETUAL"
    delivery_date: int = 4133404800000
    onboard_date: int = 1569398400000
    basis: str = "0"
    """Premium of a delivery contract over the perpetual's fair value (e.g. ``0.012``)."""


# Start prices near late-2026 levels; grids chosen so hundreds of levels span ~1% a side.
PERPETUALS: tuple[ContractSpec, ...] = (
    ContractSpec("BTCUSD_PERP", "BTC", "0.1", 100, "88000.0", "1", 2),
    ContractSpec("ETHUSD_PERP", "ETH", "0.01", 10, "2920.00", "10", 5),
    ContractSpec("XRPUSD_PERP", "XRP", "0.0001", 10, "2.2400", "10000", 1),
    ContractSpec("BNBUSD_PERP", "BNB", "0.001", 10, "860.000", "30", 20),
    ContractSpec("SOLUSD_PERP", "SOL", "0.01", 10, "138.00", "200", 1),
    ContractSpec("DOGEUSD_PERP", "DOGE", "0.000010", 10, "0.151000", "150000", 1),
    ContractSpec("ADAUSD_PERP", "ADA", "0.00001", 10, "0.42000", "50000", 1),
    ContractSpec("LINKUSD_PERP", "LINK", "0.001", 10, "12.950", "2000", 1),
    ContractSpec("BCHUSD_PERP", "BCH", "0.01", 10, "533.00", "50", 2),
    ContractSpec("TRXUSD_PERP", "TRX", "0.00001", 10, "0.27300", "80000", 1),
)

# ---------------------------------------------------------------------------- the quarterly calendar
QUARTER_MONTHS = (3, 6, 9, 12)
DELIVERY_HOUR_UTC = 8
"""Binance's quarterlies deliver on the last Friday of March, June, September and December at
08:00:00 UTC (its FAQ "Delivery & Settlement of Quarterly Futures"). When the current quarter
delivers, the next quarter becomes the current one and a new next quarter (the quarter after it)
is listed at once."""


@dataclass(frozen=True, slots=True)
class QuarterlyTemplate:
    """How a pair's quarterly contracts look: the current one's premium over the perpetual and
    the next one's (larger: it has longer to run)."""

    base: str
    tick: str
    contract_size: int
    grid: int
    current_basis: str
    next_basis: str


QUARTERLIES: tuple[QuarterlyTemplate, ...] = (
    QuarterlyTemplate("BTC", "0.1", 100, 3, "0.0125", "0.0250"),
    QuarterlyTemplate("ETH", "0.01", 10, 5, "0.0125", "0.0250"),
)


CONVERGE_MS = 14 * 86_400_000
"""A quarterly's premium over the index shrinks linearly to zero over its last 14 days, so it
delivers near the index."""


def premium_at(basis: float, delivery_ms: int, now_ms: int) -> float:
    """A quarterly's premium over the index at ``now_ms`` (``basis`` until its last 14 days)."""
    return basis * max(0.0, min(1.0, (delivery_ms - now_ms) / CONVERGE_MS))


def _last_friday_ms(year: int, month: int) -> int:
    last = calendar.monthrange(year, month)[1]
    day = datetime.date(year, month, last)
    day -= datetime.timedelta(days=(day.weekday() - calendar.FRIDAY) % 7)
    at = datetime.datetime(day.year, day.month, day.day, DELIVERY_HOUR_UTC, tzinfo=datetime.UTC)
    return int(at.timestamp()) * 1000


def quarter_deliveries(after_ms: int, n: int, before: int = 0) -> list[int]:
    """Delivery times (ms) of ``n`` consecutive quarterlies: the first one strictly after
    ``after_ms``, preceded by the ``before`` deliveries before it (oldest first)."""
    d = datetime.datetime.fromtimestamp(after_ms / 1000, tz=datetime.UTC)
    year, q = d.year, (d.month - 1) // 3
    while _last_friday_ms(year, QUARTER_MONTHS[q]) <= after_ms:
        q += 1
        if q == 4:
            year, q = year + 1, 0
    for _ in range(before):
        q -= 1
        if q < 0:
            year, q = year - 1, 3
    out = []
    for _ in range(n + before):
        out.append(_last_friday_ms(year, QUARTER_MONTHS[q]))
        q += 1
        if q == 4:
            year, q = year + 1, 0
    return out


def quarterly_symbol(base: str, delivery_ms: int) -> str:
    """Binance's name of a quarterly: the pair and the delivery date as YYMMDD (``BTCUSD_261225``)."""
    d = datetime.datetime.fromtimestamp(delivery_ms / 1000, tz=datetime.UTC)
    return f"{base}USD_{d:%y%m%d}"


def _perp_of(base: str) -> ContractSpec:
    return next(p for p in PERPETUALS if p.base == base)


def quarterly_spec(template: QuarterlyTemplate, contract_type: str, delivery_ms: int, onboard_ms: int,
                   start_price: str | None = None, now_ms: int | None = None) -> ContractSpec:
    """The spec of one quarterly (start price: the perpetual's start plus the premium at
    ``now_ms`` unless given)."""
    perp = _perp_of(template.base)
    basis = template.current_basis if contract_type == "CURRENT_QUARTER" else template.next_basis
    if start_price is None:
        tick = Decimal(template.tick)
        premium = premium_at(float(basis), delivery_ms, onboard_ms if now_ms is None else now_ms)
        start_price = format((Decimal(perp.start_price) * (1 + Decimal(repr(premium)))).quantize(tick), "f")
    return ContractSpec(
        quarterly_symbol(template.base, delivery_ms), template.base, template.tick, template.contract_size,
        start_price, perp.balance, template.grid, contract_type=contract_type, delivery_date=delivery_ms,
        onboard_date=onboard_ms, basis=basis,
    )


def contracts_at(now_ms: int) -> tuple[ContractSpec, ...]:
    """Every contract listed at ``now_ms``: the perpetuals, then for each quarterly pair its
    CURRENT_QUARTER and NEXT_QUARTER on Binance's calendar. Each quarterly was listed when the
    quarterly two deliveries before it delivered (the current quarter's onboard date is the
    delivery before last, the next quarter's the last delivery)."""
    before_last, last, current, nxt = quarter_deliveries(now_ms, 2, before=2)
    out = list(PERPETUALS)
    for t in QUARTERLIES:
        out.append(quarterly_spec(t, "CURRENT_QUARTER", current, before_last, now_ms=now_ms))
        out.append(quarterly_spec(t, "NEXT_QUARTER", nxt, last, now_ms=now_ms))
    return tuple(out)


CONTRACTS: tuple[ContractSpec, ...] = contracts_at(int(time.time() * 1000))
"""The contracts listed now (at import). A simulator lists ``contracts_at`` its own start time."""


def symbol_info(spec: ContractSpec, status: str = "TRADING") -> SymbolInfo:
    """The exchangeInfo record of one simulated contract, built on the shared SymbolInfo."""
    tick = Decimal(spec.tick)
    start = Decimal(spec.start_price)
    return SymbolInfo(
        symbol=spec.symbol,
        pair=f"{spec.base}USD",
        contract_type=spec.contract_type,
        contract_size=spec.contract_size,
        tick_size=tick,
        min_price=tick * 10,
        max_price=(start * 100).quantize(tick),
        step_size=Decimal(1),
        min_qty=Decimal(1),
        max_qty=Decimal(1000000),
        market_step_size=Decimal(1),
        market_min_qty=Decimal(1),
        market_max_qty=Decimal(60000 if spec.base == "BTC" else 100000),
        multiplier_up=Decimal("1.0500"),
        multiplier_down=Decimal("0.9500"),
        multiplier_decimal=4,
        max_num_orders=200,
        max_num_algo_orders=100,
        base_asset=spec.base,
        quote_asset="USD",
        margin_asset=spec.base,
        price_precision=decimals_of(tick),
        quantity_precision=0,
        delivery_date=spec.delivery_date,
        onboard_date=spec.onboard_date,
        status=status,
        trigger_protect=Decimal("0.0500"),
        extra={**VENUE_RECORD_EXTRAS, "underlyingSubType": []},  # a list of its own per record
    )


VENUE_RECORD_EXTRAS: dict[str, object] = {
    "maintMarginPercent": "2.5000",
    "requiredMarginPercent": "5.0000",
    "baseAssetPrecision": 8,
    "quotePrecision": 8,
    "equalQtyPrecision": 4,
    "underlyingType": "COIN",
    "underlyingSubType": [],
    "liquidationFee": "0.010000",
    "marketTakeBound": "0.05",
}
"""The rest of an exchangeInfo record as Binance's COIN-M venue serves it: values the
simulator publishes and the client only passes through (it computes nothing from them)."""


def build_symbols(now_ms: int | None = None) -> dict[str, SymbolInfo]:
    """exchangeInfo records for every contract listed at ``now_ms`` (default: now)."""
    specs = CONTRACTS if now_ms is None else contracts_at(now_ms)
    return {spec.symbol: symbol_info(spec) for spec in specs}


@dataclass(slots=True, eq=False)
class RestingOrder:
    """One order resting on a level. ``owner`` is None for the simulated flow. Two orders are
    the same order only if they are one object (a level's queue finds its own by identity)."""

    oid: int
    side: str
    ticks: int
    qty: int
    owner: Any = None


class Fill(NamedTuple):
    """One match between a taker and a resting maker order (a tuple: a fast market makes
    thousands a second, and ``tuple.__new__`` makes one without a Python call)."""

    ticks: int
    qty: int
    maker: RestingOrder


_new_fill = tuple.__new__


@dataclass(slots=True)
class _Pending:
    """Levels changed since a diff stream last flushed."""

    first_id: int = 0
    bids: set[int] = field(default_factory=set)
    asks: set[int] = field(default_factory=set)


class MatchingBook:
    """Price-time-priority book of one symbol; every change bumps ``update_id``.

    Diff-depth streams of different cadences each collect the levels changed since they last
    flushed (``take_diff``), so each stream's ``U``/``u``/``pu`` chain is continuous and any
    REST snapshot's ``lastUpdateId`` lies inside the next event of every stream.
    """

    CADENCES = (100, 250, 500)

    def __init__(self, symbol: str, first_update_id: int) -> None:
        self.symbol = symbol
        self.levels: dict[str, dict[int, list[RestingOrder]]] = {"BUY": {}, "SELL": {}}
        """side -> ticks -> the level's queue, oldest first. A list, not a deque: a level holds a
        few orders (the flow's grow past ``_SIM_QUEUE``), and a list is made, indexed and
        appended to with fewer instructions (a deque allocates a 64-slot block per level)."""
        self.qty: dict[str, dict[int, int]] = {"BUY": {}, "SELL": {}}
        self.sorted: dict[str, list[int]] = {"BUY": [], "SELL": []}
        self.update_id = first_update_id
        self.last_change_ms = 0
        self._pending = {c: _Pending() for c in self.CADENCES}
        self._recent = _Pending()
        """Changes since any cadence last flushed: merged into every cadence's pending at each
        flush (one set add per change instead of one per cadence)."""
        self._recent_bids = self._recent.bids
        self._recent_asks = self._recent.asks
        self._last_u = {c: first_update_id for c in self.CADENCES}
        self.owned = 0
        """Resting orders with an owner (the users'): while none rest, every order is the flow's."""

    # -- reads --------------------------------------------------------------------------
    def best_bid(self) -> int | None:
        s = self.sorted["BUY"]
        return s[-1] if s else None

    def best_ask(self) -> int | None:
        s = self.sorted["SELL"]
        return s[0] if s else None

    def top(self, side: str, n: int) -> list[tuple[int, int]]:
        """The best ``n`` levels of a side as (ticks, qty), best first."""
        s = self.sorted[side]
        q = self.qty[side]
        ticks = s[::-1][:n] if side == "BUY" else s[:n]
        return [(t, q[t]) for t in ticks]

    def depth_count(self, side: str) -> int:
        return len(self.sorted[side])

    # -- changes ------------------------------------------------------------------------
    def begin(self, now_ms: int) -> int:
        """Start one matching-engine operation: a new update id for all it changes."""
        self.update_id += 1
        self.last_change_ms = now_ms
        recent = self._recent
        if not recent.first_id:
            recent.first_id = self.update_id
        return self.update_id

    def _touch(self, side: str, ticks: int) -> None:
        (self._recent_bids if side == "BUY" else self._recent_asks).add(ticks)

    def add(self, order: RestingOrder) -> None:
        """Rest an order at the back of its level's queue (caller has called ``begin``)."""
        side, t = order.side, order.ticks
        levels = self.levels[side]
        lvl = levels.get(t)
        if lvl is None:
            levels[t] = [order]
            bisect.insort(self.sorted[side], t)
            self.qty[side][t] = order.qty
        else:
            lvl.append(order)
            self.qty[side][t] += order.qty
        if order.owner is not None:
            self.owned += 1
        (self._recent_bids if side == "BUY" else self._recent_asks).add(t)

    def grow(self, order: RestingOrder, by: int) -> None:
        """Add ``by`` contracts to a resting order at the back of its level (caller has called
        ``begin``)."""
        order.qty += by
        self.qty[order.side][order.ticks] += by
        self._touch(order.side, order.ticks)

    def reduce(self, order: RestingOrder, by: int) -> None:
        """Take ``by`` contracts off a resting order, removing it (and its level) at zero."""
        side, t = order.side, order.ticks
        order.qty -= by
        self.qty[side][t] -= by
        if order.qty <= 0:
            lvl = self.levels[side][t]
            try:
                lvl.remove(order)
            except ValueError:
                pass
            else:
                if order.owner is not None:
                    self.owned -= 1
            if not lvl:
                self._drop_level(side, t)
        (self._recent_bids if side == "BUY" else self._recent_asks).add(t)

    def _drop_level(self, side: str, t: int) -> None:
        del self.levels[side][t]
        del self.qty[side][t]
        s = self.sorted[side]
        i = bisect.bisect_left(s, t)
        if i < len(s) and s[i] == t:
            del s[i]

    def cancel(self, order: RestingOrder) -> None:
        if order.qty > 0 and order.ticks in self.levels[order.side]:
            self.reduce(order, order.qty)

    def match(self, side: str, qty: int, limit: int | None, owner: Any = None,
              expired: list[RestingOrder] | None = None) -> list[Fill]:
        """Take liquidity for a taker on ``side`` up to ``limit`` ticks (None = market).

        A resting order of the taker's own account is never traded with: it is taken off the
        book and appended to ``expired`` (Binance's EXPIRE_MAKER self-trade prevention).
        Makers are taken from the front of each level's queue, best level first.
        """
        fills: list[Fill] = []
        buy = side == "BUY"
        opp = "SELL" if buy else "BUY"
        book = self.sorted[opp]
        levels = self.levels[opp]
        sizes = self.qty[opp]
        touched = self._recent_asks if buy else self._recent_bids
        add_fill = fills.append
        while qty > 0 and book:
            t = book[0] if buy else book[-1]
            if limit is not None and (t > limit if buy else t < limit):
                break
            lvl = levels[t]
            touched.add(t)
            while qty > 0 and lvl:
                maker = lvl[0]
                if owner is not None and maker.owner is not None and getattr(maker.owner, "account", None) is owner:
                    sizes[t] -= maker.qty
                    maker.qty = 0
                    del lvl[0]
                    self.owned -= 1
                    if expired is not None:
                        expired.append(maker)
                    continue
                left = maker.qty
                take = qty if qty < left else left
                add_fill(_new_fill(Fill, (t, take, maker)))
                qty -= take
                sizes[t] -= take
                maker.qty = left - take
                if left <= take:
                    del lvl[0]
                    if maker.owner is not None:
                        self.owned -= 1
            if lvl:
                break
            del levels[t]
            del sizes[t]
            if buy:
                del book[0]
            else:
                book.pop()
        return fills

    def available(self, side: str, limit: int | None, owner: Any = None) -> int:
        """Contracts a taker on ``side`` could fill up to ``limit`` (for FOK)."""
        opp = "SELL" if side == "BUY" else "BUY"
        total = 0
        for t in (self.sorted[opp] if side == "BUY" else reversed(self.sorted[opp])):
            if limit is not None and ((side == "BUY" and t > limit) or (side == "SELL" and t < limit)):
                break
            for maker in self.levels[opp][t]:
                if owner is not None and maker.owner is not None and getattr(maker.owner, "account", None) is owner:
                    continue
                total += maker.qty
        return total

    # -- diff streams -------------------------------------------------------------------
    def take_diff(self, cadence: int, levels: bool = True
                  ) -> tuple[int, int, int, list[tuple[int, int]], list[tuple[int, int]]] | None:
        """Changed levels since this cadence last flushed: (U, u, pu, bids, asks), or None.
        Without ``levels`` the bids and asks are left empty (a diff nobody will be sent: its
        ids move on all the same)."""
        recent = self._recent
        if recent.first_id or recent.bids or recent.asks:
            for q in self._pending.values():
                if not q.first_id:
                    q.first_id = recent.first_id
                q.bids |= recent.bids
                q.asks |= recent.asks
            self._recent = recent = _Pending()
            self._recent_bids, self._recent_asks = recent.bids, recent.asks
        p = self._pending[cadence]
        if not p.first_id:
            return None
        bids: list[tuple[int, int]] = []
        asks: list[tuple[int, int]] = []
        if levels:
            bq, aq = self.qty["BUY"], self.qty["SELL"]
            bids = [(t, bq.get(t, 0)) for t in sorted(p.bids, reverse=True)]
            asks = [(t, aq.get(t, 0)) for t in sorted(p.asks)]
        pu = self._last_u[cadence]
        out = (p.first_id, self.update_id, pu, bids, asks)
        self._last_u[cadence] = self.update_id
        self._pending[cadence] = _Pending()
        return out
