"""The history screen (H) on a stepped simulator: Pilot flows and snapshots of each tab at
160x48 and 80x24, after a scripted session (fills, a partial fill then cancel, funding)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, TabbedContent

from feeds.decimals import fmt_plain
from feeds.sim import SimHandle
from tui.app import CoinmApp
from tui.history_screen import HistoryScreen
from tui.screenshots import FROZEN_NOW_MS, FrozenSession, dashboard, settle, until

pytestmark = pytest.mark.timeout(120)
SYM = "BTCUSD_PERP"


class HourLaterSession(FrozenSession):
    """A frozen venue clock an hour on, so the screen's period holds the scripted session."""

    def server_ms(self) -> int:
        return FROZEN_NOW_MS + 3_600_000


def script(h: SimHandle) -> None:
    """Fills, a partial fill then cancel, a cancel, two funding settlements (deterministic)."""
    from feeds.sim.wsapi import place_order

    sim = h.sim

    def run() -> None:
        acct, accounts, engine = sim.account(), sim.accounts, sim.engine
        tick = sim.symbols[SYM].tick_size
        book = engine.syms[SYM].book

        def place(**p: str) -> dict[str, Any]:
            return place_order(accounts, acct, {"symbol": SYM, "newOrderRespType": "RESULT", **p})

        place(side="BUY", type="MARKET", quantity="7")
        sim.step(10)
        ask = Decimal(book.best_ask()) * tick
        big = place(side="BUY", type="LIMIT", timeInForce="GTC", price=fmt_plain(ask), quantity="3000")
        sim.step(5)
        accounts.cancel(acct.orders[big["orderId"]])
        far = place(side="SELL", type="LIMIT", timeInForce="GTC", quantity="3",
                    price=fmt_plain((ask * Decimal("1.02")).quantize(tick)))
        accounts.cancel(acct.orders[far["orderId"]])
        for _ in range(2):
            engine._next_funding = engine.now_ms + 50  # a settlement now, not hours of steps away
            sim.step(20)
        place(side="SELL", type="MARKET", quantity="4")
        sim.step(5)

    h.call(run)


def open_history(h: SimHandle, *tab: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def then(pilot: Pilot[Any]) -> None:
        script(h)
        await pilot.press("H")
        await until(pilot, lambda: isinstance(pilot.app.screen, HistoryScreen)
                    and pilot.app.screen.state == "live", "history read from the venue", 30)
        if tab:
            await pilot.press(*tab)
        if tab == ("4",):
            # The P&L chart's time axis has one tick per distinct income time, and whether two of
            # the scripted session's rows share a millisecond differs between runs (4 or 5 ticks
            # on clean-clone CI runs). The series it draws is tested by hand in tests/test_history.py;
            # the picture holds the table and the funding line.
            pilot.app.screen.query_one("#pnl-chart").display = False

    return then


def app_for(h: SimHandle) -> CoinmApp:
    return dashboard(h, session_class=HourLaterSession)


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
@pytest.mark.parametrize("tab", ["1", "2", "3", "4"], ids=["trades", "orders", "income", "pnl"])
def test_history_views(snap_compare: Any, stepped: SimHandle, size: tuple[int, int], tab: str) -> None:
    assert snap_compare(app_for(stepped), terminal_size=size,
                        run_before=settle(stepped, then=open_history(stepped, tab)))


async def test_history_screen_cache_first_then_venue(stepped: SimHandle) -> None:
    app = app_for(stepped)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(stepped, then=open_history(stepped))(pilot)
        screen = app.screen
        assert isinstance(screen, HistoryScreen) and screen.report is not None
        acct = stepped.call(stepped.sim.account)
        trades = stepped.call(lambda: list(acct.trades))
        income = stepped.call(lambda: list(acct.income))
        assert len(trades) >= 3 and sum(r.type == "FUNDING_FEE" for r in income) == 2
        assert [t.id for t in screen.report.trades] == [t.id for t in sorted(trades, key=lambda t: (t.time, t.id))]
        assert screen.query_one("#trades-table", DataTable).row_count == len(trades)
        assert screen.query_one("#income-table", DataTable).row_count == len(income)
        assert sum((d.net for d in screen.report.pnl), Decimal(0)) == sum((r.amount for r in income), Decimal(0))
        # keyboard: 4 shows P&L, r reads the venue again, Esc closes
        await pilot.press("4")
        assert screen.query_one(TabbedContent).active == "tab-pnl"
        await pilot.press("r")
        await until(pilot, lambda: screen.refreshes == 2 and screen.state == "live", "reloaded")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HistoryScreen), "closed")
        # reopened: the cached rows are on screen before the venue is asked again
        await pilot.press("H")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.state != "opening",
                    "opened from the cache")
        again = app.screen
        assert isinstance(again, HistoryScreen) and again.report is not None
        assert again.cached_trades == len(trades) and screen.cached_trades == 0
        await until(pilot, lambda: again.state == "live", "brought up to date")
        assert not again.report.rebuilt
