"""widgets/compositor_crop.py: a partial repaint renders only the widgets it touches, and sends
exactly the bytes Textual's own compositor would."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from rich.console import Console
from rich.control import Control
from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.widget import Widget

import widgets.compositor_crop as compositor_crop
from feeds.session import DashboardSession
from feeds.sim import SimExchange
from feeds.sim.session import sim_session
from tests.app_support import ready, until
from tui.app import CoinmApp

pytestmark = pytest.mark.timeout(60)


async def _dashboard(sim: SimExchange, pilot_size: tuple[int, int] = (160, 48)) -> CoinmApp:
    async def factory() -> DashboardSession:
        return sim_session(sim, trading=False)

    return CoinmApp(factory, venue="sim")


_IDLE_MOVE = re.compile(r"\x1b\[\d+;\d+H(?=\x1b\[\d+;\d+H|\n|$)")
"""A cursor move followed by another move, the line's end or nothing: it changes no cell."""


def _cells(update: str) -> str:
    """The update without its idle cursor moves (the cells it writes, and where, are the same)."""
    return _IDLE_MOVE.sub("", update)


_TEXTUAL = (compositor_crop._textual_get_renders, compositor_crop._textual_render_partial_update)
_CROP_ONLY = (compositor_crop._get_renders, compositor_crop._textual_render_partial_update)
_OURS = (compositor_crop._get_renders, compositor_crop._render_partial_update)


def _partial(app: CoinmApp, regions: list[Region], patches: tuple[object, object]) -> tuple[str, Counter[str]]:
    """The terminal text of a partial update of ``regions``, and the lines each widget rendered."""
    from widgets.ladder import Ladder

    rendered: Counter[str] = Counter()
    # the ladder renders its own lines
    originals: dict[type[Widget], Any] = {cls: cls.render_lines for cls in (Widget, Ladder)}

    def counting(cls: type[Widget]) -> object:
        def render_lines(self: Widget, crop: Region) -> object:
            rendered[type(self).__name__] += crop.height
            return originals[cls](self, crop)
        return render_lines

    compositor = app.screen._compositor
    saved = Compositor._get_renders, Compositor.render_partial_update
    Compositor._get_renders, Compositor.render_partial_update = patches  # type: ignore[method-assign, assignment]
    for cls in originals:
        cls.render_lines = counting(cls)  # type: ignore[method-assign, assignment]
    try:
        compositor._dirty_regions.update(regions)
        update = compositor.render_update(screen_stack=app._background_screens)
    finally:
        Compositor._get_renders, Compositor.render_partial_update = saved  # type: ignore[method-assign]
        for cls, method in originals.items():
            cls.render_lines = method  # type: ignore[method-assign]
    assert update is not None
    console = Console(width=160, height=48, color_system="truecolor")
    moves = [0]
    real_move_to = Control.move_to

    def move_to(x: int, y: int) -> Control:
        moves[0] += 1
        return real_move_to(x, y)

    Control.move_to = move_to  # type: ignore[method-assign]
    try:
        sent = update.render_segments(console)
    finally:
        Control.move_to = real_move_to  # type: ignore[method-assign]
    if patches is _OURS:
        # the bytes Textual's own ChopsUpdate writes for the same chops, each move made as text
        assert isinstance(update, ChopsUpdate) and sent == ChopsUpdate.render_segments(update, console)
        assert moves == [0]
    return sent, rendered


async def test_partial_repaints_send_the_same_bytes_and_render_only_what_they_touch(sim: SimExchange) -> None:
    app = await _dashboard(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "dashboard up")
        sim.pause()
        await pilot.pause(0.3)
        from widgets.ladder import Ladder
        from widgets.status import StatusBar
        from widgets.tapes import TradesTape
        from widgets.ticker import TickerBar

        ladder = app.screen.query_one(Ladder).region
        ticker = app.screen.query_one(TickerBar).region
        trades = app.screen.query_one(TradesTape).region
        status = app.screen.query_one(StatusBar).region
        cases = [
            [ladder],
            [Region(ladder.x, ladder.y + 10, ladder.width, 3)],
            [ticker, Region(ladder.x, ladder.y + 20, ladder.width, 2)],
            [trades, Region(0, 46, 160, 1)],
            [Region(30, 10, 20, 5)],  # across the ladder's edge and the chart's
            [ticker, Region(ladder.x, ladder.y + 5, ladder.width, 1), status],  # the crop is the screen
            [Region(ladder.right, 12, 3, 2), Region(trades.x - 1, 30, 2, 1)],  # spans ending on an edge
            [Region(0, y, 160, 1) for y in range(0, 48, 7)],
        ]
        for regions in cases:
            theirs, rendered_textual = _partial(app, regions, _TEXTUAL)
            crop_only, rendered_crop = _partial(app, regions, _CROP_ONLY)
            ours, rendered_ours = _partial(app, regions, _OURS)
            assert theirs and crop_only == theirs, regions
            # Textual also sends the chop starting at a span's end, cropped to nothing (a move)
            assert ours == _cells(ours) and ours == _cells(theirs) and len(ours) <= len(theirs), regions
            assert sum(rendered_ours.values()) <= sum(rendered_crop.values()) <= sum(rendered_textual.values())
        # a repaint of ladder rows alone: Textual asked the ticker, status bar, footer... too
        rows = [Region(ladder.x, ladder.y + 10, ladder.width, 3)]
        _, before = _partial(app, rows, _TEXTUAL)
        _, after = _partial(app, rows, _OURS)
        assert before["TickerBar"] >= 1 and before["StatusBar"] == 1
        assert after == Counter(Ladder=3)  # its three lines, not the chart's beside them
        # a ticker line, a ladder row and the status bar: Textual renders every line of every widget
        _, before = _partial(app, cases[5], _TEXTUAL)
        _, after = _partial(app, cases[5], _OURS)
        assert sum(before.values()) > 150
        assert after == Counter(Ladder=1, StatusBar=1, TickerBar=ticker.height)


def test_installed_on_the_tested_textual_only() -> None:
    saved = Compositor._get_renders, Compositor.render_partial_update
    try:
        assert compositor_crop.install(textual_version="0.0.1") is False
        assert (Compositor._get_renders, Compositor.render_partial_update) == saved
    finally:
        Compositor._get_renders, Compositor.render_partial_update = saved  # type: ignore[method-assign]
