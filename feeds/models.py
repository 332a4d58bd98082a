"""Typed wire models for COIN-M market streams and user-data events.

One frozen, slotted dataclass per event of the spec. Every class has ``from_wire(dict)`` and
``to_wire() -> dict``: the client parses frames with the first, the simulator emits frames with
the second, so both sides speak the same shapes. ``to_wire`` reproduces Binance's field names
and JSON types exactly (decimal strings keep the scale they were received with, so
``X.from_wire(d).to_wire() == d`` for the spec's examples).

Anything malformed (a missing key, a number that is not one, an unknown event type) raises
:class:`feeds.errors.MalformedFrame` naming the event and the field; never ``KeyError`` or
``TypeError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, ClassVar, Self

from feeds.decimals import D, DecimalParseError
from feeds.errors import MalformedFrame

__all__ = [
    "AccountUpdate",
    "AggTrade",
    "BalanceUpdate",
    "BookTicker",
    "Bracket",
    "ContractInfo",
    "DepthUpdate",
    "ForceOrder",
    "IndexPriceUpdate",
    "Kline",
    "KlineEvent",
    "ListenKeyExpired",
    "MarginCall",
    "MarginCallPosition",
    "MarkPriceUpdate",
    "MarketEvent",
    "MiniTicker",
    "OrderTradeUpdate",
    "OrderUpdate",
    "PositionUpdate",
    "Ticker",
    "UserEvent",
    "parse_market_event",
    "parse_user_event",
    "unwrap_combined",
]


# --------------------------------------------------------------------------------------------
# Field converters: (parse(value, where) -> python value, dump(python value) -> JSON value)


def _fail(where: str, why: str) -> MalformedFrame:
    return MalformedFrame(f"{where}: {why}")


def _p_int(v: Any, where: str) -> int:
    # bool is an int subclass; Binance never sends booleans where it means a number.
    if type(v) is not int:
        raise _fail(where, f"expected an integer, got {v!r}")
    return v


def _p_int_lenient(v: Any, where: str) -> int:
    # Some venues' listenKeyExpired carries "E" as a string of digits.
    if type(v) is int:
        return v
    if isinstance(v, str) and v.isascii() and v.isdigit():
        return int(v)
    raise _fail(where, f"expected an integer, got {v!r}")


def _p_str(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise _fail(where, f"expected a string, got {v!r}")
    return v


def _p_bool(v: Any, where: str) -> bool:
    if type(v) is not bool:
        raise _fail(where, f"expected true/false, got {v!r}")
    return v


def _p_dec(v: Any, where: str) -> Decimal:
    if not isinstance(v, str):
        raise _fail(where, f"expected a decimal string, got {v!r}")
    try:
        return D(v)
    except DecimalParseError as exc:
        raise _fail(where, str(exc)) from None


def _p_rate(v: Any, where: str) -> Decimal | None:
    # Delivery contracts carry "" where perpetuals carry a funding rate.
    if v == "":
        return None
    return _p_dec(v, where)


def _p_num(v: Any, where: str) -> Decimal:
    """A JSON number (contract brackets send ``0.01`` as a number, not a string)."""
    if type(v) is int:
        return Decimal(v)
    if type(v) is float:
        # repr is the shortest text that round-trips: 0.01 -> "0.01", exactly as sent.
        try:
            return D(repr(v))
        except DecimalParseError as exc:
            raise _fail(where, str(exc)) from None
    if isinstance(v, Decimal) and v.is_finite():
        return v
    raise _fail(where, f"expected a number, got {v!r}")


def _d_same(v: Any) -> Any:
    return v


def _d_dec(v: Decimal) -> str:
    # "f" keeps the scale as received ("9636.57860000") and never goes scientific.
    return format(v, "f")


def _d_rate(v: Decimal | None) -> str:
    return "" if v is None else format(v, "f")


def _d_num(v: Decimal) -> int | float:
    # Integral values with no fractional digits were JSON integers; the rest were floats.
    exponent = v.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        return int(v)
    return float(v)


_Conv = tuple[Callable[[Any, str], Any], Callable[[Any], Any]]
INT: _Conv = (_p_int, _d_same)
INT_LENIENT: _Conv = (_p_int_lenient, _d_same)
STR: _Conv = (_p_str, _d_same)
BOOL: _Conv = (_p_bool, _d_same)
DEC: _Conv = (_p_dec, _d_dec)
RATE: _Conv = (_p_rate, _d_rate)
NUM: _Conv = (_p_num, _d_num)


def _nested(cls: type[_Wire]) -> _Conv:
    def parse(v: Any, where: str) -> Any:
        return cls._parse(v, where)

    return (parse, lambda v: v.to_wire())


def _nested_list(cls: type[_Wire]) -> _Conv:
    def parse(v: Any, where: str) -> tuple[Any, ...]:
        if not isinstance(v, list):
            raise _fail(where, f"expected a list, got {type(v).__name__}")
        return tuple(cls._parse(item, f"{where}[{i}]") for i, item in enumerate(v))

    return (parse, lambda v: [item.to_wire() for item in v])


# (wire key, attribute name, converter, optional). Optional fields are None when absent and
# are left out of to_wire(), as Binance leaves them out.
_Spec = tuple[str, str, _Conv, bool]


def _f(key: str, attr: str, conv: _Conv, optional: bool = False) -> _Spec:
    return (key, attr, conv, optional)


class _Wire:
    """Table-driven from_wire/to_wire for the models below."""

    __slots__ = ()
    EVENT: ClassVar[str | None] = None
    """The ``"e"`` value of this event, or None for nested objects."""
    _SPEC: ClassVar[tuple[_Spec, ...]] = ()

    @classmethod
    def from_wire(cls, d: Any) -> Self:
        """Parse one wire object (as decoded from JSON).

        Raises:
            MalformedFrame: a key is missing, a value has the wrong type or is not a number,
                or ``"e"`` is not this class's event type.
        """
        where = cls.EVENT or cls.__name__
        if cls.EVENT is not None and isinstance(d, dict) and d.get("e") != cls.EVENT:
            raise _fail(where, f'event type {d.get("e")!r} is not {cls.EVENT!r}')
        return cls._parse(d, where)

    @classmethod
    def _parse(cls, d: Any, where: str) -> Self:
        if not isinstance(d, dict):
            raise _fail(where, f"expected an object, got {type(d).__name__}")
        kwargs: dict[str, Any] = {}
        for key, attr, (parse, _), optional in cls._SPEC:
            if key in d:
                kwargs[attr] = parse(d[key], f"{where}.{key}")
            elif optional:
                kwargs[attr] = None
            else:
                raise _fail(where, f"missing field {key!r} ({attr})")
        return cls(**kwargs)

    def to_wire(self) -> dict[str, Any]:
        """The wire object, with Binance's field names and JSON types."""
        out: dict[str, Any] = {} if self.EVENT is None else {"e": self.EVENT}
        for key, attr, (_, dump), optional in self._SPEC:
            value = getattr(self, attr)
            if value is None and optional:
                continue
            out[key] = dump(value)
        return out


