"""widgets/compositor_crop.py: a partial repaint renders only the widgets it touches, and sends
exactly the bytes Textual's own compositor would."""

from __future__ import annotations

from collections import Counter

import pytest
from rich.console import Console
from textual._compositor import Compositor
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


def _partial(app: CoinmApp, regions: list[Region], get_renders: object) -> tuple[str, Counter[str]]:
    """The terminal text of a partial update of ``regions``, and the widgets asked for lines."""
    rendered: Counter[str] = Counter()
    original = Widget.render_lines

    def counting(self: Widget, crop: Region) -> object:
        rendered[type(self).__name__] += 1
        return original(self, crop)

    compositor = app.screen._compositor
    saved = Compositor._get_renders
    Compositor._get_renders = get_renders  # type: ignore[method-assign]
    Widget.render_lines = counting  # type: ignore[method-assign, assignment]
    try:
        compositor._dirty_regions.update(regions)
        update = compositor.render_update(screen_stack=app._background_screens)
    finally:
        Compositor._get_renders = saved  # type: ignore[method-assign]
        Widget.render_lines = original  # type: ignore[method-assign]
    assert update is not None
    return update.render_segments(Console(width=160, height=48, color_system="truecolor")), rendered


async def test_partial_repaints_send_the_same_bytes_and_render_only_what_they_touch(sim: SimExchange) -> None:
    app = await _dashboard(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "dashboard up")
        sim.pause()
        await pilot.pause(0.3)
        from widgets.ladder import Ladder
        from widgets.tapes import TradesTape
        from widgets.ticker import TickerBar

        ladder = app.screen.query_one(Ladder).region
        ticker = app.screen.query_one(TickerBar).region
        trades = app.screen.query_one(TradesTape).region
        cases = [
            [ladder],
            [Region(ladder.x, ladder.y + 10, ladder.width, 3)],
            [ticker, Region(ladder.x, ladder.y + 20, ladder.width, 2)],
            [trades, Region(0, 46, 160, 1)],
            [Region(30, 10, 20, 5)],  # across the ladder's edge and the chart's
        ]
        for regions in cases:
            theirs, rendered_before = _partial(app, regions, compositor_crop._textual_get_renders)
            ours, rendered_after = _partial(app, regions, compositor_crop._get_renders)
            assert theirs and ours == theirs, regions
            assert sum(rendered_after.values()) <= sum(rendered_before.values())
        # a repaint of ladder rows alone: Textual asked the ticker, status bar, footer... too
        _, before = _partial(app, [Region(ladder.x, ladder.y + 10, ladder.width, 3)],
                             compositor_crop._textual_get_renders)
        _, after = _partial(app, [Region(ladder.x, ladder.y + 10, ladder.width, 3)], compositor_crop._get_renders)
        assert before["TickerBar"] == 1 and before["StatusBar"] == 1
        assert after["Ladder"] == 1 and after["TickerBar"] == after["StatusBar"] == after["KeyFooter"] == 0


def test_installed_on_the_tested_textual_only() -> None:
    saved = Compositor._get_renders
    try:
        assert compositor_crop.install(textual_version="0.0.1") is False
        assert Compositor._get_renders is saved
    finally:
        Compositor._get_renders = saved  # type: ignore[method-assign]
