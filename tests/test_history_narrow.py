"""The history tables at 80x24: the columns that fit, by priority, none cut at the right edge."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable

from feeds.sim import SimHandle
from tests.test_history_screen import app_for, open_history
from tui.history_screen import HistoryScreen, fit_columns
from tui.screenshots import settle

pytestmark = pytest.mark.timeout(120)


def test_fit_columns_by_priority() -> None:
    header = ("time", "symbol", "incomeType", "income", "asset", "tradeId")
    body = [["11-18 11:07:12", "BTCUSD_PERP", "COMMISSION", "-0.00000227", "BTC", "198225529"]]
    # widths with padding: time 16, symbol 13, incomeType 12, income 13, asset 7, tradeId 11; 2 for a scrollbar
    assert fit_columns("income", header, body, 0) == [0, 1, 2, 3, 4, 5]  # not laid out yet: all
    assert fit_columns("income", header, body, 74) == [0, 1, 2, 3, 4, 5]  # 72 + 2
    assert fit_columns("income", header, body, 73) == [0, 1, 2, 3, 4]  # tradeId goes first
    # 50: time, incomeType, income, asset (48); the symbol (13) no longer fits
    assert fit_columns("income", header, body, 50) == [0, 2, 3, 4]
    # a narrower column further down still shows when a wider one did not fit
    assert fit_columns("income", header, body, 38) == [0, 2, 4]



async def test_history_tables_fit_80_columns(stepped: SimHandle) -> None:
    app = app_for(stepped)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(stepped, then=open_history(stepped))(pilot)
        screen: Any = app.screen
        assert isinstance(screen, HistoryScreen)
        must = {"trades": ("time", "side", "price", "qty", "realizedPnl", "commission"),
                "orders": ("time", "side", "type", "status", "executedQty", "avgPrice", "price"),
                "income": ("time", "incomeType", "income", "asset"),
                "pnl": ("day", "asset", "net", "cumulative")}
        for key, kind in zip("1234", must, strict=True):
            await pilot.press(key)
            await pilot.pause(0.1)
            table = screen.query_one(f"#{kind}-table", DataTable)
            labels = [str(c.label) for c in table.columns.values()]
            assert set(must[kind]) <= set(labels), (kind, labels)
            used = sum(c.get_render_width(table) for c in table.columns.values())
            assert used <= table.scrollable_content_region.width, (kind, labels, used)
            assert table.max_scroll_x == 0, kind  # nothing to scroll to: no column cut off
