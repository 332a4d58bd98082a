"""Symbol metadata and filters, as ``/dapi/v1/exchangeInfo`` describes them.

One representation shared by the client (parsing the venue's exchangeInfo), the order
validator and the simulator (which serves exchangeInfo built from the same objects).

Fail closed: :meth:`SymbolInfo.from_wire` refuses a record whose trading rules cannot be read
(a missing PRICE_FILTER or LOT_SIZE, a tick or step that is not a positive finite decimal,
bounds that contradict each other...) with :class:`SymbolRulesError`, which says what is wrong.
:func:`parse_exchange_info` keeps the well-formed symbols usable and remembers why the others
are not (:class:`ExchangeRules`); looking one of those up raises :class:`SymbolRulesError`, so no
caller can trade on rules it could not read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from feeds.decimals import D, DecimalParseError, fmt_plain

__all__ = ["ExchangeRules", "SymbolInfo", "SymbolRulesError", "parse_exchange_info"]


class SymbolRulesError(ValueError):
    """A symbol's trading rules (exchangeInfo entry) cannot be read: the symbol is not tradable.

    ``str(exc)`` is one line for a trader: which symbol and what is wrong with its rules.
    """

    def __init__(self, symbol: str | None, reason: str) -> None:
        self.symbol = symbol
        """The symbol (None when the record does not even name one)."""
        self.reason = reason
        """What is wrong, e.g. ``PRICE_FILTER tickSize is 0 (must be positive)``."""
        name = symbol if symbol else "a symbol record"
        super().__init__(f"{name}: the venue's trading rules cannot be read ({reason}); not tradable")

ALL_ORDER_TYPES = (
    "LIMIT",
    "MARKET",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
)
ALL_TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX")


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """One COIN-M contract and its trading rules. All money fields are exact ``Decimal``."""

    symbol: str
    """Contract symbol, e.g. ``BTCUSD_PERP`` or ``BTCUSD_261225``."""
    pair: str
    """Underlying pair, e.g. ``BTCUSD`` (index streams and continuous klines are by pair)."""
    contract_type: str
    """``PERPETUAL``, ``CURRENT_QUARTER`` or ``NEXT_QUARTER``."""
    contract_size: int
    """USD value of one contract (100 for BTC, 10 for most others)."""
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_step_size: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    multiplier_up: Decimal
    """PERCENT_PRICE: a BUY price may be at most mark * multiplier_up."""
    multiplier_down: Decimal
    """PERCENT_PRICE: a SELL price may be at least mark * multiplier_down."""
    multiplier_decimal: int = 4
    max_num_orders: int = 200
    max_num_algo_orders: int = 100
    base_asset: str = ""
    quote_asset: str = "USD"
    margin_asset: str = ""
    price_precision: int = 1
    quantity_precision: int = 0
    delivery_date: int = 4133404800000
    onboard_date: int = 1569398400000
    status: str = "TRADING"
    trigger_protect: Decimal = Decimal("0.0500")
    order_types: tuple[str, ...] = ALL_ORDER_TYPES
    time_in_force: tuple[str, ...] = ALL_TIME_IN_FORCE
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Fields of the venue's record this class does not model, kept so nothing is lost."""

    @property
    def is_perpetual(self) -> bool:
        return self.contract_type == "PERPETUAL"

    @classmethod
    def from_wire(cls, record: dict[str, Any]) -> SymbolInfo:
        """Build from one entry of exchangeInfo's ``symbols`` array.

        Raises:
            SymbolRulesError: the entry's rules cannot be read (see :func:`_checked`).
        """
        if not isinstance(record, dict):
            raise SymbolRulesError(None, f"expected an object, got {type(record).__name__}")
        symbol = record.get("symbol")
        if not isinstance(symbol, str) or not symbol.strip():
            raise SymbolRulesError(None, "no symbol name")
        try:
            return _checked(cls._build(record))
        except SymbolRulesError:
            raise
        except _Bad as exc:
            raise SymbolRulesError(symbol, str(exc)) from None
        except (DecimalParseError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise SymbolRulesError(symbol, f"{type(exc).__name__}: {exc}") from None

    @classmethod
    def _build(cls, record: dict[str, Any]) -> SymbolInfo:
        raw_filters = record.get("filters")
        if not isinstance(raw_filters, list):
            raise _Bad("no filters list")
        filters: dict[str, dict[str, Any]] = {}
        for f in raw_filters:
            if not isinstance(f, dict) or not isinstance(f.get("filterType"), str):
                raise _Bad(f"a filter without a filterType: {f!r:.60}")
            filters[f["filterType"]] = f
        for required in ("PRICE_FILTER", "LOT_SIZE"):
            if required not in filters:
                raise _Bad(f"no {required} filter")
        price = filters["PRICE_FILTER"]
        lot = filters["LOT_SIZE"]
        market_lot = filters.get("MARKET_LOT_SIZE", lot)
        percent = filters.get("PERCENT_PRICE", {})
        known = {
            "symbol", "pair", "contractType", "contractSize", "filters", "baseAsset",
            "quoteAsset", "marginAsset", "pricePrecision", "quantityPrecision",
            "deliveryDate", "onboardDate", "contractStatus", "triggerProtect", "orderTypes",
            "timeInForce", "orderType",
        }
        return cls(
            symbol=record["symbol"],
            pair=_text(record, "pair", record["symbol"].split("_")[0]),
            contract_type=_text(record, "contractType", "PERPETUAL"),
            contract_size=_int(record, "contractSize"),
            tick_size=_dec(price, "PRICE_FILTER", "tickSize"),
            min_price=_dec(price, "PRICE_FILTER", "minPrice"),
            max_price=_dec(price, "PRICE_FILTER", "maxPrice"),
            step_size=_dec(lot, "LOT_SIZE", "stepSize"),
            min_qty=_dec(lot, "LOT_SIZE", "minQty"),
            max_qty=_dec(lot, "LOT_SIZE", "maxQty"),
            market_step_size=_dec(market_lot, "MARKET_LOT_SIZE", "stepSize"),
            market_min_qty=_dec(market_lot, "MARKET_LOT_SIZE", "minQty"),
            market_max_qty=_dec(market_lot, "MARKET_LOT_SIZE", "maxQty"),
            multiplier_up=_dec(percent, "PERCENT_PRICE", "multiplierUp", "0"),
            multiplier_down=_dec(percent, "PERCENT_PRICE", "multiplierDown", "0"),
            multiplier_decimal=_int(percent, "multiplierDecimal", 4, "PERCENT_PRICE "),
            max_num_orders=_int(filters.get("MAX_NUM_ORDERS", {}), "limit", 200, "MAX_NUM_ORDERS "),
            max_num_algo_orders=_int(filters.get("MAX_NUM_ALGO_ORDERS", {}), "limit", 100, "MAX_NUM_ALGO_ORDERS "),
            base_asset=_text(record, "baseAsset", ""),
            quote_asset=_text(record, "quoteAsset", "USD"),
            margin_asset=_text(record, "marginAsset", _text(record, "baseAsset", "")),
            price_precision=_int(record, "pricePrecision", 1),
            quantity_precision=_int(record, "quantityPrecision", 0),
            delivery_date=_int(record, "deliveryDate", 4133404800000),
            onboard_date=_int(record, "onboardDate", 1569398400000),
            status=_text(record, "contractStatus", _text(record, "status", "TRADING")),
            trigger_protect=D(str(record.get("triggerProtect", "0.0500"))),
            order_types=_names(record, "orderTypes", record.get("OrderType", ALL_ORDER_TYPES)),
            time_in_force=_names(record, "timeInForce", ALL_TIME_IN_FORCE),
            extra={k: v for k, v in record.items() if k not in known},
        )

    def to_wire(self) -> dict[str, Any]:
        """The exchangeInfo ``symbols`` entry, as Binance serves it (the simulator uses this)."""
        return {
            "symbol": self.symbol,
            "pair": self.pair,
            "contractType": self.contract_type,
            "deliveryDate": self.delivery_date,
            "onboardDate": self.onboard_date,
            "contractStatus": self.status,
            "contractSize": self.contract_size,
            "marginAsset": self.margin_asset,
            "baseAsset": self.base_asset,
            "quoteAsset": self.quote_asset,
            "pricePrecision": self.price_precision,
            "quantityPrecision": self.quantity_precision,
            "triggerProtect": f"{self.trigger_protect:.4f}",
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": fmt_plain(self.min_price),
                    "maxPrice": fmt_plain(self.max_price),
                    "tickSize": fmt_plain(self.tick_size),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": fmt_plain(self.min_qty),
                    "maxQty": fmt_plain(self.max_qty),
                    "stepSize": fmt_plain(self.step_size),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": fmt_plain(self.market_min_qty),
                    "maxQty": fmt_plain(self.market_max_qty),
                    "stepSize": fmt_plain(self.market_step_size),
                },
                {"filterType": "MAX_NUM_ORDERS", "limit": self.max_num_orders},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": self.max_num_algo_orders},
                {
                    "filterType": "PERCENT_PRICE",
                    "multiplierUp": f"{self.multiplier_up:.{self.multiplier_decimal}f}",
                    "multiplierDown": f"{self.multiplier_down:.{self.multiplier_decimal}f}",
                    "multiplierDecimal": self.multiplier_decimal,
                },
            ],
            "orderTypes": list(self.order_types),
            "timeInForce": list(self.time_in_force),
            # Everything else the venue sent (liquidationFee, marketTakeBound, margin percents,
            # precisions, underlying type...) as it sent it: the client invents none of it.
            **self.extra,
        }


