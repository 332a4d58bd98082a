"""feeds.order_maths against figures derived by hand, without a screen.

The contract is written out here (100 USD a contract, tick 0.1, step 1) rather than taken from
the simulator, and every expected figure is worked out in the comment beside it (exact
fractions where a value is rounded); none calls the code under test to get it.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction as F
from typing import Any

import pytest

from feeds.filters import OrderRequest
from feeds.margin import contracts_at
from feeds.order_maths import (
    OrderContext,
    OrderCost,
    OrderWarning,
    distance_from_mark,
    order_cost,
    order_warnings,
    position_effect,
    preview_quantity,
    reference_price,
    size_order,
)
from feeds.symbols import SymbolInfo

D = Decimal
BTC = SymbolInfo(
    symbol="BTCUSD_PERP", pair="BTCUSD", contract_type="PERPETUAL", contract_size=100,
    tick_size=D("0.1"), min_price=D("1.0"), max_price=D("8800000.0"),
    step_size=D("1"), min_qty=D("1"), max_qty=D("1000000"),
    market_step_size=D("10"), market_min_qty=D("10"), market_max_qty=D("60000"),
    multiplier_up=D("1.05"), multiplier_down=D("0.95"), base_asset="BTC", margin_asset="BTC",
)
"""MARKET_LOT_SIZE's step (10) differs from LOT_SIZE's (1) so the tests see which one is used."""


def ctx(**changes: Any) -> OrderContext:
    """Mark 88000.0, bid 87999.9, ask 88000.1, flat, 1 BTC available at 20x, on the simulator."""
    base = OrderContext(
        info=BTC, venue="sim", real_money=False, confirm=True,
        mark_price=D("88000.0"), last_price=D("88000.1"), best_bid=D("87999.9"), best_ask=D("88000.1"),
        position_qty=D(0), position_entry=None, available_balance=D("1"), leverage=20, open_orders=0,
    )
    return replace(base, **changes)


def order(side: str = "BUY", type: str = "LIMIT", **fields: Any) -> OrderRequest:
    return OrderRequest(symbol="BTCUSD_PERP", side=side, type=type, **fields)


def r8(x: F) -> Decimal:
    return (D(x.numerator) / D(x.denominator)).quantize(D("1e-8"), rounding=ROUND_HALF_EVEN)


# ---------------------------------------------------------------------------- reference price


@pytest.mark.parametrize(("o", "c", "expected"), [
    (order(price=D("90000")), ctx(), D("90000")),  # a limit price is its own reference
    (order(type="STOP", price=D("91000"), stop_price=D("90500")), ctx(), D("91000")),
    (order(price=None), ctx(), None),  # no price typed: no fallback to the mark
    (order(type="STOP_MARKET", stop_price=D("86000")), ctx(), D("86000")),  # the trigger
    (order(type="TAKE_PROFIT_MARKET", stop_price=None), ctx(), None),
    (order(type="TRAILING_STOP_MARKET", activation_price=D("89000")), ctx(), D("89000")),
    (order(type="TRAILING_STOP_MARKET"), ctx(), D("88000.0")),  # no activation: the mark
    (order(type="MARKET"), ctx(), D("88000.1")),  # a market buy takes the ask
    (order("SELL", "MARKET"), ctx(), D("87999.9")),  # a market sell takes the bid
    (order(type="MARKET"), ctx(best_ask=None), D("88000.0")),  # no book: the mark
    (order(type="MARKET"), ctx(best_ask=D(0)), D("88000.0")),  # an empty side is no price
    (order(type="MARKET"), ctx(best_ask=None, mark_price=None), D("88000.1")),  # then the last
    (order(type="MARKET"), ctx(best_ask=None, mark_price=None, last_price=None), None),
])
def test_reference_price(o: OrderRequest, c: OrderContext, expected: Decimal | None) -> None:
    assert reference_price(o, c) == expected


def test_close_all_trades_the_whole_position() -> None:
    close_all = order("SELL", "STOP_MARKET", stop_price=D("86000"), close_position=True)
    assert preview_quantity(close_all, ctx(position_qty=D(-7))) == D(7)
    assert preview_quantity(close_all, ctx()) is None  # flat: nothing to close
    assert preview_quantity(order(quantity=D(3)), ctx(position_qty=D(-7))) == D(3)


# ---------------------------------------------------------------------------- notional and margin


def test_order_cost_of_an_inverse_contract() -> None:
    # 9 contracts x 100 USD = 900 USD; / 90000 = 0.01 BTC; margin at 20x = 0.0005 BTC
    assert order_cost(D(9), D("90000"), 100, 20) == OrderCost(D(9), D("90000"), D(900), D("0.01"), D("0.0005"))
    # 3 contracts at 7: 300/7 = 42.857142857142... BTC -> 42.85714286; /20 = 2.142857142857... -> 2.14285714
    cost = order_cost(D(3), D(7), 100, 20)
    assert cost is not None
    assert (cost.notional, cost.margin) == (r8(F(300, 7)), r8(F(300, 7 * 20))) == (D("42.85714286"), D("2.14285714"))
    # without a leverage the whole notional is the margin
    no_leverage = order_cost(D(3), D(7), 100, 0)
    assert no_leverage is not None and no_leverage.margin == D("42.85714286")


@pytest.mark.parametrize(("qty", "price"), [(None, D(1)), (D(0), D(1)), (D(1), None), (D(1), D(0))])
def test_no_cost_without_a_quantity_and_a_price(qty: Decimal | None, price: Decimal | None) -> None:
    assert order_cost(qty, price, 100, 20) is None


def test_contracts_at_inverts_the_notional() -> None:
    # 10 BTC at 88000 = 880000 USD = 8800 contracts of 100 USD
    assert contracts_at(D(10), 100, D("88000")) == D(8800)
    # 2.1 BTC at 12345.6 = 25925.76 USD = 259.2576 contracts (unrounded)
    assert contracts_at(D("2.1"), 100, D("12345.6")) == D("259.2576")


@pytest.mark.parametrize(("o", "mark", "expected"), [
    (order(price=D("90000")), D("88000"), (D(2000), D("2.27"))),  # 2000/88000 = 2.2727 %
    (order("SELL", "STOP_MARKET", stop_price=D("86000")), D("88000"), (D(-2000), D("-2.27"))),
    (order(type="TRAILING_STOP_MARKET", activation_price=D("89000")), D("88000"), (D(1000), D("1.14"))),
    (order(price=D("88000.0")), D("88000"), (D(0), D(0))),
    (order(type="MARKET"), D("88000"), None),  # nothing to measure
    (order(price=D("90000")), None, None),  # no mark
])
def test_distance_from_mark(o: OrderRequest, mark: Decimal | None, expected: tuple[Decimal, Decimal] | None) -> None:
    assert distance_from_mark(o, mark) == expected


# ---------------------------------------------------------------------------- sizing


def test_size_from_the_available_margin() -> None:
    # 50 % of 1 BTC at 20x = 10 BTC of notional; at 88000 that is 880000 USD = 8800 contracts
    s = size_order(50, order(price=D("88000")), ctx())
    assert (s.quantity, s.step, s.message) == (D(8800), D(1), "8800 contracts = 50% of the available margin")
    # 100 % of 0.3 BTC at 7x = 2.1 BTC; at 12345.6 = 259.2576 contracts, rounded down to step 1
    small = ctx(available_balance=D("0.3"), leverage=7, best_ask=D("12345.6"))
    assert size_order(100, order(price=D("12345.6")), small).quantity == D(259)
    # a market order sizes at the ask and rounds to MARKET_LOT_SIZE's step 10: 250
    s = size_order(100, order(type="MARKET"), small)
    assert (s.quantity, s.step) == (D(250), D(10))


def test_size_of_a_reduce_only_order_is_a_share_of_the_position() -> None:
    # 50 % of a 7-contract short = 3.5, rounded down to 3
    s = size_order(50, order(quantity=None, price=D("88000"), reduce_only=True), ctx(position_qty=D(-7)))
    assert (s.quantity, s.message) == (D(3), "3 contracts = 50% of the position")


@pytest.mark.parametrize(("percent", "o", "c", "message"), [
    (100, order(reduce_only=True, price=D("88000")), ctx(), "no position to reduce"),
    (100, order(price=None), ctx(), "enter a price first: sizing needs one"),
    # 25 % of 0.0001 BTC at 1x at 88000 = 0.022 contracts, under LOT_SIZE's minimum of 1
    (25, order(price=D("88000")), ctx(available_balance=D("0.0001"), leverage=1),
     "25% of the available margin is less than the minimum 1"),
    # market: 0.0001 x 20 x 88000.1 / 100 = 1.760002 contracts, under MARKET_LOT_SIZE's 10
    (100, order(type="MARKET"), ctx(available_balance=D("0.0001")),
     "100% of the available margin is less than the minimum 10"),
])
def test_sizing_refusals(percent: int, o: OrderRequest, c: OrderContext, message: str) -> None:
    s = size_order(percent, o, c)
    assert (s.quantity, s.message) == (None, message)


# ---------------------------------------------------------------------------- position effect


@pytest.mark.parametrize(("position", "o", "expected"), [
    (D(0), order(quantity=D(3)), "flat → +3 (opens long)"),
    (D(0), order("SELL", quantity=D(3)), "flat → -3 (opens short)"),
    (D(5), order("SELL", quantity=D(9)), "+5 → -4 (flips to short)"),
    (D(-5), order(quantity=D(9)), "-5 → +4 (flips to long)"),
    (D(5), order(quantity=D(2)), "+5 → +7 (adds to the long)"),
    (D(-7), order("SELL", quantity=D(1)), "-7 → -8 (adds to the short)"),
    (D(-7), order(quantity=D(3)), "-7 → -4 (reduces the short)"),
    (D(-7), order(quantity=D(7)), "-7 → flat (closes the position)"),
    # reduce-only never passes flat, and one on the wrong side is refused by the venue
    (D(5), order("SELL", quantity=D(9), reduce_only=True), "+5 → flat (closes the position)"),
    (D(5), order("SELL", quantity=D(2), reduce_only=True), "+5 → +3 (reduces the long)"),
    (D(5), order(quantity=D(1), reduce_only=True), "+5 → nothing to reduce (a reduce-only order is refused)"),
    (D(0), order(quantity=D(1), reduce_only=True), "flat → nothing to reduce (a reduce-only order is refused)"),
    (D(5), order("SELL", "STOP_MARKET", close_position=True), "+5 → 0 (closes the whole position on trigger)"),
    (D(0), order("SELL", "STOP_MARKET", close_position=True),
     "flat → nothing to close (the order waits for a position)"),
    (D(5), order(quantity=None), "+5"),
    (D("-0.5"), order(quantity=D("1.5")), "-0.5 → +1 (flips to long)"),
])
def test_position_effect(position: Decimal, o: OrderRequest, expected: str) -> None:
    assert position_effect(position, o) == expected


# ---------------------------------------------------------------------------- warnings


def test_a_buy_far_above_the_ask_is_loud() -> None:
    # (89100 - 88000.1) / 88000.1 = 1099.9 / 88000.1 = 0.0124988... -> 1.25 %
    assert order_warnings(order(price=D("89100"), quantity=D(1)), ctx(), None) == [
        OrderWarning("⚠ BUY 1.25% above best ask 88000.1: it would sweep the book", loud=True)]


def test_a_sell_far_below_the_bid_is_loud() -> None:
    # (87999.9 - 87000) / 87999.9 = 999.9 / 87999.9 = 0.0113625... -> 1.14 %
    assert order_warnings(order("SELL", price=D("87000")), ctx(), None) == [
        OrderWarning("⚠ SELL 1.14% below best bid 87999.9: it would sweep the book", loud=True)]


def test_exactly_one_percent_through_is_not_far() -> None:
    at_ask = ctx(best_ask=D("88000.0"))
    assert order_warnings(order(price=D("88880.0")), at_ask, None) == []  # 880 / 88000 = 1 % exactly
    # one tick more: 880.1 / 88000 = 1.0001 % -> warned, rounded to 1.00 and shown without its zeros
    assert order_warnings(order(price=D("88880.1")), at_ask, None) == [
        OrderWarning("⚠ BUY 1% above best ask 88000.0: it would sweep the book", loud=True)]


def test_post_only_that_would_cross() -> None:
    assert order_warnings(order(price=D("88000.1"), time_in_force="GTX"), ctx(), None) == [
        OrderWarning("post-only (GTX) at or above the best ask would be expired, not filled")]
    assert order_warnings(order("SELL", price=D("87999.9"), time_in_force="GTX"), ctx(), None) == [
        OrderWarning("post-only (GTX) at or below the best bid would be expired, not filled")]
    assert order_warnings(order(price=D("88000.0"), time_in_force="GTX"), ctx(), None) == []  # rests


def test_margin_above_the_available_balance() -> None:
    cost = order_cost(D(9), D("90000"), 100, 20)  # 0.0005 BTC, as above
    # a sell at 90000 rests above the bid: the margin is the only warning
    sell = order("SELL", price=D("90000"), quantity=D(9))
    assert order_warnings(sell, ctx(available_balance=D("0.0004")), cost) == [
        OrderWarning("needs 0.00050000 margin, more than the available 0.00040000")]
    assert order_warnings(sell, ctx(available_balance=D("0.0005")), cost) == []  # exactly enough
    # a reduce-only order opens nothing, so needs no margin
    reduce = order("SELL", price=D("90000"), quantity=D(9), reduce_only=True)
    assert order_warnings(reduce, ctx(available_balance=D(0)), cost) == []


def test_real_money_is_always_said_last() -> None:
    live = ctx(real_money=True, venue="live")
    assert order_warnings(order(price=D("89100")), live, None) == [
        OrderWarning("⚠ BUY 1.25% above best ask 88000.1: it would sweep the book", loud=True),
        OrderWarning("⚠ REAL MONEY: this order goes to the live venue", loud=True)]
