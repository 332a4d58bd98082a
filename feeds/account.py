"""What the open-orders, positions and balance widgets read: plain account state, no Textual.

:class:`AccountState` takes user-data events (:meth:`AccountState.apply`) and snapshot results
from the WebSocket API (``load_*``), keeps open orders by ``orderId``, positions by symbol (and
position side), balances by asset and a bounded list of recent fills, and bumps
:attr:`AccountState.version` on every change so the UI repaints only when something changed.

Order updates can arrive out of order (an ``order.place`` reply after the stream already said
FILLED): an order that reached a terminal status never comes back into the open set, and an
older update never overwrites a newer one. Money is ``Decimal`` throughout.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from feeds.decimals import D, DecimalParseError
from feeds.margin import (
    DEFAULT_LEVERAGE,
    AssetRisk,
    Bracket,
    OrderInput,
    PositionInput,
    PositionRisk,
    account_risk,
    brackets_from_rest,
    default_brackets,
    unrealized_pnl,
)
from feeds.models import (
    AccountConfigUpdate,
    AccountUpdate,
    ListenKeyExpired,
    MarginCall,
    MarkPriceUpdate,
    OrderTradeUpdate,
)

__all__ = [
    "OPEN_STATUSES",
    "AccountState",
    "Balance",
    "Fill",
    "Liquidation",
    "OpenOrder",
    "Position",
    "inverse_unrealized_pnl",
    "is_venue_close",
]

OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})
CONDITIONAL_TYPES = frozenset({"STOP", "TAKE_PROFIT", "STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"})
"""Order types that hold no margin until they trigger (they become LIMIT/MARKET then)."""
ZERO = Decimal(0)


def _dec(value: Any, default: Decimal = ZERO) -> Decimal:
    if value is None or value == "":
        return default
    if isinstance(value, Decimal):
        return value
    try:
        return D(value if isinstance(value, (str, int)) else str(value))
    except DecimalParseError:
        return default


def _bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


inverse_unrealized_pnl = unrealized_pnl
"""Unrealized PnL in coin of an inverse position (signed amount): :func:`feeds.margin.unrealized_pnl`."""


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """One order as the open-orders widget shows it."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    status: str
    price: Decimal
    orig_qty: Decimal
    executed_qty: Decimal = ZERO
    avg_price: Decimal = ZERO
    stop_price: Decimal = ZERO
    time_in_force: str = ""
    reduce_only: bool = False
    close_position: bool = False
    position_side: str = "BOTH"
    update_time: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> OpenOrder:
        """From an ``order.place``/``order.status``/``order.cancel`` result or a REST openOrders row."""
        return cls(
            order_id=int(r["orderId"]),
            client_order_id=str(r.get("clientOrderId", "")),
            symbol=str(r["symbol"]),
            side=str(r.get("side", "")),
            type=str(r.get("type", r.get("origType", ""))),
            status=str(r.get("status", "")),
            price=_dec(r.get("price")),
            orig_qty=_dec(r.get("origQty")),
            executed_qty=_dec(r.get("executedQty")),
            avg_price=_dec(r.get("avgPrice")),
            stop_price=_dec(r.get("stopPrice")),
            time_in_force=str(r.get("timeInForce", "")),
            reduce_only=_bool(r.get("reduceOnly")),
            close_position=_bool(r.get("closePosition")),
            position_side=str(r.get("positionSide", "BOTH")),
            update_time=int(r.get("updateTime") or r.get("time") or 0),
        )

    @classmethod
    def from_update(cls, ev: OrderTradeUpdate) -> OpenOrder:
        o = ev.order
        return cls(
            order_id=o.order_id, client_order_id=o.client_order_id, symbol=o.symbol, side=o.side,
            type=o.order_type, status=o.status, price=o.price, orig_qty=o.orig_qty,
            executed_qty=o.filled_accumulated_qty, avg_price=o.avg_price, stop_price=o.stop_price,
            time_in_force=o.time_in_force, reduce_only=o.reduce_only, close_position=o.close_position,
            position_side=o.position_side, update_time=ev.transaction_time or o.trade_time,
        )


