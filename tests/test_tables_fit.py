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
        for column, cell in zip(table.columns.values(), table.get_row_at(row), strict=True):
            for line in str(cell).split("\n"):  # a cell of two lines is as wide as its longer
                assert len(line) <= column.content_width, (column.label.plain, str(cell))


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
        # 48 columns: side 4+2, type 6+2, price 18+2 ('89,001.0 @89,000.0'), filled 6+2, RC 2+2 = 46;
        # status (6+2) no longer fits, nor TIF (3+2) after it, nor the id
        assert labels(orders) == ["Side", "Type", "Price", "Filled", "RC"]
        fits(orders)
        await pilot.press("p")
        await until(pilot, lambda: positions.display and positions.row_count == 1, "positions")
        await until(pilot, lambda: "," in str(positions.get_row_at(0)[2]), "liquidation price")
        await pilot.pause(0.1)
        # symbol 11+2, size 5+2, liq. 9+2 (6 digits), uPnL 10 or 11+2 = 44 at most; ratio 5+2 is over 48
        assert labels(positions) == ["Symbol", "Size", "Liq.", "uPnL"]
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


async def test_the_most_important_columns_fit_at_60x20(sim: SimExchange) -> None:
    """60 columns leave the tables 28: the side, price (a stop limit's price above its trigger)
    and quantity of each order, the symbol and size of the position; nothing cut."""
    app = make_app(sim)
    async with app.run_test(size=(60, 20)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await trade(app)
        orders, positions = app.query_one(OpenOrders), app.query_one(Positions)
        await until(pilot, lambda: orders.row_count == 3, "orders")
        await pilot.pause(0.1)
        assert orders.size.width == 28
        assert {"Side", "Price", "Filled"} <= set(labels(orders)), labels(orders)
        fits(orders)
        prices = [str(orders.get_row_at(r)[labels(orders).index("Price")]) for r in range(orders.row_count)]
        stop_limit = next(p for p in prices if p.count("@") == 1 and not p.startswith("@"))
        limit, trigger = stop_limit.split("\n")  # the stop limit's price above its trigger, each whole
        assert len(limit) == len("89,001.0") and trigger.startswith("@") and len(trigger) == len("@89,000.0")
        await pilot.press("p")
        await until(pilot, lambda: positions.display and positions.row_count == 1, "positions")
        account = app.session.account if app.session is not None else None
        await until(pilot, lambda: account is not None and any(
            r.liquidation_price for r in account.position_risk.values()), "liquidation price")
        await pilot.pause(0.1)
        assert labels(positions)[:2] == ["Symbol", "Size"]
        fits(positions)
        await pilot.resize_terminal(61, 20)  # one more column: still nothing cut
        await pilot.pause(0.1)
        fits(positions)
        await pilot.press("p")
        await until(pilot, lambda: orders.display, "orders again")
        await pilot.pause(0.1)
        fits(orders)
