"""Typed wire models for COIN-M market streams and user-data events.

One frozen, slotted dataclass per event of the spec. Every class has ``from_wire(dict)`` and
``to_wire() -> dict``: the client parses frames with the first, the simulator emits frames with
the second, so both sides speak the same shapes. ``to_wire`` reproduces Binance's field names,
key order and JSON types exactly (decimal strings keep the scale they were received with, so
``X.from_wire(d).to_wire() == d`` for the spec's examples).

Each field is declared once, on the dataclass: ``wire("p", DEC)`` names its wire key and its
kind (how the JSON value is read and written). :func:`_wire_model` turns those declarations
into a ``from_wire``/``to_wire`` pair specialised for the class, generated once, on the class's
first use (as :mod:`dataclasses` generates ``__init__``, but lazily): the frame parse is the
hottest path of the client.
A field whose wire key is nested (``forceOrder.o.s``) gives the path: ``wire(("o", "s"), STR)``.

Anything malformed (a missing key, a number that is not one, an unknown event type) raises
:class:`feeds.errors.MalformedFrame` naming the event and the field; never ``KeyError`` or
``TypeError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from decimal import Decimal
from typing import Any, ClassVar, Self

from feeds.decimals import D, DecimalParseError
from feeds.errors import MalformedFrame

__all__ = [
    "AccountConfigUpdate",
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
# Field kinds: how one JSON value is read (parse(value, where) -> python value, raising
# MalformedFrame) and written (dump(python value) -> JSON value).


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


def _p_levels(v: Any, where: str) -> list[Any]:
    # Depth levels stay the raw [price, qty] pairs: the order book converts and checks them.
    if type(v) is not list:
        raise _fail(where, f"expected a list, got {type(v).__name__}")
    return v


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


def _d_levels(v: Any) -> list[list[Any]]:
    return [[p, q] for p, q in v]


@dataclass(frozen=True, slots=True)
class _Kind:
    """How one field is read and written. ``fast`` names the inline code the generated parser
    uses for it (``"int"``, ``"str"``, ``"bool"``, ``"dec"``, ``"rate"``, ``"list"``), or
    ``None`` to call ``parse``; the generic parser and every error message use ``parse``."""

    parse: Callable[[Any, str], Any]
    dump: Callable[[Any], Any]
    fast: str | None = None
    nested: type[Any] | None = None
    many: bool = False


INT = _Kind(_p_int, _d_same, "int")
INT_LENIENT = _Kind(_p_int_lenient, _d_same)
STR = _Kind(_p_str, _d_same, "str")
BOOL = _Kind(_p_bool, _d_same, "bool")
DEC = _Kind(_p_dec, _d_dec, "dec")
RATE = _Kind(_p_rate, _d_rate, "rate")
NUM = _Kind(_p_num, _d_num)
LEVELS = _Kind(_p_levels, _d_levels, "list")


def _nested(cls: type[Any]) -> _Kind:
    """A wire object parsed by another model."""
    def parse(v: Any, where: str) -> Any:
        return cls._parse(v, where)

    return _Kind(parse, lambda v: v.to_wire(), nested=cls)


def _nested_list(cls: type[Any]) -> _Kind:
    """A list of wire objects parsed by another model (a tuple here)."""
    def parse(v: Any, where: str) -> tuple[Any, ...]:
        if not isinstance(v, list):
            raise _fail(where, f"expected a list, got {type(v).__name__}")
        return tuple(cls._parse(item, f"{where}[{i}]") for i, item in enumerate(v))

    return _Kind(parse, lambda v: [item.to_wire() for item in v], nested=cls, many=True)


def _meta(key: str | tuple[str, ...], kind: _Kind, *, optional: bool = False) -> dict[str, Any]:
    """The field metadata :func:`wire` gives (for a ``field()`` written out where a type checker
    must see ``kw_only``)."""
    return {"wire": (key,) if isinstance(key, str) else tuple(key), "kind": kind, "optional": optional}


def wire(key: str | tuple[str, ...], kind: _Kind, *, optional: bool = False, default: Any = MISSING) -> Any:
    """Declare a dataclass field's wire key (or key path) and kind.

    ``optional``: the key may be absent; the field is then None, and ``to_wire`` leaves the key
    out when the field is None (as Binance does). Optional fields are keyword-only with a
    default of None, so they can sit at their wire position.
    """
    meta = _meta(key, kind, optional=optional)
    if optional:
        return field(default=None, kw_only=True, metadata=meta)
    if default is not MISSING:
        return field(default=default, kw_only=True, metadata=meta)
    return field(metadata=meta)


# --------------------------------------------------------------------------------------------
# Code generation: from_wire/to_wire from the field declarations.


@dataclass(frozen=True, slots=True)
class _WireField:
    attr: str
    path: tuple[str, ...]
    kind: _Kind
    optional: bool


def _wire_fields(cls: type[Any]) -> tuple[_WireField, ...]:
    out = []
    for f in fields(cls):
        meta = f.metadata
        if "wire" not in meta:
            raise TypeError(f"{cls.__name__}.{f.name} has no wire declaration")
        out.append(_WireField(f.name, meta["wire"], meta["kind"], meta["optional"]))
    return tuple(out)


def _slow_parse(cls: type[Any], wfs: tuple[_WireField, ...], d: Any, where: str) -> Any:
    """The reference parser: fields in declaration order, the first fault raised."""
    if not isinstance(d, dict):
        raise _fail(where, f"expected an object, got {type(d).__name__}")
    values: dict[str, Any] = {}
    for wf in wfs:
        obj, here = d, where
        for part in wf.path[:-1]:
            if part not in obj:
                raise _fail(here, f"missing field {part!r}")
            obj, here = obj[part], f"{here}.{part}"
            if not isinstance(obj, dict):
                raise _fail(here, f"expected an object, got {type(obj).__name__}")
        key = wf.path[-1]
        if key in obj:
            values[wf.attr] = wf.kind.parse(obj[key], f"{here}.{key}")
        elif wf.optional:
            values[wf.attr] = None
        else:
            raise _fail(here, f"missing field {key!r} ({wf.attr})")
    return cls(**values)


_ABSENT = object()
_FAST_TYPE = {"int": "int", "str": "str", "bool": "bool", "dec": "str", "list": "list"}


def _gen_parse(cls: type[Any], wfs: tuple[_WireField, ...], ns: dict[str, Any], head: list[str]) -> Callable[..., Any]:
    """A parser specialised for ``cls``: everything checked inline, the first sign of trouble
    hands the frame to :func:`_slow_parse`, which raises the precise error. ``head`` is the
    function's ``def`` line and its checks of ``d``; they leave ``where`` set."""
    lines = list(head)
    containers: dict[tuple[str, ...], str] = {(): "d"}
    for wf in wfs:
        for n in range(1, len(wf.path)):
            sub = wf.path[:n]
            if sub not in containers:
                name = f"c{len(containers)}"
                lines.append(f"    {name} = {containers[sub[:-1]]}.get({sub[-1]!r})")
                lines.append(f"    if type({name}) is not dict: return _slow(d, where)")
                containers[sub] = name
    required = [(i, wf) for i, wf in enumerate(wfs) if not wf.optional]
    if required:
        lines.append("    try:")
        for i, wf in required:
            lines.append(f"        v{i} = {containers[wf.path[:-1]]}[{wf.path[-1]!r}]")
        lines.append("    except KeyError: return _slow(d, where)")
    checks, converts, finite, calls, absents = [], [], [], [], []
    for i, wf in enumerate(wfs):
        v, fast = f"v{i}", wf.kind.fast
        if wf.optional:
            lines.append(f"    {v} = {containers[wf.path[:-1]]}.get({wf.path[-1]!r}, _ABSENT)")
        guard = f"{v} is not _ABSENT and " if wf.optional else ""
        absent = f"None if {v} is _ABSENT else " if wf.optional else ""
        if fast in _FAST_TYPE:
            checks.append(f"({guard}type({v}) is not {_FAST_TYPE[fast]})")
            if wf.optional and fast != "dec":
                absents.append(f"if {v} is _ABSENT: {v} = None")
        if fast == "dec":
            converts.append(f"{v} = {absent}_Decimal({v})")
            finite.append(f"({v} is not None and not {v}.is_finite())" if wf.optional
                          else f"not {v}.is_finite()")
        elif fast == "rate":
            checks.append(f"({guard}type({v}) is not str)")
            converts.append(f"{v} = {absent}(None if {v} == '' else _Decimal({v}))")
            finite.append(f"({v} is not None and not {v}.is_finite())")
        elif fast is None:
            ns[f"_p{i}"] = wf.kind.parse
            here = ".".join(wf.path)
            call = f"_p{i}({v}, where + {'.' + here!r})"
            calls.append(f"{v} = {absent}{call}" if wf.optional else f"{v} = {call}")
    if checks:
        lines.append(f"    if {' or '.join(checks)}: return _slow(d, where)")
    lines.extend(f"    {a}" for a in absents)
    if converts:
        lines.append("    try:")
        lines.extend(f"        {c}" for c in converts)
        lines.append("    except _DECIMAL_ERRORS: return _slow(d, where)")
        lines.append(f"    if {' or '.join(finite)}: return _slow(d, where)")
    lines.extend(f"    {c}" for c in calls)
    lines.append("    ev = _new(_cls)")
    for i, wf in enumerate(wfs):
        ns[f"_s{i}"] = getattr(cls, wf.attr).__set__
        lines.append(f"    _s{i}(ev, v{i})")
    lines.append("    return ev")
    exec("\n".join(lines), ns)  # noqa: S102 - source built above from the field declarations
    return ns.pop("_generated")