@dataclass(frozen=True, slots=True)
class Position:
    """One position (one-way mode: ``position_side`` BOTH, amount signed)."""

    symbol: str
    amount: Decimal
    """Contracts; negative for a short."""
    entry_price: Decimal
    unrealized_pnl: Decimal = ZERO
    """As the venue last reported it (use :meth:`AccountState.unrealized_pnl` for a live mark)."""
    margin_type: str = "cross"
    position_side: str = "BOTH"
    leverage: int | None = None
    mark_price: Decimal | None = None
    liquidation_price: Decimal | None = None
    realized: Decimal | None = None
    update_time: int = 0
    isolated_wallet: Decimal = ZERO

    @property
    def isolated(self) -> bool:
        return self.margin_type.lower().startswith("isol")

    @property
    def side(self) -> str:
        return "LONG" if self.amount > 0 else "SHORT" if self.amount < 0 else "FLAT"


@dataclass(frozen=True, slots=True)
class Balance:
    """One margin asset."""

    asset: str
    wallet: Decimal
    cross_wallet: Decimal
    available: Decimal | None = None
    """Last ``availableBalance`` snapshot adjusted by wallet changes since (None if never seen)."""
    unrealized_pnl: Decimal | None = None
    update_time: int = 0


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one of our orders (from a TRADE ``ORDER_TRADE_UPDATE``)."""

    time: int
    symbol: str
    side: str
    order_id: int
    client_order_id: str
    qty: Decimal
    price: Decimal
    trade_id: int
    is_maker: bool
    commission: Decimal | None
    commission_asset: str | None
    realized_pnl: Decimal


FILL_EXECUTIONS = frozenset({"TRADE", "CALCULATED"})
"""Execution types that are fills: TRADE, and CALCULATED (Binance: "Liquidation Execution")."""


def is_venue_close(order_type: str, client_order_id: str) -> str | None:
    """Whether an order is the venue's own closing of a position: "LIQUIDATION" (order type
    LIQUIDATION, or Binance's client id ``autoclose-…``), "ADL" (``adl_autoclose``), else None.
    Delivery settlement orders (``settlement_autoclose-``) are not a liquidation."""
    if client_order_id.startswith("settlement_autoclose"):
        return None
    if client_order_id.startswith("adl_autoclose"):
        return "ADL"
    if order_type == "LIQUIDATION" or client_order_id.startswith("autoclose-"):
        return "LIQUIDATION"
    return None


@dataclass(frozen=True, slots=True)
class Liquidation:
    """The venue closing one of our positions by itself (liquidation or auto-deleverage), as
    its ORDER_TRADE_UPDATE events tell it: one per order, updated as it fills."""

    seq: int
    """1 for the session's first; a newer liquidation has a larger number."""
    kind: str
    """LIQUIDATION or ADL."""
    symbol: str
    side: str
    """The closing order's side (SELL closes a long)."""
    position_side: str
    order_id: int
    client_order_id: str
    time: int
    filled: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    """Realised PnL of its fills (coin), before commission."""
    commission: Decimal = ZERO
    margin_asset: str = ""
    status: str = "NEW"

    @property
    def closed_side(self) -> str:
        """The position that was closed: LONG or SHORT."""
        if self.position_side in ("LONG", "SHORT"):
            return self.position_side
        return "LONG" if self.side == "SELL" else "SHORT"


