"""A screen with an opaque background hides the dashboard: nothing behind it is repainted (Textual
counted the screen below as visible, and every dashboard repaint under the order form or the
watchlist repainted the whole top screen), and the dashboard is whole again when uncovered."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from tui.app import CoinmApp


async def never_connects() -> Any:
    await asyncio.Event().wait()  # the dashboard without a venue: only its layout matters here


def shown(app: CoinmApp) -> str:
    return app.export_screenshot().replace("&#160;", " ")


class Opaque(Screen[None]):
    DEFAULT_CSS = "Opaque { background: $background; }"


class SeeThrough(ModalScreen[None]):
    DEFAULT_CSS = "SeeThrough { background: $background 50%; }"


async def test_nothing_is_repainted_behind_an_opaque_screen() -> None:
    app = CoinmApp(never_connects)
    async with app.run_test(size=(120, 30)) as pilot:
        dashboard = app.screen
        probe = Static("covered: before", id="probe")
        probe.styles.dock = "top"
        await dashboard.mount(probe)
        await pilot.pause()
        assert "covered: before" in shown(app)
        top = Opaque()
        await app.push_screen(top)
        await pilot.pause()
        assert top.styles.background.a == 1
        assert app._background_screens == []  # fails before: [the dashboard]
        assert not dashboard.is_current
        full: list[int] = []
        render_full = top._compositor.render_full_update

        def counted(*args: Any, **kwargs: Any) -> Any:
            full.append(1)
            return render_full(*args, **kwargs)

        top._compositor.render_full_update = counted  # type: ignore[method-assign]
        for text in ("covered: 1", "covered: 2", "covered: after"):
            probe.update(text)  # the dashboard changes under the opaque screen
            app.ticker_bar.refresh()
            await pilot.pause()
        assert full == []  # fails before: a full repaint of the top screen per change
        app.pop_screen()
        await pilot.pause()
        assert app.screen is dashboard
        assert "covered: after" in shown(app)  # what changed meanwhile is painted

        see_through = SeeThrough()
        await app.push_screen(see_through)
        await pilot.pause()
        assert app._background_screens == [dashboard]  # it shows through: repainted as Textual does