class _Bad(Exception):
    """Internal: what is wrong with a record (becomes a SymbolRulesError with its symbol)."""


_ABSENT = object()


def _dec(f: dict[str, Any], filter_type: str, key: str, default: Any = _ABSENT) -> Decimal:
    value = f.get(key, default)
    if value is _ABSENT:
        raise _Bad(f"{filter_type} has no {key}")
    try:
        return D(value)
    except DecimalParseError:
        raise _Bad(f"{filter_type} {key} {value!r:.30} is not a finite decimal") from None


def _int(f: dict[str, Any], key: str, default: Any = _ABSENT, where: str = "") -> int:
    value = f.get(key, default)
    if value is _ABSENT:
        raise _Bad(f"{where}no {key}")
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise _Bad(f"{where}{key} {value!r:.30} is not an integer")
    return value


def _text(record: dict[str, Any], key: str, default: str) -> str:
    value = record.get(key, default)
    if not isinstance(value, str):
        raise _Bad(f"{key} {value!r:.30} is not a string")
    return value


def _names(record: dict[str, Any], key: str, default: Any) -> tuple[str, ...]:
    value = record.get(key, default)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _Bad(f"{key} is not a list of names")
    return tuple(value)


def _checked(info: SymbolInfo) -> SymbolInfo:
    """``info`` if its rules make sense for trading; otherwise :class:`_Bad` saying why.

    coinm keys its book by the tick and sizes orders by the step, so unlike the venue's own
    rules ("disabled on tickSize == 0") a zero tick or step is refused: without one the symbol
    cannot be shown or traded safely.
    """
    def positive(value: Decimal, what: str) -> None:
        if not value > 0:
            raise _Bad(f"{what} is {fmt_plain(value)} (must be positive)")

    def not_negative(value: Decimal, what: str) -> None:
        if value < 0:
            raise _Bad(f"{what} is {fmt_plain(value)} (must not be negative)")

    positive(info.tick_size, "PRICE_FILTER tickSize")
    not_negative(info.min_price, "PRICE_FILTER minPrice")
    not_negative(info.max_price, "PRICE_FILTER maxPrice")  # 0: no maximum
    if info.max_price > 0 and info.max_price < info.min_price:
        raise _Bad(f"PRICE_FILTER maxPrice {fmt_plain(info.max_price)} is below minPrice {fmt_plain(info.min_price)}")
    for name, step, lo, hi in (
        ("LOT_SIZE", info.step_size, info.min_qty, info.max_qty),
        ("MARKET_LOT_SIZE", info.market_step_size, info.market_min_qty, info.market_max_qty),
    ):
        positive(step, f"{name} stepSize")
        positive(lo, f"{name} minQty")
        positive(hi, f"{name} maxQty")
        if hi < lo:
            raise _Bad(f"{name} maxQty {fmt_plain(hi)} is below minQty {fmt_plain(lo)}")
    not_negative(info.multiplier_up, "PERCENT_PRICE multiplierUp")
    not_negative(info.multiplier_down, "PERCENT_PRICE multiplierDown")
    if info.multiplier_up > 0 and info.multiplier_down >= info.multiplier_up:
        raise _Bad(f"PERCENT_PRICE multiplierDown {fmt_plain(info.multiplier_down)} is not below "
                   f"multiplierUp {fmt_plain(info.multiplier_up)}")
    if info.contract_size <= 0:
        raise _Bad(f"contractSize is {info.contract_size} (must be positive)")
    if info.max_num_orders <= 0:
        raise _Bad(f"MAX_NUM_ORDERS limit is {info.max_num_orders} (must be positive)")
    if not info.trigger_protect.is_finite() or info.trigger_protect < 0:
        raise _Bad(f"triggerProtect is {info.trigger_protect}")
    return info