def _dump_expr(wf: _WireField, value: str, i: int, ns: dict[str, Any]) -> str:
    kind = wf.kind
    if kind.dump is _d_same:
        return value
    if kind.dump is _d_dec:
        return f"_format({value}, 'f')"
    if kind.dump is _d_levels:
        return f"[[p, q] for p, q in {value}]"
    if kind.nested is not None and not kind.many:
        return f"{value}.to_wire()"
    if kind.nested is not None:
        return f"[item.to_wire() for item in {value}]"
    ns[f"_d{i}"] = kind.dump
    return f"_d{i}({value})"


def _gen_dict(wfs: tuple[_WireField, ...], prefix: tuple[str, ...], target: str, head: list[str],
              ns: dict[str, Any]) -> list[str]:
    """Source lines that build the wire object of the fields under ``prefix`` into ``target``."""
    groups: dict[str, list[tuple[int, _WireField]]] = {}
    for i, wf in enumerate(wfs):
        if wf.path[: len(prefix)] == prefix and len(wf.path) > len(prefix):
            groups.setdefault(wf.path[len(prefix)], []).append((i, wf))
    pre: list[str] = []
    items = list(head)
    body: list[str] = []
    literal = True  # keys go into the dict literal until the first optional one (key order)
    for key, members in groups.items():
        i, wf = members[0]
        if len(wf.path) > len(prefix) + 1:  # a nested object
            sub = f"o{len(prefix)}_{i}"
            sub_lines = _gen_dict(wfs, (*prefix, key), sub, [], ns)
            if literal:
                pre.extend(sub_lines)
                items.append(f"{key!r}: {sub}")
            else:
                body.extend(sub_lines)
                body.append(f"{target}[{key!r}] = {sub}")
        elif wf.optional:
            literal = False
            body.append(f"v = self.{wf.attr}")
            body.append(f"if v is not None: {target}[{key!r}] = {_dump_expr(wf, 'v', i, ns)}")
        elif literal:
            items.append(f"{key!r}: {_dump_expr(wf, f'self.{wf.attr}', i, ns)}")
        else:
            body.append(f"{target}[{key!r}] = {_dump_expr(wf, f'self.{wf.attr}', i, ns)}")
    return [*pre, f"{target} = {{{', '.join(items)}}}", *body]


