"""The watchlist, the term structure and the alerts screen on the dashboard (Pilot, loopback)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from feeds.alerts import AlertStore
from feeds.models import AggTrade
from feeds.sim import SimExchange
from feeds.symbols import SymbolInfo
from feeds.watchlist import WatchRow, sort_rows, term_structure
from tests.app_support import make_app, ready, until
from tui.alerts_screen import AlertsScreen
from tui.watch_screens import TermStructureScreen, WatchlistScreen
from widgets.watchlist import TermTable, WatchlistTable

pytestmark = pytest.mark.timeout(90)


def _row(symbol: str, volume: str | None, favourite: bool = False) -> WatchRow:
    v = Decimal(volume) if volume is not None else None
    return WatchRow(symbol, favourite, None, None, None, None, None, None, None, None, None, v, None,
                    Decimal("0.1"))


def test_sort_pins_favourites_and_puts_unknowns_last() -> None:
    rows = [_row("A", "5"), _row("B", None), _row("C", "9"), _row("D", "1", favourite=True)]
    assert [r.symbol for r in sort_rows(rows, "volume", descending=True)] == ["D", "C", "A", "B"]
    assert [r.symbol for r in sort_rows(rows, "volume")] == ["D", "A", "C", "B"]


def test_term_structure_annualises_by_hand() -> None:
    from feeds.models import MarkPriceUpdate

    def info(symbol: str, kind: str, delivery: int) -> SymbolInfo:
        return SymbolInfo.from_wire({
            "symbol": symbol, "pair": "BTCUSD", "contractType": kind, "deliveryDate": delivery,
            "contractSize": 100, "baseAsset": "BTC", "quoteAsset": "USD", "marginAsset": "BTC",
            "contractStatus": "TRADING", "pricePrecision": 1, "quantityPrecision": 0,
            "filters": [
                {"filterType": "PRICE_FILTER", "tickSize": "0.1", "minPrice": "1", "maxPrice": "1000000"},
                {"filterType": "LOT_SIZE", "stepSize": "1", "minQty": "1", "maxQty": "1000"},
                {"filterType": "MARKET_LOT_SIZE", "stepSize": "1", "minQty": "1", "maxQty": "1000"},
                {"filterType": "PERCENT_PRICE", "multiplierUp": "1.05", "multiplierDown": "0.95",
                 "multiplierDecimal": "4"}]})

    def mark(symbol: str, price: str, rate: str | None) -> MarkPriceUpdate:
        return MarkPriceUpdate(event_time=0, symbol=symbol, mark_price=Decimal(price), est_settle_price=Decimal(0),
                               index_price=Decimal(100_000), funding_rate=Decimal(rate) if rate else None,
                               next_funding_time=0)

    now = 1_800_000_000_000
    day = 86_400_000
    symbols = {"BTCUSD_PERP": info("BTCUSD_PERP", "PERPETUAL", 4133404800000),
               "BTCUSD_Q1": info("BTCUSD_Q1", "CURRENT_QUARTER", now + 73 * day),
               "BTCUSD_Q2": info("BTCUSD_Q2", "NEXT_QUARTER", now + 146 * day)}
    marks = {"BTCUSD_PERP": mark("BTCUSD_PERP", "100010", "0.0001"), "BTCUSD_Q1": mark("BTCUSD_Q1", "101000", None),
             "BTCUSD_Q2": mark("BTCUSD_Q2", "102000", None)}
    curve = term_structure(symbols, marks, now)["BTC"]
    assert [r.symbol for r in curve] == ["BTCUSD_PERP", "BTCUSD_Q1", "BTCUSD_Q2"]
    # perp: 0.01 % per 8 h x 1095 = 10.95 % a year; Q1: 1 % over 73 days = 5 % a year; Q2: 2 % over 146 = 5 %
    assert [r.annualised_pct for r in curve] == [Decimal("10.9500"), Decimal(5), Decimal(5)]
    assert curve[1].basis == Decimal(1000) and curve[1].days == Decimal(73)


async def test_watchlist_is_live_sorts_pins_and_switches(sim: SimExchange) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None and s.market is not None and s.watch is not None
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WatchlistScreen), "the watchlist")
        table = app.screen.query_one(WatchlistTable)
        symbols = sorted(s.symbols)
        assert len(symbols) >= 3
        # every contract, with marks from the pair streams and lasts from !miniTicker@arr
        await until(pilot, lambda: table._order == symbols and all(
            table._cells[x][3].plain != "—" and table._cells[x][1].plain != "—" for x in symbols),
            "every row live", timeout=20)
        assert table.refreshes >= 1
        await pilot.press("o")  # by last price, largest first
        await until(pilot, lambda: table.sort_key == "last", "sorted by last")
        lasts = [Decimal(table._cells[x][1].plain) for x in table._order]
        assert lasts == sorted(lasts, reverse=True)
        bottom = table._order[-1]
        table.move_cursor(row=len(table._order) - 1)
        await pilot.press("f")
        await until(pilot, lambda: table._order[0] == bottom, "the favourite pinned to the top")
        saved = json.loads(Path(s.watch.favourites.path).read_text())  # noqa: ASYNC240 - a tiny file
        assert saved == {"favourites": [bottom]}
        table.move_cursor(row=0)
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, WatchlistScreen), "closed")
        await until(pilot, lambda: s.market.info.symbol == bottom, "the dashboard shows the chosen contract")


async def test_term_structure_lists_each_contract(sim: SimExchange) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None and s.watch is not None
        await until(pilot, lambda: all(x in s.watch.marks for x in s.symbols), "every mark", timeout=20)
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TermStructureScreen), "term structure")
        table = app.screen.query_one(TermTable)
        await until(pilot, lambda: table.row_count == len(s.symbols), "a row per contract")
        quarters = [x for x, i in s.symbols.items() if not i.is_perpetual]
        assert quarters, "the simulator lists CURRENT_QUARTER and NEXT_QUARTER contracts"
        annual = {str(r[1]).split(" ")[0]: str(r[5]) for r in table._shown}
        for q in quarters:  # a quarterly's basis annualised to its delivery
            assert annual[q].endswith("%"), (q, annual[q])
        await pilot.press("o")
        await until(pilot, lambda: table.by_annualised, "sorted by annualised basis")
        shown = [Decimal(str(r[5]).split("%")[0]) for r in table._shown if str(r[5]) != "—"]
        assert shown == sorted(shown, reverse=True)


async def test_alert_from_the_ladder_cursor_fires_and_is_deleted(sim: SimExchange) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None and s.market is not None and s.alerts is not None
        await until(pilot, lambda: s.market.last_price is not None, "a last price")
        await pilot.press("a", "up", "up")  # above the best ask
        price = app.ladder.cursor_price
        assert price is not None
        await pilot.press("n")
        await until(pilot, lambda: len(s.alerts.alerts) == 1, "the alert")
        alert = s.alerts.alerts[0]
        assert (alert.kind, alert.level, alert.symbol) == ("above", price, s.market.info.symbol)
        assert AlertStore().load() == [alert]  # persisted for the next start and coinm alert list
        # the price reaching it (an event as the stream would give it): one toast, one journal row
        rung: list[int] = []
        app.bell = lambda: rung.append(1)  # type: ignore[method-assign]
        # from below the level (past the 0.1 % re-arm band) whatever the live market did meanwhile
        below = (price * Decimal("0.998")).quantize(s.market.info.tick_size)
        for p in (below, price, price):
            s.alerts.on_market(AggTrade(event_time=s.server_ms(), symbol=alert.symbol, agg_id=1, price=p,
                                        qty=Decimal(1), first_trade_id=1, last_trade_id=1, trade_time=1,
                                        is_buyer_maker=False))
        await until(pilot, lambda: rung == [1], "the bell")
        toasts: Any = [n.message for n in app._notifications]
        assert sum(1 for t in toasts if f"above {price}" in t) == 2  # "Alert set" and the firing
        await pilot.press("N")
        await until(pilot, lambda: isinstance(app.screen, AlertsScreen), "the alerts screen")
        await pilot.press("d")
        await until(pilot, lambda: s.alerts.alerts == [] and AlertStore().load() == [], "deleted")


async def test_a_refresh_measures_each_column_once_and_keeps_the_widths_exact(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The once-a-second refresh changes most cells: each changed cell used to be updated with
    ``update_width``, and DataTable re-measured the whole column for each one narrower than it
    (rows x changed cells; a 100 ms stall of the keys every second). Now a column is measured
    only when its widest cell's width changed, once; the widths stay what a new table's are."""
    from rich.cells import cell_len
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield WatchlistTable(id="watchlist")

    def rows(last: str) -> list[WatchRow]:
        return [replace(_row(f"C{i:02d}", "5"), last=Decimal(last) + i, mark=Decimal(last)) for i in range(30)]

    current = {"rows": rows("87000.1"), "version": 0}
    measured: list[bool] = []
    update_cell = DataTable.update_cell

    def counted(self: Any, *args: Any, update_width: bool = False, **kwargs: Any) -> None:
        measured.append(update_width)
        update_cell(self, *args, update_width=update_width, **kwargs)

    async def widths_settled(pilot: Any, table: WatchlistTable) -> list[int]:
        await pilot.pause()
        return [c.content_width for c in table.columns.values()]

    app = Host()
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.query_one(WatchlistTable)
        table.bind_source(lambda: current["rows"], lambda: 0, lambda: current["version"])
        table.poll(force=True)
        assert table._order == [r.symbol for r in current["rows"]]
        first = await widths_settled(pilot, table)
        monkeypatch.setattr(DataTable, "update_cell", counted)
        for last in ("87000.2", "9.5", "123456789.25", "87000.3"):  # same widths, narrower, wider, back
            current["rows"], current["version"] = rows(last), current["version"] + 1
            measured.clear()
            table.poll(force=True)
            assert len(measured) >= 30  # every last and mark changed
            assert measured.count(True) <= 2  # fails before: one per changed cell
            shown = await widths_settled(pilot, table)
            # what a new table measures: each column as wide as its widest cell or its label
            assert shown == [max(cell_len(c.label.plain), *(cell_len(str(v)) for v in table.get_column(key)))
                             for key, c in table.columns.items()], last
        assert shown == first


async def test_the_watchlist_title_is_redrawn_only_when_it_changes(sim: SimExchange) -> None:
    """Static.update lays the whole screen out again: the 4 Hz tick must not do it for nothing."""
    from textual.widgets import Static

    app = make_app(sim, trading=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WatchlistScreen), "the watchlist")
        screen = app.screen
        title = screen.query_one("#watch-title", Static)
        updates: list[str] = []
        update = title.update
        title.update = lambda text="": (updates.append(str(text)), update(text))[1]  # type: ignore[method-assign]
        for _ in range(3):
            screen._title()
        assert len(updates) <= 1  # fails before: three
        text = str(title.render())
        screen.query_one(WatchlistTable).sort_key = "last"
        screen._title()
        assert str(title.render()) != text and "Last" in str(title.render())
