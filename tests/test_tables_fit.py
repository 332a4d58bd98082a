"""Issue 13, tables fit: with a position (6-digit liquidation price), stop orders and a limit
order, every column shows at 160x48 and a prioritised subset at 80x24; a number is never cut;
no negative zero."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from textual.widgets import DataTable

from feeds.account import AccountState
from feeds.filters import OrderRequest
from feeds.models import parse_user_event
from feeds.sim import SimExchange
from feeds.sim.market import build_symbols
from tests.app_support import make_app, ready, until
from tui.app import CoinmApp
from widgets.account import OpenOrders, Positions, position_cells

pytestmark = pytest.mark.timeout(90)


async def trade(app: CoinmApp) -> None:
    """A 3,000-contract short (liquidation price above 100,000), two stops and a limit."""
    s = app.session
    assert s is not None and s.orders is not None and s.market is not None and s.book is not None
    info = s.market.info
    bid = s.book.best_bid().price
    mark = s.market.mark.mark_price if s.market.mark else None
    for order in (
        OrderRequest(symbol=info.symbol, side="SELL", type="MARKET", quantity=Decimal(3000)),
        OrderRequest(symbol=info.symbol, side="BUY", type="STOP_MARKET", quantity=Decimal(5),
                     stop_price=bid + 1000, working_type="CONTRACT_PRICE"),
        OrderRequest(symbol=info.symbol, side="BUY", type="STOP", quantity=Decimal(5), price=bid + 1001,
                     stop_price=bid + 1000, time_in_force="GTC", working_type="CONTRACT_PRICE"),
        OrderRequest(symbol=info.symbol, side="BUY", type="LIMIT", quantity=Decimal(1), price=bid - 50,
                     time_in_force="GTC"),
    ):
        outcome = await s.orders.submit(order, info, mark_price=mark, last_price=s.market.last_price)
        assert outcome.status == "accepted", outcome.message


def fits(table: DataTable[Any]) -> None:
    """Every column inside the table's width, and every cell inside its column."""
    assert table.virtual_size.width <= table.size.width, [c.label.plain for c in table.columns.values()]
    for row in range(table.row_count):
        for column, cell in zip(table.columns.values(), table.get_row_at(row)):
            assert len(str(cell)) <= column.content_width, (column.label.plain, str(cell))


def labels(table: DataTable[Any]) -> list[str]:
    return [c.label.plain for c in table.columns.values()]


async def test_every_column_fits_at_160x48(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await trade(app)
        orders, positions = app.query_one(OpenOrders), app.query_one(Positions)
        await until(pilot, lambda: orders.row_count == 3 and positions.row_count == 1, "rows")
        await until(pilot, lambda: "," in str(positions.get_row_at(0)[4]), "liquidation price")
        liq = str(positions.get_row_at(0)[4])
        assert len(liq.replace(",", "").split(".")[0]) >= 6  # 6-digit, shown whole
        await pilot.pause(0.1)
        assert labels(orders) == list(OpenOrders.COLUMNS) and labels(positions) == list(Positions.COLUMNS)
        fits(orders)
        fits(positions)


async def test_a_prioritised_subset_fits_at_80x24(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await trade(app)
        orders, positions = app.query_one(OpenOrders), app.query_one(Positions)
        await until(pilot, lambda: orders.row_count == 3, "orders")
        await pilot.pause(0.1)
        assert labels(orders) == list(OpenOrders.NARROW_COLUMNS)
        fits(orders)
        await pilot.press("p")
        await until(pilot, lambda: positions.display and positions.row_count == 1, "positions")
        await until(pilot, lambda: "," in str(positions.get_row_at(0)[2]), "liquidation price")
        await pilot.pause(0.1)
        assert labels(positions) == list(Positions.NARROW_COLUMNS)
        fits(positions)
        await pilot.resize_terminal(160, 48)  # wide again: every column back
        await until(pilot, lambda: labels(positions) == list(Positions.COLUMNS)
                    and positions.row_count == 1, "all columns")


def test_a_figure_that_rounds_to_zero_has_no_sign() -> None:
    info = build_symbols()["BTCUSD_PERP"]
    acct = AccountState(symbols={"BTCUSD_PERP": info})
    acct.load_balances([{"asset": "BTC", "balance": "1", "availableBalance": "1"}])
    acct.apply(parse_user_event({
        "e": "ACCOUNT_UPDATE", "E": 1000, "T": 1000,
        "a": {"m": "ORDER", "B": [{"a": "BTC", "wb": "1", "cw": "1", "bc": "0"}],
              "P": [{"s": "BTCUSD_PERP", "pa": "1", "ep": "88000.0", "bep": "88000.0", "cr": "0",
                     "up": "0", "mt": "cross", "iw": "0", "ps": "BOTH"}]}}))
    cells = position_cells(acct, info, "BTCUSD_PERP", Decimal("87999.9"))  # -1.3e-11 BTC
    assert cells is not None
    assert cells[5] == "0.00000000" and cells[6] == "+0.00%"