def _gen_to_wire(cls: type[Any], wfs: tuple[_WireField, ...], ns: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """``to_wire(self)`` specialised for ``cls``: keys in declaration order, optional keys left
    out when None, nested key paths built as nested objects."""
    event = getattr(cls, "EVENT", None)
    head = [f"'e': {event!r}"] if event is not None else []
    lines = ["def to_wire(self):", *(f"    {line}" for line in _gen_dict(wfs, (), "out", head, ns)),
             "    return out"]
    exec("\n".join(lines), ns)  # noqa: S102 - source built above from the field declarations
    return ns["to_wire"]


def _wire_model(cls: type[Any]) -> type[Any]:
    """Class decorator (outside ``@dataclass``): ``_parse``, ``from_wire`` and ``to_wire``
    generated from the fields' :func:`wire` declarations, on the class's first use of any of
    them (:class:`_Generated`): a process uses few of the models (the simulator's and the
    dashboard's start-up, most tests), and generating all of them cost a third of this
    module's import."""
    cls._WIRE_FIELDS = _wire_fields(cls)
    names = ("_parse", "to_wire") if "from_wire" in cls.__dict__ else ("_parse", "from_wire", "to_wire")
    for name in names:
        setattr(cls, name, _Generated(cls, name))
    return cls


class _Generated:
    """A generated method of a wire model, made on first access: the first lookup of any of
    the three generates all of them (:func:`_generate`), which replace these placeholders in
    the class, so later calls cost nothing extra. Generating twice (two threads at once) makes
    the same functions."""

    __slots__ = ("cls", "name")

    def __init__(self, cls: type[Any], name: str) -> None:
        self.cls = cls
        self.name = name

    def __get__(self, obj: Any, owner: type[Any] | None = None) -> Any:
        if self.cls.__dict__.get(self.name) is self:  # else another thread has just generated them
            _generate(self.cls)
        return getattr(self.cls if obj is None else obj, self.name)


def _generate(cls: type[Any]) -> None:
    """Generate ``cls``'s ``_parse``, ``from_wire`` (unless the class has its own) and ``to_wire``."""
    wfs = cls._WIRE_FIELDS
    event = getattr(cls, "EVENT", None)
    where_default = event or cls.__name__

    def slow(d: Any, where: str) -> Any:
        return _slow_parse(cls, wfs, d, where)

    ns: dict[str, Any] = {
        "_cls": cls, "_slow": slow, "_new": object.__new__, "_Decimal": Decimal, "_format": format,
        "_ABSENT": _ABSENT, "_DECIMAL_ERRORS": (ArithmeticError, ValueError, TypeError),
    }
    check = "    if type(d) is not dict: return _slow(d, where)"
    parse = _gen_parse(cls, wfs, ns, ["def _generated(d, where):", check])
    if event is None:
        head = ["def _generated(d):", f"    where = {where_default!r}", check]
    else:
        def wrong(d: Any) -> Any:
            if isinstance(d, dict):
                raise _fail(event, f"event type {d.get('e')!r} is not {event!r}")
            return slow(d, event)

        ns["_wrong"] = wrong
        # The event check inline: from_wire is called once per frame.
        head = ["def _generated(d):", f"    if type(d) is not dict or d.get('e') != {event!r}: return _wrong(d)",
                f"    where = {event!r}"]
    from_wire = _gen_parse(cls, wfs, ns, head)

    from_wire.__doc__ = (
        f"Parse one ``{where_default}`` wire object (as decoded from JSON).\n\n"
        "Raises:\n    MalformedFrame: a key is missing, a value has the wrong type or is not a "
        "number, or ``\"e\"`` is not this class's event type."
    )
    to_wire = _gen_to_wire(cls, wfs, ns)
    to_wire.__doc__ = "The wire object, with Binance's field names, key order and JSON types."
    cls._parse = staticmethod(parse)
    if isinstance(cls.__dict__.get("from_wire"), _Generated):  # a class may wrap _parse with rules of its own
        cls.from_wire = staticmethod(from_wire)
    cls.to_wire = to_wire


class _Wire:
    """Base of the generated models (for typing: :func:`_wire_model` fills these in)."""

    __slots__ = ()
    EVENT: ClassVar[str | None] = None
    """The ``"e"`` value of this event, or None for nested objects."""
    _WIRE_FIELDS: ClassVar[tuple[_WireField, ...]] = ()

    @classmethod
    def from_wire(cls, d: Any) -> Self:  # replaced by _wire_model
        """Parse one wire object (as decoded from JSON).

        Raises:
            MalformedFrame: a key is missing, a value has the wrong type or is not a number,
                or ``"e"`` is not this class's event type.
        """
        raise NotImplementedError

    @classmethod
    def _parse(cls, d: Any, where: str) -> Self:  # replaced by _wire_model
        raise NotImplementedError

    def to_wire(self) -> dict[str, Any]:  # replaced by _wire_model
        """The wire object, with Binance's field names and JSON types."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# Market streams


@_wire_model
@dataclass(frozen=True, slots=True)
class DepthUpdate(_Wire):
    """``depthUpdate``: a diff-depth event, or a partial-depth (top 5/10/20) snapshot.

    ``bids``/``asks`` stay the raw ``[price_str, qty_str]`` pairs as received: the order book
    converts them on its fast path, and validates them (bad numbers, prices off the tick grid).
    """

    EVENT: ClassVar[str] = "depthUpdate"
    event_time: int = wire("E", INT)
    transaction_time: int = wire("T", INT)
    symbol: str = wire("s", STR)
    pair: str = wire("ps", STR)
    first_update_id: int = wire("U", INT)
    """``U``: first update id in the event."""
    final_update_id: int = wire("u", INT)
    """``u``: final update id in the event."""
    prev_final_update_id: int = wire("pu", INT)
    """``pu``: the previous event's ``u``; a mismatch means a gap."""
    bids: list[Any] = wire("b", LEVELS)
    asks: list[Any] = wire("a", LEVELS)


@_wire_model
@dataclass(frozen=True, slots=True)
class AggTrade(_Wire):
    """``aggTrade``: trades aggregated by price and taker side."""

    EVENT: ClassVar[str] = "aggTrade"
    event_time: int = wire("E", INT)
    agg_id: int = wire("a", INT)
    symbol: str = wire("s", STR)
    price: Decimal = wire("p", DEC)
    qty: Decimal = wire("q", DEC)
    first_trade_id: int = wire("f", INT)
    last_trade_id: int = wire("l", INT)
    trade_time: int = wire("T", INT)
    is_buyer_maker: bool = wire("m", BOOL)
    """True when the buyer was the maker, i.e. the taker sold."""


@_wire_model
@dataclass(frozen=True, slots=True)
class IndexPriceUpdate(_Wire):
    """``indexPriceUpdate``: the index price of a pair."""

    EVENT: ClassVar[str] = "indexPriceUpdate"
    event_time: int = wire("E", INT)
    pair: str = wire("i", STR)
    index_price: Decimal = wire("p", DEC)


@_wire_model
@dataclass(frozen=True, slots=True)
class MarkPriceUpdate(_Wire):
    """``markPriceUpdate``: mark/index price and funding of one contract."""

    EVENT: ClassVar[str] = "markPriceUpdate"
    event_time: int = wire("E", INT)
    symbol: str = wire("s", STR)
    mark_price: Decimal = wire("p", DEC)
    est_settle_price: Decimal = wire("P", DEC)
    index_price: Decimal = wire("i", DEC)
    funding_rate: Decimal | None = wire("r", RATE)
    """None for delivery contracts (the wire carries ``""``)."""
    next_funding_time: int = wire("T", INT)
    """0 for delivery contracts."""


@_wire_model
@dataclass(frozen=True, slots=True)
class Kline(_Wire):
    """One candle, as in the ``k`` object of every kline stream or a REST klines row."""

    open_time: int = wire("t", INT)
    close_time: int = wire("T", INT)
    symbol: str | None = wire("s", STR, optional=True)
    """None in continuous klines (their ``k`` has no ``s``); ``"0"`` in index klines."""
    interval: str = wire("i", STR)
    first_id: int = wire("f", INT)
    last_id: int = wire("L", INT)
    open: Decimal = wire("o", DEC)
    close: Decimal = wire("c", DEC)
    high: Decimal = wire("h", DEC)
    low: Decimal = wire("l", DEC)
    volume: Decimal = wire("v", DEC)
    """Volume in contracts."""
    trades: int = wire("n", INT)
    is_closed: bool = wire("x", BOOL)
    base_volume: Decimal = wire("q", DEC)
    """Volume in the base asset (coin)."""
    taker_buy_volume: Decimal = wire("V", DEC)
    taker_buy_base_volume: Decimal = wire("Q", DEC)
    ignore: str = wire("B", STR, default="0")
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



_KLINE_KINDS = ("kline", "continuous_kline", "indexPrice_kline", "markPrice_kline")
# The keys each kind must carry besides E and k; the other kinds' keys are not read.
_KLINE_KEYS = {
    "kline": ("s",),
    "continuous_kline": ("ps", "ct"),
    "indexPrice_kline": ("ps",),
    "markPrice_kline": ("ps",),
}


@_wire_model
@dataclass(frozen=True, slots=True)
class KlineEvent(_Wire):
    """Any of the four kline streams; ``kind`` is the wire's ``"e"``.

    ``kline`` has ``symbol``; ``continuous_kline`` has ``pair`` and ``contract_type``;
    ``indexPrice_kline`` and ``markPrice_kline`` have ``pair``.
    """

    EVENTS: ClassVar[tuple[str, ...]] = _KLINE_KINDS
    kind: str = wire("e", STR)
    event_time: int = wire("E", INT)
    # Written out so type checkers see these are keyword-only: KlineEvent(kind, time, kline, ...).
    symbol: str | None = field(default=None, kw_only=True, metadata=_meta("s", STR, optional=True))
    pair: str | None = field(default=None, kw_only=True, metadata=_meta("ps", STR, optional=True))
    contract_type: str | None = field(default=None, kw_only=True, metadata=_meta("ct", STR, optional=True))
    """``PERPETUAL``, ``CURRENT_QUARTER`` or ``NEXT_QUARTER`` (continuous klines only)."""
    kline: Kline = wire("k", _nested(Kline))

    @classmethod
    def from_wire(cls, d: Any) -> KlineEvent:
        """Parse any kline event.

        Raises:
            MalformedFrame: unknown kind, a missing key or a bad value.
        """
        kind = d.get("e") if isinstance(d, dict) else None
        if kind not in _KLINE_KINDS:
            if not isinstance(d, dict):
                raise _fail("kline", f"expected an object, got {type(d).__name__}")
            raise _fail("kline", f"event type {kind!r} is not a kline event")
        wanted = _KLINE_KEYS[kind]
        for key in ("E", "k", *wanted):
            if key not in d:
                raise _fail(kind, f"missing field {key!r}")
        ev: KlineEvent = cls._parse(d, kind)
        # A key of another kind (``ps`` on a plain kline...) is not part of this event.
        if (ev.symbol is not None and "s" not in wanted) or (ev.pair is not None and "ps" not in wanted) or (
            ev.contract_type is not None and "ct" not in wanted
        ):
            ev = cls(kind=kind, event_time=ev.event_time, kline=ev.kline,
                     symbol=ev.symbol if "s" in wanted else None,
                     pair=ev.pair if "ps" in wanted else None,
                     contract_type=ev.contract_type if "ct" in wanted else None)
        return ev


@_wire_model
@dataclass(frozen=True, slots=True)
class MiniTicker(_Wire):
    """``24hrMiniTicker``: rolling 24 h OHLC and volume."""

    EVENT: ClassVar[str] = "24hrMiniTicker"
    event_time: int = wire("E", INT)
    symbol: str = wire("s", STR)
    pair: str = wire("ps", STR)
    close: Decimal = wire("c", DEC)
    open: Decimal = wire("o", DEC)
    high: Decimal = wire("h", DEC)
    low: Decimal = wire("l", DEC)
    volume: Decimal = wire("v", DEC)
    base_volume: Decimal = wire("q", DEC)


@_wire_model
@dataclass(frozen=True, slots=True)
class Ticker(_Wire):
    """``24hrTicker``: rolling 24 h statistics."""

    EVENT: ClassVar[str] = "24hrTicker"
    event_time: int = wire("E", INT)
    symbol: str = wire("s", STR)
    pair: str = wire("ps", STR)
    price_change: Decimal = wire("p", DEC)
    price_change_percent: Decimal = wire("P", DEC)
    weighted_avg_price: Decimal = wire("w", DEC)
    last_price: Decimal = wire("c", DEC)
    last_qty: Decimal = wire("Q", DEC)
    open: Decimal = wire("o", DEC)
    high: Decimal = wire("h", DEC)
    low: Decimal = wire("l", DEC)
    volume: Decimal = wire("v", DEC)
    base_volume: Decimal = wire("q", DEC)
    open_time: int = wire("O", INT)
    close_time: int = wire("C", INT)
    first_id: int = wire("F", INT)
    last_id: int = wire("L", INT)
    trades: int = wire("n", INT)


@_wire_model
@dataclass(frozen=True, slots=True)
class BookTicker(_Wire):
    """``bookTicker``: best bid and ask, pushed on every change."""

    EVENT: ClassVar[str] = "bookTicker"
    update_id: int = wire("u", INT)
    symbol: str = wire("s", STR)
    pair: str = wire("ps", STR)
    bid_price: Decimal = wire("b", DEC)
    bid_qty: Decimal = wire("B", DEC)
    ask_price: Decimal = wire("a", DEC)
    ask_qty: Decimal = wire("A", DEC)
    transaction_time: int = wire("T", INT)
    event_time: int = wire("E", INT)


@_wire_model
@dataclass(frozen=True, slots=True)
class ForceOrder(_Wire):
    """``forceOrder``: a liquidation order (the wire nests it under ``o``; here it is flat)."""

    EVENT: ClassVar[str] = "forceOrder"
    event_time: int = wire("E", INT)
    symbol: str = wire(("o", "s"), STR)
    pair: str = wire(("o", "ps"), STR)
    side: str = wire(("o", "S"), STR)
    order_type: str = wire(("o", "o"), STR)
    time_in_force: str = wire(("o", "f"), STR)
    orig_qty: Decimal = wire(("o", "q"), DEC)
    price: Decimal = wire(("o", "p"), DEC)
    avg_price: Decimal = wire(("o", "ap"), DEC)
    status: str = wire(("o", "X"), STR)
    last_filled_qty: Decimal = wire(("o", "l"), DEC)
    filled_accumulated_qty: Decimal = wire(("o", "z"), DEC)
    trade_time: int = wire(("o", "T"), INT)


@_wire_model
@dataclass(frozen=True, slots=True)
class Bracket(_Wire):
    """One leverage bracket of a ``contractInfo`` event (JSON numbers, not strings)."""

    bracket: int = wire("bs", INT)
    notional_floor: Decimal = wire("bnf", NUM)
    notional_cap: Decimal = wire("bnc", NUM)
    maint_margin_ratio: Decimal = wire("mmr", NUM)
    cum_fast: Decimal = wire("cf", NUM)
    """``cf``: auxiliary number for quick maintenance-margin calculation."""
    min_leverage: int = wire("mi", INT)
    max_leverage: int = wire("ma", INT)


@_wire_model
@dataclass(frozen=True, slots=True)
class ContractInfo(_Wire):
    """``contractInfo``: listing, settlement or bracket changes of a contract."""

    EVENT: ClassVar[str] = "contractInfo"
    event_time: int = wire("E", INT)
    symbol: str = wire("s", STR)
    pair: str = wire("ps", STR)
    contract_type: str = wire("ct", STR)
    delivery_date: int = wire("dt", INT)
    onboard_date: int = wire("ot", INT)
    status: str = wire("cs", STR)
    brackets: tuple[Bracket, ...] | None = wire("bks", _nested_list(Bracket), optional=True)
    """Only present when the brackets changed."""


# --------------------------------------------------------------------------------------------
# User data


@_wire_model
@dataclass(frozen=True, slots=True)
class OrderUpdate(_Wire):
    """The ``o`` object of ``ORDER_TRADE_UPDATE``: one order's state after an execution."""

    symbol: str = wire("s", STR)
    client_order_id: str = wire("c", STR)
    side: str = wire("S", STR)
    order_type: str = wire("o", STR)
    time_in_force: str = wire("f", STR)
    orig_qty: Decimal = wire("q", DEC)
    price: Decimal = wire("p", DEC)
    avg_price: Decimal = wire("ap", DEC)
    stop_price: Decimal = wire("sp", DEC)
    execution_type: str = wire("x", STR)
    """``x``: NEW, TRADE, CANCELED, EXPIRED, AMENDMENT."""
    status: str = wire("X", STR)
    """``X``: NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED."""
    order_id: int = wire("i", INT)
    modify_id: str | None = wire("M", STR, optional=True)
    """Only on AMENDMENT events that carried a modifyId."""
    last_filled_qty: Decimal = wire("l", DEC)
    filled_accumulated_qty: Decimal = wire("z", DEC)
    last_filled_price: Decimal = wire("L", DEC)
    margin_asset: str = wire("ma", STR)
    commission_asset: str | None = wire("N", STR, optional=True)
    """Only pushed when there is a commission."""
    commission: Decimal | None = wire("n", DEC, optional=True)
    trade_time: int = wire("T", INT)
    trade_id: int = wire("t", INT)
    realized_profit: Decimal = wire("rp", DEC)
    bids_notional: Decimal = wire("b", DEC)
    asks_notional: Decimal = wire("a", DEC)
    is_maker: bool = wire("m", BOOL)
    reduce_only: bool = wire("R", BOOL)
    working_type: str = wire("wt", STR)
    orig_type: str = wire("ot", STR)
    position_side: str = wire("ps", STR)
    close_position: bool = wire("cp", BOOL)
    activation_price: Decimal | None = wire("AP", DEC, optional=True)
    """Only for TRAILING_STOP_MARKET."""
    callback_rate: Decimal | None = wire("cr", DEC, optional=True)
    """Only for TRAILING_STOP_MARKET."""
    price_protect: bool | None = wire("pP", BOOL, optional=True)
    stp_mode: str | None = wire("V", STR, optional=True)
    price_match: str | None = wire("pm", STR, optional=True)
    expiry_reason: str | None = wire("er", STR, optional=True)


@_wire_model
@dataclass(frozen=True, slots=True)
class OrderTradeUpdate(_Wire):
    """``ORDER_TRADE_UPDATE``: an order was placed, filled, amended, cancelled or expired."""

    EVENT: ClassVar[str] = "ORDER_TRADE_UPDATE"
    event_time: int = wire("E", INT)
    transaction_time: int = wire("T", INT)
    account_alias: str | None = wire("i", STR, optional=True)
    order: OrderUpdate = wire("o", _nested(OrderUpdate))


@_wire_model
@dataclass(frozen=True, slots=True)
class BalanceUpdate(_Wire):
    """One entry of ``ACCOUNT_UPDATE.a.B``."""

    asset: str = wire("a", STR)
    wallet_balance: Decimal = wire("wb", DEC)
    cross_wallet_balance: Decimal = wire("cw", DEC)
    balance_change: Decimal | None = wire("bc", DEC, optional=True)
    """Change except PnL and commission."""


@_wire_model
@dataclass(frozen=True, slots=True)
class PositionUpdate(_Wire):
    """One entry of ``ACCOUNT_UPDATE.a.P``."""

    symbol: str = wire("s", STR)
    position_amount: Decimal = wire("pa", DEC)
    """Contracts; negative for a short."""
    entry_price: Decimal = wire("ep", DEC)
    breakeven_price: Decimal | None = wire("bep", DEC, optional=True)
    accumulated_realized: Decimal = wire("cr", DEC)
    unrealized_pnl: Decimal = wire("up", DEC)
    margin_type: str = wire("mt", STR)
    isolated_wallet: Decimal = wire("iw", DEC)
    position_side: str = wire("ps", STR)


@_wire_model
@dataclass(frozen=True, slots=True)
class AccountUpdate(_Wire):
    """``ACCOUNT_UPDATE``: balances and positions changed (the wire nests them under ``a``)."""

    EVENT: ClassVar[str] = "ACCOUNT_UPDATE"
    event_time: int = wire("E", INT)
    transaction_time: int = wire("T", INT)
    account_alias: str | None = wire("i", STR, optional=True)
    reason: str = wire(("a", "m"), STR)
    """``m``: ORDER, FUNDING_FEE, DEPOSIT, WITHDRAW, ..."""
    balances: tuple[BalanceUpdate, ...] = wire(("a", "B"), _nested_list(BalanceUpdate))
    positions: tuple[PositionUpdate, ...] = wire(("a", "P"), _nested_list(PositionUpdate))
    funding_symbol: str | None = wire(("a", "S"), STR, optional=True)
    """``a.S``: the symbol of a FUNDING_FEE event, when given."""


@_wire_model
@dataclass(frozen=True, slots=True)
class MarginCallPosition(_Wire):
    """One position of a ``MARGIN_CALL``."""

    symbol: str = wire("s", STR)
    position_side: str = wire("ps", STR)
    position_amount: Decimal = wire("pa", DEC)
    margin_type: str = wire("mt", STR)
    isolated_wallet: Decimal = wire("iw", DEC)
    mark_price: Decimal = wire("mp", DEC)
    unrealized_pnl: Decimal = wire("up", DEC)
    maint_margin: Decimal = wire("mm", DEC)


@_wire_model
@dataclass(frozen=True, slots=True)
class MarginCall(_Wire):
    """``MARGIN_CALL``: positions close to liquidation."""

    EVENT: ClassVar[str] = "MARGIN_CALL"
    event_time: int = wire("E", INT)
    account_alias: str | None = wire("i", STR, optional=True)
    cross_wallet_balance: Decimal | None = wire("cw", DEC, optional=True)
    """Only pushed with a cross-margin call."""
    positions: tuple[MarginCallPosition, ...] = wire("p", _nested_list(MarginCallPosition))


@_wire_model
@dataclass(frozen=True, slots=True)
class AccountConfigUpdate(_Wire):
    """``ACCOUNT_CONFIG_UPDATE``: the account's configuration of a symbol changed; on COIN-M
    the leverage (``ac: {s, l}``)."""

    EVENT: ClassVar[str] = "ACCOUNT_CONFIG_UPDATE"
    event_time: int = wire("E", INT)
    transaction_time: int = wire("T", INT)
    symbol: str = wire(("ac", "s"), STR)
    leverage: int = wire(("ac", "l"), INT)


@_wire_model
@dataclass(frozen=True, slots=True)
class ListenKeyExpired(_Wire):
    """``listenKeyExpired``: the user-data stream stops; make a new key and reconnect."""

    EVENT: ClassVar[str] = "listenKeyExpired"
    event_time: int = wire("E", INT_LENIENT)
    listen_key: str = wire("listenKey", STR)

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
UserEvent = OrderTradeUpdate | AccountUpdate | AccountConfigUpdate | MarginCall | ListenKeyExpired

_MARKET: dict[str, Any] = {  # the classes: each one's from_wire is generated on its first event
    "depthUpdate": DepthUpdate,
    "aggTrade": AggTrade,
    "indexPriceUpdate": IndexPriceUpdate,
    "markPriceUpdate": MarkPriceUpdate,
    "24hrMiniTicker": MiniTicker,
    "24hrTicker": Ticker,
    "bookTicker": BookTicker,
    "forceOrder": ForceOrder,
    "contractInfo": ContractInfo,
    **dict.fromkeys(_KLINE_KINDS, KlineEvent),
}
_USER: dict[str, Any] = {
    "ORDER_TRADE_UPDATE": OrderTradeUpdate,
    "ACCOUNT_UPDATE": AccountUpdate,
    "MARGIN_CALL": MarginCall,
    "ACCOUNT_CONFIG_UPDATE": AccountConfigUpdate,
    "listenKeyExpired": ListenKeyExpired,
}


def _dispatch(payload: Any, table: dict[str, Any], what: str) -> Any:
    if isinstance(payload, list):
        return [_dispatch_one(item, table, f"{what}[{i}]") for i, item in enumerate(payload)]
    return _dispatch_one(payload, table, what)


def _dispatch_one(payload: Any, table: dict[str, Any], what: str) -> Any:
    if not isinstance(payload, dict):
        raise _fail(what, f"expected an object, got {type(payload).__name__}")
    kind = payload.get("e")
    model = table.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise _fail(what, f"unknown event type {kind!r}")
    return model.from_wire(payload)


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
