"""What an order would mean, before it is sent: pure functions, Decimal-exact, no I/O, no UI.

The order form (tui/order_form.py) shows these figures next to the fields; this module computes
them so that they can be checked by hand without a screen. For an inverse (COIN-M) contract of
``cs`` USD a contract, an order of ``q`` contracts filled around price ``P``:

- reference price P (:func:`reference_price`): the order's own price (LIMIT, STOP,
  TAKE_PROFIT), its trigger (STOP_MARKET, TAKE_PROFIT_MARKET), the activation price or else the
  mark (TRAILING_STOP_MARKET); a MARKET order takes the best price on the side it takes (the ask
  for a buy, the bid for a sell), else the mark, else the last price.
- notional = q × cs / P coin, q × cs USD; initial margin = notional / leverage
  (:func:`feeds.margin.notional`, :func:`feeds.margin.order_initial_margin`, 8 decimals).
- sizing (:func:`size_order`): a share s of the available margin A at leverage L buys
  s × A × L × P / cs contracts (the inverse of the line above), rounded down to a valid
  quantity; reduce-only orders take s × |position| instead.
- position effect (:func:`position_effect`): one-way mode, signed contracts before → after.
- warnings (:func:`order_warnings`): a limit price more than :data:`FAR_THROUGH_BOOK` through
  the opposite best price, a post-only (GTX) price that would cross, margin above the available
  balance, and real money.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from feeds.decimals import ZERO, fmt_plain, fmt_step
from feeds.filters import OrderRequest, nearest_valid_quantity
from feeds.margin import contracts_at, notional, order_initial_margin, q8
from feeds.symbols import SymbolInfo

__all__ = [
    "COIN_PLACES",
    "FAR_THROUGH_BOOK",
    "OrderContext",
    "OrderCost",
    "OrderWarning",
    "Sizing",
    "distance_from_mark",
    "order_cost",
    "order_warnings",
    "percent",
    "position_effect",
    "preview_quantity",
    "reference_price",
    "signed_contracts",
    "size_order",
]

COIN_PLACES = Decimal("0.00000001")
"""Margin-coin amounts (notional, margin) are shown to 8 decimals, Binance's asset precision."""
FAR_THROUGH_BOOK = Decimal("0.01")
"""A limit price more than this fraction through the opposite best price earns a loud warning."""
_PERCENT_PLACES = Decimal("0.01")
_HUNDRED = Decimal(100)
_PRICED = ("LIMIT", "STOP", "TAKE_PROFIT")
"""Order types that carry a limit price."""


@dataclass(frozen=True)
class OrderContext:
    """A snapshot of what an order's figures depend on: the symbol, the market, the account."""

    info: SymbolInfo
    venue: str
    """``"sim"``, ``"testnet"`` or ``"live"``."""
    real_money: bool
    confirm: bool
    """Whether submitting goes through the confirmation step first."""
    mark_price: Decimal | None
    last_price: Decimal | None
    best_bid: Decimal | None
    best_ask: Decimal | None
    position_qty: Decimal
    """Signed contracts in one-way mode (+long, -short)."""
    position_entry: Decimal | None
    available_balance: Decimal
    """Available balance in the margin coin."""
    leverage: int
    open_orders: int
    """Open orders on this symbol (MAX_NUM_ORDERS)."""


# ---------------------------------------------------------------------------- price and cost


def reference_price(order: OrderRequest, ctx: OrderContext) -> Decimal | None:
    """The price a fill would roughly happen at, for notional, margin and sizing (see the module
    text); None when none of the candidates is known and positive."""
    candidates: list[Decimal | None]
    if order.type in _PRICED:
        candidates = [order.price]
    elif order.type in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
        candidates = [order.stop_price]
    elif order.type == "TRAILING_STOP_MARKET":
        candidates = [order.activation_price, ctx.mark_price]
    else:
        book = ctx.best_ask if order.side == "BUY" else ctx.best_bid
        candidates = [book, ctx.mark_price, ctx.last_price]
    for price in candidates:
        if price is not None and price > 0:
            return price
    return None