class ExchangeRules(dict[str, SymbolInfo]):
    """The symbols of one exchangeInfo answer whose rules could be read, keyed by name.

    Iterating, ``in`` and ``len`` see only tradable symbols. Looking up a symbol the venue listed
    but whose rules could not be read (``rules[s]``, ``rules.get(s)``) raises
    :class:`SymbolRulesError` with the reason instead of answering "unknown": a caller that
    forgets to check cannot mistake it for a symbol that does not exist, nor trade on it.
    :meth:`find` never raises (for display code); :attr:`errors` lists every refusal.
    """

    def __init__(self, good: dict[str, SymbolInfo] | None = None,
                 errors: dict[str, SymbolRulesError] | None = None, unnamed: list[str] | None = None) -> None:
        super().__init__(good or {})
        self.errors: dict[str, SymbolRulesError] = dict(errors or {})
        """Listed symbols whose rules could not be read, with why."""
        self.unnamed: list[str] = list(unnamed or [])
        """Why records that do not even name a symbol were skipped."""

    def __getitem__(self, symbol: str) -> SymbolInfo:
        error = self.errors.get(symbol)
        if error is not None:
            raise error
        return super().__getitem__(symbol)

    def get(self, symbol: str, default: Any = None) -> Any:
        error = self.errors.get(symbol)
        if error is not None:
            raise error
        return super().get(symbol, default)

    def find(self, symbol: str) -> SymbolInfo | None:
        """The symbol's rules, or None (unknown *or* unreadable); never raises."""
        return super().get(symbol)

    def error(self, symbol: str) -> str | None:
        """Why ``symbol`` is not tradable although listed (None when it is, or is not listed)."""
        error = self.errors.get(symbol)
        return str(error) if error is not None else None

    def require(self, symbol: str) -> SymbolInfo:
        """The symbol's rules.

        Raises:
            SymbolRulesError: listed, but its rules cannot be read.
            KeyError: not listed.
        """
        return self[symbol]


def parse_exchange_info(payload: dict[str, Any]) -> ExchangeRules:
    """Symbols of an exchangeInfo response, keyed by symbol name.

    A malformed record does not spoil the others: its symbol is kept in
    :attr:`ExchangeRules.errors` (looking it up raises :class:`SymbolRulesError`).

    Raises:
        SymbolRulesError: ``payload`` has no ``symbols`` list at all.
    """
    records = payload.get("symbols") if isinstance(payload, dict) else None
    if not isinstance(records, list):
        raise SymbolRulesError(None, "exchangeInfo has no symbols list")
    good: dict[str, SymbolInfo] = {}
    errors: dict[str, SymbolRulesError] = {}
    unnamed: list[str] = []
    for rec in records:
        try:
            info = SymbolInfo.from_wire(rec)
        except SymbolRulesError as exc:
            if exc.symbol is None:
                unnamed.append(str(exc))
            else:
                errors[exc.symbol] = exc
                good.pop(exc.symbol, None)
            continue
        if info.symbol not in errors:
            good[info.symbol] = info
    return ExchangeRules(good, errors, unnamed)