# --------------------------------------------------------------------------------------------
# Market streams


@dataclass(frozen=True, slots=True)
class DepthUpdate(_Wire):
    """``depthUpdate``: a diff-depth event, or a partial-depth (top 5/10/20) snapshot.

    ``bids``/``asks`` stay the raw ``[price_str, qty_str]`` pairs as received: the order book
    converts them on its fast path, and validates them (bad numbers, prices off the tick grid).
    """

    EVENT: ClassVar[str] = "depthUpdate"
    event_time: int
    transaction_time: int
    symbol: str
    pair: str
    first_update_id: int
    """``U``: first update id in the event."""
    final_update_id: int
    """``u``: final update id in the event."""
    prev_final_update_id: int
    """``pu``: the previous event's ``u``; a mismatch means a gap."""
    bids: list[Any]
    asks: list[Any]

    @classmethod
    def from_wire(cls, d: Any) -> DepthUpdate:
        """Parse a depth event; hand-written because it is on the hottest path.

        The fields are checked first and then stored through the slots' own setters, which
        skips the frozen dataclass ``__init__`` (half the cost of a parse).

        Raises:
            MalformedFrame: a key is missing, an id is not an integer, or bids/asks are not lists.
        """
        try:
            if d["e"] != "depthUpdate":
                raise _fail("depthUpdate", f'event type {d["e"]!r} is not "depthUpdate"')
            e_time, t_time, symbol, pair = d["E"], d["T"], d["s"], d["ps"]
            first, final, prev, bids, asks = d["U"], d["u"], d["pu"], d["b"], d["a"]
        except KeyError as exc:
            raise _fail("depthUpdate", f"missing field {exc.args[0]!r}") from None
        except TypeError:
            raise _fail("depthUpdate", f"expected an object, got {type(d).__name__}") from None
        if (
            type(e_time) is not int
            or type(t_time) is not int
            or type(first) is not int
            or type(final) is not int
            or type(prev) is not int
        ):
            for key in ("E", "T", "U", "u", "pu"):
                _p_int(d[key], f"depthUpdate.{key}")
        if type(bids) is not list or type(asks) is not list:
            for key in ("b", "a"):
                if type(d[key]) is not list:
                    raise _fail(f"depthUpdate.{key}", f"expected a list, got {type(d[key]).__name__}")
        if type(symbol) is not str or type(pair) is not str:
            _p_str(symbol, "depthUpdate.s")
            _p_str(pair, "depthUpdate.ps")
        ev = _new_object(cls)
        s_e_time, s_t_time, s_symbol, s_pair, s_first, s_final, s_prev, s_bids, s_asks = _DEPTH_SETTERS
        s_e_time(ev, e_time)
        s_t_time(ev, t_time)
        s_symbol(ev, symbol)
        s_pair(ev, pair)
        s_first(ev, first)
        s_final(ev, final)
        s_prev(ev, prev)
        s_bids(ev, bids)
        s_asks(ev, asks)
        return ev

    def to_wire(self) -> dict[str, Any]:
        """The wire object; levels are emitted as lists of two strings."""
        return {
            "e": "depthUpdate",
            "E": self.event_time,
            "T": self.transaction_time,
            "s": self.symbol,
            "ps": self.pair,
            "U": self.first_update_id,
            "u": self.final_update_id,
            "pu": self.prev_final_update_id,
            "b": [[p, q] for p, q in self.bids],
            "a": [[p, q] for p, q in self.asks],
        }


