"""Symbol metadata and filters, as ``/dapi/v1/exchangeInfo`` describes them.

One representation shared by the client (parsing the venue's exchangeInfo), the order
validator and the simulator (which serves exchangeInfo built from the same objects).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from feeds.decimals import D, fmt_plain

__all__ = ["SymbolInfo", "parse_exchange_info"]

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
        """Build from one entry of exchangeInfo's ``symbols`` array."""
        filters = {f["filterType"]: f for f in record.get("filters", ())}
        price = filters.get("PRICE_FILTER", {})
        lot = filters.get("LOT_SIZE", {})
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
            pair=record.get("pair", record["symbol"].split("_")[0]),
            contract_type=record.get("contractType", "PERPETUAL"),
            contract_size=int(record.get("contractSize", 10)),
            tick_size=D(price.get("tickSize", "0")),
            min_price=D(price.get("minPrice", "0")),
            max_price=D(price.get("maxPrice", "0")),
            step_size=D(lot.get("stepSize", "1")),
            min_qty=D(lot.get("minQty", "1")),
            max_qty=D(lot.get("maxQty", "0")),
            market_step_size=D(market_lot.get("stepSize", "1")),
            market_min_qty=D(market_lot.get("minQty", "1")),
            market_max_qty=D(market_lot.get("maxQty", "0")),
            multiplier_up=D(percent.get("multiplierUp", "0")),
            multiplier_down=D(percent.get("multiplierDown", "0")),
            multiplier_decimal=int(percent.get("multiplierDecimal", 4)),
            max_num_orders=int(filters.get("MAX_NUM_ORDERS", {}).get("limit", 200)),
            max_num_algo_orders=int(filters.get("MAX_NUM_ALGO_ORDERS", {}).get("limit", 100)),
            base_asset=record.get("baseAsset", ""),
            quote_asset=record.get("quoteAsset", "USD"),
            margin_asset=record.get("marginAsset", record.get("baseAsset", "")),
            price_precision=int(record.get("pricePrecision", 1)),
            quantity_precision=int(record.get("quantityPrecision", 0)),
            delivery_date=int(record.get("deliveryDate", 4133404800000)),
            onboard_date=int(record.get("onboardDate", 1569398400000)),
            status=record.get("contractStatus", record.get("status", "TRADING")),
            trigger_protect=D(str(record.get("triggerProtect", "0.0500"))),
            order_types=tuple(record.get("orderTypes", record.get("OrderType", ALL_ORDER_TYPES))),
            time_in_force=tuple(record.get("timeInForce", ALL_TIME_IN_FORCE)),
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
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": self.base_asset,
            "quoteAsset": self.quote_asset,
            "pricePrecision": self.price_precision,
            "quantityPrecision": self.quantity_precision,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "equalQtyPrecision": 4,
            "triggerProtect": f"{self.trigger_protect:.4f}",
            "underlyingType": "COIN",
            "underlyingSubType": [],
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
            "liquidationFee": "0.010000",
            "marketTakeBound": "0.05",
            **self.extra,
        }


def parse_exchange_info(payload: dict[str, Any]) -> dict[str, SymbolInfo]:
    """Symbols of an exchangeInfo response, keyed by symbol name."""
    return {rec["symbol"]: SymbolInfo.from_wire(rec) for rec in payload.get("symbols", ())}
