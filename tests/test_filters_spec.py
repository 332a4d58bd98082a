"""validate_order against the filter rules of the spec, with every expectation worked out by
hand from the rule text (binance-coinm-websocket-api.md, "Filters"), never by calling
validate_order. The simulator rejects with the same function, so only an independent table
can catch a mistake in it.

The rules below are chosen so that a wrong reading fails a case:
* PRICE_FILTER: ``(price - minPrice) % tickSize == 0``: the grid starts at minPrice 1000.3 with
  tick 0.5 (valid: 1000.3, 1000.8, ...), so 1500.5, a multiple of 0.5 from zero, is off-grid.
* LOT_SIZE: ``(quantity - minQty) % stepSize == 0`` with minQty 3 and step 2: 3, 5, 7 ... 99
  are valid, 4 (a multiple of 2 from zero) is not.
* MARKET_LOT_SIZE (MARKET orders' quantity) differs: minQty 1, maxQty 50, step 1.
* PERCENT_PRICE: "BUY: price <= markPrice * multiplierUp; SELL: price >= markPrice *
  multiplierDown", the reference being the mark price. Marks chosen so the bound falls
  exactly on the grid: 956 x 1.05 = 1003.8 (= 1000.3 + 7 x 0.5) and 1054 x 0.95 = 1001.3
  (= 1000.3 + 2 x 0.5).
* MAX_NUM_ORDERS: limit 5 open orders.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from feeds.filters import OrderRequest, validate_order
from feeds.symbols import SymbolInfo

RULES: dict[str, Any] = {
    "symbol": "TESTUSD_PERP",
    "pair": "TESTUSD",
    "contractType": "PERPETUAL",
    "contractSize": 10,
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "1000.3", "maxPrice": "2000.3", "tickSize": "0.5"},
        {"filterType": "LOT_SIZE", "minQty": "3", "maxQty": "99", "stepSize": "2"},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "1", "maxQty": "50", "stepSize": "1"},
        {"filterType": "MAX_NUM_ORDERS", "limit": 5},
        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
         "multiplierDecimal": 4},
    ],
}


def limit(side: str, price: str, qty: str = "3") -> dict[str, str]:
    return {"symbol": "TESTUSD_PERP", "side": side, "type": "LIMIT", "timeInForce": "GTC",
            "quantity": qty, "price": price}


def market(side: str, qty: str) -> dict[str, str]:
    return {"symbol": "TESTUSD_PERP", "side": side, "type": "MARKET", "quantity": qty}


def stop_market(side: str, stop: str, qty: str = "1") -> dict[str, str]:
    return {"symbol": "TESTUSD_PERP", "side": side, "type": "STOP_MARKET", "quantity": qty, "stopPrice": stop}


# (case, order params, context for validate_order, expected code or None)
CASES: list[tuple[str, dict[str, str], dict[str, Any], int | None]] = [
    # PRICE_FILTER: price >= minPrice, price <= maxPrice, (price - minPrice) % tickSize == 0
    ("price exactly minPrice", limit("BUY", "1000.3"), {}, None),
    ("price one tick under minPrice", limit("BUY", "999.8"), {}, -4013),
    ("price exactly maxPrice", limit("BUY", "2000.3"), {}, None),
    ("price one tick over maxPrice", limit("BUY", "2000.8"), {}, -4002),
    ("price on the grid from minPrice", limit("SELL", "1500.8"), {}, None),
    ("price a multiple of tick from zero, off the grid from minPrice", limit("SELL", "1500.5"), {}, -4014),
    ("price off by less than a tick", limit("SELL", "1500.31"), {}, -4014),
    ("stopPrice exactly maxPrice", stop_market("BUY", "2000.3"), {}, None),
    ("stopPrice one tick over maxPrice", stop_market("BUY", "2000.8"), {}, -4007),
    ("stopPrice off the grid", stop_market("BUY", "1500.5"), {}, -4014),
    ("stopPrice one tick under minPrice", stop_market("SELL", "999.8"), {}, -4013),
    # LOT_SIZE: quantity >= minQty, <= maxQty, (quantity - minQty) % stepSize == 0
    ("qty exactly minQty", limit("BUY", "1500.3", "3"), {}, None),
    ("qty one step under minQty", limit("BUY", "1500.3", "1"), {}, -4004),
    ("qty exactly maxQty", limit("BUY", "1500.3", "99"), {}, None),
    ("qty one step over maxQty", limit("BUY", "1500.3", "101"), {}, -4005),
    ("qty on the step grid from minQty", limit("BUY", "1500.3", "51"), {}, None),
    ("qty a multiple of step from zero, off the grid from minQty", limit("BUY", "1500.3", "4"), {}, -4023),
    # MARKET_LOT_SIZE for MARKET orders (and LOT_SIZE no longer applies)
    ("market qty exactly market minQty", market("BUY", "1"), {}, None),
    ("market qty exactly market maxQty", market("SELL", "50"), {}, None),
    ("market qty one step over market maxQty (LOT_SIZE would allow it)", market("SELL", "51"), {}, -4005),
    ("market qty 4: off LOT_SIZE's grid, on MARKET_LOT_SIZE's", market("BUY", "4"), {}, None),
    ("market qty off the market step", market("BUY", "1.5"), {}, -4023),
    ("market qty zero", market("BUY", "0"), {}, -4004),
    ("stop-market qty follows MARKET_LOT_SIZE", stop_market("BUY", "1500.3", "51"), {}, -4005),
    # PERCENT_PRICE, reference the mark price
    ("buy exactly at mark x multiplierUp", limit("BUY", "1003.8"), {"mark_price": Decimal("956")}, None),
    ("buy one tick over mark x multiplierUp", limit("BUY", "1004.3"), {"mark_price": Decimal("956")}, -4016),
    ("sell at the buy cap is not capped", limit("SELL", "1004.3"), {"mark_price": Decimal("956")}, None),
    ("sell exactly at mark x multiplierDown", limit("SELL", "1001.3"), {"mark_price": Decimal("1054")}, None),
    ("sell one tick under mark x multiplierDown", limit("SELL", "1000.8"), {"mark_price": Decimal("1054")}, -4024),
    ("buy at the sell floor is not floored", limit("BUY", "1000.8"), {"mark_price": Decimal("1054")}, None),
    # MAX_NUM_ORDERS: at most 5 open orders on the symbol
    ("fifth order with four open", limit("BUY", "1500.3"), {"open_orders": 4}, None),
    ("sixth order with five open", limit("BUY", "1500.3"), {"open_orders": 5}, -2025),
]


@pytest.mark.parametrize(("params", "context", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_filter_rules_by_hand(params: dict[str, str], context: dict[str, Any], expected: int | None) -> None:
    info = SymbolInfo.from_wire(RULES)
    rejections = validate_order(OrderRequest.from_params(params), info, **context)
    assert (rejections[0].code if rejections else None) == expected, rejections


def test_the_rules_are_read_as_written() -> None:
    # The table means nothing if the literal above is not what validate_order sees.
    info = SymbolInfo.from_wire(RULES)
    assert (info.min_price, info.max_price, info.tick_size) == (Decimal("1000.3"), Decimal("2000.3"), Decimal("0.5"))
    assert (info.min_qty, info.max_qty, info.step_size) == (3, 99, 2)
    assert (info.market_min_qty, info.market_max_qty, info.market_step_size) == (1, 50, 1)
    assert (info.multiplier_up, info.multiplier_down, info.max_num_orders) == (Decimal("1.05"), Decimal("0.95"), 5)