_new_object = object.__new__
# The slots' setters in field order (the order of ``values`` in ``DepthUpdate.from_wire``).
_DEPTH_SETTERS = tuple(getattr(DepthUpdate, f.name).__set__ for f in fields(DepthUpdate))


@dataclass(frozen=True, slots=True)
class AggTrade(_Wire):
    """``aggTrade``: trades aggregated by price and taker side."""

    EVENT: ClassVar[str] = "aggTrade"
    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("E", "event_time", INT),
        _f("a", "agg_id", INT),
        _f("s", "symbol", STR),
        _f("p", "price", DEC),
        _f("q", "qty", DEC),
        _f("f", "first_trade_id", INT),
        _f("l", "last_trade_id", INT),
        _f("T", "trade_time", INT),
        _f("m", "is_buyer_maker", BOOL),
    )
    event_time: int
    agg_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    first_trade_id: int
    last_trade_id: int
    trade_time: int
    is_buyer_maker: bool
    """True when the buyer was the maker, i.e. the taker sold."""


@dataclass(frozen=True, slots=True)
class IndexPriceUpdate(_Wire):
    """``indexPriceUpdate``: the index price of a pair."""

    EVENT: ClassVar[str] = "indexPriceUpdate"
    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("E", "event_time", INT),
        _f("i", "pair", STR),
        _f("p", "index_price", DEC),
    )
    event_time: int
    pair: str
    index_price: Decimal


@dataclass(frozen=True, slots=True)
class MarkPriceUpdate(_Wire):
    """``markPriceUpdate``: mark/index price and funding of one contract."""

    EVENT: ClassVar[str] = "markPriceUpdate"
    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("E", "event_time", INT),
        _f("s", "symbol", STR),
        _f("p", "mark_price", DEC),
        _f("P", "est_settle_price", DEC),
        _f("i", "index_price", DEC),
        _f("r", "funding_rate", RATE),
        _f("T", "next_funding_time", INT),
    )
    event_time: int
    symbol: str
    mark_price: Decimal
    est_settle_price: Decimal
    index_price: Decimal
    funding_rate: Decimal | None
    """None for delivery contracts (the wire carries ``""``)."""
    next_funding_time: int
    """0 for delivery contracts."""


