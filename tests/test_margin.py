"""feeds.margin against figures derived by hand from Binance's COIN-M definitions.

Each expected value is written out from the definition (notional = qty × 100 / price, etc.)
with the numbers of the case, in exact fractions; none calls the code under test to get it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction as F

import pytest

from feeds.margin import (
    BTC_BRACKETS,
    GENERIC_BRACKETS,
    OrderInput,
    PositionInput,
    account_risk,
    bracket_for,
    brackets_from_rest,
    initial_margin,
    liquidation_price,
    maintenance_margin,
    margin_ratio,
    order_initial_margin,
    unrealized_pnl,
)


def r8(x: F) -> Decimal:
    """A fraction rounded half-even to 8 decimals, as the venue rounds coin amounts."""
    return (Decimal(x.numerator) / Decimal(x.denominator)).quantize(Decimal("1e-8"), rounding=ROUND_HALF_EVEN)


def test_btc_brackets_match_binance_faq() -> None:
    # Binance FAQ: a 300 BTC BTCUSD position has MMR 12.5 % and maintenance amount 11.605 BTC
    b = bracket_for(BTC_BRACKETS, Decimal(300))
    assert (b.maint_ratio, b.cum, b.initial_leverage) == (Decimal("0.125"), Decimal("11.605"), 4)
    # cum_n = floor_n * (MMR_n - MMR_n-1) + cum_n-1: 5*0.001, +10*0.005, +20*0.015, +50*0.025, ...
    assert [x.cum for x in BTC_BRACKETS] == [Decimal(c) for c in (
        "0", "0.005", "0.055", "0.355", "1.605", "6.605", "11.605", "21.605", "121.605")]
    assert bracket_for(BTC_BRACKETS, Decimal(5)).bracket == 1 and bracket_for(BTC_BRACKETS, Decimal("5.1")).bracket == 2
    assert bracket_for(BTC_BRACKETS, Decimal(10**9)).bracket == 9 and BTC_BRACKETS[-1].cap is None
    assert GENERIC_BRACKETS[0].maint_ratio == Decimal("0.0065") and GENERIC_BRACKETS[0].initial_leverage == 20


def test_one_long_position_by_hand() -> None:
    # 10 BTCUSD contracts (100 USD each) long from 50,000; mark 60,000; 20x; wallet 0.01 BTC.
    n = F(10 * 100, 60000)                     # notional 0.0166666... BTC
    upnl = F(1000) * (F(1, 50000) - F(1, 60000))  # 0.00333333...
    assert unrealized_pnl(Decimal(10), 100, Decimal(50000), Decimal(60000)) == r8(upnl) == Decimal("0.00333333")
    assert unrealized_pnl(Decimal(-10), 100, Decimal(50000), Decimal(60000)) == Decimal("-0.00333333")
    assert initial_margin(Decimal(10), 100, Decimal(60000), 20) == r8(n / 20) == Decimal("0.00083333")
    assert maintenance_margin(Decimal(10), 100, Decimal(60000), BTC_BRACKETS) == r8(n * F(4, 1000)) \
        == Decimal("0.00006667")
    # LP = 1000 * (1 + 0.004) / (0.01 + 0 + 1000/50000) = 1004 / 0.03
    assert liquidation_price(Decimal(10), 100, Decimal(50000), Decimal("0.01"), BTC_BRACKETS) \
        == r8(F(1004) / F(3, 100)) == Decimal("33466.66666667")
    asset, [row] = account_risk("BTC", Decimal("0.01"), [PositionInput(
        "BTCUSD_PERP", Decimal(10), Decimal(50000), 100, Decimal(60000), 20, BTC_BRACKETS)])
    assert asset.unrealized_pnl == Decimal("0.00333333")
    assert asset.margin_balance == Decimal("0.01333333")
    assert asset.available == Decimal("0.01333333") - Decimal("0.00083333") == Decimal("0.0125")
    assert asset.maint_margin == Decimal("0.00006667") and asset.margin_in_use == Decimal("0.00083333")
    assert asset.margin_ratio == r8(F(6667, 1333333)) == Decimal("0.00500025")
    assert row.liquidation_price == Decimal("33466.66666667") and row.margin_ratio == asset.margin_ratio


def test_liquidation_price_is_where_margin_meets_maintenance() -> None:
    # at the liquidation price, wallet + uPnL == notional * MMR - cum (to rounding)
    lp = liquidation_price(Decimal(10), 100, Decimal(50000), Decimal("0.01"), BTC_BRACKETS)
    assert lp is not None
    p = F(lp)
    balance = F(1, 100) + F(1000) * (F(1, 50000) - 1 / p)
    maint = F(1000) / p * F(4, 1000)
    assert abs(balance - maint) < F(1, 10**12)


def test_short_liquidation_and_none() -> None:
    # short 10 from 50,000, wallet 0.01: LP = 1000 * (0.004 - 1) / (0.01 - 1000/50000) = -996 / -0.01
    assert liquidation_price(Decimal(-10), 100, Decimal(50000), Decimal("0.01"), BTC_BRACKETS) == Decimal(99600)
    # with 0.05 BTC the denominator 0.05 - 0.02 is positive: no price liquidates it
    assert liquidation_price(Decimal(-10), 100, Decimal(50000), Decimal("0.05"), BTC_BRACKETS) is None
    assert liquidation_price(Decimal(0), 100, Decimal(50000), Decimal("0.05"), BTC_BRACKETS) is None


def test_liquidation_price_substitutes_the_bracket_at_that_price() -> None:
    # 300,000 contracts long from 50,000 (600 BTC at entry), wallet 100 BTC. Level 1 would give
    # 30e6 * 1.004 / (100 + 600) = 43,028.57, i.e. 697 BTC, not level 1; level 8 (400-1000 BTC,
    # MMR 15 %, cum 21.605): 30e6 * 1.15 / (100 + 21.605 + 600) = 47,809.53 -> 627.5 BTC, level 8.
    expected = F(30_000_000) * F(115, 100) / (F(100) + F("21.605") + F(600))
    assert liquidation_price(Decimal(300_000), 100, Decimal(50000), Decimal(100), BTC_BRACKETS) == r8(expected)
    assert 400 <= F(30_000_000) / expected <= 1000


def test_isolated_position_uses_its_own_wallet() -> None:
    # long 10 from 50,000 with 0.001 BTC isolated: LP = 1004 / (0.001 + 0.02)
    rows = account_risk("BTC", Decimal(5), [PositionInput(
        "BTCUSD_PERP", Decimal(10), Decimal(50000), 100, Decimal(50000), 20, BTC_BRACKETS,
        isolated=True, isolated_wallet=Decimal("0.001"))])
    asset, [row] = rows
    assert row.liquidation_price == r8(F(1004) / F(21, 1000)) == Decimal("47809.52380952")
    # maintenance 0.02 * 0.004 = 0.00008 over the isolated 0.001 (uPnL 0 at the entry)
    assert row.maint_margin == Decimal("0.00008") and row.margin_ratio == Decimal("0.08")
    # an isolated position takes nothing from the cross figures
    assert (asset.available, asset.maint_margin, asset.margin_ratio) == (Decimal(5), 0, None)


def test_cross_positions_share_the_wallet() -> None:
    # BTC perp long 10 @ 50,000 (mark 50,000) and BTC quarterly short 20 @ 52,000 (mark 51,000).
    perp = PositionInput("BTCUSD_PERP", Decimal(10), Decimal(50000), 100, Decimal(50000), 20, BTC_BRACKETS)
    qtr = PositionInput("BTCUSD_261225", Decimal(-20), Decimal(52000), 100, Decimal(51000), 10, BTC_BRACKETS)
    asset, rows = account_risk("BTC", Decimal("0.02"), [perp, qtr])
    up_q = r8(F(-2000) * (F(1, 52000) - F(1, 51000)))          # short: loses as the price rose
    mm_p, mm_q = r8(F(1000, 50000) * F(4, 1000)), r8(F(2000, 51000) * F(4, 1000))
    assert asset.unrealized_pnl == up_q
    assert asset.position_initial_margin == r8(F(1000, 50000) / 20) + r8(F(2000, 51000) / 10)
    assert asset.maint_margin == mm_p + mm_q
    # the perp's LP holds the quarterly fixed: WB - TMM1 + UPNL1 = 0.02 - mm_q + up_q
    rest = F(Decimal("0.02") - mm_q + up_q)
    lp_perp = r8(F(1004) / (rest + F(1000, 50000)))
    by_symbol = {r.symbol: r for r in rows}
    assert by_symbol["BTCUSD_PERP"].liquidation_price == lp_perp
    rest_q = F(Decimal("0.02") - mm_p)  # the perp's uPnL is 0 at its entry
    assert by_symbol["BTCUSD_261225"].liquidation_price == r8(F(2000) * F(-996, 1000) / (rest_q - F(2000, 52000)))


def test_open_orders_take_initial_margin_and_available_never_negative() -> None:
    # a 5-contract bid at 40,000 at 20x: 500 / 40000 / 20 = 0.000625 BTC
    assert order_initial_margin(Decimal(5), 100, Decimal(40000), 20) == Decimal("0.000625")
    asset, rows = account_risk("BTC", Decimal("0.001"), [],
                               [OrderInput("BTCUSD_PERP", Decimal(5), Decimal(40000), 100, 20)])
    assert rows == [] and asset.order_initial_margin == Decimal("0.000625")
    assert asset.available == Decimal("0.001") - Decimal("0.000625")
    asset, _ = account_risk("BTC", Decimal("0.0001"), [],
                            [OrderInput("BTCUSD_PERP", Decimal(5), Decimal(40000), 100, 20)])
    assert asset.available == 0


def test_margin_ratio_edges() -> None:
    assert margin_ratio(Decimal(0), Decimal(1)) is None
    assert margin_ratio(Decimal(1), Decimal(0)) == Decimal("Infinity")
    assert margin_ratio(Decimal(1), Decimal(4)) == Decimal("0.25")


def test_brackets_from_the_venue() -> None:
    rows = [{"symbol": "BTCUSD_PERP", "brackets": [
        {"bracket": 2, "initialLeverage": 100, "qtyCap": 10, "qtyFloor": 5, "maintMarginRatio": 0.005, "cum": 0.005},
        {"bracket": 1, "initialLeverage": 125, "qtyCap": 5, "qtyFloor": 0, "maintMarginRatio": 0.004, "cum": 0.0}]},
        {"pair": "ETHUSD", "brackets": [
            {"bracket": 1, "initialLeverage": 75, "qtyCap": 100, "qtylFloor": 0, "maintMarginRatio": 0.0065,
             "cum": 0}]}]
    got = brackets_from_rest(rows)
    btc = got["BTCUSD_PERP"]
    assert [b.bracket for b in btc] == [1, 2] and btc[1].maint_ratio == Decimal("0.005")
    assert btc[1].cap is None and btc[0].cap == 5  # the last bracket has no cap
    assert got["ETHUSD"][0].maint_ratio == Decimal("0.0065")
    with pytest.raises(ValueError):
        brackets_from_rest([{"symbol": "X", "brackets": []}])
    with pytest.raises(ValueError):
        brackets_from_rest([{"symbol": "X", "brackets": [{"bracket": 1, "initialLeverage": 1, "qtyCap": None,
                                                          "maintMarginRatio": "nan"}]}])


def test_pnl_percent_of_the_entry_notional() -> None:
    from feeds.margin import pnl_percent_of_entry

    # 10 contracts x 100 USD at 50,000 = 0.02 BTC at entry; 0.001 BTC of PnL is 5 %
    assert pnl_percent_of_entry(Decimal("0.001"), Decimal(10), 100, Decimal(50000)) == Decimal(5)
    assert pnl_percent_of_entry(Decimal("-0.0005"), Decimal(-10), 100, Decimal(50000)) == Decimal("-2.5")
    assert pnl_percent_of_entry(Decimal("0.001"), Decimal(0), 100, Decimal(50000)) is None
    assert pnl_percent_of_entry(Decimal("0.001"), Decimal(10), 100, Decimal(0)) is None
