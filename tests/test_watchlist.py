"""The watchlist, the term structure and the alerts screen on the dashboard (Pilot, loopback)."""

from __future__ import annotations

import json
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
