"""The watchlist follows the venue's contracts: a quarterly delivered while it is open is marked,
the quarter listed in its place gets a live row (its open interest asked at once, not at the next
five-minute round), and the term structure drops the delivered one (Pilot, loopback, a stepped
simulator 40 s before December's delivery)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.text import Text

from feeds.sim import SimExchange
from tests.app_support import make_app, ready, until
from tests.test_sim_delivery import DEC_2026
from tui.watch_screens import WatchlistScreen
from widgets.watchlist import WatchlistTable

pytestmark = pytest.mark.timeout(90)

DELIVERED, CURRENT, LISTED = "BTCUSD_261225", "BTCUSD_270326", "BTCUSD_270625"


@pytest.fixture
async def venue(tmp_path: Path) -> AsyncIterator[SimExchange]:
    sim = SimExchange(seed=11, data_dir=tmp_path / "sim", realtime=False, start_time_ms=DEC_2026 - 40_000)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def cell_text(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


async def test_watchlist_marks_a_delivery_and_lists_the_next_quarter(
        venue: SimExchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINM_DATA_DIR", str(tmp_path / "data"))
    sim = venue
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None and s.watch is not None
        watch = s.watch
        await until(pilot, lambda: watch.open_interest.get(DELIVERED) is not None, "open interest read")
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WatchlistScreen), "the watchlist")
        table = app.screen.query_one(WatchlistTable)
        assert LISTED not in table._order and table._order.index(DELIVERED) < table._order.index("ETHUSD_PERP")

        sim.step(41 * 20)  # past 08:00 UTC: BTC's December quarter delivers, June is listed
        await until(pilot, lambda: LISTED in table._order, "the new quarter has a row", 15)
        # its open interest comes at once, not at the next round five minutes on
        await until(pilot, lambda: watch.open_interest.get(LISTED) is not None, "the new quarter's open interest")
        for _ in range(3):  # a few seconds of market: the pair's mark stream carries the new quarter
            sim.step(20)
            await pilot.pause(0.05)
        await until(pilot, lambda: LISTED in watch.marks, "the new quarter's mark")
        row = next(r for r in watch.rows({}) if r.symbol == DELIVERED)
        assert row.status == "DELIVERED" and not row.trading

        def shown(symbol: str) -> list[str]:
            return [cell_text(c) for c in table.get_row(symbol)]

        await until(pilot, lambda: shown(DELIVERED)[0].startswith("✕"), "the delivered row marked")
        assert "delivered" in shown(DELIVERED)
        assert set(table._order[-2:]) == {DELIVERED, "ETHUSD_261225"}  # below every contract that trades
        await until(pilot, lambda: shown(LISTED)[3] != "—", "the new quarter's mark shown")
        assert shown(LISTED)[0].strip() == LISTED and "delivered" not in shown(LISTED)

        await pilot.press("escape", "T")
        from tui.watch_screens import TermStructureScreen
        from widgets.watchlist import TermTable

        await until(pilot, lambda: isinstance(app.screen, TermStructureScreen), "the term structure")
        term = app.screen.query_one(TermTable)
        await until(pilot, lambda: any(LISTED in cell_text(r[1]) for r in term._shown), "the new quarter's row")
        contracts = [cell_text(r[1]).split(" ")[0] for r in term._shown]
        assert DELIVERED not in contracts and CURRENT in contracts
        assert not [r for r in term._shown if "this qtr" in cell_text(r[1]) and CURRENT not in cell_text(r[1])
                    and cell_text(r[0]) == "BTC"]


async def test_watchlist_fits_80_columns(sim: SimExchange) -> None:
    """At 80x24 the watchlist shows the columns that fit, whole, by importance (it was cut at the
    right edge: the funding rate showed as '+0.0'); no negative zero in a basis."""
    app = make_app(sim, trading=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WatchlistScreen), "the watchlist")
        table = app.screen.query_one(WatchlistTable)
        await until(pilot, lambda: table.row_count >= 10 and all(
            cell_text(table.get_row(s)[3]) != "—" for s in table._order), "every mark in")
        labels = [str(c.label) for c in table.columns.values()]
        assert labels[:4] == ["Symbol", "Last", "24h %", "Mark"] and "Funding" in labels, labels
        assert table.max_scroll_x == 0, labels  # nothing cut at the right edge
        used = sum(c.get_render_width(table) for c in table.columns.values())
        assert used <= table.scrollable_content_region.width
        cells = [cell_text(c) for s in table._order for c in table.get_row(s)]
        assert not [c for c in cells if c.startswith("-") and not c.strip("-0.%")]


async def test_term_structure_fits_80_columns(sim: SimExchange) -> None:
    """At 80x24 the term structure keeps the contract, its annualised basis, basis % and price
    whole (the annualised column was cut to '+12.19% (fun')."""
    from tui.watch_screens import TermStructureScreen
    from widgets.watchlist import TermTable

    app = make_app(sim, trading=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TermStructureScreen), "the term structure")
        table = app.screen.query_one(TermTable)
        await until(pilot, lambda: table.row_count >= 10 and all(cell_text(r[5]) != "—" for r in table._shown
                                                                 if "perp" in cell_text(r[1])), "marks in")
        await pilot.pause(0.2)
        labels = [str(c.label) for c in table.columns.values()]
        assert {"Contract", "Price", "Basis %", "Annualised"} <= set(labels), labels
        assert table.max_scroll_x == 0, labels
