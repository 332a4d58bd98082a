"""Issue 13 on the dashboard: the ladder's keys whatever has focus, where the form's price came
from, what a cancel question and a cancel-all toast say, and the journal's rows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from textual.widgets import DataTable

from feeds.filters import OrderRequest
from feeds.journal import JournalEntry
from feeds.sim import SimExchange
from tests.app_support import make_app, ready, still_market, until
from tui.app import CoinmApp
from tui.order_form import OrderForm
from tui.screens import ConfirmScreen, JournalScreen, journal_rows
from widgets.account import OpenOrders, Positions
from widgets.ladder import Ladder

pytestmark = pytest.mark.timeout(90)


def toasts(app: CoinmApp) -> list[str]:
    return [n.message for n in app._notifications]


async def place(app: CoinmApp, offset: int, qty: int = 1) -> None:
    s = app.session
    assert s is not None and s.orders is not None and s.book is not None and s.market is not None
    bid = s.book.best_bid()
    assert bid is not None
    order = OrderRequest(symbol="BTCUSD_PERP", side="BUY", type="LIMIT", quantity=Decimal(qty),
                         price=bid.price - offset, time_in_force="GTC")
    mark = s.market.mark.mark_price if s.market.mark else None
    assert (await s.orders.submit(order, s.market.info, mark_price=mark)).status == "accepted"


@pytest.mark.parametrize("panel", [OpenOrders, Positions])
async def test_ladder_keys_work_with_a_table_focused_and_the_form_names_its_price(
        sim: SimExchange, panel: type) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await still_market(pilot, app, sim)
        s = app.session
        assert s is not None and s.book is not None
        ladder = app.query_one(Ladder)
        app.query_one(panel).focus()
        await pilot.pause()
        await pilot.press("a")
        assert ladder.cursor_price == s.book.best_ask().price
        await pilot.press("z")
        assert ladder.cursor_price == s.book.best_bid().price
        await pilot.press("plus")
        assert ladder.group_ticks == 2
        await pilot.press("minus")
        assert ladder.group_ticks == 1
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, OrderForm), "order form")
        form = app.screen
        subtitle = str(form.query_one("#dialog").border_subtitle)
        assert "from the ladder cursor" in subtitle
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, OrderForm), "closed")
        app.query_one(panel).focus()
        await pilot.press("x")  # recentre: no cursor, the form takes the best bid and says so
        assert ladder.cursor_price is None
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, OrderForm), "order form again")
        assert "from the best bid" in str(app.screen.query_one("#dialog").border_subtitle)
        await pilot.press("a")  # typed into the form's quantity: the ladder under it stays put
        assert ladder.cursor_price is None
        await pilot.press("escape")


async def test_cancel_all_counts_the_orders_and_a_cancel_names_the_order(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await place(app, 50, qty=3)
        await place(app, 60)
        table = app.query_one(OpenOrders)
        await until(pilot, lambda: table.row_count == 2, "two rows")
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "cancel question")
        question = app.screen._question
        assert "BUY" in question and "LIMIT @ " in question and "(order " in question
        assert " 3 LIMIT" in question or " 1 LIMIT" in question
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "declined")
        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "cancel-all question")
        await pilot.press("y")
        await until(pilot, lambda: any("Cancelled" in t for t in toasts(app)), "cancel-all toast")
        assert [t for t in toasts(app) if "Cancelled" in t] == ["Cancelled 2 order(s) on BTCUSD_PERP"]


async def test_an_empty_journal_says_so(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen), "journal")
        table = app.screen.query_one(DataTable)
        await pilot.pause()
        cells = [str(c) for i in range(table.row_count) for c in table.get_row_at(i)]
        assert any("no entries yet" in c for c in cells)


def entry(kind: str, payload: Any, method: str = "ORDER_TRADE_UPDATE") -> JournalEntry:
    return JournalEntry(1, 1_795_000_020_000, "sim", kind, method, "cid", 7, payload)


def test_journal_rows_name_what_each_entry_is() -> None:
    account = entry("event", {"e": "ACCOUNT_UPDATE", "a": {
        "m": "ORDER", "B": [{"a": "BTC", "wb": "0.99", "cw": "0.99"}],
        "P": [{"s": "BTCUSD_PERP", "pa": "3", "ep": "88000.1"}]}}, "ACCOUNT_UPDATE")
    market = entry("event", {"e": "ORDER_TRADE_UPDATE", "o": {
        "x": "NEW", "X": "NEW", "S": "BUY", "q": "2", "o": "MARKET", "p": "0", "sp": "0"}})
    stop = entry("event", {"e": "ORDER_TRADE_UPDATE", "o": {
        "x": "NEW", "X": "NEW", "S": "SELL", "q": "1", "o": "STOP_MARKET", "p": "0", "sp": "86000"}})
    trade = entry("event", {"e": "ORDER_TRADE_UPDATE", "o": {
        "x": "TRADE", "X": "FILLED", "S": "BUY", "q": "2", "o": "MARKET", "p": "0", "sp": "0",
        "l": "2", "L": "88000.1", "n": "0.00000011", "N": "BTC"}})
    fill = entry("fill", {"symbol": "BTCUSD_PERP", "side": "BUY", "qty": "2", "price": "88000.1",
                          "commission": "0.00000011", "commissionAsset": "BTC", "maker": False})
    what = [row[-1] for row in journal_rows([account, market, stop, trade, fill])][::-1]
    assert what[0] == "account ORDER · BTC 0.99 · BTCUSD_PERP 3 @ 88000.1"
    assert what[1] == "NEW/NEW BUY 2 MARKET"
    assert what[2] == "NEW/NEW SELL 1 STOP_MARKET stop 86000"
    assert what[3] == "TRADE/FILLED BUY 2 MARKET filled 2 @ 88000.1 fee 0.00000011 BTC"
    assert what[4] == "BUY 2 @ 88000.1 fee 0.00000011 BTC taker"
    assert not any("/   @" in w or "@ 0" in w for w in what)