@dataclass(frozen=True, slots=True)
class Kline(_Wire):
    """One candle, as in the ``k`` object of every kline stream or a REST klines row."""

    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("t", "open_time", INT),
        _f("T", "close_time", INT),
        _f("s", "symbol", STR, optional=True),
        _f("i", "interval", STR),
        _f("f", "first_id", INT),
        _f("L", "last_id", INT),
        _f("o", "open", DEC),
        _f("c", "close", DEC),
        _f("h", "high", DEC),
        _f("l", "low", DEC),
        _f("v", "volume", DEC),
        _f("n", "trades", INT),
        _f("x", "is_closed", BOOL),
        _f("q", "base_volume", DEC),
        _f("V", "taker_buy_volume", DEC),
        _f("Q", "taker_buy_base_volume", DEC),
        _f("B", "ignore", STR),
    )
    open_time: int
    close_time: int
    interval: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    """Volume in contracts."""
    base_volume: Decimal
    """Volume in the base asset (coin)."""
    trades: int
    taker_buy_volume: Decimal
    taker_buy_base_volume: Decimal
    is_closed: bool
    first_id: int
    last_id: int
    symbol: str | None = None
    """None in continuous klines (their ``k`` has no ``s``); ``"0"`` in index klines."""
    ignore: str = "0"
    """The wire's unused ``B`` field, kept so frames round-trip."""

    @classmethod
    def from_rest_row(
        cls, row: Any, interval: str, symbol: str | None, *, now_ms: int | None = None
    ) -> Kline:
        """Parse a REST klines row ``[openTime, open, high, low, close, volume, closeTime,
        baseVolume, trades, takerBuyVolume, takerBuyBaseVolume, ignore]``.

        REST rows carry no trade ids (``first_id``/``last_id`` are 0) and no closed flag: a
        candle is closed when ``now_ms`` is past its close time, or always when ``now_ms`` is None.

        Raises:
            MalformedFrame: the row is not a list of 11 or 12 items of the right types.
        """
        where = f"kline row {interval}"
        if not isinstance(row, list) or len(row) not in (11, 12):
            raise _fail(where, f"expected a list of 12 items, got {row!r:.80}")
        close_time = _p_int(row[6], f"{where}[6]")
        return cls(
            open_time=_p_int(row[0], f"{where}[0]"),
            close_time=close_time,
            interval=interval,
            open=_p_dec(row[1], f"{where}[1]"),
            high=_p_dec(row[2], f"{where}[2]"),
            low=_p_dec(row[3], f"{where}[3]"),
            close=_p_dec(row[4], f"{where}[4]"),
            volume=_p_dec(row[5], f"{where}[5]"),
            base_volume=_p_dec(row[7], f"{where}[7]"),
            trades=_p_int(row[8], f"{where}[8]"),
            taker_buy_volume=_p_dec(row[9], f"{where}[9]"),
            taker_buy_base_volume=_p_dec(row[10], f"{where}[10]"),
            is_closed=now_ms is None or now_ms > close_time,
            first_id=0,
            last_id=0,
            symbol=symbol,
            ignore=row[11] if len(row) == 12 and isinstance(row[11], str) else "0",
        )

    def to_rest_row(self) -> list[Any]:
        """The REST klines row for this candle (the simulator serves these)."""
        return [
            self.open_time,
            _d_dec(self.open),
            _d_dec(self.high),
            _d_dec(self.low),
            _d_dec(self.close),
            _d_dec(self.volume),
            self.close_time,
            _d_dec(self.base_volume),
            self.trades,
            _d_dec(self.taker_buy_volume),
            _d_dec(self.taker_buy_base_volume),
            self.ignore,
        ]


_KLINE_KINDS = ("kline", "continuous_kline", "indexPrice_kline", "markPrice_kline")


@dataclass(frozen=True, slots=True)
class KlineEvent:
    """Any of the four kline streams; ``kind`` is the wire's ``"e"``.

    ``kline`` has ``symbol``; ``continuous_kline`` has ``pair`` and ``contract_type``;
    ``indexPrice_kline`` and ``markPrice_kline`` have ``pair``.
    """

    EVENTS: ClassVar[tuple[str, ...]] = _KLINE_KINDS
    kind: str
    event_time: int
    kline: Kline
    symbol: str | None = None
    pair: str | None = None
    contract_type: str | None = None
    """``PERPETUAL``, ``CURRENT_QUARTER`` or ``NEXT_QUARTER`` (continuous klines only)."""

    @classmethod
    def from_wire(cls, d: Any) -> KlineEvent:
        """Parse any kline event.

        Raises:
            MalformedFrame: unknown kind, a missing key or a bad value.
        """
        if not isinstance(d, dict):
            raise _fail("kline", f"expected an object, got {type(d).__name__}")
        kind = d.get("e")
        if kind not in _KLINE_KINDS:
            raise _fail("kline", f"event type {kind!r} is not a kline event")
        for key in ("E", "k", "s" if kind == "kline" else "ps"):
            if key not in d:
                raise _fail(kind, f"missing field {key!r}")
        if kind == "continuous_kline" and "ct" not in d:
            raise _fail(kind, "missing field 'ct'")
        return cls(
            kind=kind,
            event_time=_p_int(d["E"], f"{kind}.E"),
            kline=Kline._parse(d["k"], f"{kind}.k"),
            symbol=_p_str(d["s"], f"{kind}.s") if kind == "kline" else None,
            pair=None if kind == "kline" else _p_str(d["ps"], f"{kind}.ps"),
            contract_type=_p_str(d["ct"], f"{kind}.ct") if kind == "continuous_kline" else None,
        )

    def to_wire(self) -> dict[str, Any]:
        """The wire object with this kind's field names (``s``, or ``ps`` and ``ct``)."""
        out: dict[str, Any] = {"e": self.kind, "E": self.event_time}
        if self.kind == "kline":
            out["s"] = self.symbol
        else:
            out["ps"] = self.pair
            if self.kind == "continuous_kline":
                out["ct"] = self.contract_type
        out["k"] = self.kline.to_wire()
        return out


@dataclass(frozen=True, slots=True)
class MiniTicker(_Wire):
    """``24hrMiniTicker``: rolling 24 h OHLC and volume."""

    EVENT: ClassVar[str] = "24hrMiniTicker"
    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("E", "event_time", INT),
        _f("s", "symbol", STR),
        _f("ps", "pair", STR),
        _f("c", "close", DEC),
        _f("o", "open", DEC),
        _f("h", "high", DEC),
        _f("l", "low", DEC),
        _f("v", "volume", DEC),
        _f("q", "base_volume", DEC),
    )
    event_time: int
    symbol: str
    pair: str
    close: Decimal
    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal
    base_volume: Decimal