def preview_quantity(order: OrderRequest, ctx: OrderContext) -> Decimal | None:
    """The contracts the order would trade: its quantity, or for a close-all the whole position
    (None when flat)."""
    if order.close_position:
        return abs(ctx.position_qty) if ctx.position_qty else None
    return order.quantity


@dataclass(frozen=True, slots=True)
class OrderCost:
    """What ``contracts`` at ``price`` come to."""

    contracts: Decimal
    price: Decimal
    usd: Decimal
    """contracts × contract size."""
    notional: Decimal
    """usd / price, in the margin coin, 8 decimals."""
    margin: Decimal
    """Initial margin in the margin coin: notional / leverage (the notional without a leverage),
    8 decimals."""


def order_cost(contracts: Decimal | None, price: Decimal | None, contract_size: int,
               leverage: int) -> OrderCost | None:
    """The notional and initial margin of ``contracts`` at ``price``; None without a positive
    quantity and price."""
    if contracts is None or contracts <= 0 or price is None or price <= 0:
        return None
    coin = q8(notional(contracts, contract_size, price))
    margin = order_initial_margin(contracts, contract_size, price, leverage) if leverage > 0 else coin
    return OrderCost(contracts, price, contracts * contract_size, coin, margin)


def distance_from_mark(order: OrderRequest, mark: Decimal | None) -> tuple[Decimal, Decimal] | None:
    """How far the order's shown price (its limit price, else its trigger, else its activation
    price) is from the mark: (price − mark, that as a percentage of the mark to 2 decimals)."""
    shown = order.price if order.type in _PRICED else (
        order.stop_price if order.stop_price is not None else order.activation_price)
    if shown is None or shown <= 0 or mark is None or mark <= 0:
        return None
    distance = shown - mark
    return distance, (distance / mark * _HUNDRED).quantize(_PERCENT_PLACES)


# ---------------------------------------------------------------------------- sizing


@dataclass(frozen=True, slots=True)
class Sizing:
    """The quantity a size key gives (None: refused) and the sentence that says why."""

    quantity: Decimal | None
    step: Decimal
    """The quantity's step (MARKET_LOT_SIZE's for market-like orders), to format it with."""
    message: str


def size_order(percent: int, order: OrderRequest, ctx: OrderContext) -> Sizing:
    """Contracts for ``percent`` % of the available margin at the order's reference price and
    the account's leverage, or (reduce-only) of the position; rounded down to a valid quantity.
    """
    info = ctx.info
    share = Decimal(percent) / _HUNDRED
    market = order.is_market_lot
    step, floor = (info.market_step_size, info.market_min_qty) if market else (info.step_size, info.min_qty)
    if order.reduce_only:
        if ctx.position_qty == 0:
            return Sizing(None, step, "no position to reduce")
        raw = abs(ctx.position_qty) * share
        source = "of the position"
    else:
        price = reference_price(order, ctx)
        if price is None:
            return Sizing(None, step, "enter a price first: sizing needs one")
        raw = contracts_at(ctx.available_balance * ctx.leverage * share, info.contract_size, price)
        source = "of the available margin"
    if raw < floor:
        return Sizing(None, step, f"{percent}% {source} is less than the minimum {fmt_plain(floor)}")
    qty = nearest_valid_quantity(info, raw, market=market, mode="down")
    return Sizing(qty, step, f"{fmt_plain(qty)} contracts = {percent}% {source}")


# ---------------------------------------------------------------------------- position effect


def signed_contracts(qty: Decimal) -> str:
    """``+5``, ``-7`` or ``flat``."""
    if qty == 0:
        return "flat"
    if qty > 0:
        return f"+{fmt_plain(qty)}"
    return fmt_plain(qty)


