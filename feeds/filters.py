"""Order validation that answers exactly like Binance.

The order form calls :func:`validate_order` before anything is sent; the simulator rejects
orders with the very same function, so a form that says "valid" and a venue that says
``-4014`` can never disagree. Every check is exact ``Decimal`` arithmetic.

Codes and message texts come from the ERROR CODE section of the COIN-M documentation
(``feeds.errors.BINANCE_ERRORS``). Two deliberate choices where that document is silent:

* a price or stop price off the tick grid is ``-4014`` and a quantity off the step grid
  ``-4023`` (as the filter section describes), while ``-1111`` is kept for numbers with more
  decimals than any asset carries (8), the way the venue answers ``0.02999999999999``;
* a stop price below ``minPrice`` is ``-4013`` (there is no stop-specific code for it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from feeds.decimals import ZERO, D, DecimalParseError, fmt_plain, fmt_step, is_multiple, snap
from feeds.symbols import SymbolInfo

__all__ = [
    "CONDITIONAL_TYPES",
    "MARKET_LOT_TYPES",
    "MAX_DECIMALS",
    "ORDER_TYPES",
    "OrderRequest",
    "Rejection",
    "ValidationError",
    "nearest_valid_price",
    "nearest_valid_quantity",
    "validate_order",
]

ORDER_TYPES = (
    "LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
)
SIDES = ("BUY", "SELL")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX")
WORKING_TYPES = ("MARK_PRICE", "CONTRACT_PRICE")
POSITION_SIDES = ("BOTH", "LONG", "SHORT")
RESPONSE_TYPES = ("ACK", "RESULT")
PRICE_MATCHES = (
    "NONE", "OPPONENT", "OPPONENT_5", "OPPONENT_10", "OPPONENT_20", "QUEUE", "QUEUE_5",
    "QUEUE_10", "QUEUE_20",
)
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_BOTH", "EXPIRE_MAKER")

MARKET_LOT_TYPES = frozenset({"MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"})
"""Types whose quantity follows MARKET_LOT_SIZE (the others follow LOT_SIZE)."""
CONDITIONAL_TYPES = frozenset(
    {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)
_PRICED_TYPES = frozenset({"LIMIT", "STOP", "TAKE_PROFIT"})
_STOP_TYPES = frozenset({"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"})
_CLOSE_POSITION_TYPES = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET"})

MAX_DECIMALS = 8
"""More decimals than this is ``-1111``: no COIN-M asset carries more precision."""
CALLBACK_RATE_MIN = Decimal("0.1")
CALLBACK_RATE_MAX = Decimal("10")

_SYMBOL_RE = re.compile(r"^[A-Z0-9-_.]{1,20}$")
_DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_CLIENT_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_AUTH_PARAMS = frozenset({"apiKey", "signature", "timestamp", "recvWindow", "returnRateLimits"})

# Binance's own texts (ERROR CODE section), with the '%s' forms filled where Binance does.
_MSG_MANDATORY = "Mandatory parameter '{}' was not sent, was empty/null, or malformed."
_MSG_ILLEGAL = "Illegal characters found in parameter '{}'; legal range is '{}'."
_MSG_NOT_REQUIRED = "Parameter '{}' sent when not required."
_MSG_EMPTY = "Parameter '{}' was empty."
_MSG_INVALID_DATA = "Data sent for parameter '{}' is not valid."
_MSG_UNREAD = "Not all sent parameters were read; read '{}' parameter(s) but was sent '{}'."


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why the venue would refuse an order, in Binance's code and words plus a hint for the form."""

    code: int
    """Binance's error code, e.g. ``-4014``."""
    msg: str
    """Binance's exact message text."""
    field: str | None = None
    """The :class:`OrderRequest` field at fault (``None`` when it is the order as a whole)."""
    detail: str = ""
    """A sentence for the form, e.g. ``35000.05 is not a multiple of tick 0.1``."""
    suggestion: Decimal | None = None
    """The nearest valid value for ``field``, when there is one."""