@dataclass(frozen=True, slots=True)
class Ticker(_Wire):
    """``24hrTicker``: rolling 24 h statistics."""

    EVENT: ClassVar[str] = "24hrTicker"
    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("E", "event_time", INT),
        _f("s", "symbol", STR),
        _f("ps", "pair", STR),
        _f("p", "price_change", DEC),
        _f("P", "price_change_percent", DEC),
        _f("w", "weighted_avg_price", DEC),
        _f("c", "last_price", DEC),
        _f("Q", "last_qty", DEC),
        _f("o", "open", DEC),
        _f("h", "high", DEC),
        _f("l", "low", DEC),
        _f("v", "volume", DEC),
        _f("q", "base_volume", DEC),
        _f("O", "open_time", INT),
        _f("C", "close_time", INT),
        _f("F", "first_id", INT),
        _f("L", "last_id", INT),
        _f("n", "trades", INT),
    )
    event_time: int
    symbol: str
    pair: str
    price_change: Decimal
    price_change_percent: Decimal
    weighted_avg_price: Decimal
    last_price: Decimal
    last_qty: Decimal
    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal
    base_volume: Decimal
    open_time: int
    close_time: int
    first_id: int
    last_id: int
    trades: int


@dataclass(frozen=True, slots=True)
class BookTicker(_Wire):
    """``bookTicker``: best bid and ask, pushed on every change."""

    EVENT: ClassVar[str] = "bookTicker"
    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("u", "update_id", INT),
        _f("s", "symbol", STR),
        _f("ps", "pair", STR),
        _f("b", "bid_price", DEC),
        _f("B", "bid_qty", DEC),
        _f("a", "ask_price", DEC),
        _f("A", "ask_qty", DEC),
        _f("T", "transaction_time", INT),
        _f("E", "event_time", INT),
    )
    update_id: int
    symbol: str
    pair: str
    bid_price: Decimal
    bid_qty: Decimal
    ask_price: Decimal
    ask_qty: Decimal
    transaction_time: int
    event_time: int


@dataclass(frozen=True, slots=True)
class _ForceOrderBody(_Wire):
    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("s", "symbol", STR),
        _f("ps", "pair", STR),
        _f("S", "side", STR),
        _f("o", "order_type", STR),
        _f("f", "time_in_force", STR),
        _f("q", "orig_qty", DEC),
        _f("p", "price", DEC),
        _f("ap", "avg_price", DEC),
        _f("X", "status", STR),
        _f("l", "last_filled_qty", DEC),
        _f("z", "filled_accumulated_qty", DEC),
        _f("T", "trade_time", INT),
    )
    symbol: str
    pair: str
    side: str
    order_type: str
    time_in_force: str
    orig_qty: Decimal
    price: Decimal
    avg_price: Decimal
    status: str
    last_filled_qty: Decimal
    filled_accumulated_qty: Decimal
    trade_time: int


@dataclass(frozen=True, slots=True)
class ForceOrder:
    """``forceOrder``: a liquidation order (the wire nests it under ``o``; here it is flat)."""

    EVENT: ClassVar[str] = "forceOrder"
    event_time: int
    symbol: str
    pair: str
    side: str
    order_type: str
    time_in_force: str
    orig_qty: Decimal
    price: Decimal
    avg_price: Decimal
    status: str
    last_filled_qty: Decimal
    filled_accumulated_qty: Decimal
    trade_time: int

    @classmethod
    def from_wire(cls, d: Any) -> ForceOrder:
        """Parse a liquidation event.

        Raises:
            MalformedFrame: a missing key or a bad value.
        """
        if not isinstance(d, dict):
            raise _fail("forceOrder", f"expected an object, got {type(d).__name__}")
        if d.get("e") != "forceOrder":
            raise _fail("forceOrder", f'event type {d.get("e")!r} is not "forceOrder"')
        for key in ("E", "o"):
            if key not in d:
                raise _fail("forceOrder", f"missing field {key!r}")
        body = _ForceOrderBody._parse(d["o"], "forceOrder.o")
        return cls(_p_int(d["E"], "forceOrder.E"), *(getattr(body, f.name) for f in fields(body)))

    def to_wire(self) -> dict[str, Any]:
        """The wire object, with the order nested under ``o``."""
        body = _ForceOrderBody(*(getattr(self, f.name) for f in fields(_ForceOrderBody)))
        return {"e": "forceOrder", "E": self.event_time, "o": body.to_wire()}


