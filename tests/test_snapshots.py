"""Snapshots of every dashboard screen at 80×24 and 160×48.

Deterministic by construction: a simulator with a fixed seed and start time that moves only when
the test steps it (in its own thread, over real loopback sockets), a frozen venue clock for the
countdown and latency figures, and no cursor blink. The test waits until the client's book equals
the simulator's true book and the feeds are quiet before it takes the picture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from feeds.session import DashboardSession
from feeds.sim import SimHandle, start_in_thread
from tests.app_support import make_app, until
from tests.conftest import SIM_SEED, SIM_START_MS
from tui.app import CoinmApp

pytestmark = pytest.mark.timeout(120)

STEPS = 200
"""Simulator ticks of 50 ms taken after the dashboard has subscribed: 10 s of market."""

FROZEN_NOW_MS = SIM_START_MS + STEPS * 50
"""The venue clock the frozen session reports (the funding countdown reads it)."""


class FrozenSession(DashboardSession):
    """A real session whose clocks are frozen for pictures (the feeds are untouched)."""

    def server_ms(self) -> int:
        return FROZEN_NOW_MS

    def latency_ms(self) -> int | None:
        return 12 if super().latency_ms() is not None else None

    def weight_text(self) -> str:
        # the venue's weight window is a wall-clock minute: a picture must not depend on it
        return "5/2400" if super().weight_text() else ""

    async def start(self) -> None:
        await super().start()
        self.rest.clock_offset_ms = 0


@pytest.fixture
def stepped(tmp_path: Path) -> Iterator[SimHandle]:
    handle = start_in_thread(seed=SIM_SEED, realtime=False, start_time_ms=SIM_START_MS,
                             data_dir=tmp_path / "sim")
    try:
        yield handle
    finally:
        handle.stop()


def _quiet_and_synced(app: CoinmApp, handle: SimHandle) -> bool:
    s = app.session
    if s is None or s.depth is None or not s.depth.synced:
        return False
    true_id, _checksum = handle.true_book(s.depth.symbol)
    return bool(s.book is not None and s.book.last_update_id == true_id)


def dashboard(handle: SimHandle, **cli: Any) -> CoinmApp:
    return make_app(handle.sim, session_class=FrozenSession, **cli)


def settle(handle: SimHandle, *, then: Any = None) -> Any:
    """A ``run_before`` that steps the market once the dashboard listens, then waits for calm."""

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, CoinmApp)

        def listening() -> bool:
            s = app.session
            return bool(
                s is not None and s.stream is not None and s.stream.state.status == "live"
                and s.market is not None and s.market.klines_loaded
                and s.userdata is not None and s.userdata.state.status == "live"
                and s.account is not None and s.account.balances
            )

        await until(pilot, listening, "dashboard subscribed", timeout=30)
        for _ in range(STEPS // 5):
            handle.call(handle.sim.step, 5)
            await pilot.pause(0.02)
        await until(pilot, lambda: _quiet_and_synced(app, handle), "book equals the true book", timeout=30)
        await pilot.pause(1.2)  # the chart redraws at most twice a second
        if then is not None:
            await then(pilot)
            await pilot.pause(0.3)
        for field in app.screen.query(Input):
            field.cursor_blink = False

    return run_before


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_main_screen(snap_compare: Any, stepped: SimHandle, size: tuple[int, int]) -> None:
    assert snap_compare(dashboard(stepped), terminal_size=size, run_before=settle(stepped))


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_help_screen(snap_compare: Any, stepped: SimHandle, size: tuple[int, int]) -> None:
    async def open_help(pilot: Pilot[Any]) -> None:
        await pilot.press("question_mark")

    assert snap_compare(dashboard(stepped), terminal_size=size, run_before=settle(stepped, then=open_help))


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_symbol_switcher(snap_compare: Any, stepped: SimHandle, size: tuple[int, int]) -> None:
    async def open_switcher(pilot: Pilot[Any]) -> None:
        await pilot.press("slash", "U", "S", "D", "_")

    assert snap_compare(dashboard(stepped), terminal_size=size, run_before=settle(stepped, then=open_switcher))


def test_compact_tapes_and_positions(snap_compare: Any, stepped: SimHandle) -> None:
    async def show_tapes(pilot: Pilot[Any]) -> None:
        await pilot.press("t", "p", "z", "down", "down")

    assert snap_compare(dashboard(stepped), terminal_size=(80, 24), run_before=settle(stepped, then=show_tapes))


def test_ladder_cursor_grouped(snap_compare: Any, stepped: SimHandle) -> None:
    async def group(pilot: Pilot[Any]) -> None:
        await pilot.press("plus", "plus", "a", "up")

    assert snap_compare(dashboard(stepped), terminal_size=(160, 48), run_before=settle(stepped, then=group))