def percent(fraction: Decimal) -> str:
    """A fraction as a percentage to 2 decimals (``0.0114`` → ``1.14``)."""
    return fmt_plain((fraction * _HUNDRED).quantize(_PERCENT_PLACES))


def position_effect(position: Decimal, order: OrderRequest) -> str:
    """What the order does to a one-way position of ``position`` signed contracts if it fills
    in full: ``+5 → -4 (flips to short)``; a reduce-only order never goes past flat, and one that
    would not reduce says it is refused."""
    current = signed_contracts(position)
    if order.close_position:
        if position == 0:
            return f"{current} → nothing to close (the order waits for a position)"
        return f"{current} → 0 (closes the whole position on trigger)"
    qty = order.quantity
    if qty is None or qty <= 0:
        return current
    delta = qty if order.side == "BUY" else -qty
    new = position + delta
    if order.reduce_only:
        if position == 0 or (position > 0) == (delta > 0):
            return f"{current} → nothing to reduce (a reduce-only order is refused)"
        if abs(delta) > abs(position):
            new = ZERO
    if position == 0:
        effect = "opens long" if new > 0 else "opens short"
    elif new == 0:
        effect = "closes the position"
    elif (new > 0) != (position > 0):
        effect = f"flips to {'long' if new > 0 else 'short'}"
    elif abs(new) > abs(position):
        effect = f"adds to the {'long' if position > 0 else 'short'}"
    else:
        effect = f"reduces the {'long' if position > 0 else 'short'}"
    return f"{current} → {signed_contracts(new)} ({effect})"


# ---------------------------------------------------------------------------- warnings


@dataclass(frozen=True, slots=True)
class OrderWarning:
    """One warning; ``loud`` ones (sweeping the book, real money) are shown as alarms."""

    text: str
    loud: bool = False


def order_warnings(order: OrderRequest, ctx: OrderContext, cost: OrderCost | None) -> list[OrderWarning]:
    """What the trader should know before sending ``order`` (see the module text); ``cost`` is
    the order's :func:`order_cost` (margin is compared with the available balance only for an
    order that can open: not reduce-only, not close-all)."""
    tick = ctx.info.tick_size
    out: list[OrderWarning] = []
    if order.price is not None and order.type in _PRICED:
        if order.side == "BUY" and ctx.best_ask is not None and ctx.best_ask > 0:
            through = (order.price - ctx.best_ask) / ctx.best_ask
            if through > FAR_THROUGH_BOOK:
                out.append(OrderWarning(
                    f"⚠ BUY {percent(through)}% above best ask {fmt_step(ctx.best_ask, tick)}:"
                    " it would sweep the book", loud=True))
            elif order.time_in_force == "GTX" and order.price >= ctx.best_ask:
                out.append(OrderWarning(
                    "post-only (GTX) at or above the best ask would be expired, not filled"))
        if order.side == "SELL" and ctx.best_bid is not None and ctx.best_bid > 0:
            through = (ctx.best_bid - order.price) / ctx.best_bid
            if through > FAR_THROUGH_BOOK:
                out.append(OrderWarning(
                    f"⚠ SELL {percent(through)}% below best bid {fmt_step(ctx.best_bid, tick)}:"
                    " it would sweep the book", loud=True))
            elif order.time_in_force == "GTX" and order.price <= ctx.best_bid:
                out.append(OrderWarning(
                    "post-only (GTX) at or below the best bid would be expired, not filled"))
    if (cost is not None and not order.reduce_only and not order.close_position and ctx.leverage > 0
            and cost.margin > ctx.available_balance):
        out.append(OrderWarning(
            f"needs {fmt_step(cost.margin, COIN_PLACES)} margin, more than the available "
            f"{fmt_step(ctx.available_balance, COIN_PLACES)}"))
    if ctx.real_money:
        out.append(OrderWarning(f"⚠ REAL MONEY: this order goes to the {ctx.venue} venue", loud=True))
    return out