@dataclass(frozen=True, slots=True)
class Bracket(_Wire):
    """One leverage bracket of a ``contractInfo`` event (JSON numbers, not strings)."""

    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("bs", "bracket", INT),
        _f("bnf", "notional_floor", NUM),
        _f("bnc", "notional_cap", NUM),
        _f("mmr", "maint_margin_ratio", NUM),
        _f("cf", "cum_fast", NUM),
        _f("mi", "min_leverage", INT),
        _f("ma", "max_leverage", INT),
    )
    bracket: int
    notional_floor: Decimal
    notional_cap: Decimal
    maint_margin_ratio: Decimal
    cum_fast: Decimal
    """``cf``: auxiliary number for quick maintenance-margin calculation."""
    min_leverage: int
    max_leverage: int


@dataclass(frozen=True, slots=True)
class ContractInfo(_Wire):
    """``contractInfo``: listing, settlement or bracket changes of a contract."""

    EVENT: ClassVar[str] = "contractInfo"
    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("E", "event_time", INT),
        _f("s", "symbol", STR),
        _f("ps", "pair", STR),
        _f("ct", "contract_type", STR),
        _f("dt", "delivery_date", INT),
        _f("ot", "onboard_date", INT),
        _f("cs", "status", STR),
        _f("bks", "brackets", _nested_list(Bracket), optional=True),
    )
    event_time: int
    symbol: str
    pair: str
    contract_type: str
    delivery_date: int
    onboard_date: int
    status: str
    brackets: tuple[Bracket, ...] | None = None
    """Only present when the brackets changed."""


# --------------------------------------------------------------------------------------------
# User data


@dataclass(frozen=True, slots=True)
class OrderUpdate(_Wire):
    """The ``o`` object of ``ORDER_TRADE_UPDATE``: one order's state after an execution."""

    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("s", "symbol", STR),
        _f("c", "client_order_id", STR),
        _f("S", "side", STR),
        _f("o", "order_type", STR),
        _f("f", "time_in_force", STR),
        _f("q", "orig_qty", DEC),
        _f("p", "price", DEC),
        _f("ap", "avg_price", DEC),
        _f("sp", "stop_price", DEC),
        _f("x", "execution_type", STR),
        _f("X", "status", STR),
        _f("i", "order_id", INT),
        _f("M", "modify_id", STR, optional=True),
        _f("l", "last_filled_qty", DEC),
        _f("z", "filled_accumulated_qty", DEC),
        _f("L", "last_filled_price", DEC),
        _f("ma", "margin_asset", STR),
        _f("N", "commission_asset", STR, optional=True),
        _f("n", "commission", DEC, optional=True),
        _f("T", "trade_time", INT),
        _f("t", "trade_id", INT),
        _f("rp", "realized_profit", DEC),
        _f("b", "bids_notional", DEC),
        _f("a", "asks_notional", DEC),
        _f("m", "is_maker", BOOL),
        _f("R", "reduce_only", BOOL),
        _f("wt", "working_type", STR),
        _f("ot", "orig_type", STR),
        _f("ps", "position_side", STR),
        _f("cp", "close_position", BOOL),
        _f("AP", "activation_price", DEC, optional=True),
        _f("cr", "callback_rate", DEC, optional=True),
        _f("pP", "price_protect", BOOL, optional=True),
        _f("V", "stp_mode", STR, optional=True),
        _f("pm", "price_match", STR, optional=True),
        _f("er", "expiry_reason", STR, optional=True),
    )
    symbol: str
    client_order_id: str
    side: str
    order_type: str
    time_in_force: str
    orig_qty: Decimal
    price: Decimal
    avg_price: Decimal
    stop_price: Decimal
    execution_type: str
    """``x``: NEW, TRADE, CANCELED, EXPIRED, AMENDMENT."""
    status: str
    """``X``: NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED."""
    order_id: int
    last_filled_qty: Decimal
    filled_accumulated_qty: Decimal
    last_filled_price: Decimal
    margin_asset: str
    trade_time: int
    trade_id: int
    realized_profit: Decimal
    bids_notional: Decimal
    asks_notional: Decimal
    is_maker: bool
    reduce_only: bool
    working_type: str
    orig_type: str
    position_side: str
    close_position: bool
    modify_id: str | None = None
    """Only on AMENDMENT events that carried a modifyId."""
    commission_asset: str | None = None
    """Only pushed when there is a commission."""
    commission: Decimal | None = None
    activation_price: Decimal | None = None
    """Only for TRAILING_STOP_MARKET."""
    callback_rate: Decimal | None = None
    """Only for TRAILING_STOP_MARKET."""
    price_protect: bool | None = None
    stp_mode: str | None = None
    price_match: str | None = None
    expiry_reason: str | None = None


@dataclass(frozen=True, slots=True)
class OrderTradeUpdate(_Wire):
    """``ORDER_TRADE_UPDATE``: an order was placed, filled, amended, cancelled or expired."""

    EVENT: ClassVar[str] = "ORDER_TRADE_UPDATE"
    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("E", "event_time", INT),
        _f("T", "transaction_time", INT),
        _f("i", "account_alias", STR, optional=True),
        _f("o", "order", _nested(OrderUpdate)),
    )
    event_time: int
    transaction_time: int
    order: OrderUpdate
    account_alias: str | None = None


