"""feeds/risk.py: the pure parts against hand-derived figures, and RiskClient's journaling."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from feeds.errors import VenueError, human_error
from feeds.filters import validate_order
from feeds.journal import Journal, JournalError
from feeds.margin import BTC_BRACKETS, GENERIC_BRACKETS
from feeds.rest import RestUnavailable
from feeds.risk import (
    RiskClient,
    RiskRefused,
    check_leverage,
    close_plan,
    max_contracts,
    max_leverage,
    max_notional,
    max_removable,
    parse_amount,
    position_rows_by_asset,
    preview_isolated_margin,
    upnl_by_asset,
)
from feeds.symbols import SymbolInfo

D = Decimal


def test_max_leverage_and_the_cap_at_each_leverage() -> None:
    assert max_leverage(BTC_BRACKETS) == 125
    assert max_leverage(GENERIC_BRACKETS) == 20
    # the cap of the last bracket whose initial leverage is at least the leverage
    expected = {125: D(5), 101: D(5), 100: D(10), 51: D(10), 50: D(20), 21: D(20), 20: D(50), 11: D(50),
                10: D(100), 6: D(100), 5: D(200), 4: D(400), 3: D(1000), 2: None, 1: None}
    assert {lev: max_notional(BTC_BRACKETS, lev) for lev in expected} == expected
    assert max_notional(GENERIC_BRACKETS, 20) == D(50000)
    assert max_notional(GENERIC_BRACKETS, 7) == D(200000)


@pytest.mark.parametrize("lev", [0, -1, 126, 1000])
def test_leverage_outside_the_brackets_is_refused_as_the_venue_does(lev: int) -> None:
    with pytest.raises(RiskRefused) as info:
        check_leverage(BTC_BRACKETS, lev)
    assert info.value.code == -4028 and "1 to 125" in info.value.human
    with pytest.raises(RiskRefused):
        max_notional(BTC_BRACKETS, lev)


def test_max_contracts_floors_the_cap_at_the_price() -> None:
    assert max_contracts(D(50), D(60000), 100) == 30000  # 50 BTC × 60000 / 100
    assert max_contracts(D(50), D("60001.5"), 100) == 30000  # 30000.75 -> 30000
    assert max_contracts(D(5), D("2000"), 10) == 1000
    assert max_contracts(None, D(60000), 100) is None


def test_isolated_margin_preview_long_by_hand() -> None:
    # 100 contracts long at 50000 (cs 100): notional 0.2 BTC, bracket 1 (MMR 0.4 %, cum 0).
    # LP = cs·B·(1 + MMR) / (W + B·cs/EP) = 10000 × 1.004 / (W + 0.2)
    p = preview_isolated_margin(D(100), 100, D(50000), D("0.01"), BTC_BRACKETS, delta=D("0.01"), add=True)
    assert p.wallet_before == D("0.01") and p.wallet_after == D("0.02")
    assert p.liquidation_before == D("47809.52380952")  # 10040 / 0.21
    assert p.liquidation_after == D("45636.36363636")  # 10040 / 0.22
    assert "0.01 -> 0.02" in p.text() and "47809.5 -> 45636.4" in p.text(D("0.1"))


def test_isolated_margin_preview_short_by_hand() -> None:
    # short: LP = 10000 × (0.004 − 1) / (W − 0.2) = 9960 / 0.19 with W = 0.01
    p = preview_isolated_margin(D(-100), 100, D(50000), D("0.02"), BTC_BRACKETS, delta=D("0.01"), add=False)
    assert p.liquidation_after == D("52421.05263158")
    assert p.liquidation_before == D("55333.33333333")  # 9960 / 0.18


def test_removing_more_than_can_be_taken_out_is_refused() -> None:
    # wallet 0.02, uPnL 0 at mark 50000, IM 0.2 / 20 = 0.01: 0.01 removable
    assert max_removable(D(100), 100, D(50000), D(50000), D("0.02"), 20) == D("0.01")
    with pytest.raises(RiskRefused) as info:
        preview_isolated_margin(D(100), 100, D(50000), D("0.02"), BTC_BRACKETS, delta=D("0.011"), add=False,
                                mark=D(50000), leverage=20)
    assert info.value.code == -4051 and "at most 0.01" in info.value.human
    ok = preview_isolated_margin(D(100), 100, D(50000), D("0.02"), BTC_BRACKETS, delta=D("0.01"), add=False,
                                 mark=D(50000), leverage=20)
    assert ok.wallet_after == D("0.01") and ok.liquidation_after == D("47809.52380952")
    # in profit at 55000: uPnL = 10000 × (1/50000 − 1/55000) = 0.01818182; IM = 10000/55000/20 = 0.00909091
    assert max_removable(D(100), 100, D(50000), D(55000), D("0.02"), 20) == D("0.02")  # capped at the wallet
    with pytest.raises(RiskRefused) as flat:
        preview_isolated_margin(D(0), 100, D(50000), D("0.02"), BTC_BRACKETS, delta=D("0.01"), add=True)
    assert flat.value.code == -4054


@pytest.mark.parametrize(("text", "code"), [("0", -4055), ("-1", -4055), ("abc", -1102), ("nan", -4055),
                                            ("0.000000001", -1111), ("", -1102)])
def test_bad_amounts(text: str, code: int) -> None:
    with pytest.raises(RiskRefused) as info:
        parse_amount(text)
    assert info.value.code == code


def test_parse_amount_keeps_the_decimal() -> None:
    assert parse_amount(" 0.00000001 ") == D("0.00000001")


def _info() -> SymbolInfo:
    return SymbolInfo(symbol="BTCUSD_PERP", pair="BTCUSD", contract_type="PERPETUAL", contract_size=100,
                      tick_size=D("0.1"), min_price=D("1000"), max_price=D("4000000"), step_size=D(1),
                      min_qty=D(1), max_qty=D(1000000), market_step_size=D(1), market_min_qty=D(1),
                      market_max_qty=D(60000), multiplier_up=D("1.05"), multiplier_down=D("0.95"),
                      margin_asset="BTC", base_asset="BTC")


def test_close_one_way_long_at_market() -> None:
    plan = close_plan("BTCUSD_PERP", D(3), D(50000), 100, best_bid=D(51000), best_ask=D(51001), mark=D(50990),
                      margin_asset="BTC")
    o = plan.order
    assert (o.side, o.type, o.quantity, o.reduce_only, o.position_side, o.price) == (
        "SELL", "MARKET", D(3), True, None, None)
    # sells at the bid: 3 × 100 × (1/50000 − 1/51000) = 300 × 1000 / 2.55e9
    assert plan.price == D(51000) and plan.realised_pnl == D("0.00011765")
    assert "+0.00011765 BTC" in plan.text()
    assert validate_order(o, _info(), mark_price=D(50990)) == []


def test_close_hedge_short_leg_with_a_limit() -> None:
    plan = close_plan("BTCUSD_PERP", D(-2), D(50000), 100, position_side="SHORT", price=D(49000))
    o = plan.order
    assert (o.side, o.type, o.time_in_force, o.position_side, o.reduce_only) == ("BUY", "LIMIT", "GTC", "SHORT", None)
    # −2 × 100 × (1/50000 − 1/49000) = 200 × 1000 / 2.45e9
    assert plan.realised_pnl == D("0.00008163")
    assert validate_order(o, _info(), mark_price=D(49100)) == []  # no reduceOnly in hedge mode (-1106)


def test_close_market_without_a_book_uses_the_mark_and_refusals() -> None:
    plan = close_plan("BTCUSD_PERP", D(-1), D(50000), 100, mark=D(40000))
    assert plan.price == D(40000) and plan.order.side == "BUY"
    # −1 × 100 × (1/50000 − 1/40000) = 100 × 10000 / 2e9 = 0.0005
    assert plan.realised_pnl == D("0.0005")
    assert close_plan("BTCUSD_PERP", D(1), D(50000), 100).realised_pnl is None
    with pytest.raises(RiskRefused) as flat:
        close_plan("BTCUSD_PERP", D(0), D(50000), 100)
    assert flat.value.code == -2022
    with pytest.raises(RiskRefused) as wrong:
        close_plan("BTCUSD_PERP", D(-1), D(50000), 100, position_side="LONG")
    assert wrong.value.code == -4061


def test_upnl_summed_per_margin_coin() -> None:
    assert upnl_by_asset([("ETH", D("0.1")), ("BTC", D("-0.002")), ("ETH", D("-0.03"))]) == {
        "BTC": D("-0.002"), "ETH": D("0.07")}
    rows = [{"symbol": "BTCUSD_PERP", "positionAmt": "2", "unRealizedProfit": "0.001"},
            {"symbol": "BTCUSD_251226", "positionAmt": "-1", "unRealizedProfit": "-0.0004"},
            {"symbol": "ETHUSD_PERP", "positionAmt": "0", "unRealizedProfit": "5"}]
    assert position_rows_by_asset(rows, lambda s: s[:3]) == {"BTC": D("0.0006")}


# ---------------------------------------------------------------------------- RiskClient


class FakeVenue:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def __call__(self, method: str, path: str, params: dict[str, Any]) -> Any:
        self.calls.append((method, path, params))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


async def test_a_change_is_journaled_before_it_is_sent_and_its_outcome_after(tmp_path: Any) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    try:
        venue = FakeVenue({"leverage": 10, "maxQty": "100", "symbol": "BTCUSD_PERP"})
        out = await RiskClient(venue, journal=journal).set_leverage("BTCUSD_PERP", 10, BTC_BRACKETS)
        assert out.ok and venue.calls == [("POST", "leverage", {"symbol": "BTCUSD_PERP", "leverage": 10})]
        refused = FakeVenue(VenueError(-4046, "No need to change margin type."))
        out = await RiskClient(refused, journal=journal).set_margin_type("BTCUSD_PERP", "cross")
        assert (out.status, out.code) == ("rejected", -4046)
        assert out.message == human_error(-4046, "No need to change margin type.")
        lost = FakeVenue(RestUnavailable("POST /dapi/v1/positionMargin: no answer within 10 s"))
        out = await RiskClient(lost, journal=journal).modify_isolated_margin("BTCUSD_PERP", D("0.5"), add=True)
        assert out.status == "unknown" and "read the setting back" in out.message
        journal.flush()
        kinds = [(e.kind, e.method) for e in journal.recent(10)]
        assert kinds == [("request", "leverage"), ("reply", "leverage"), ("request", "marginType"),
                         ("error", "marginType"), ("request", "positionMargin"), ("unknown", "positionMargin")]
        assert journal.recent(10)[4].payload == {"symbol": "BTCUSD_PERP", "positionSide": "BOTH", "amount": "0.5",
                                                 "type": 1}
    finally:
        journal.close()


async def test_a_change_without_a_journal_is_refused_unless_opted_out() -> None:
    venue = FakeVenue({"code": 200, "msg": "success"})
    with pytest.raises(JournalError):
        await RiskClient(venue).set_position_mode(True)
    assert venue.calls == []
    out = await RiskClient(venue, no_journal=True).set_position_mode(True)
    assert out.ok and venue.calls == [("POST", "positionSide/dual", {"dualSidePosition": "true"})]


async def test_a_refused_leverage_is_not_sent() -> None:
    venue = FakeVenue({})
    with pytest.raises(RiskRefused) as info:
        await RiskClient(venue, no_journal=True).set_leverage("BTCUSD_PERP", 126, BTC_BRACKETS)
    assert info.value.code == -4028 and venue.calls == []
    with pytest.raises(RiskRefused) as bad:
        await RiskClient(venue, no_journal=True).set_margin_type("BTCUSD_PERP", "PORTFOLIO")
    assert bad.value.code == -1130 and venue.calls == []
