"""The depth chart (issue 18): cumulative bids and asks around the mid, ``d`` in the chart pane.

The sums are worked by hand on small books; on the dashboard (Pilot, a stepped simulator over
loopback) every step of the curve drawn is checked against the simulator's true book: at each
bid price the contracts bid at or above it, at each ask price the contracts offered at or below
it. Snapshots at 160x48 and 80x24.
"""

from __future__ import annotations

from decimal import Context, Decimal
from typing import Any

import pytest
from textual.pilot import Pilot

from feeds.book import OrderBook
from feeds.sim import SimExchange, SimHandle
from feeds.studies import DepthStep, book_depth, depth_curve, depth_group_ticks
from tests.app_support import make_app, ready, still_market, until
from widgets.depth_chart import DepthChart, depth_title

pytestmark = pytest.mark.timeout(120)

D = Decimal


def levels(*pairs: tuple[str, str]) -> list[tuple[Decimal, Decimal]]:
    return [(D(p), D(q)) for p, q in pairs]


def test_depth_curve_by_hand() -> None:
    # given out of order, with a zero level: bids 100x1, 99x2, 98x5, 90x7; asks 101x3, 103x4
    curve = depth_curve(levels(("99", "2"), ("100", "1"), ("97", "0"), ("98", "5"), ("90", "7")),
                        levels(("103", "4"), ("101", "3")), span=D("0.05"), contract_size=10)
    assert curve is not None
    assert curve.mid == D("100.5")
    # 5 % of the mid is 5.025, but the asks end at 103: 2.5 from the mid, so both sides stop there
    assert curve.reach == D("2.5") and (curve.low, curve.high) == (D("98.0"), D("103.0"))
    assert curve.bids == (DepthStep(D(100), D(1)), DepthStep(D(99), D(3)), DepthStep(D(98), D(8)))
    assert curve.asks == (DepthStep(D(101), D(3)), DepthStep(D(103), D(7)))
    assert (curve.bid_total, curve.ask_total) == (D(8), D(7))
    assert curve.usd(curve.bid_total) == D(80)
    assert curve.imbalance == Context(prec=34).divide(D(1), D(15))  # (8 - 7) / (8 + 7)


def test_depth_curve_reaches_the_span_when_the_book_goes_deeper() -> None:
    curve = depth_curve(levels(("99", "1"), ("98", "2"), ("97", "4"), ("50", "8")),
                        levels(("101", "1"), ("102", "2"), ("150", "8")), span=D("0.02"))
    assert curve is not None and curve.mid == D(100) and curve.reach == D(2)
    assert curve.bids == (DepthStep(D(99), D(1)), DepthStep(D(98), D(3)))  # 97 is past 98
    assert curve.asks == (DepthStep(D(101), D(1)), DepthStep(D(102), D(3)))
    assert depth_curve([], levels(("101", "1"))) is None
    assert depth_curve(levels(("99", "1")), levels(("101", "0"))) is None


def test_group_ticks_by_hand() -> None:
    # 0.5 % of 88,000 is 440 USD = 4,400 ticks of 0.1; in 60 steps: 73.3 -> 74 ticks a step
    assert depth_group_ticks(D(88_000), D("0.1")) == 74
    # 0.5 % of 0.15 is 0.00075 = 75 ticks of 0.00001; in 60 steps: 1.25 -> 2; in 100 steps: 1
    assert depth_group_ticks(D("0.15"), D("0.00001"), points=60) == 2
    assert depth_group_ticks(D("0.15"), D("0.00001"), points=100) == 1
    with pytest.raises(ValueError):
        depth_group_ticks(D(1), D(0))


def test_book_depth_groups_bids_down_and_asks_up() -> None:
    book = OrderBook("X", D("0.1"))
    book.load_snapshot(1, [["100.0", "1"], ["99.9", "2"], ["99.5", "4"], ["99.0", "8"]],
                       [["100.1", "3"], ["100.4", "5"], ["101.0", "6"]])
    # span 1 % of 100.05 in 4 steps: 1.0005 / 0.1 / 4 = 2.5 -> 3 ticks a step; the mid is the
    # book's (the groups' prices are rounded away from it); the reach 1.0005 (both sides go deeper)
    curve = book_depth(book, span=D("0.01"), points=4)
    assert curve is not None and curve.mid == D("100.05") and curve.reach == D("1.0005")
    # bids 100.0 and 99.9 fall in the group [99.9, 100.2) at 99.9; 99.5 in [99.3, 99.6) at 99.3;
    # 99.0's group is past the reach (99.0495)
    assert curve.bids == (DepthStep(D("99.9"), D(3)), DepthStep(D("99.3"), D(7)))
    # asks 100.1 in (99.9, 100.2] at 100.2; 100.4 in (100.2, 100.5] at 100.5; 101.0's group at 101.1 is past
    assert curve.asks == (DepthStep(D("100.2"), D(3)), DepthStep(D("100.5"), D(8)))
    assert book_depth(OrderBook("Y", D("0.1"))) is None