@dataclass(frozen=True, slots=True)
class BalanceUpdate(_Wire):
    """One entry of ``ACCOUNT_UPDATE.a.B``."""

    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("a", "asset", STR),
        _f("wb", "wallet_balance", DEC),
        _f("cw", "cross_wallet_balance", DEC),
        _f("bc", "balance_change", DEC, optional=True),
    )
    asset: str
    wallet_balance: Decimal
    cross_wallet_balance: Decimal
    balance_change: Decimal | None = None
    """Change except PnL and commission."""


@dataclass(frozen=True, slots=True)
class PositionUpdate(_Wire):
    """One entry of ``ACCOUNT_UPDATE.a.P``."""

    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("s", "symbol", STR),
        _f("pa", "position_amount", DEC),
        _f("ep", "entry_price", DEC),
        _f("bep", "breakeven_price", DEC, optional=True),
        _f("cr", "accumulated_realized", DEC),
        _f("up", "unrealized_pnl", DEC),
        _f("mt", "margin_type", STR),
        _f("iw", "isolated_wallet", DEC),
        _f("ps", "position_side", STR),
    )
    symbol: str
    position_amount: Decimal
    """Contracts; negative for a short."""
    entry_price: Decimal
    breakeven_price: Decimal | None
    accumulated_realized: Decimal
    unrealized_pnl: Decimal
    margin_type: str
    isolated_wallet: Decimal
    position_side: str


@dataclass(frozen=True, slots=True)
class _AccountBody(_Wire):
    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("m", "reason", STR),
        _f("B", "balances", _nested_list(BalanceUpdate)),
        _f("P", "positions", _nested_list(PositionUpdate)),
        _f("S", "funding_symbol", STR, optional=True),
    )
    reason: str
    balances: tuple[BalanceUpdate, ...]
    positions: tuple[PositionUpdate, ...]
    funding_symbol: str | None = None


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """``ACCOUNT_UPDATE``: balances and positions changed (the wire nests them under ``a``)."""

    EVENT: ClassVar[str] = "ACCOUNT_UPDATE"
    event_time: int
    transaction_time: int
    reason: str
    """``m``: ORDER, FUNDING_FEE, DEPOSIT, WITHDRAW, ..."""
    balances: tuple[BalanceUpdate, ...]
    positions: tuple[PositionUpdate, ...]
    account_alias: str | None = None
    funding_symbol: str | None = None
    """``a.S``: the symbol of a FUNDING_FEE event, when given."""

    @classmethod
    def from_wire(cls, d: Any) -> AccountUpdate:
        """Parse an account update.

        Raises:
            MalformedFrame: a missing key or a bad value.
        """
        where = "ACCOUNT_UPDATE"
        if not isinstance(d, dict):
            raise _fail(where, f"expected an object, got {type(d).__name__}")
        if d.get("e") != cls.EVENT:
            raise _fail(where, f"event type {d.get('e')!r} is not {cls.EVENT!r}")
        for key in ("E", "T", "a"):
            if key not in d:
                raise _fail(where, f"missing field {key!r}")
        body = _AccountBody._parse(d["a"], f"{where}.a")
        return cls(
            event_time=_p_int(d["E"], f"{where}.E"),
            transaction_time=_p_int(d["T"], f"{where}.T"),
            reason=body.reason,
            balances=body.balances,
            positions=body.positions,
            account_alias=_p_str(d["i"], f"{where}.i") if "i" in d else None,
            funding_symbol=body.funding_symbol,
        )

    def to_wire(self) -> dict[str, Any]:
        """The wire object, with balances and positions nested under ``a``."""
        out: dict[str, Any] = {"e": self.EVENT, "E": self.event_time, "T": self.transaction_time}
        if self.account_alias is not None:
            out["i"] = self.account_alias
        out["a"] = _AccountBody(self.reason, self.balances, self.positions, self.funding_symbol).to_wire()
        return out


@dataclass(frozen=True, slots=True)
class MarginCallPosition(_Wire):
    """One position of a ``MARGIN_CALL``."""

    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("s", "symbol", STR),
        _f("ps", "position_side", STR),
        _f("pa", "position_amount", DEC),
        _f("mt", "margin_type", STR),
        _f("iw", "isolated_wallet", DEC),
        _f("mp", "mark_price", DEC),
        _f("up", "unrealized_pnl", DEC),
        _f("mm", "maint_margin", DEC),
    )
    symbol: str
    position_side: str
    position_amount: Decimal
    margin_type: str
    isolated_wallet: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    maint_margin: Decimal


