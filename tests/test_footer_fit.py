"""Issue 13, the footer: at 80x24 the most important keys (quit, help, buy, sell, symbol,
journal) are on screen and whole; a key that does nothing in the layout (the liquidation tape's
`l` while the tapes are hidden, the chart's `i`/`k` while the tapes replace it) is not shown;
at 160x48 every key is."""

from __future__ import annotations

import pytest
from textual.widgets._footer import FooterKey

from feeds.sim import SimExchange
from tests.app_support import make_app, ready, until
from tui.app import CoinmApp
from widgets.account import OpenOrders
from widgets.footer import KeyFooter

pytestmark = pytest.mark.timeout(90)


def on_screen(app: CoinmApp) -> list[str]:
    """The keys a user can read: displayed, and whole inside the footer left of the palette key
    (the palette key itself counts when it is shown)."""
    footer = app.screen.query_one(KeyFooter)
    keys = [k for k in footer.query(FooterKey) if k.display]
    palette = [k for k in keys if k.has_class("-command-palette")]
    right = palette[0].region.x if palette else footer.region.right
    out = [k.key_display for k in palette if k.region.width]
    for k in keys:
        if k.has_class("-command-palette"):
            continue
        if k.region.width and k.region.right <= right:
            out.append(k.key_display)
    return out


def shown(app: CoinmApp) -> set[str]:
    return set(on_screen(app))


async def test_the_important_keys_show_at_80x24(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await until(pilot, lambda: {"q", "j"} <= shown(app), "q and j in the footer")
        assert {"q", "?", "b", "s", "/", "j", "⏎"} <= shown(app)
        # every displayed key is whole: nothing hidden under the palette key or past the edge
        footer = app.screen.query_one(KeyFooter)
        displayed = [k for k in footer.query(FooterKey) if k.display]
        assert len(on_screen(app)) == len(displayed), [k.key_display for k in displayed]
        assert "l" not in shown(app)  # the liquidation tape is not on screen at 80 columns
        await pilot.press("t")  # the tapes replace the chart
        await until(pilot, lambda: "i" not in shown(app) and "k" not in shown(app), "chart keys hidden")
        assert {"q", "j"} <= shown(app)
        await pilot.press("t")
        await until(pilot, lambda: "l" not in shown(app), "the tape's key hidden again")
        # the orders table focused: its cancel key shows, quit and journal stay
        app.query_one(OpenOrders).focus()
        await until(pilot, lambda: "c" in shown(app), "the orders' cancel key")
        assert {"q", "j", "b", "s"} <= shown(app)


async def test_every_key_shows_at_160x48(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await until(pilot, lambda: {"q", "j", "l", "i", "k", "^p"} <= shown(app), "every key")
        footer = app.screen.query_one(KeyFooter)
        assert all(k.display for k in footer.query(FooterKey))


async def test_the_keys_follow_a_resize(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await until(pilot, lambda: "l" in shown(app), "every key")
        await pilot.resize_terminal(60, 20)
        await until(pilot, lambda: "l" not in shown(app), "narrow")
        assert {"q", "?", "b", "s"} <= shown(app)
        footer = app.screen.query_one(KeyFooter)
        assert len(on_screen(app)) == len([k for k in footer.query(FooterKey) if k.display])
        await pilot.resize_terminal(160, 48)
        await until(pilot, lambda: {"l", "i", "k", "^p"} <= shown(app), "wide again")


async def test_the_footer_measures_its_keys_only_when_something_changed(sim: SimExchange,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """It fits after every layout (it checked four times a second); measuring a dozen keys cost ~4 ms a
    check at idle. Unchanged keys, width and panels: nothing measured; a layout toggle: refit."""
    import widgets.footer as footer_module

    measured: list[int] = []
    real = footer_module._key_width
    monkeypatch.setattr(footer_module, "_key_width", lambda key: (measured.append(1), real(key))[1])
    app = make_app(sim)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        footer = app.screen.query_one(KeyFooter)
        footer.fit_keys()
        measured.clear()
        footer.fit_keys()
        footer.fit_keys()
        assert measured == []
        # nor is the DOM searched again (the keys and panels are kept until a widget is added
        # or removed): the queries were most of the check's cost at idle
        queries: list[object] = []
        for node in (footer, footer.screen):
            real_query = node.query
            monkeypatch.setattr(node, "query", lambda *a, _q=real_query, **k: (queries.append(a), _q(*a, **k))[1])
        footer.fit_keys()
        footer.fit_keys()
        assert queries == []
        before = shown(app)
        await pilot.press("t")  # the compact layout swaps the chart for the tapes
        await until(pilot, lambda: shown(app) != before, "refitted for the tapes")
        assert measured


async def test_the_keys_are_fitted_after_a_layout_not_polled(sim: SimExchange) -> None:
    """The footer fitted its keys on a timer four times a second to notice panels shown or
    hidden; the screen announces each layout instead: no timer, and a layout toggle still refits
    at once (the compact layout's t swaps the chart for the tapes: the chart's keys go, l comes)."""
    app = make_app(sim)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        footer = app.screen.query_one(KeyFooter)
        assert not [t for t in footer._timers if t.name == "footer-fit"]
        await until(pilot, lambda: "i" in shown(app) and "l" not in shown(app), "the chart's keys")
        await pilot.press("t")
        await until(pilot, lambda: "i" not in shown(app) and "l" in shown(app), "the tapes' key")
        await pilot.press("t")
        await until(pilot, lambda: "i" in shown(app) and "l" not in shown(app), "the chart's keys again")
