"""Snapshots of issue 18's views: chart studies, watchlist, term structure, alerts (80×24 and 160×48).

Deterministic as tests/test_snapshots.py: a stepped simulator, a frozen venue clock (the funding
countdown, the days to delivery), the rules file in the test's own data directory.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from textual.pilot import Pilot

from feeds.alerts import Alert, AlertStore
from feeds.sim import SimHandle
from tui.screenshots import START_MS, dashboard, settle

pytestmark = pytest.mark.timeout(120)


def keys(*pressed: str) -> Any:
    async def run(pilot: Pilot[Any]) -> None:
        await pilot.press(*pressed)
        await pilot.pause(0.3)

    return run


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_chart_studies_and_rsi(snap_compare: Any, stepped: SimHandle, size: tuple[int, int]) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await pilot.press("v", "v", "v", "v", "v", "V")
        app: Any = pilot.app
        from tui.screenshots import until

        await until(pilot, lambda: app.chart.up_to_date, "studies drawn", 10)
        # each v toasts the study chosen; whether the first toasts have timed out by the picture
        # depends on the machine's speed (a clean-clone CI run caught one still up)
        app.clear_notifications()
        await pilot.pause(0.3)

    assert snap_compare(dashboard(stepped), terminal_size=size, run_before=settle(stepped, then=run))


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_watchlist(snap_compare: Any, stepped: SimHandle, size: tuple[int, int]) -> None:
    assert snap_compare(dashboard(stepped), terminal_size=size, run_before=settle(stepped, then=keys("w")))


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_term_structure(snap_compare: Any, stepped: SimHandle, size: tuple[int, int]) -> None:
    assert snap_compare(dashboard(stepped), terminal_size=size, run_before=settle(stepped, then=keys("T")))


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_alerts_screen(snap_compare: Any, stepped: SimHandle, size: tuple[int, int]) -> None:
    store = AlertStore()
    for alert in (Alert(0, "BTCUSD_PERP", "above", Decimal("90000"), created_ms=START_MS),
                  Alert(0, "ETHUSD_PERP", "move", Decimal(2), source="mark", window_min=15, created_ms=START_MS),
                  Alert(0, "*", "liquidation", Decimal(100_000), created_ms=START_MS)):
        store.add(alert)
    assert snap_compare(dashboard(stepped), terminal_size=size, run_before=settle(stepped, then=keys("N")))
