"""Delivery contracts (issue 15): the position row says how long until the contract settles,
and an open position some hours before delivery is warned about once (toast and status bar);
the hours are configurable. Pilot on the stepped simulator (its quarterly BTCUSD_261225)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from feeds.risk import deliveries_near
from feeds.sim import SimHandle
from tests.app_support import next_frame
from tui.screenshots import dashboard, settle, until
from widgets.ticker import long_countdown

pytestmark = pytest.mark.timeout(120)
QUARTER = "BTCUSD_261225"


def test_deliveries_near_by_hours() -> None:
    infos = {"A_PERP": SimpleNamespace(is_perpetual=True, delivery_date=0),
             "A_1": SimpleNamespace(is_perpetual=False, delivery_date=10 * 3_600_000),
             "A_2": SimpleNamespace(is_perpetual=False, delivery_date=30 * 3_600_000)}
    near = deliveries_near(["A_PERP", "A_1", "A_2", "UNKNOWN"], infos.get, 0, hours=24)
    assert near == [("A_1", 10 * 3_600_000)]
    assert [s for s, _ in deliveries_near(infos, infos.get, 0, hours=30)] == ["A_1", "A_2"]
    assert deliveries_near(infos, infos.get, 0, hours=9) == []



async def test_delivery_countdown_on_the_row_and_one_warning(stepped: SimHandle) -> None:
    from feeds.sim.wsapi import place_order

    h = stepped
    sim = h.sim
    app = dashboard(h)
    async with app.run_test(size=(200, 48)) as pilot:
        await settle(h)(pilot)
        s = app.session
        assert s is not None and s.account is not None
        h.call(lambda: place_order(sim.accounts, sim.account(), {"symbol": QUARTER, "side": "BUY", "type": "MARKET",
                                                                "quantity": "2", "newOrderRespType": "RESULT"}))
        await until(pilot, lambda: app.positions.row_count == 1, "the quarterly's row")
        await next_frame(pilot, app)
        left = sim.symbols[QUARTER].delivery_date - s.server_ms()
        cell = str(app.positions.get_cell(QUARTER, "Symbol"))
        assert cell == f"{QUARTER} ⏱{long_countdown(left)}"
        # months away: no warning with the default 24 h
        app._check_deliveries()
        await next_frame(pilot, app)
        assert not [n for n in app._notifications if n.title == "Delivery soon"]
        # the hours are configurable: within them, one warning (toast and status bar), not repeated
        app.delivery_warn_hours = left / 3_600_000 + 1
        app._check_deliveries()
        app._check_deliveries()
        await until(pilot, lambda: [n for n in app._notifications if n.title == "Delivery soon"], "the warning")
        await next_frame(pilot, app)
        app._check_deliveries()
        await next_frame(pilot, app)
        warned = [n for n in app._notifications if n.title == "Delivery soon"]
        assert len(warned) == 1 and QUARTER in str(warned[0].message) and "settled at the delivery price" in str(
            warned[0].message)
        assert QUARTER in s.last_error and "delivers in" in s.last_error