def test_title_fits_its_width() -> None:
    curve = depth_curve(levels(("99", "1200")), levels(("101", "800")), span=D("0.01"), contract_size=100)
    assert curve is not None
    full = depth_title("BTCUSD_PERP", curve, D("0.1"))
    assert full == ("BTCUSD_PERP depth ±1.00% of mid 100.00 · bids 1.20k ($120k) · asks 800 ($80.0k) · imb +20%")
    for width in (90, 70, 45, 30, 12):
        assert len(depth_title("BTCUSD_PERP", curve, D("0.1"), width=width)) <= width
    title = depth_title("BTCUSD_PERP", curve, D("0.1"), width=60)
    assert title == "BTCUSD_PERP ±1.00% · bids 1.20k · asks 800 · imb +20%"
    assert depth_title("BTCUSD_PERP", curve, D("0.1"), width=40) == "±1.00% · bids 1.20k · asks 800"
    title = depth_title("BTCUSD_PERP", None, D("0.1"), "the book is not live")
    assert title == "BTCUSD_PERP depth · the book is not live"


def cum_at_or_beyond(true: list[tuple[Decimal, Decimal]], price: Decimal, bids: bool) -> Decimal:
    return sum((q for p, q in true if (p >= price if bids else p <= price)), D(0))


async def test_depth_chart_on_the_dashboard_is_the_venues_book(sim: SimExchange) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        chart = app.query_one(DepthChart)
        assert not chart.display and app.chart.display
        await pilot.press("d")
        assert app.has_class("-depth-chart")
        await until(pilot, lambda: chart.size.width > 0 and not app.chart.size.width, "the depth chart shown")
        await still_market(pilot, app, sim)
        await until(pilot, lambda: chart.up_to_date and chart.curve is not None, "the depth drawn", 10)
        curve = chart.curve
        assert curve is not None and chart.builds >= 1
        true_bids, true_asks = sim.book_levels("BTCUSD_PERP")
        assert curve.mid == (true_bids[0][0] + true_asks[0][0]) / 2
        assert curve.bids and curve.asks
        for step in curve.bids:
            assert curve.low <= step.price <= curve.mid
            assert step.cum == cum_at_or_beyond(true_bids, step.price, bids=True), step
        for step in curve.asks:
            assert curve.mid <= step.price <= curve.high
            assert step.cum == cum_at_or_beyond(true_asks, step.price, bids=False), step
        shown = "\n".join(strip.text for strip in chart._strips)
        assert "bids" in shown and "asks" in shown

        # a book that is not live draws no curve and says why
        assert app.session is not None and app.session.book is not None
        chart.bind_source(app.session.book, symbol="BTCUSD_PERP", contract_size=100, synced=lambda: False)
        await until(pilot, lambda: chart.up_to_date and chart.curve is None, "no curve for a book not live")
        assert "not live" in "\n".join(strip.text for strip in chart._strips)

        await pilot.press("d")
        assert not app.has_class("-depth-chart")
        await until(pilot, lambda: app.chart.size.width > 0 and not chart.display, "the candles back")



@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_depth_chart_snapshot(snap_compare: Any, stepped: SimHandle, size: tuple[int, int]) -> None:
    from tui.screenshots import dashboard, settle

    async def run(pilot: Pilot[Any]) -> None:
        app: Any = pilot.app
        await pilot.press("d")
        await until(pilot, lambda: app.depth_chart.up_to_date and app.depth_chart.curve is not None,
                    "depth drawn", 10)
        await pilot.pause(0.3)

    assert snap_compare(dashboard(stepped), terminal_size=size, run_before=settle(stepped, then=run))
