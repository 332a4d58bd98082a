"""Dashboard position controls (issue 15): L leverage, M margin type, A isolated margin, X close,
hedge-mode order sides; Pilot against the simulator on loopback."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from textual.widgets import Input, OptionList, Static

from feeds.filters import OrderRequest
from feeds.sim import SimExchange
from tests.app_support import make_app, ready, still_market, until
from tests.test_app import place_from_the_form
from tests.test_journal import api_for
from tui.risk_screens import ClosePositionScreen, LeverageScreen, MarginScreen, hedge_order
from tui.screens import ConfirmScreen

pytestmark = pytest.mark.timeout(90)

SYM = "BTCUSD_PERP"
D = Decimal


async def market(sim: SimExchange, side: str, qty: int, position_side: str | None = None) -> None:
    api = api_for(sim)
    try:
        await api.place_order(OrderRequest(SYM, side, "MARKET", quantity=D(qty), position_side=position_side))
    finally:
        await api.close()


def text(screen: object, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())  # type: ignore[attr-defined]


async def test_leverage_dialog_shows_the_cap_and_sets_it(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        await until(pilot, lambda: s is not None and s.market is not None and s.market.mark is not None, "a mark")
        await still_market(pilot, app, sim)  # an idle app: each key press is waited for in ms, not up to 1 s
        await pilot.press("L")
        await until(pilot, lambda: isinstance(app.screen, LeverageScreen), "leverage dialog")
        dialog = app.screen
        assert "now 20x (1 to 125x)" in text(dialog, "Static")
        cap = text(dialog, "#leverage-cap")
        assert "max position at 20x: 50 BTC" in cap
        # the mark as the venue quotes prices: to the tick (0.1), grouped (it showed 88004.08930815)
        assert re.search(r"contracts at mark \d{2},\d{3}\.\d\)", cap), cap
        await pilot.press("up")  # 21x: the 50x bracket's cap, 20 BTC
        await until(pilot, lambda: "at 21x: 20 BTC" in text(dialog, "#leverage-cap"), "21x cap")
        box = dialog.query_one("#leverage-value", Input)
        box.value = "126"
        await until(pilot, lambda: "-4028" in text(dialog, "#leverage-error"), "out of range")
        await pilot.press("enter")
        assert app.screen is dialog  # refused in the dialog, nothing sent
        box.value = "3"
        await until(pilot, lambda: "at 3x: 1000 BTC" in text(dialog, "#leverage-cap"), "3x cap")
        await pilot.press("enter")
        await until(pilot, lambda: sim.default_account.leverage.get(SYM) == 3, "venue leverage 3x")
        s = app.session
        assert s is not None and s.account is not None
        await until(pilot, lambda: s.account.leverage_of(SYM) == 3, "the dashboard knows 3x")


async def test_a_refused_leverage_is_said_with_binances_code(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await still_market(pilot, app, sim)
        api = api_for(sim)
        try:  # resting bids worth more than 5 BTC: 125x is refused by the venue (-2027)
            price = D(sim.engine.syms[SYM].book.best_bid()) / 10 * D("0.9")
            await api.place_order(OrderRequest(SYM, "BUY", "LIMIT", quantity=D(4500), price=price.quantize(D("0.1")),
                                               time_in_force="GTC"))
        finally:
            await api.close()
        await pilot.press("L")
        await until(pilot, lambda: isinstance(app.screen, LeverageScreen), "leverage dialog")
        app.screen.query_one("#leverage-value", Input).value = "125"
        await pilot.press("enter")
        await until(pilot, lambda: any("-2027" in str(n.message) for n in app._notifications), "refusal toast")
        assert sim.default_account.leverage.get(SYM, 20) == 20


async def test_margin_type_toggle_and_isolated_margin_preview(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await still_market(pilot, app, sim)
        await pilot.press("M")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "question")
        await pilot.press("y")
        await until(pilot, lambda: SYM in sim.default_account.isolated, "isolated at the venue")
        await market(sim, "BUY", 10)
        s = app.session
        assert s is not None and s.account is not None
        await until(pilot, lambda: s.account.position(SYM) is not None, "position shown")
        wallet = sim.default_account.peek(SYM).isolated_wallet
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, MarginScreen), "margin dialog")
        dialog = app.screen
        await pilot.press(*"0.01")
        await until(pilot, lambda: "liquidation price" in text(dialog, "#margin-preview"), "preview")
        preview = dialog.result()
        assert not isinstance(preview, str) and preview.wallet_after == wallet + D("0.01")
        await pilot.press("down")  # remove: more than the wallet is refused in the dialog
        dialog.query_one("#margin-amount", Input).value = "5"
        await until(pilot, lambda: "-4051" in text(dialog, "#margin-error"), "removal refused")
        await pilot.press("up")  # back to add 5 -> 0.01
        dialog.query_one("#margin-amount", Input).value = "0.01"
        await until(pilot, lambda: "0.01" in text(dialog, "#margin-preview"), "preview again")
        await pilot.press("enter")
        await until(pilot, lambda: sim.default_account.peek(SYM).isolated_wallet == wallet + D("0.01"), "added")
        # the previewed liquidation price is the venue's, to the digit
        assert sim.accounts.liquidation_price(sim.default_account, SYM) == preview.liquidation_after


async def test_close_position_from_the_keyboard(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await still_market(pilot, app, sim)
        await market(sim, "BUY", 3)
        s = app.session
        assert s is not None and s.account is not None
        await until(pilot, lambda: s.account.position(SYM) is not None, "position shown")
        await pilot.press("X")
        await until(pilot, lambda: isinstance(app.screen, ClosePositionScreen), "close dialog")
        row = str(app.screen.query_one(OptionList).get_option_at_index(0).prompt)
        assert "SELL 3 BTCUSD_PERP MARKET" in row and "estimated realised PnL" in row and "BTC" in row
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ClosePositionScreen), "kept")
        assert sim.default_account.peek(SYM) is not None and sim.default_account.peek(SYM).amt == 3
        await pilot.press("X")
        await until(pilot, lambda: isinstance(app.screen, ClosePositionScreen), "close dialog")
        await pilot.press("y")
        await until(pilot, lambda: (p := sim.default_account.peek(SYM)) is None or p.amt == 0, "closed at the venue")
        await until(pilot, lambda: s.account.position(SYM) is None, "closed on screen")


async def test_hedge_mode_form_sends_the_leg_and_close_picks_it(sim: SimExchange) -> None:
    sim.accounts.set_dual_side(sim.default_account, True)
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await still_market(pilot, app, sim)
        await place_from_the_form(app, pilot, "2")
        await until(pilot, lambda: any(o.position_side == "LONG" for o in sim.default_account.orders.values()),
                    "a LONG-leg order at the venue")
        await market(sim, "BUY", 4, "LONG")
        await market(sim, "SELL", 2, "SHORT")
        s = app.session
        assert s is not None and s.account is not None
        await until(pilot, lambda: s.account.position(SYM, "SHORT") is not None
                    and s.account.position(SYM, "LONG") is not None, "both legs known")
        # the positions panel shows each leg on a row of its own
        from widgets.account import Positions

        table = app.query_one(Positions)
        await until(pilot, lambda: table.row_count == 2, "two leg rows")
        assert [str(table.get_row_at(i)[0]) for i in range(2)] == [f"{SYM} LONG", f"{SYM} SHORT"]
        assert [str(table.get_row_at(i)[1]) for i in range(2)] == ["+4", "-2"]
        await pilot.press("X")  # the ladder cursor is still set: LIMIT closes at its price
        await until(pilot, lambda: isinstance(app.screen, ClosePositionScreen), "close dialog")
        cursor = app.ladder.cursor_price
        assert cursor is not None and f"LONG LIMIT {cursor}" in str(
            app.screen.query_one(OptionList).get_option_at_index(0).prompt)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ClosePositionScreen), "kept")
        await pilot.press("x", "X")  # cursor dropped: MARKET
        await until(pilot, lambda: isinstance(app.screen, ClosePositionScreen), "close dialog")
        legs = app.screen.query_one(OptionList)
        assert legs.option_count == 2
        prompts = [str(legs.get_option_at_index(i).prompt) for i in range(2)]
        assert "SELL 4 BTCUSD_PERP LONG MARKET" in prompts[0] and "BUY 2 BTCUSD_PERP SHORT MARKET" in prompts[1]
        await pilot.press("down", "enter")
        await until(pilot, lambda: sim.default_account.peek(SYM, "SHORT") is None
                    or sim.default_account.peek(SYM, "SHORT").amt == 0, "SHORT leg closed")
        assert sim.default_account.peek(SYM, "LONG").amt == 4


def test_hedge_order_sides() -> None:
    buy = OrderRequest(SYM, "BUY", "LIMIT", quantity=D(1), price=D(1), time_in_force="GTC")
    assert hedge_order(buy, False) is buy
    assert hedge_order(buy, True).position_side == "LONG"
    sell = OrderRequest(SYM, "SELL", "MARKET", quantity=D(1))
    assert hedge_order(sell, True).position_side == "SHORT"
    close_long = OrderRequest(SYM, "SELL", "MARKET", quantity=D(1), reduce_only=True)
    assert (hedge_order(close_long, True).position_side, hedge_order(close_long, True).reduce_only) == ("LONG", None)
    close_short = OrderRequest(SYM, "BUY", "MARKET", quantity=D(1), reduce_only=True)
    assert hedge_order(close_short, True).position_side == "SHORT"
