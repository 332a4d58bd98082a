"""What the market widgets show for one symbol, as plain state the UI polls.

A feed worker hands every parsed market event to :meth:`MarketState.apply`; each part of the
state (ticker, trades, liquidations, klines, all-market tickers) carries a version counter that
the UI compares on its frame timer, so a burst of events costs one repaint, not one per event.
No Textual here.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, get_args

from feeds.models import (
    AggTrade,
    ForceOrder,
    IndexPriceUpdate,
    Kline,
    KlineEvent,
    MarkPriceUpdate,
    MiniTicker,
    Ticker,
)
from feeds.symbols import SymbolInfo

__all__ = [
    "KLINE_KINDS",
    "KlineKind",
    "Liquidation",
    "MarketState",
    "annualised_funding",
    "kline_stream",
    "market_streams",
]

KlineKind = Literal["trade", "mark", "index"]
"""The three candle series the chart can show: last trade, mark price and index price."""
KLINE_KINDS: tuple[KlineKind, ...] = get_args(KlineKind)

MAX_CANDLES = 500
"""Candles kept per series: REST history plus live updates."""

_FUNDING_PERIODS_PER_YEAR = Decimal(3 * 365)
"""COIN-M perpetuals settle funding every 8 hours."""


def kline_stream(info: SymbolInfo, kind: str, interval: str) -> str:
    """The stream name for one candle series (mark klines go by symbol, index klines by pair)."""
    if kind == "mark":
        return f"{info.symbol.lower()}@markPriceKline_{interval}"
    if kind == "index":
        return f"{info.pair.lower()}@indexPriceKline_{interval}"
    return f"{info.symbol.lower()}@kline_{interval}"


def market_streams(
    info: SymbolInfo, *, kline_kind: str, interval: str, all_liquidations: bool
) -> list[str]:
    """Every market stream the dashboard needs for ``info``, including diff depth."""
    s = info.symbol.lower()
    return [
        f"{s}@depth@100ms",
        f"{s}@aggTrade",
        f"{s}@markPrice@1s",
        f"{info.pair.lower()}@indexPrice@1s",
        f"{s}@ticker",
        kline_stream(info, kline_kind, interval),
        "!forceOrder@arr" if all_liquidations else f"{s}@forceOrder",
        "!miniTicker@arr",
    ]


def annualised_funding(rate: Decimal) -> Decimal:
    """A funding rate per 8 h period as a yearly rate (simple, not compounded)."""
    return rate * _FUNDING_PERIODS_PER_YEAR


@dataclass(frozen=True, slots=True)
class Liquidation:
    """One liquidation for the tape, with its size in contracts and in the coin."""

    time_ms: int
    symbol: str
    side: str
    """The liquidation order's side: SELL liquidates a long, BUY a short."""
    price: Decimal
    qty: Decimal
    """Contracts."""
    coin_notional: Decimal | None
    """qty × contractSize / price, when the contract size is known."""
    usd_notional: Decimal | None = None
    """qty × contractSize (COIN-M contracts are worth a fixed USD amount), when the contract size
    is known: one unit for every contract, which the coin amounts of different coins are not."""

    @property
    def key(self) -> tuple[str, int, str, Decimal, Decimal]:
        """What tells two liquidations apart (a repeat of the same event has the same key)."""
        return (self.symbol, self.time_ms, self.side, self.price, self.qty)