@dataclass(frozen=True, slots=True)
class MarginCall(_Wire):
    """``MARGIN_CALL``: positions close to liquidation."""

    EVENT: ClassVar[str] = "MARGIN_CALL"
    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("E", "event_time", INT),
        _f("i", "account_alias", STR, optional=True),
        _f("cw", "cross_wallet_balance", DEC, optional=True),
        _f("p", "positions", _nested_list(MarginCallPosition)),
    )
    event_time: int
    positions: tuple[MarginCallPosition, ...]
    account_alias: str | None = None
    cross_wallet_balance: Decimal | None = None
    """Only pushed with a cross-margin call."""


@dataclass(frozen=True, slots=True)
class ListenKeyExpired(_Wire):
    """``listenKeyExpired``: the user-data stream stops; make a new key and reconnect."""

    EVENT: ClassVar[str] = "listenKeyExpired"
    _SPEC: ClassVar[tuple[_Spec, ...]] = (
        _f("E", "event_time", INT_LENIENT),
        _f("listenKey", "listen_key", STR),
    )
    event_time: int
    listen_key: str

    def __repr__(self) -> str:
        # A listenKey grants read access to the account's stream: keep it out of logs.
        return f"ListenKeyExpired(event_time={self.event_time}, listen_key='***')"


# --------------------------------------------------------------------------------------------
# Dispatch

MarketEvent = (
    DepthUpdate
    | AggTrade
    | IndexPriceUpdate
    | MarkPriceUpdate
    | KlineEvent
    | MiniTicker
    | Ticker
    | BookTicker
    | ForceOrder
    | ContractInfo
)
UserEvent = OrderTradeUpdate | AccountUpdate | MarginCall | ListenKeyExpired

_MARKET: dict[str, Callable[[Any], Any]] = {
    "depthUpdate": DepthUpdate.from_wire,
    "aggTrade": AggTrade.from_wire,
    "indexPriceUpdate": IndexPriceUpdate.from_wire,
    "markPriceUpdate": MarkPriceUpdate.from_wire,
    "24hrMiniTicker": MiniTicker.from_wire,
    "24hrTicker": Ticker.from_wire,
    "bookTicker": BookTicker.from_wire,
    "forceOrder": ForceOrder.from_wire,
    "contractInfo": ContractInfo.from_wire,
    **{kind: KlineEvent.from_wire for kind in _KLINE_KINDS},
}
_USER: dict[str, Callable[[Any], Any]] = {
    "ORDER_TRADE_UPDATE": OrderTradeUpdate.from_wire,
    "ACCOUNT_UPDATE": AccountUpdate.from_wire,
    "MARGIN_CALL": MarginCall.from_wire,
    "listenKeyExpired": ListenKeyExpired.from_wire,
}


def _dispatch(payload: Any, table: dict[str, Callable[[Any], Any]], what: str) -> Any:
    if isinstance(payload, list):
        return [_dispatch_one(item, table, f"{what}[{i}]") for i, item in enumerate(payload)]
    return _dispatch_one(payload, table, what)


def _dispatch_one(payload: Any, table: dict[str, Callable[[Any], Any]], what: str) -> Any:
    if not isinstance(payload, dict):
        raise _fail(what, f"expected an object, got {type(payload).__name__}")
    kind = payload.get("e")
    parser = table.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise _fail(what, f"unknown event type {kind!r}")
    return parser(payload)


def parse_market_event(payload: Any) -> MarketEvent | list[MarketEvent]:
    """Parse a decoded market-stream payload, dispatching on ``"e"``.

    A JSON list (``!miniTicker@arr``, ``!ticker@arr``, ``<pair>@markPrice``...) gives a list.
    Unwrap combined-stream frames with :func:`unwrap_combined` first.

    Raises:
        MalformedFrame: unknown or missing ``"e"``, or a malformed event.
    """
    return _dispatch(payload, _MARKET, "market event")


def parse_user_event(payload: Any) -> UserEvent:
    """Parse a decoded user-data-stream payload, dispatching on ``"e"``.

    Raises:
        MalformedFrame: unknown or missing ``"e"``, or a malformed event.
    """
    return _dispatch_one(payload, _USER, "user event")


def unwrap_combined(payload: Any) -> tuple[str | None, Any]:
    """Split a combined-stream frame ``{"stream": name, "data": payload}``.

    Returns:
        ``(stream_name, data)``, or ``(None, payload)`` for a raw-stream payload.

    Raises:
        MalformedFrame: a ``stream`` key that is not a string, or one without ``data``.
    """
    if isinstance(payload, dict) and "stream" in payload:
        stream = payload["stream"]
        if not isinstance(stream, str):
            raise _fail("combined frame", f"stream name is not a string: {stream!r}")
        if "data" not in payload:
            raise _fail(f"combined frame {stream}", "missing field 'data'")
        return stream, payload["data"]
    return None, payload