class ValidationError(Exception):
    """Wire parameters that cannot even form an order; ``.rejection`` is Binance's answer."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(f"{rejection.code}: {rejection.msg}")
        self.rejection = rejection

    @property
    def code(self) -> int:
        return self.rejection.code

    @property
    def msg(self) -> str:
        return self.rejection.msg


# (field name, wire name, kind); the order is the stable wire order of to_params().
_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("symbol", "symbol", "str"),
    ("side", "side", "str"),
    ("type", "type", "str"),
    ("position_side", "positionSide", "str"),
    ("time_in_force", "timeInForce", "str"),
    ("quantity", "quantity", "decimal"),
    ("reduce_only", "reduceOnly", "bool"),
    ("price", "price", "decimal"),
    ("new_client_order_id", "newClientOrderId", "str"),
    ("stop_price", "stopPrice", "decimal"),
    ("close_position", "closePosition", "bool"),
    ("activation_price", "activationPrice", "decimal"),
    ("callback_rate", "callbackRate", "decimal"),
    ("working_type", "workingType", "str"),
    ("price_protect", "priceProtect", "bool"),
    ("new_order_resp_type", "newOrderRespType", "str"),
    ("price_match", "priceMatch", "str"),
    ("self_trade_prevention_mode", "selfTradePreventionMode", "str"),
)
_WIRE_NAME = {name: wire for name, wire, _ in _FIELDS}
_BY_WIRE = {wire: (name, kind) for name, wire, kind in _FIELDS}


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """Typed ``order.place`` parameters. ``None`` means "not sent"."""

    symbol: str
    side: str
    """``BUY`` or ``SELL``."""
    type: str
    """``LIMIT``, ``MARKET``, ``STOP``, ``STOP_MARKET``, ``TAKE_PROFIT``,
    ``TAKE_PROFIT_MARKET`` or ``TRAILING_STOP_MARKET``."""
    quantity: Decimal | None = None
    """Number of contracts."""
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str | None = None
    reduce_only: bool | None = None
    close_position: bool | None = None
    activation_price: Decimal | None = None
    callback_rate: Decimal | None = None
    """Trailing distance in percent (``1`` = 1%), 0.1 to 10."""
    working_type: str | None = None
    price_protect: bool | None = None
    position_side: str | None = None
    new_client_order_id: str | None = None
    new_order_resp_type: str | None = None
    price_match: str | None = None
    self_trade_prevention_mode: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> OrderRequest:
        """Parse wire params (strings, ints, bools or ``"true"``/``"false"``) into a request.

        Authentication params (``apiKey``, ``timestamp``, ``recvWindow``, ``signature``) are
        accepted and ignored. Per-type mandatory params are checked by :func:`validate_order`.

        Raises:
            ValidationError: with the code Binance answers for the first malformed param.
        """
        if not isinstance(params, Mapping):
            raise ValidationError(Rejection(-1102, _MSG_MANDATORY.format("symbol"), "symbol"))
        unknown = [k for k in params if k not in _BY_WIRE and k not in _AUTH_PARAMS]
        if unknown:
            sent = len(params)
            raise ValidationError(
                Rejection(
                    -1104, _MSG_UNREAD.format(sent - len(unknown), sent), None,
                    f"unknown parameter(s): {', '.join(sorted(map(str, unknown)))}",
                )
            )
        values: dict[str, Any] = {}
        for name, wire, kind in _FIELDS:
            raw = params.get(wire)
            if raw is None:
                if name in ("symbol", "side", "type"):
                    raise ValidationError(_mandatory(name))
                values[name] = None
                continue
            if kind == "str":
                values[name] = _parse_str(name, raw)
            elif kind == "bool":
                values[name] = _parse_bool(name, raw)
            else:
                values[name] = _parse_decimal(name, raw)
        order = cls(**values)
        for rejection in _request_rejections(order):
            raise ValidationError(rejection)
        return order

    def to_params(self) -> dict[str, str | int | bool]:
        """The wire params in a stable order: Decimals as plain strings, bools as
        ``"true"``/``"false"`` (Binance's STRING booleans), ``None`` fields left out."""
        out: dict[str, str | int | bool] = {}
        for name, wire, kind in _FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if kind == "decimal":
                out[wire] = fmt_plain(value)
            elif kind == "bool":
                out[wire] = "true" if value else "false"
            else:
                out[wire] = value
        return out

    @property
    def is_market_lot(self) -> bool:
        """Whether the quantity is checked against MARKET_LOT_SIZE rather than LOT_SIZE."""
        return self.type in MARKET_LOT_TYPES


def _mandatory(name: str) -> Rejection:
    wire = _WIRE_NAME[name]
    return Rejection(-1102, _MSG_MANDATORY.format(wire), name, f"{wire} is required")


def _parse_str(name: str, raw: Any) -> str:
    wire = _WIRE_NAME[name]
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise ValidationError(
            Rejection(-1102, _MSG_MANDATORY.format(wire), name, f"{wire} must be text")
        )
    text = str(raw)
    if text == "":
        if name in ("symbol", "side", "type"):
            raise ValidationError(_mandatory(name))
        if name == "new_client_order_id":
            raise ValidationError(
                Rejection(-1118, "New client order ID was empty.", name, "client order id is empty")
            )
        raise ValidationError(Rejection(-1105, _MSG_EMPTY.format(wire), name, f"{wire} is empty"))
    return text


def _parse_bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    wire = _WIRE_NAME[name]
    raise ValidationError(
        Rejection(-1130, _MSG_INVALID_DATA.format(wire), name, f"{wire} must be true or false")
    )


def _parse_decimal(name: str, raw: Any) -> Decimal:
    wire = _WIRE_NAME[name]
    if isinstance(raw, bool):
        raise ValidationError(
            Rejection(-1102, _MSG_MANDATORY.format(wire), name, f"{wire} must be a number")
        )
    if isinstance(raw, float):
        # What a JSON number turns into; its repr is what a float-sending client put on the
        # wire, so 8.3e-05 fails like it does at the venue.
        text = repr(raw)
    elif isinstance(raw, (int, Decimal)):
        text = format(raw, "f") if isinstance(raw, Decimal) else str(raw)
    elif isinstance(raw, str):
        text = raw
    else:
        raise ValidationError(
            Rejection(-1102, _MSG_MANDATORY.format(wire), name, f"{wire} must be a number")
        )
    if text == "":
        raise ValidationError(Rejection(-1105, _MSG_EMPTY.format(wire), name, f"{wire} is empty"))
    if not _DECIMAL_RE.match(text):
        raise ValidationError(
            Rejection(
                -1100, _MSG_ILLEGAL.format(wire, _DECIMAL_RE.pattern), name,
                f"{wire} {text!r} is not a plain decimal number",
            )
        )
    try:
        return D(text)
    except DecimalParseError:  # pragma: no cover - the pattern above already excludes this
        raise ValidationError(
            Rejection(-1102, _MSG_MANDATORY.format(wire), name, f"{wire} must be a number")
        ) from None


def _request_rejections(order: OrderRequest) -> Iterator[Rejection]:
    """Checks that need no symbol rules: enums, client id, precision. Binance's order."""
    if not order.symbol:
        yield _mandatory("symbol")
    elif not _SYMBOL_RE.match(order.symbol):
        yield Rejection(
            -1100, _MSG_ILLEGAL.format("symbol", _SYMBOL_RE.pattern), "symbol",
            f"{order.symbol!r} is not a symbol name",
        )
    if not order.side:
        yield _mandatory("side")
    elif order.side not in SIDES:
        yield Rejection(-1117, "Invalid side.", "side", f"side must be BUY or SELL, not {order.side!r}")
    if not order.type:
        yield _mandatory("type")
    elif order.type not in ORDER_TYPES:
        yield Rejection(-1116, "Invalid orderType.", "type", f"{order.type!r} is not an order type")
    if order.position_side is not None and order.position_side not in POSITION_SIDES:
        yield Rejection(
            -4060, "Invalid position side.", "position_side",
            f"position side must be BOTH, LONG or SHORT, not {order.position_side!r}",
        )
    if order.time_in_force is not None and order.time_in_force not in TIME_IN_FORCE:
        yield Rejection(
            -1115, "Invalid timeInForce.", "time_in_force",
            f"{order.time_in_force!r} is not GTC, IOC, FOK or GTX",
        )
    if order.working_type is not None and order.working_type not in WORKING_TYPES:
        yield Rejection(
            -4031, f"Invalid parameter working type: `{order.working_type}`", "working_type",
            "working type must be MARK_PRICE or CONTRACT_PRICE",
        )
    if order.new_order_resp_type is not None and order.new_order_resp_type not in RESPONSE_TYPES:
        yield Rejection(
            -1136, "Invalid newOrderRespType.", "new_order_resp_type",
            "response type must be ACK or RESULT",
        )
    if order.price_match is not None and order.price_match not in PRICE_MATCHES:
        yield Rejection(
            -1130, _MSG_INVALID_DATA.format("priceMatch"), "price_match",
            f"{order.price_match!r} is not a price match mode",
        )
    if (
        order.self_trade_prevention_mode is not None
        and order.self_trade_prevention_mode not in STP_MODES
    ):
        yield Rejection(
            -1130, _MSG_INVALID_DATA.format("selfTradePreventionMode"),
            "self_trade_prevention_mode",
            f"{order.self_trade_prevention_mode!r} is not a self-trade prevention mode",
        )
    cid = order.new_client_order_id
    if cid is not None:
        if cid == "":
            yield Rejection(-1118, "New client order ID was empty.", "new_client_order_id",
                            "client order id is empty")
        elif len(cid) > 36:
            yield Rejection(
                -4015, "Client order id length should not be more than 36 chars",
                "new_client_order_id", f"client order id has {len(cid)} characters (max 36)",
            )
        elif not _CLIENT_ID_RE.match(cid):
            yield Rejection(
                -4015, "Client order id is not valid.", "new_client_order_id",
                "client order id may only use letters, digits and . : / _ -",
            )
    for name in ("quantity", "price", "stop_price", "activation_price", "callback_rate"):
        value = getattr(order, name)
        if value is not None and _places(value) > MAX_DECIMALS:
            yield Rejection(
                -1111, "Precision is over the maximum defined for this asset.", name,
                f"{fmt_plain(value)} has more than {MAX_DECIMALS} decimals",
                value.quantize(Decimal(1).scaleb(-MAX_DECIMALS)),
            )


def _places(value: Decimal) -> int:
    """Decimal places that matter: ``1.50`` has 1, ``100`` has 0."""
    if not value.is_finite():
        return 0
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


# ---------------------------------------------------------------------------- snapping


def _price_bounds(info: SymbolInfo) -> tuple[Decimal, Decimal | None]:
    """Lowest and highest valid price on the grid (``None``: no maximum)."""
    tick, lo = info.tick_size, info.min_price
    if lo <= 0:
        lo = tick if tick > 0 else ZERO
    elif tick > 0:
        lo = snap(lo, tick, info.min_price, "up")
    hi = None
    if info.max_price > 0:
        hi = snap(info.max_price, tick, info.min_price, "down") if tick > 0 else info.max_price
    return lo, hi


def nearest_valid_price(info: SymbolInfo, price: Decimal, mode: str = "nearest") -> Decimal:
    """The valid price (on the tick grid, inside [minPrice, maxPrice]) nearest to ``price``.

    Args:
        mode: ``"nearest"`` (ties go up), ``"down"`` or ``"up"``; the result is then clamped.
    """
    value = snap(price, info.tick_size, info.min_price, mode) if info.tick_size > 0 else price
    lo, hi = _price_bounds(info)
    if value < lo:
        value = lo
    if hi is not None and value > hi:
        value = hi
    return value


def _lot(info: SymbolInfo, market: bool) -> tuple[Decimal, Decimal, Decimal]:
    if market:
        return info.market_step_size, info.market_min_qty, info.market_max_qty
    return info.step_size, info.min_qty, info.max_qty


def nearest_valid_quantity(
    info: SymbolInfo, qty: Decimal, market: bool = False, mode: str = "nearest"
) -> Decimal:
    """The valid quantity nearest to ``qty`` under LOT_SIZE (or MARKET_LOT_SIZE if ``market``).

    Args:
        mode: ``"nearest"`` (ties go up), ``"down"`` or ``"up"``; the result is then clamped.
    """
    step, lo, hi = _lot(info, market)
    value = snap(qty, step, lo, mode) if step > 0 else qty
    floor = lo if lo > 0 else (step if step > 0 else ZERO)
    if value < floor:
        value = floor
    if hi > 0:
        top = snap(hi, step, lo, "down") if step > 0 else hi
        if value > top:
            value = top
    return value


# ---------------------------------------------------------------------------- validation


def validate_order(
    order: OrderRequest,
    info: SymbolInfo,
    *,
    mark_price: Decimal | None = None,
    open_orders: int = 0,
    last_price: Decimal | None = None,
) -> list[Rejection]:
    """Every reason the venue would refuse ``order``; an empty list means it passes.

    The first rejection is the one Binance answers with; the rest let the form flag every
    faulty field at once. Each carries, when there is one, the nearest valid value.

    Args:
        mark_price: enables PERCENT_PRICE and (for ``workingType=MARK_PRICE``) the
            would-immediately-trigger check.
        open_orders: open orders already on this symbol (MAX_NUM_ORDERS).
        last_price: the reference for the would-immediately-trigger check of
            ``CONTRACT_PRICE`` stop orders.
    """
    out = list(_request_rejections(order))
    if order.symbol and order.symbol != info.symbol and not any(r.field == "symbol" for r in out):
        out.append(Rejection(-1121, "Invalid symbol.", "symbol",
                             f"order is for {order.symbol}, rules are for {info.symbol}"))
    if order.type in ORDER_TYPES and order.type not in info.order_types:
        out.append(Rejection(-1116, "Invalid orderType.", "type",
                             f"{info.symbol} does not take {order.type} orders"))
    if order.type not in ORDER_TYPES or order.side not in SIDES:
        return out  # nothing below means anything without a known type and side
    out.extend(_composition_rejections(order))
    bad = {r.field for r in out}
    out.extend(_price_filter(order, info, bad))
    out.extend(_lot_size(order, info, bad))
    out.extend(_market_rejections(order, info, bad, mark_price, last_price))
    if info.max_num_orders > 0 and open_orders >= info.max_num_orders:
        out.append(Rejection(-2025, "Reach max open order limit.", None,
                             f"{open_orders} orders are open; {info.symbol} allows {info.max_num_orders}"))
    return out


def _sent(value: Any) -> bool:
    return value is not None


def _composition_rejections(order: OrderRequest) -> Iterator[Rejection]:
    """Mandatory params per type, params a type must not carry, and forbidden combinations."""
    t = order.type
    closing = order.close_position is True
    matched = order.price_match not in (None, "NONE")
    # Mandatory, in the order Binance reads them.
    if t == "LIMIT" and order.time_in_force is None:
        yield _mandatory("time_in_force")
    needs_qty = not (t in _CLOSE_POSITION_TYPES and closing)
    if needs_qty and order.quantity is None:
        yield _mandatory("quantity")
    if t in _PRICED_TYPES and order.price is None and not matched:
        yield _mandatory("price")
    if t in _STOP_TYPES and order.stop_price is None:
        yield _mandatory("stop_price")
    if t == "TRAILING_STOP_MARKET":
        if order.callback_rate is None:
            yield _mandatory("callback_rate")
        elif not CALLBACK_RATE_MIN <= order.callback_rate <= CALLBACK_RATE_MAX:
            yield Rejection(
                -1130, _MSG_INVALID_DATA.format("callbackRate"), "callback_rate",
                f"callback rate must be between 0.1 and 10 (%), not {fmt_plain(order.callback_rate)}",
                min(max(order.callback_rate, CALLBACK_RATE_MIN), CALLBACK_RATE_MAX),
            )
    # Params this type does not take.
    if order.time_in_force is not None and t not in _PRICED_TYPES:
        yield Rejection(-1114, "TimeInForce parameter sent when not required.", "time_in_force",
                        f"{t} orders take no time in force")
    if order.price is not None and t not in _PRICED_TYPES:
        yield _not_required("price", f"{t} orders take no price")
    if order.stop_price is not None and t not in _STOP_TYPES:
        yield _not_required("stop_price", f"{t} orders take no stop price")
    if t != "TRAILING_STOP_MARKET":
        if order.activation_price is not None:
            yield _not_required("activation_price", "only trailing stops take an activation price")
        if order.callback_rate is not None:
            yield _not_required("callback_rate", "only trailing stops take a callback rate")
    if matched and t not in _PRICED_TYPES:
        yield _not_required("price_match", f"{t} orders take no price match")
    if matched and order.price is not None and t in _PRICED_TYPES:
        yield Rejection(-1128, "Combination of optional parameters invalid.", "price",
                        "send either a price or a price match, not both")
    if order.close_position is not None and t not in _CLOSE_POSITION_TYPES:
        yield _not_required("close_position", "only STOP_MARKET and TAKE_PROFIT_MARKET can close a position")
    if closing and t in _CLOSE_POSITION_TYPES:
        if order.quantity is not None:
            yield Rejection(-4137, "Quantity must be zero with closePosition equals true.",
                            "quantity", "closing the whole position takes no quantity")
        if order.reduce_only is not None:
            yield _not_required("reduce_only", "closePosition already only reduces")
    if order.reduce_only is not None and order.position_side in ("LONG", "SHORT"):
        yield _not_required("reduce_only", "reduce-only is not used in hedge mode")


def _not_required(name: str, detail: str) -> Rejection:
    return Rejection(-1106, _MSG_NOT_REQUIRED.format(_WIRE_NAME[name]), name, detail)


def _price_filter(order: OrderRequest, info: SymbolInfo, bad: set[str | None]) -> Iterator[Rejection]:
    """PRICE_FILTER on price and stopPrice, activation price (-4135) likewise."""
    tick, lo, hi = info.tick_size, info.min_price, info.max_price
    for name in ("price", "stop_price", "activation_price"):
        value = getattr(order, name)
        if value is None or name in bad:
            continue
        stop = name == "stop_price"
        label = {"price": "price", "stop_price": "stop price", "activation_price": "activation price"}[name]
        suggestion = nearest_valid_price(info, value)
        text = fmt_plain(value)
        rejection: Rejection | None = None
        if value < 0:
            code, msg = (-4006, "Stop price less than zero.") if stop else (-4001, "Price less than 0.")
            rejection = Rejection(code, msg, name, f"{label} {text} is negative", suggestion)
        elif (lo > 0 and value < lo) or value == 0:
            rejection = Rejection(-4013, "Price less than min price.", name,
                                  f"{label} {text} is below the minimum {fmt_plain(lo)}", suggestion)
        elif hi > 0 and value > hi:
            code, msg = ((-4007, "Stop price greater than max price.") if stop
                         else (-4002, "Price greater than max price."))
            rejection = Rejection(code, msg, name,
                                  f"{label} {text} is above the maximum {fmt_plain(hi)}", suggestion)
        elif not is_multiple(value, tick, lo):
            rejection = Rejection(-4014, "Price not increased by tick size.", name,
                                  f"{text} is not a multiple of tick {fmt_plain(tick)}", suggestion)
        if rejection is not None:
            if name == "activation_price":
                rejection = Rejection(-4135, "Invalid activation price.", name,
                                      rejection.detail, suggestion)
            bad.add(name)
            yield rejection


def _lot_size(order: OrderRequest, info: SymbolInfo, bad: set[str | None]) -> Iterator[Rejection]:
    """LOT_SIZE (or MARKET_LOT_SIZE for market types) on quantity."""
    qty = order.quantity
    if qty is None or "quantity" in bad:
        return
    market = order.is_market_lot
    step, lo, hi = _lot(info, market)
    which = "market lot" if market else "lot"
    suggestion = nearest_valid_quantity(info, qty, market=market)
    text = fmt_plain(qty)
    rejection: Rejection | None = None
    if qty < 0:
        rejection = Rejection(-4003, "Quantity less than zero.", "quantity",
                              f"quantity {text} is negative", suggestion)
    elif qty < lo or qty == 0:
        rejection = Rejection(-4004, "Quantity less than min quantity.", "quantity",
                              f"quantity {text} is below the {which} minimum {fmt_plain(lo)}", suggestion)
    elif hi > 0 and qty > hi:
        rejection = Rejection(-4005, "Quantity greater than max quantity.", "quantity",
                              f"quantity {text} is above the {which} maximum {fmt_plain(hi)}", suggestion)
    elif not is_multiple(qty, step, lo):
        rejection = Rejection(-4023, "Qty not increased by step size.", "quantity",
                              f"{text} is not a multiple of step {fmt_plain(step)}", suggestion)
    if rejection is not None:
        bad.add("quantity")
        yield rejection


def _market_rejections(
    order: OrderRequest,
    info: SymbolInfo,
    bad: set[str | None],
    mark_price: Decimal | None,
    last_price: Decimal | None,
) -> Iterator[Rejection]:
    """Checks against the market: PERCENT_PRICE, stop-limit bands, immediate triggers."""
    buy = order.side == "BUY"
    price, stop = order.price, order.stop_price
    price_ok = price is not None and "price" not in bad
    stop_ok = stop is not None and "stop_price" not in bad
    # PERCENT_PRICE guards the resting price of a LIMIT order against the mark price.
    if order.type == "LIMIT" and price_ok and mark_price is not None and mark_price > 0:
        assert price is not None
        if buy and info.multiplier_up > 0:
            cap = mark_price * info.multiplier_up
            if price > cap:
                highest = nearest_valid_price(info, cap, "down")
                yield Rejection(
                    -4016, "Price is higher than mark price multiplier cap.", "price",
                    f"a buy at {fmt_plain(price)} is above the cap {_fmt_tick(highest, info)} "
                    f"(mark {_fmt_tick(mark_price, info)} x {fmt_plain(info.multiplier_up)})",
                    highest,
                )
        elif not buy and info.multiplier_down > 0:
            floor = mark_price * info.multiplier_down
            if price < floor:
                lowest = nearest_valid_price(info, floor, "up")
                yield Rejection(
                    -4024, "Price is lower than mark price multiplier floor.", "price",
                    f"a sell at {fmt_plain(price)} is below the floor {_fmt_tick(lowest, info)} "
                    f"(mark {_fmt_tick(mark_price, info)} x {fmt_plain(info.multiplier_down)})",
                    lowest,
                )
    # A stop-limit's price may stray from its stop price only as far as PERCENT_PRICE allows.
    if order.type in ("STOP", "TAKE_PROFIT") and price_ok and stop_ok:
        assert price is not None and stop is not None
        if buy and info.multiplier_up > 0 and price > stop * info.multiplier_up:
            cap = nearest_valid_price(info, stop * info.multiplier_up, "down")
            yield Rejection(-4151, f"Limit price can't be higher than {fmt_plain(cap)}.", "price",
                            f"a buy limit of {fmt_plain(price)} is too far above stop {fmt_plain(stop)}",
                            cap)
        elif not buy and info.multiplier_down > 0 and price < stop * info.multiplier_down:
            floor = nearest_valid_price(info, stop * info.multiplier_down, "up")
            yield Rejection(-4152, f"Limit price can't be lower than {fmt_plain(floor)}.", "price",
                            f"a sell limit of {fmt_plain(price)} is too far below stop {fmt_plain(stop)}",
                            floor)
    # Stop orders whose trigger has already been passed would fire at once.
    if order.type in _STOP_TYPES and stop_ok:
        assert stop is not None
        reference = mark_price if order.working_type == "MARK_PRICE" else last_price
        if reference is not None and reference > 0:
            # STOP* buys trigger when the price rises to the stop, TAKE_PROFIT* buys when it falls.
            rises = order.type.startswith("STOP") == buy
            fired = stop <= reference if rises else stop >= reference
            if fired:
                tick = info.tick_size if info.tick_size > 0 else Decimal(1)
                target = reference + tick if rises else reference - tick
                yield Rejection(
                    -2021, "Order would immediately trigger.", "stop_price",
                    f"stop {fmt_plain(stop)} is already {'reached' if stop == reference else 'passed'}: "
                    f"the {'mark' if order.working_type == 'MARK_PRICE' else 'last'} price is "
                    f"{_fmt_tick(reference, info)}",
                    nearest_valid_price(info, target, "up" if rises else "down"),
                )



def _fmt_tick(value: Decimal, info: SymbolInfo) -> str:
    """A market price (mark, last, a cap worked out from them) for a reason: to the symbol's
    tick, not the 14 decimals a multiplication leaves (``88136.8``, not ``88136.75819927``)."""
    return fmt_step(value, info.tick_size) if info.tick_size > 0 else fmt_plain(value)
