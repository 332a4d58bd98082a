"""Snapshots of every dashboard screen at 80×24 and 160×48.

Deterministic by construction (see tui/screenshots.py): a simulator with a fixed seed and start
time that moves only when the test steps it (in its own thread, over real loopback sockets), a
frozen venue clock for the countdown and latency figures, and no cursor blink. Each picture is
taken once the client's book equals the simulator's true book and the feeds are quiet.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from feeds.sim import SimHandle
from tui.screenshots import dashboard, settle

pytestmark = pytest.mark.timeout(120)


def keys(*pressed: str) -> Any:
    async def run(pilot: Pilot[Any]) -> None:
        await pilot.press(*pressed)

    return run


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_main_screen(snap_compare: Any, stepped: SimHandle, size: tuple[int, int]) -> None:
    assert snap_compare(dashboard(stepped), terminal_size=size, run_before=settle(stepped))


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_help_screen(snap_compare: Any, stepped: SimHandle, size: tuple[int, int]) -> None:
    assert snap_compare(dashboard(stepped), terminal_size=size,
                        run_before=settle(stepped, then=keys("question_mark")))


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_symbol_switcher(snap_compare: Any, stepped: SimHandle, size: tuple[int, int]) -> None:
    assert snap_compare(dashboard(stepped), terminal_size=size,
                        run_before=settle(stepped, then=keys("slash", "U", "S", "D", "_")))


def test_compact_tapes_and_positions(snap_compare: Any, stepped: SimHandle) -> None:
    assert snap_compare(dashboard(stepped), terminal_size=(80, 24),
                        run_before=settle(stepped, then=keys("t", "p", "z", "down", "down")))


def test_ladder_cursor_grouped(snap_compare: Any, stepped: SimHandle) -> None:
    assert snap_compare(dashboard(stepped), terminal_size=(160, 48),
                        run_before=settle(stepped, then=keys("plus", "plus", "a", "up")))
