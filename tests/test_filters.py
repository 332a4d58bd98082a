"""Order validation: a table of valid and invalid orders and the code Binance answers for each."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal

import pytest

from feeds.filters import (
    OrderRequest,
    Rejection,
    ValidationError,
    nearest_valid_price,
    nearest_valid_quantity,
    validate_order,
)
from feeds.symbols import SymbolInfo


def make_info(**overrides: object) -> SymbolInfo:
    base: dict[str, object] = dict(
        symbol="BTCUSD_PERP", pair="BTCUSD", contract_type="PERPETUAL", contract_size=100,
        tick_size=Decimal("0.1"), min_price=Decimal("1000"), max_price=Decimal("4529764"),
        step_size=Decimal("1"), min_qty=Decimal("1"), max_qty=Decimal("1000000"),
        market_step_size=Decimal("1"), market_min_qty=Decimal("1"),
        market_max_qty=Decimal("60000"), multiplier_up=Decimal("1.0500"),
        multiplier_down=Decimal("0.9500"), max_num_orders=200,
    )
    base.update(overrides)
    return SymbolInfo(**base)  # type: ignore[arg-type]


BTC = make_info()
# A finer contract: tick 0.001, fractional lots, distinct market lot rules.
ETH = make_info(
    symbol="ETHUSD_PERP", pair="ETHUSD", contract_size=10, tick_size=Decimal("0.001"),
    min_price=Decimal("50.005"), max_price=Decimal("100000"), step_size=Decimal("0.5"),
    min_qty=Decimal("0.5"), max_qty=Decimal("1000"), market_step_size=Decimal("2"),
    market_min_qty=Decimal("2"), market_max_qty=Decimal("100"),
)
# A cheap coin: tick 0.00001, no maximum price.
DOGE = make_info(
    symbol="DOGEUSD_PERP", pair="DOGEUSD", contract_size=10, tick_size=Decimal("0.00001"),
    min_price=Decimal("0.00100"), max_price=Decimal("0"),
)
MARK = Decimal("35000")


def limit(**kw: object) -> OrderRequest:
    base: dict[str, object] = dict(
        symbol="BTCUSD_PERP", side="BUY", type="LIMIT", time_in_force="GTC",
        quantity=Decimal("1"), price=Decimal("35000"),
    )
    base.update(kw)
    return OrderRequest(**base)  # type: ignore[arg-type]


def order(type_: str, **kw: object) -> OrderRequest:
    base: dict[str, object] = dict(symbol="BTCUSD_PERP", side="BUY", type=type_)
    base.update(kw)
    return OrderRequest(**base)  # type: ignore[arg-type]


D = Decimal

VALID = [
    ("limit", limit(), BTC),
    ("limit at min price", limit(price=D("1000")), BTC),
    ("limit at max price", limit(price=D("4529764")), make_info(multiplier_up=D(0))),
    ("limit trailing zeros", limit(price=D("35000.10"), quantity=D("3.0")), BTC),
    ("market", order("MARKET", quantity=D("5")), BTC),
    ("market at market max", order("MARKET", quantity=D("60000")), BTC),
    ("stop", order("STOP", quantity=D("1"), price=D("36000"), stop_price=D("35900")), BTC),
    ("stop market close position",
     order("STOP_MARKET", stop_price=D("36000"), close_position=True), BTC),
    ("take profit market", order("TAKE_PROFIT_MARKET", side="SELL", quantity=D("2"),
                                 stop_price=D("36000"), working_type="MARK_PRICE"), BTC),
    ("trailing", order("TRAILING_STOP_MARKET", quantity=D("1"), callback_rate=D("0.1"),
                       activation_price=D("34000.5")), BTC),
    ("trailing max rate", order("TRAILING_STOP_MARKET", quantity=D("1"), callback_rate=D("10")), BTC),
    ("eth tick 0.001 from min 50.005", limit(symbol="ETHUSD_PERP", price=D("50.006"),
                                             quantity=D("1.5")), ETH),
    ("eth market lot step 2", order("MARKET", symbol="ETHUSD_PERP", quantity=D("4")), ETH),
    ("doge tick 0.00001", limit(symbol="DOGEUSD_PERP", price=D("0.12345")), DOGE),
    ("price match without price", limit(price=None, price_match="OPPONENT"), BTC),
    ("hedge mode", limit(position_side="LONG", new_client_order_id="my-order_1:x/y.z"), BTC),
    ("gtx reduce only", limit(side="SELL", time_in_force="GTX", reduce_only=True), BTC),
]


@pytest.mark.parametrize("name,req,info", VALID, ids=[v[0] for v in VALID])
def test_valid_orders(name: str, req: OrderRequest, info: SymbolInfo) -> None:
    assert validate_order(req, info, mark_price=MARK if info is BTC else None, open_orders=199) == []


# (id, order, info, expected first code, field, suggestion)
INVALID = [
    ("tick 35000.05", limit(price=D("35000.05")), BTC, -4014, "price", D("35000.1")),
    ("tick 35000.04 rounds down", limit(price=D("35000.04")), BTC, -4014, "price", D("35000.0")),
    ("below min price", limit(price=D("999.9")), BTC, -4013, "price", D("1000.0")),
    ("zero price", limit(price=D("0")), BTC, -4013, "price", D("1000.0")),
    ("negative price", limit(price=D("-1")), BTC, -4001, "price", D("1000.0")),
    ("above max price", limit(price=D("4529764.1")), make_info(multiplier_up=D(0)), -4002,
     "price", D("4529764.0")),
    ("eth tick grid from min", limit(symbol="ETHUSD_PERP", price=D("50.0055")), ETH, -4014,
     "price", D("50.006")),
    ("doge tick 0.00001", limit(symbol="DOGEUSD_PERP", price=D("0.123456")), DOGE, -4014,
     "price", D("0.12346")),
    ("stop tick", order("STOP_MARKET", quantity=D("1"), stop_price=D("36000.01")), BTC, -4014,
     "stop_price", D("36000.0")),
    ("stop negative", order("STOP_MARKET", quantity=D("1"), stop_price=D("-5")), BTC, -4006,
     "stop_price", D("1000.0")),
    ("stop above max", order("STOP_MARKET", quantity=D("1"), stop_price=D("5000000")), BTC,
     -4007, "stop_price", D("4529764.0")),
    ("stop below min", order("STOP_MARKET", quantity=D("1"), stop_price=D("10")), BTC, -4013,
     "stop_price", D("1000.0")),
    ("qty step", limit(symbol="ETHUSD_PERP", price=D("100"), quantity=D("1.2")), ETH, -4023,
     "quantity", D("1.0")),
    ("qty below min", limit(quantity=D("0")), BTC, -4004, "quantity", D("1")),
    ("qty negative", limit(quantity=D("-3")), BTC, -4003, "quantity", D("1")),
    ("qty above max", limit(quantity=D("1000001")), BTC, -4005, "quantity", D("1000000")),
    ("market lot max", order("MARKET", quantity=D("60001")), BTC, -4005, "quantity", D("60000")),
    ("market lot step", order("MARKET", symbol="ETHUSD_PERP", quantity=D("3")), ETH, -4023,
     "quantity", D("4")),
    ("market lot min", order("MARKET", symbol="ETHUSD_PERP", quantity=D("1")), ETH, -4004,
     "quantity", D("2")),
    ("stop market uses market lot", order("STOP_MARKET", symbol="ETHUSD_PERP", quantity=D("1"),
                                          stop_price=D("100")), ETH, -4004, "quantity", D("2")),
    ("percent price buy", limit(price=D("36750.1")), BTC, -4016, "price", D("36750.0")),
    ("percent price sell", limit(side="SELL", price=D("33249.9")), BTC, -4024, "price",
     D("33250.0")),
    ("limit needs tif", limit(time_in_force=None), BTC, -1102, "time_in_force", None),
    ("limit needs price", limit(price=None), BTC, -1102, "price", None),
    ("limit needs qty", limit(quantity=None), BTC, -1102, "quantity", None),
    ("market needs qty", order("MARKET"), BTC, -1102, "quantity", None),
    ("stop needs stop price", order("STOP", quantity=D("1"), price=D("36000")), BTC, -1102,
     "stop_price", None),
    ("take profit needs price", order("TAKE_PROFIT", quantity=D("1"), stop_price=D("34000")),
     BTC, -1102, "price", None),
    ("stop market needs stop", order("STOP_MARKET", quantity=D("1")), BTC, -1102, "stop_price",
     None),
    ("stop market needs qty or close", order("STOP_MARKET", stop_price=D("36000")), BTC, -1102,
     "quantity", None),
    ("trailing needs rate", order("TRAILING_STOP_MARKET", quantity=D("1")), BTC, -1102,
     "callback_rate", None),
    ("trailing rate too low", order("TRAILING_STOP_MARKET", quantity=D("1"),
                                    callback_rate=D("0.09")), BTC, -1130, "callback_rate", D("0.1")),
    ("trailing rate too high", order("TRAILING_STOP_MARKET", quantity=D("1"),
                                     callback_rate=D("10.1")), BTC, -1130, "callback_rate", D("10")),
    ("trailing activation tick", order("TRAILING_STOP_MARKET", quantity=D("1"),
                                       callback_rate=D("1"), activation_price=D("34000.55")),
     BTC, -4135, "activation_price", D("34000.6")),
    ("market with tif", order("MARKET", quantity=D("1"), time_in_force="GTC"), BTC, -1114,
     "time_in_force", None),
    ("market with price", order("MARKET", quantity=D("1"), price=D("35000")), BTC, -1106,
     "price", None),
    ("limit with stop price", limit(stop_price=D("35000")), BTC, -1106, "stop_price", None),
    ("limit with callback", limit(callback_rate=D("1")), BTC, -1106, "callback_rate", None),
    ("limit with activation", limit(activation_price=D("1")), BTC, -1106, "activation_price", None),
    ("price and price match", limit(price_match="QUEUE"), BTC, -1128, "price", None),
    ("market price match", order("MARKET", quantity=D("1"), price_match="OPPONENT"), BTC, -1106,
     "price_match", None),
    ("close position with qty", order("STOP_MARKET", stop_price=D("36000"), close_position=True,
                                      quantity=D("1")), BTC, -4137, "quantity", None),
    ("close position with reduce only",
     order("STOP_MARKET", stop_price=D("36000"), close_position=True, reduce_only=True), BTC,
     -1106, "reduce_only", None),
    ("close position on limit", limit(close_position=True), BTC, -1106, "close_position", None),
    ("reduce only in hedge mode", limit(reduce_only=True, position_side="SHORT"), BTC, -1106,
     "reduce_only", None),
    ("bad side", limit(side="HOLD"), BTC, -1117, "side", None),
    ("bad type", limit(type="ICEBERG"), BTC, -1116, "type", None),
    ("type not offered", limit(), make_info(order_types=("MARKET",)), -1116, "type", None),
    ("bad tif", limit(time_in_force="GTD"), BTC, -1115, "time_in_force", None),
    ("bad working type", order("STOP_MARKET", quantity=D("1"), stop_price=D("36000"),
                               working_type="LAST"), BTC, -4031, "working_type", None),
    ("bad position side", limit(position_side="UP"), BTC, -4060, "position_side", None),
    ("bad resp type", limit(new_order_resp_type="FULL"), BTC, -1136, "new_order_resp_type", None),
    ("bad price match", limit(price=None, price_match="BEST"), BTC, -1130, "price_match", None),
    ("bad stp", limit(self_trade_prevention_mode="EXPIRE_ALL"), BTC, -1130,
     "self_trade_prevention_mode", None),
    ("client id too long", limit(new_client_order_id="x" * 37), BTC, -4015,
     "new_client_order_id", None),
    ("client id charset", limit(new_client_order_id="bad id!"), BTC, -4015,
     "new_client_order_id", None),
    ("client id empty", limit(new_client_order_id=""), BTC, -1118, "new_client_order_id", None),
    ("wrong symbol", limit(symbol="ETHUSD_PERP"), BTC, -1121, "symbol", None),
    ("illegal symbol", limit(symbol="btc usd"), BTC, -1100, "symbol", None),
    ("precision over max", limit(price=D("35000.000000001")), BTC, -1111, "price",
     D("35000.00000000")),
    ("stop limit buy too far above stop", order("STOP", quantity=D("1"), price=D("40000"),
                                                stop_price=D("36000")), BTC, -4151, "price",
     D("37800.0")),
    ("stop limit sell too far below stop",
     order("STOP", side="SELL", quantity=D("1"), price=D("30000"), stop_price=D("34000")), BTC,
     -4152, "price", D("32300.0")),
]


@pytest.mark.parametrize(
    "name,req,info,code,field,suggestion", INVALID, ids=[v[0] for v in INVALID]
)
def test_invalid_orders(
    name: str, req: OrderRequest, info: SymbolInfo, code: int, field: str | None,
    suggestion: Decimal | None,
) -> None:
    rejections = validate_order(req, info, mark_price=MARK if info is BTC else None)
    assert rejections, "expected a rejection"
    first = rejections[0]
    assert (first.code, first.field) == (code, field), rejections
    assert first.msg and first.detail
    if suggestion is None:
        assert first.suggestion is None
    else:
        assert first.suggestion == suggestion
        assert str(first.suggestion) == str(suggestion)  # same digits, not just the same value


def test_35000_05_detail_and_message() -> None:
    [rej] = validate_order(limit(price=D("35000.05")), BTC, mark_price=MARK)
    assert rej == Rejection(
        -4014, "Price not increased by tick size.", "price",
        "35000.05 is not a multiple of tick 0.1", D("35000.1"),
    )


def test_suggestions_are_valid() -> None:
    """A rejected order with the suggestion applied passes that check."""
    for name, req, info, code, field, suggestion in INVALID:
        if suggestion is None or code in (-1121, -1130, -4151, -4152):
            continue
        fixed = replace(req, **{field: suggestion})
        again = validate_order(fixed, info, mark_price=MARK if info is BTC else None)
        assert all(r.field != field for r in again), (name, again)


def test_all_faults_listed_binance_first() -> None:
    req = limit(price=D("35000.05"), quantity=D("0"), new_client_order_id="bad id")
    codes = [r.code for r in validate_order(req, BTC, open_orders=200)]
    assert codes == [-4015, -4014, -4004, -2025]


def test_percent_price_boundaries() -> None:
    assert validate_order(limit(price=D("36750")), BTC, mark_price=MARK) == []
    assert validate_order(limit(side="SELL", price=D("33250")), BTC, mark_price=MARK) == []
    # A sell above the cap or a buy below the floor is fine: it cannot trade through.
    assert validate_order(limit(side="SELL", price=D("40000")), BTC, mark_price=MARK) == []
    assert validate_order(limit(price=D("30000")), BTC, mark_price=MARK) == []
    # Without a mark price the filter cannot apply.
    assert validate_order(limit(price=D("40000")), BTC) == []


def test_max_num_orders() -> None:
    assert validate_order(limit(), BTC, open_orders=199) == []
    [rej] = validate_order(limit(), BTC, open_orders=200)
    assert (rej.code, rej.msg, rej.field) == (-2025, "Reach max open order limit.", None)


def test_would_immediately_trigger() -> None:
    stop_buy = order("STOP_MARKET", quantity=D("1"), stop_price=D("34990"))
    [rej] = validate_order(stop_buy, BTC, last_price=D("35000"))
    assert (rej.code, rej.field, rej.suggestion) == (-2021, "stop_price", D("35000.1"))
    assert validate_order(stop_buy, BTC, last_price=D("34980")) == []
    # MARK_PRICE working type compares with the mark, not the last trade.
    marked = replace(stop_buy, working_type="MARK_PRICE")
    assert validate_order(marked, BTC, mark_price=D("34980"), last_price=D("35000")) == []
    tp_sell = order("TAKE_PROFIT_MARKET", side="SELL", quantity=D("1"), stop_price=D("35000"))
    assert validate_order(tp_sell, BTC, last_price=D("35000"))[0].code == -2021
    assert validate_order(tp_sell, BTC, last_price=D("34999.9")) == []


def test_nearest_valid_price() -> None:
    assert nearest_valid_price(BTC, D("35000.05")) == D("35000.1")
    assert nearest_valid_price(BTC, D("35000.05"), mode="down") == D("35000.0")
    assert nearest_valid_price(BTC, D("35000.01"), mode="up") == D("35000.1")
    assert nearest_valid_price(BTC, D("1")) == D("1000")
    assert nearest_valid_price(BTC, D("9999999")) == D("4529764")
    assert nearest_valid_price(ETH, D("50.0054")) == D("50.005")
    assert nearest_valid_price(ETH, D("99999.9999")) == D("100000")
    assert nearest_valid_price(DOGE, D("0.000001")) == D("0.00100")
    assert nearest_valid_price(DOGE, D("123456.123456")) == D("123456.12346")
    odd_max = make_info(max_price=D("100.05"), min_price=D("0"), tick_size=D("0.1"))
    assert nearest_valid_price(odd_max, D("200")) == D("100.0")
    assert nearest_valid_price(odd_max, D("0")) == D("0.1")


def test_nearest_valid_quantity() -> None:
    assert nearest_valid_quantity(BTC, D("2.5")) == D("3")
    assert nearest_valid_quantity(BTC, D("2.5"), mode="down") == D("2")
    assert nearest_valid_quantity(BTC, D("0")) == D("1")
    assert nearest_valid_quantity(BTC, D("70000"), market=True) == D("60000")
    assert nearest_valid_quantity(ETH, D("1.2")) == D("1.0")
    assert nearest_valid_quantity(ETH, D("3"), market=True) == D("4")
    assert nearest_valid_quantity(ETH, D("5000")) == D("1000")


# ---------------------------------------------------------------------------- wire params


def test_from_params_round_trip() -> None:
    params = {
        "symbol": "BTCUSD_PERP", "side": "SELL", "type": "STOP", "positionSide": "BOTH",
        "timeInForce": "GTC", "quantity": "12", "reduceOnly": "true", "price": "34000.5",
        "newClientOrderId": "abc-123", "stopPrice": "34100", "workingType": "MARK_PRICE",
        "priceProtect": "false", "newOrderRespType": "RESULT",
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }
    req = OrderRequest.from_params(params)
    assert req.quantity == D("12") and req.reduce_only is True and req.price_protect is False
    assert req.stop_price == D("34100") and req.position_side == "BOTH"
    wire = req.to_params()
    assert wire == params
    assert list(wire) == list(params)  # stable, documented key order
    assert OrderRequest.from_params(wire) == req


def test_to_params_plain_decimals() -> None:
    req = limit(price=D("3.5E+4"), quantity=D("1E+1"), reduce_only=False)
    wire = req.to_params()
    assert wire["price"] == "35000" and wire["quantity"] == "10" and wire["reduceOnly"] == "false"
    tiny = limit(symbol="DOGEUSD_PERP", price=D("0.00001000"))
    assert tiny.to_params()["price"] == "0.00001"
    assert "stopPrice" not in wire and "newClientOrderId" not in wire


def test_from_params_accepts_binance_forms() -> None:
    req = OrderRequest.from_params(
        {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": 1, "price": "50000", "reduceOnly": False, "closePosition": "FALSE",
         "apiKey": "k", "timestamp": 1, "recvWindow": 5000, "signature": "s",
         "newClientOrderId": None}
    )
    assert req.quantity == D(1) and req.reduce_only is False and req.close_position is False
    assert req.new_client_order_id is None
    # A JSON float that happens to print as a plain decimal is read exactly as printed.
    assert OrderRequest.from_params({"symbol": "X", "side": "BUY", "type": "MARKET",
                                     "quantity": 0.5}).quantity == D("0.5")


MALFORMED = [
    ("missing symbol", {"side": "BUY", "type": "LIMIT"}, -1102,
     "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."),
    ("empty side", {"symbol": "BTCUSD_PERP", "side": "", "type": "LIMIT"}, -1102,
     "Mandatory parameter 'side' was not sent, was empty/null, or malformed."),
    ("null type", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": None}, -1102,
     "Mandatory parameter 'type' was not sent, was empty/null, or malformed."),
    ("bad side", {"symbol": "BTCUSD_PERP", "side": "buy", "type": "LIMIT"}, -1117, "Invalid side."),
    ("bad type", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "OCO"}, -1116,
     "Invalid orderType."),
    ("bad tif", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "DAY"},
     -1115, "Invalid timeInForce."),
    ("scientific", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "MARKET", "quantity": "8.3e-05"},
     -1100, "Illegal characters found in parameter 'quantity'; legal range is "
     "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'."),
    ("float scientific", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "MARKET",
                          "quantity": 8.3e-05}, -1100, None),
    ("negative", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "price": "-1"}, -1100,
     None),
    ("float noise", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "MARKET",
                     "quantity": 0.02999999999999}, -1111,
     "Precision is over the maximum defined for this asset."),
    ("bad bool", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "reduceOnly": "yes"},
     -1130, "Data sent for parameter 'reduceOnly' is not valid."),
    ("empty tif", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": ""},
     -1105, "Parameter 'timeInForce' was empty."),
    ("empty price", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "price": ""},
     -1105, "Parameter 'price' was empty."),
    ("dict price", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "price": {}},
     -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed."),
    ("client id", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT",
                   "newClientOrderId": "é"}, -4015, "Client order id is not valid."),
    ("client id empty", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT",
                         "newClientOrderId": ""}, -1118, "New client order ID was empty."),
    ("working type", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "STOP_MARKET",
                      "workingType": "INDEX"}, -4031, "Invalid parameter working type: `INDEX`"),
    ("position side", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT",
                       "positionSide": "long"}, -4060, "Invalid position side."),
    ("resp type", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT",
                   "newOrderRespType": "FULL"}, -1136, "Invalid newOrderRespType."),
    ("unknown param", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeinforce": "GTC"},
     -1104, "Not all sent parameters were read; read '3' parameter(s) but was sent '4'."),
    ("not a mapping", ["symbol"], -1102, None),
]


@pytest.mark.parametrize("name,params,code,msg", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_params(name: str, params: object, code: int, msg: str | None) -> None:
    with pytest.raises(ValidationError) as err:
        OrderRequest.from_params(params)  # type: ignore[arg-type]
    assert err.value.rejection.code == code
    assert err.value.code == code
    if msg is not None:
        assert err.value.rejection.msg == msg
    assert str(err.value).startswith(f"{code}: ")


def test_missing_per_type_param_is_reported_by_validate() -> None:
    req = OrderRequest.from_params(
        {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "price": "35000"}
    )
    [rej] = validate_order(req, BTC)
    assert rej.msg == "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."


def _matches_binance_text(code: int, msg: str) -> bool:
    from feeds.errors import BINANCE_ERRORS

    info = BINANCE_ERRORS[code]
    for variant in info.messages:
        pattern = re.escape(variant).replace("%s", ".+").replace("%b", ".+")
        if re.fullmatch(pattern, msg):
            return True
    return False


def test_every_message_is_binances_own_text() -> None:
    """Each emitted code is in the error table, its message one of Binance's texts for it."""
    seen = set()
    for _, req, info, *_rest in INVALID:
        for rej in validate_order(req, info, mark_price=MARK, open_orders=500,
                                  last_price=D("35000")):
            assert _matches_binance_text(rej.code, rej.msg), rej
            seen.add(rej.code)
    for _, params, *_rest in MALFORMED:
        with pytest.raises(ValidationError) as err:
            OrderRequest.from_params(params)  # type: ignore[arg-type]
        assert _matches_binance_text(err.value.code, err.value.msg), err.value.rejection
        seen.add(err.value.code)
    stop_buy = order("STOP_MARKET", quantity=D("1"), stop_price=D("34990"))
    seen.update(r.code for r in validate_order(stop_buy, BTC, last_price=D("35000")))
    assert seen >= {-1100, -1102, -1104, -1105, -1106, -1111, -1114, -1115, -1116, -1117, -1118,
                    -1121, -1128, -1130, -1136, -2021, -2025, -4001, -4002, -4003, -4004, -4005,
                    -4006, -4007, -4013, -4014, -4015, -4016, -4023, -4024, -4031, -4060, -4135,
                    -4137, -4151, -4152}