class MarketState:
    """Live market state of the selected symbol plus the all-market mini tickers.

    Attributes ending in ``_version`` grow by one whenever that part changes.
    """

    def __init__(
        self,
        info: SymbolInfo,
        *,
        contract_sizes: dict[str, int] | None = None,
        kline_kind: KlineKind = "trade",
        interval: str = "1m",
        all_liquidations: bool = False,
        trades_kept: int = 200,
        liquidations_kept: int = 300,
    ) -> None:
        self.info = info
        """The selected contract."""
        self.contract_sizes = contract_sizes or {info.symbol: info.contract_size}
        """USD per contract of every symbol (all-market liquidations need other symbols')."""
        self.kline_kind: KlineKind = kline_kind
        """``trade``, ``mark`` or ``index``."""
        self.interval = interval
        """The chart's candle interval, e.g. ``1m``."""
        self.all_liquidations = all_liquidations
        """Whether the tape shows ``!forceOrder@arr`` (every symbol) or this symbol only."""

        self.mark: MarkPriceUpdate | None = None
        self.index_price: Decimal | None = None
        self.ticker: Ticker | None = None
        self.last_price: Decimal | None = None
        self.last_direction = 0
        """+1 when the last trade ticked up, -1 down, 0 unchanged/unknown."""
        self.mark_direction = 0
        self.ticker_version = 0

        self.trades: deque[AggTrade] = deque(maxlen=trades_kept)
        """Newest first."""
        self.trades_version = 0

        self.liquidations: deque[Liquidation] = deque(maxlen=liquidations_kept)
        self._liquidation_keys: set[tuple[str, int, str, Decimal, Decimal]] = set()
        """The keys of ``liquidations``, to drop a repeated event."""
        self.duplicate_liquidations = 0
        """Repeated liquidation events dropped."""
        """Newest first."""
        self.liquidations_version = 0

        self.klines: list[Kline] = []
        """Oldest first; the last one may still be open."""
        self.klines_version = 0
        self.klines_loaded = False
        """Whether REST history for the current series has arrived."""

        self.mini_tickers: dict[str, MiniTicker] = {}
        """Every symbol's rolling 24 h figures, from ``!miniTicker@arr``."""
        self.tickers_version = 0

        self.last_event_ms = 0
        """The largest event time seen (venue clock), for the latency figure."""
        self.events = 0
        self.ignored = 0
        """Events for other symbols or series (late ones after a switch): counted, not shown."""

    # ------------------------------------------------------------------ streams

    extra_streams: tuple[str, ...] = ()
    """Streams wanted whatever symbol is shown (the watchlist's and the alerts' all-market ones)."""

    def streams(self) -> list[str]:
        """The market streams this state wants, for the current symbol and settings."""
        own = market_streams(
            self.info, kline_kind=self.kline_kind, interval=self.interval,
            all_liquidations=self.all_liquidations,
        )
        return own + [s for s in self.extra_streams if s not in own]

    # ------------------------------------------------------------------ apply

    def apply(self, event: Any) -> None:
        """Fold one parsed market event (or a list of them) into the state."""
        if isinstance(event, list):
            for item in event:
                self.apply(item)
            return
        self.events += 1
        t = getattr(event, "event_time", 0)
        if t > self.last_event_ms:
            self.last_event_ms = t
        symbol = self.info.symbol
        if isinstance(event, AggTrade):
            if event.symbol != symbol:
                self.ignored += 1
                return
            self.trades.appendleft(event)
            self._set_last(event.price)
            self.trades_version += 1
        elif isinstance(event, MarkPriceUpdate):
            if event.symbol != symbol:
                self.ignored += 1
                return
            if self.mark is not None and event.mark_price != self.mark.mark_price:
                self.mark_direction = 1 if event.mark_price > self.mark.mark_price else -1
            self.mark = event
            self.index_price = event.index_price
            self.ticker_version += 1
        elif isinstance(event, IndexPriceUpdate):
            if event.pair != self.info.pair:
                self.ignored += 1
                return
            self.index_price = event.index_price
            self.ticker_version += 1
        elif isinstance(event, Ticker):
            if event.symbol != symbol:
                self.ignored += 1
                return
            self.ticker = event
            if self.last_price is None:
                self.last_price = event.last_price
            self.ticker_version += 1
        elif isinstance(event, MiniTicker):
            self.mini_tickers[event.symbol] = event
            self.tickers_version += 1
        elif isinstance(event, ForceOrder):
            self._apply_liquidation(event)
        elif isinstance(event, KlineEvent):
            self._apply_kline(event)
        else:
            self.ignored += 1

    def _set_last(self, price: Decimal) -> None:
        if self.last_price is not None and price != self.last_price:
            self.last_direction = 1 if price > self.last_price else -1
        self.last_price = price

    def _apply_liquidation(self, event: ForceOrder) -> None:
        if not self.all_liquidations and event.symbol != self.info.symbol:
            self.ignored += 1
            return
        qty = event.filled_accumulated_qty or event.orig_qty
        price = event.avg_price or event.price
        size = self.contract_sizes.get(event.symbol)
        notional = (qty * size / price) if size and price else None
        liq = Liquidation(event.trade_time or event.event_time, event.symbol, event.side, price, qty,
                          notional, qty * size if size else None)
        # a venue (or a reconnect's overlap) may send the same snapshot twice: show it once
        seen = self._liquidation_keys
        if liq.key in seen:
            self.duplicate_liquidations += 1
            return
        liqs = self.liquidations
        if liqs.maxlen is not None and len(liqs) == liqs.maxlen:
            seen.discard(liqs[-1].key)
        liqs.appendleft(liq)
        seen.add(liq.key)
        self.liquidations_version += 1

    def _wanted_kline(self, event: KlineEvent) -> bool:
        if event.kline.interval != self.interval:
            return False
        if self.kline_kind == "trade":
            return event.kind == "kline" and event.symbol == self.info.symbol
        if self.kline_kind == "mark":
            return (event.kind == "markPrice_kline" and event.pair == self.info.pair
                    and event.kline.symbol in (None, self.info.symbol))
        return event.kind == "indexPrice_kline" and event.pair == self.info.pair

    def _apply_kline(self, event: KlineEvent) -> None:
        if not self._wanted_kline(event):
            self.ignored += 1
            return
        k = event.kline
        bars = self.klines
        if bars and bars[-1].open_time == k.open_time:
            bars[-1] = k
        elif not bars or k.open_time > bars[-1].open_time:
            bars.append(k)
            if len(bars) > MAX_CANDLES:
                del bars[: len(bars) - MAX_CANDLES]
        else:
            return  # an update to a candle older than the newest: history already has it
        if self.kline_kind == "trade":
            self._set_last(k.close)
        self.klines_version += 1

    def load_klines(self, history: list[Kline]) -> None:
        """Put REST history under the live candles (live ones win where they overlap)."""
        live = {k.open_time: k for k in self.klines}
        merged = {k.open_time: k for k in history}
        merged.update(live)
        self.klines = [merged[t] for t in sorted(merged)][-MAX_CANDLES:]
        self.klines_loaded = True
        self.klines_version += 1

    # ------------------------------------------------------------------ switching

    def set_series(self, *, kline_kind: str | None = None, interval: str | None = None) -> None:
        """Change the chart's series; its candles are cleared until history is loaded."""
        if kline_kind is not None:
            kind = next((k for k in KLINE_KINDS if k == kline_kind), None)
            if kind is None:
                raise ValueError(f"kline kind must be one of {', '.join(KLINE_KINDS)}")
            self.kline_kind = kind
        if interval is not None:
            self.interval = interval
        self.klines = []
        self.klines_loaded = False
        self.klines_version += 1

    def set_all_liquidations(self, on: bool) -> None:
        """Switch the tape between this symbol and every symbol (the tape starts afresh)."""
        self.all_liquidations = on
        self.liquidations.clear()
        self._liquidation_keys.clear()
        self.liquidations_version += 1

    def switch_symbol(self, info: SymbolInfo) -> None:
        """Forget everything about the old symbol (no stale figures under a new name)."""
        self.info = info
        self.contract_sizes.setdefault(info.symbol, info.contract_size)
        self.mark = None
        self.index_price = None
        self.ticker = None
        self.last_price = None
        self.last_direction = self.mark_direction = 0
        self.trades.clear()
        self.liquidations.clear()
        self._liquidation_keys.clear()
        self.klines = []
        self.klines_loaded = False
        for name in ("ticker_version", "trades_version", "liquidations_version", "klines_version"):
            setattr(self, name, getattr(self, name) + 1)

    # ------------------------------------------------------------------ derived

    @property
    def basis(self) -> Decimal | None:
        """Mark minus index."""
        if self.mark is None or self.index_price is None:
            return None
        return self.mark.mark_price - self.index_price

    @property
    def basis_percent(self) -> Decimal | None:
        basis = self.basis
        if basis is None or not self.index_price:
            return None
        return basis / self.index_price * 100