class AccountState:
    """Open orders, positions, balances and fills of one account; bump ``version`` on change.

    Margin figures (available balance, margin in use, each position's maintenance margin,
    liquidation price and margin ratio) are recomputed with :mod:`feeds.margin` after every
    user-data event, snapshot and mark price (:meth:`set_mark`), so they are never older than
    the last of those. They need each symbol's contract size (``symbols`` or
    ``contract_sizes``); without it the venue's last ``availableBalance`` is kept, adjusted by
    wallet changes.

    Args:
        max_fills: how many recent fills to keep.
        contract_sizes: ``symbol -> contractSize`` (optional; ``symbols`` gives it too).
        symbols: ``symbol -> SymbolInfo`` (contract size, pair and margin asset of each).
    """

    def __init__(self, *, max_fills: int = 200, contract_sizes: Mapping[str, int] | None = None,
                 symbols: Mapping[str, Any] | None = None) -> None:
        self.orders: dict[int, OpenOrder] = {}
        """Open orders by orderId (terminal orders leave)."""
        self.positions: dict[tuple[str, str], Position] = {}
        """Non-flat positions by (symbol, positionSide)."""
        self.balances: dict[str, Balance] = {}
        self.fills: deque[Fill] = deque(maxlen=max_fills)
        """Most recent last."""
        self.version = 0
        self.margin_call: MarginCall | None = None
        """The latest margin call, until cleared by the UI."""
        self.symbols: dict[str, Any] = dict(symbols or {})
        self.contract_sizes: dict[str, int] = {s: int(i.contract_size) for s, i in self.symbols.items()}
        self.contract_sizes.update(contract_sizes or {})
        self.marks: dict[str, Decimal] = {}
        """Latest mark price by symbol (mark stream, or a position snapshot's ``markPrice``)."""
        self.leverage: dict[str, int] = {}
        """Leverage by symbol as the venue last reported it (``DEFAULT_LEVERAGE`` until then)."""
        self.brackets: dict[str, tuple[Bracket, ...]] = {}
        """The venue's leverage brackets by symbol or pair (defaults by pair until loaded)."""
        self.risk: dict[str, AssetRisk] = {}
        """Cross-margin figures by margin asset (only for assets they can be computed for)."""
        self.position_risk: dict[tuple[str, str], PositionRisk] = {}
        """Figures of each position, by (symbol, positionSide)."""
        self._closed: OrderedDict[int, OpenOrder] = OrderedDict()
        self._last: dict[int, int] = {}
        self._wallet_at_snapshot: dict[str, Decimal] = {}
        self._seen_trades: OrderedDict[tuple[int, int], None] = OrderedDict()
        self._asset_of: dict[str, str] = {}
        self.margin_types: dict[str, str] = {}
        """``cross`` or ``isolated`` by symbol, as the venue last reported it (positions, snapshots)."""
        self.adl: dict[tuple[str, str], int] = {}
        """ADL quantile (0-4) of each position by (symbol, positionSide), from ``adlQuantile``."""
        self.adl_time = 0
        """When the ADL quantiles were last loaded (the caller's clock, ms; 0: never)."""
        self.liquidations: deque[Liquidation] = deque(maxlen=50)
        """The venue's closings of our positions this session (liquidation, ADL), newest last."""

    # ------------------------------------------------------------------ queries
    def open_orders(self, symbol: str | None = None) -> list[OpenOrder]:
        """Open orders (of ``symbol``), oldest first."""
        rows = [o for o in self.orders.values() if symbol is None or o.symbol == symbol]
        return sorted(rows, key=lambda o: (o.update_time, o.order_id))

    def find_client_id(self, client_order_id: str) -> OpenOrder | None:
        """The latest known state (open or closed) of the order with this client id."""
        for o in self.orders.values():
            if o.client_order_id == client_order_id:
                return o
        for o in reversed(self._closed.values()):
            if o.client_order_id == client_order_id:
                return o
        return None

    def order(self, order_id: int) -> OpenOrder | None:
        """The latest known state of an order (open or recently closed)."""
        return self.orders.get(order_id) or self._closed.get(order_id)

    def position(self, symbol: str, position_side: str = "BOTH") -> Position | None:
        return self.positions.get((symbol, position_side))

    def unrealized_pnl(self, symbol: str, mark: Decimal, contract_size: int | None = None,
                       position_side: str = "BOTH") -> Decimal:
        """Unrealized PnL in coin of the position at ``mark`` (inverse contract)."""
        pos = self.position(symbol, position_side)
        if pos is None:
            return ZERO
        size = contract_size if contract_size is not None else self.contract_sizes.get(symbol)
        if size is None:
            raise KeyError(f"contract size of {symbol} unknown: pass contract_size")
        return inverse_unrealized_pnl(pos.amount, size, pos.entry_price, mark)

    def available_balance(self, asset: str) -> Decimal | None:
        """Available margin of ``asset``: computed live (see the class text) when it can be,
        else the venue's last figure; None if never known."""
        risk = self.risk.get(asset)
        if risk is not None:
            return risk.available
        bal = self.balances.get(asset)
        return bal.available if bal is not None else None

    def margin_in_use(self, asset: str) -> Decimal | None:
        """Initial margin of cross positions plus open orders of ``asset`` (None if unknown)."""
        risk = self.risk.get(asset)
        return risk.margin_in_use if risk is not None else None

    def leverage_of(self, symbol: str) -> int:
        return self.leverage.get(symbol, DEFAULT_LEVERAGE)

    def margin_type_of(self, symbol: str) -> str | None:
        """``cross`` or ``isolated`` (None until the venue has said)."""
        pos = next((p for (s, _side), p in self.positions.items() if s == symbol), None)
        if pos is not None:
            return "isolated" if pos.isolated else "cross"
        return self.margin_types.get(symbol)

    def leverage_text(self, symbol: str) -> str:
        """``20x cross``, ``125x isolated``: leverage and margin type of ``symbol`` (the leverage
        is marked ``?`` while it is only the venue's default, not yet reported)."""
        lev = f"{self.leverage[symbol]}x" if symbol in self.leverage else f"{DEFAULT_LEVERAGE}x?"
        kind = self.margin_type_of(symbol)
        return f"{lev} {kind}" if kind else lev

    def adl_of(self, symbol: str, position_side: str = "BOTH") -> int | None:
        """The ADL quantile of a position (None: not loaded)."""
        return self.adl.get((symbol, position_side))

    def load_adl(self, rows: Iterable[Mapping[str, Any]], now_ms: int = 0) -> None:
        """``GET /dapi/v1/adlQuantile`` (every symbol): replaces the quantiles. One-way positions
        take ``BOTH``, hedge legs ``LONG``/``SHORT`` (``HEDGE`` is only a marker).

        Raises:
            ValueError: a malformed row (the quantiles already known are kept).
        """
        fresh: dict[tuple[str, str], int] = {}
        for row in rows:
            q = row.get("adlQuantile") if isinstance(row, Mapping) else None
            if not isinstance(q, Mapping) or not row.get("symbol"):
                raise ValueError(f"adlQuantile row without a symbol or quantiles: {row!r}")
            for side in ("BOTH", "LONG", "SHORT"):
                value = q.get(side)
                if value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 4:
                    raise ValueError(f"adlQuantile {side} of {row['symbol']} is not 0-4: {value!r}")
                fresh[(str(row["symbol"]), side)] = value
        self.adl_time = now_ms
        if fresh != self.adl:
            self.adl = fresh
            self.version += 1

    def brackets_of(self, symbol: str) -> tuple[Bracket, ...]:
        """The venue's brackets of ``symbol`` (by symbol, then by pair), else the defaults."""
        found = self.brackets.get(symbol)
        if found is not None:
            return found
        pair = self._pair_of(symbol)
        return self.brackets.get(pair) or default_brackets(pair)

    def asset_of(self, symbol: str) -> str:
        """The margin coin of ``symbol`` (COIN-M: the base coin of its pair)."""
        info = self.symbols.get(symbol)
        if info is not None:
            return str(info.margin_asset)
        known = self._asset_of.get(symbol)
        if known is not None:
            return known
        pair = self._pair_of(symbol)
        return pair.removesuffix("USD")

    def _pair_of(self, symbol: str) -> str:
        info = self.symbols.get(symbol)
        return str(info.pair) if info is not None else symbol.split("_", 1)[0]

    # ------------------------------------------------------------------ events
    def apply(self, event: Any) -> bool:
        """Apply one parsed user-data event (or a mark price); returns whether anything changed."""
        if isinstance(event, MarkPriceUpdate):
            return self.set_mark(event.symbol, event.mark_price)
        if isinstance(event, OrderTradeUpdate):
            changed = self._apply_order(OpenOrder.from_update(event))
            o = event.order
            if o.margin_asset:
                self._asset_of[o.symbol] = o.margin_asset
            fill = o.execution_type in FILL_EXECUTIONS and o.last_filled_qty > 0
            new_fill = fill and (o.order_id, o.trade_id) not in self._seen_trades
            kind = is_venue_close(o.order_type, o.client_order_id)
            if kind is not None:
                changed |= self._note_liquidation(kind, event, new_fill)
            if fill:
                trade_key = (o.order_id, o.trade_id)
                if trade_key not in self._seen_trades:
                    self._seen_trades[trade_key] = None
                    if len(self._seen_trades) > 2000:
                        self._seen_trades.popitem(last=False)
                    self.fills.append(Fill(
                        time=o.trade_time, symbol=o.symbol, side=o.side, order_id=o.order_id,
                        client_order_id=o.client_order_id, qty=o.last_filled_qty,
                        price=o.last_filled_price, trade_id=o.trade_id, is_maker=o.is_maker,
                        commission=o.commission, commission_asset=o.commission_asset,
                        realized_pnl=o.realized_profit))
                    changed = True
            if changed:
                self._recompute({self.asset_of(o.symbol)})
                self.version += 1
            return changed
        if isinstance(event, AccountUpdate):
            assets = set()
            for b in event.balances:
                prev = self.balances.get(b.asset)
                available = None
                if prev is not None and prev.available is not None:
                    available = prev.available + (b.wallet_balance - prev.wallet)
                self.balances[b.asset] = Balance(
                    b.asset, b.wallet_balance, b.cross_wallet_balance, available,
                    prev.unrealized_pnl if prev else None, event.transaction_time)
                assets.add(b.asset)
            for p in event.positions:
                pkey = (p.symbol, p.position_side)
                assets.add(self.asset_of(p.symbol))
                if p.margin_type:
                    self.margin_types[p.symbol] = "isolated" if p.margin_type.lower().startswith("isol") else "cross"
                prev_pos = self.positions.get(pkey)
                if p.position_amount == 0:
                    self.positions.pop(pkey, None)
                    continue
                self.positions[pkey] = Position(
                    symbol=p.symbol, amount=p.position_amount, entry_price=p.entry_price,
                    unrealized_pnl=p.unrealized_pnl, margin_type=p.margin_type,
                    position_side=p.position_side,
                    leverage=prev_pos.leverage if prev_pos else self.leverage.get(p.symbol),
                    mark_price=prev_pos.mark_price if prev_pos else None,
                    liquidation_price=prev_pos.liquidation_price if prev_pos else None,
                    realized=p.accumulated_realized, update_time=event.transaction_time,
                    isolated_wallet=p.isolated_wallet)
            self._recompute(assets)
            self.version += 1
            return True
        if isinstance(event, AccountConfigUpdate):
            if event.leverage <= 0 or self.leverage.get(event.symbol) == event.leverage:
                return False
            self.leverage[event.symbol] = event.leverage
            for key, pos in list(self.positions.items()):
                if key[0] == event.symbol:
                    self.positions[key] = replace(pos, leverage=event.leverage)
            self._recompute({self.asset_of(event.symbol)})
            self.version += 1
            return True
        if isinstance(event, MarginCall):
            self.margin_call = event
            self.version += 1
            return True
        if isinstance(event, ListenKeyExpired):
            return False
        return False

    def _note_liquidation(self, kind: str, event: OrderTradeUpdate, new_fill: bool) -> bool:
        """Record (or update) the venue's closing order ``event`` is about; returns whether
        anything changed (a replayed or older event changes nothing)."""
        o = event.order
        found = next((i for i, liq in enumerate(self.liquidations) if liq.order_id == o.order_id), None)
        created = found is None
        if found is None:
            prev = self.liquidations[-1].seq if self.liquidations else 0
            self.liquidations.append(Liquidation(
                seq=prev + 1, kind=kind, symbol=o.symbol, side=o.side, position_side=o.position_side,
                order_id=o.order_id, client_order_id=o.client_order_id,
                time=event.transaction_time or o.trade_time, margin_asset=o.margin_asset))
            found = len(self.liquidations) - 1
        liq = self.liquidations[found]
        if o.filled_accumulated_qty < liq.filled:
            return False  # older than what we have
        updated = replace(
            liq, status=o.status, filled=o.filled_accumulated_qty, avg_price=o.avg_price or liq.avg_price,
            realized_pnl=liq.realized_pnl + (o.realized_profit if new_fill else ZERO),
            commission=liq.commission + ((o.commission or ZERO) if new_fill else ZERO))
        self.liquidations[found] = updated
        return created or updated != liq

    def on_market(self, event: Any) -> None:
        """A parsed market event (or a list of them): mark prices move the margin figures."""
        if isinstance(event, list):
            for item in event:
                if isinstance(item, MarkPriceUpdate):
                    self.set_mark(item.symbol, item.mark_price)
        elif isinstance(event, MarkPriceUpdate):
            self.set_mark(event.symbol, event.mark_price)

    def set_mark(self, symbol: str, mark: Decimal) -> bool:
        """A new mark price of ``symbol``: recompute the figures of its margin coin; returns
        (and bumps ``version``) only when a figure changed."""
        if mark <= 0 or self.marks.get(symbol) == mark:
            return False
        self.marks[symbol] = mark
        if self._recompute({self.asset_of(symbol)}):
            self.version += 1
            return True
        return False

    def load_brackets(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """The venue's ``leverageBracket`` answer (v2 by symbol or v1 by pair).

        Raises:
            ValueError: a malformed row (the brackets already known are kept).
        """
        self.brackets.update(brackets_from_rest(rows))
        self._recompute(None)
        self.version += 1

    def _recompute(self, assets: set[str] | None) -> bool:
        """Recompute the margin figures of ``assets`` (None: all); returns whether any changed."""
        wanted = set(self.balances) if assets is None else assets
        changed = False
        for asset in wanted:
            computed = self._compute(asset)
            if computed is None:
                changed |= self.risk.pop(asset, None) is not None
                for key in [k for k in self.position_risk if self.asset_of(k[0]) == asset]:
                    del self.position_risk[key]
                    changed = True
                continue
            risk, rows = computed
            if self.risk.get(asset) != risk:
                self.risk[asset] = risk
                changed = True
            fresh = {(r.symbol, r.position_side): r for r in rows}
            for key in [k for k in self.position_risk if self.asset_of(k[0]) == asset and k not in fresh]:
                del self.position_risk[key]
                changed = True
            for key, row in fresh.items():
                if self.position_risk.get(key) != row:
                    self.position_risk[key] = row
                    changed = True
        return changed

    def _compute(self, asset: str) -> tuple[AssetRisk, list[PositionRisk]] | None:
        bal = self.balances.get(asset)
        if bal is None or not self.contract_sizes:
            return None
        positions: list[PositionInput] = []
        for (symbol, side), pos in self.positions.items():
            if self.asset_of(symbol) != asset:
                continue
            cs = self.contract_sizes.get(symbol)
            if cs is None:
                return None
            positions.append(PositionInput(
                symbol=symbol, amount=pos.amount, entry=pos.entry_price, cs=cs,
                mark=self.marks.get(symbol), leverage=self.leverage_of(symbol),
                brackets=self.brackets_of(symbol), isolated=pos.isolated,
                isolated_wallet=pos.isolated_wallet, position_side=side,
                reported_upnl=pos.unrealized_pnl))
        orders: list[OrderInput] = []
        for o in self.orders.values():
            if (self.asset_of(o.symbol) != asset or o.reduce_only or o.close_position
                    or o.type in CONDITIONAL_TYPES):
                continue
            cs = self.contract_sizes.get(o.symbol)
            if cs is None:
                return None
            price = o.price if o.price > 0 else self.marks.get(o.symbol)
            if price is None:
                return None
            orders.append(OrderInput(o.symbol, o.remaining, price, cs, self.leverage_of(o.symbol)))
        return account_risk(asset, bal.cross_wallet, positions, orders)

    def _apply_order(self, o: OpenOrder) -> bool:
        oid = o.order_id
        if oid in self._closed:
            closed = self._closed[oid]
            if o.is_open or o.update_time < closed.update_time:
                return False  # a stale update of an order already finished
            self._closed[oid] = o
            return o != closed
        last = self._last.get(oid)
        if last is not None and o.update_time < last and o.is_open:
            return False  # older than what we have
        current = self.orders.get(oid)
        if current is not None and o.is_open and o.executed_qty < current.executed_qty:
            return False  # fills only accumulate: an order.place reply (ACK) of the same ms is older
        self._last[oid] = o.update_time
        if o.is_open:
            if self.orders.get(oid) == o:
                return False
            self.orders[oid] = o
            return True
        self.orders.pop(oid, None)
        self._last.pop(oid, None)
        self._closed[oid] = o
        if len(self._closed) > 1000:
            self._closed.popitem(last=False)
        return True

    # ------------------------------------------------------------------ snapshots
    def load_order_result(self, result: Mapping[str, Any]) -> bool:
        """One order result (``order.place``/``status``/``cancel``/``modify``)."""
        order = OpenOrder.from_result(result)
        changed = self._apply_order(order)
        if changed:
            self._recompute({self.asset_of(order.symbol)})
            self.version += 1
        return changed

    def load_open_orders(self, rows: Iterable[Mapping[str, Any]], symbol: str | None = None) -> None:
        """A full open-orders snapshot (of ``symbol``, or of every symbol): replaces that set."""
        fresh = {int(r["orderId"]): OpenOrder.from_result(r) for r in rows}
        for oid, o in list(self.orders.items()):
            if (symbol is None or o.symbol == symbol) and oid not in fresh:
                del self.orders[oid]
                self._last.pop(oid, None)
        for o in fresh.values():
            if o.is_open and o.order_id not in self._closed:
                self.orders[o.order_id] = o
                self._last[o.order_id] = o.update_time
        self._recompute(None)
        self.version += 1

    def load_positions(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """``account.position`` rows: replaces the positions of the symbols listed."""
        for r in rows:
            key = (str(r["symbol"]), str(r.get("positionSide", "BOTH")))
            amount = _dec(r.get("positionAmt"))
            lev = r.get("leverage")
            if lev not in (None, ""):
                with contextlib.suppress(TypeError, ValueError):
                    self.leverage[key[0]] = int(lev)
            mark = _dec(r.get("markPrice"))
            if mark > 0:
                self.marks[key[0]] = mark
            if r.get("marginType"):
                self.margin_types[key[0]] = "isolated" if str(r["marginType"]).lower().startswith("isol") else "cross"
            if amount == 0:
                self.positions.pop(key, None)
                continue
            self.positions[key] = Position(
                symbol=key[0], amount=amount, entry_price=_dec(r.get("entryPrice")),
                unrealized_pnl=_dec(r.get("unRealizedProfit", r.get("unrealizedProfit"))),
                margin_type=str(r.get("marginType", "cross")), position_side=key[1],
                leverage=int(lev) if lev not in (None, "") else None,
                mark_price=_dec(r["markPrice"]) if r.get("markPrice") else None,
                liquidation_price=_dec(r["liquidationPrice"]) if r.get("liquidationPrice") else None,
                update_time=int(r.get("updateTime") or 0),
                isolated_wallet=_dec(r.get("isolatedWallet", r.get("isolatedMargin"))))
        self._recompute(None)
        self.version += 1

    def load_balances(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """``account.balance`` rows (or ``account.status`` assets)."""
        for r in rows:
            asset = str(r["asset"])
            wallet = _dec(r.get("balance", r.get("walletBalance")))
            cross = _dec(r.get("crossWalletBalance"), wallet)
            avail_raw = r.get("availableBalance")
            upnl_raw = r.get("crossUnPnl", r.get("unrealizedProfit"))
            self.balances[asset] = Balance(
                asset, wallet, cross, _dec(avail_raw) if avail_raw is not None else None,
                _dec(upnl_raw) if upnl_raw is not None else None, int(r.get("updateTime") or 0))
        self._recompute(None)
        self.version += 1

    def load_account_status(self, result: Mapping[str, Any]) -> None:
        """``account.status``: balances from ``assets``, positions from ``positions``."""
        self.load_balances(result.get("assets") or [])
        self.load_positions(result.get("positions") or [])

    def with_contract_size(self, symbol: str, size: int) -> None:
        self.contract_sizes[symbol] = size
        self._recompute(None)

    def __repr__(self) -> str:
        return (f"AccountState(orders={len(self.orders)}, positions={len(self.positions)}, "
                f"balances={len(self.balances)}, fills={len(self.fills)}, version={self.version})")

