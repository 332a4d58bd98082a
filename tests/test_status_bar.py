"""The status bar shows the REST request weight beside the WebSocket API's (issue 12 §4)."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult

from widgets.status import FeedLine, StatusBar, StatusSnapshot, weight_level


class _BarApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")


def _snap(weight: str, rest_weight: str) -> StatusSnapshot:
    return StatusSnapshot("sim", (FeedLine("book", "stale", "no depth update for 1.0 s"),), None, None,
                          weight, "", rest_weight)


async def test_rest_weight_beside_the_api_weight() -> None:
    app = _BarApp()
    async with app.run_test(size=(160, 3)):
        bar = app.query_one(StatusBar)
        bar.bind_source(lambda: _snap("12/2400", "1300/2400 (2 held)"))
        text = bar.render()
        assert "weight api 12/2400 rest 1300/2400 (2 held)" in str(text)
        assert "book:stale (no depth update for 1.0 s)" in str(text)
        rest_span = next(s for s in text.spans if text.plain[s.start:s.end] == "1300/2400 (2 held)")
        assert rest_span.style == bar.get_component_rich_style("status--warn")  # over half the limit
        bar.bind_source(lambda: _snap("", "40/2400"))
        assert "weight rest 40/2400" in str(bar.render())
        bar.bind_source(lambda: _snap("5/2400", ""))
        assert str(bar.render()).endswith("weight 5/2400")  # as before when there is no REST figure


def test_weight_level() -> None:
    assert weight_level("100/2400") == "ok"
    assert weight_level("1200/2400") == "warn"
    assert weight_level("1920/2400 (3 held)") == "bad"
    assert weight_level("") == "ok" and weight_level("x/y") == "ok"


def _busy() -> StatusSnapshot:
    feeds = tuple(FeedLine(n, "live") for n in ("market", "book", "user", "api"))
    return StatusSnapshot("sim", feeds, 12, 0, "56/2400", "", "96/2400")


async def test_at_80_columns_the_weights_show_whole_and_less_important_segments_go() -> None:
    """Issue 13: at 80 columns the bar cut 'weight' off. Segments now go whole, least important
    first (the clock offset, then the latency); the venue, feeds and weights stay; no figure is
    ever cut."""
    app = _BarApp()
    async with app.run_test(size=(80, 3)):
        bar = app.query_one(StatusBar)
        bar.bind_source(_busy)
        text = bar.render().plain
        assert len(text) <= 80
        assert text.startswith(" SIM  market:live book:live user:live api:live")
        assert "weight api 56/2400 rest 96/2400" in text
        assert "offset" not in text
        assert ("lat" in text) == ("lat 12ms" in text)  # whole or not at all


async def test_a_narrow_bar_keeps_the_venue_and_an_error_ends_in_an_ellipsis() -> None:
    app = _BarApp()
    async with app.run_test(size=(60, 3)):
        bar = app.query_one(StatusBar)
        bar.bind_source(lambda: StatusSnapshot("live", _busy().feeds, 12, 0, "56/2400", "boom " * 20, "96/2400"))
        text = bar.render().plain
        assert len(text) <= 60 and text.startswith(" LIVE ")
        assert "⚠ boom" in text and text.endswith("…")  # text may end in an ellipsis
        assert "/2400" not in text or "56/2400" in text  # a figure shows whole or not at all
    async with _BarApp().run_test(size=(160, 3)) as pilot:
        bar = pilot.app.query_one(StatusBar)
        bar.bind_source(_busy)
        assert bar.render().plain == (" SIM  market:live book:live user:live api:live  lat 12ms  offset +0ms"
                                      "  weight api 56/2400 rest 96/2400")  # wide: everything, as before


async def test_a_feed_whose_reason_does_not_fit_keeps_its_state() -> None:
    # At 80 columns a long reason (an unreachable venue's whole error) dropped the feed's segment
    # and with it the only word saying the venue was closed.
    reason = "cannot load the venue's rules from http://127.0.0.1:9: GET /dapi/v1/time: venue unreachable"
    app = _BarApp()
    async with app.run_test(size=(80, 3)):
        bar = app.query_one(StatusBar)
        bar.bind_source(lambda: StatusSnapshot("sim", (FeedLine("venue", "closed", reason),), None, None,
                                               "", reason, ""))
        text = bar.render().plain
        assert len(text) <= 80 and "venue:closed" in text and "⚠ cannot load" in text
    async with _BarApp().run_test(size=(200, 3)) as pilot:
        bar = pilot.app.query_one(StatusBar)
        bar.bind_source(lambda: StatusSnapshot("sim", (FeedLine("venue", "closed", "short"),), None, None,
                                               "", "", ""))
        assert "venue:closed (short)" in bar.render().plain  # with room, the reason stays


async def test_the_bar_reads_its_styles_once_per_style_change() -> None:
    """Issue 19 (idle CPU): the latency figure changes the bar twice a second; each render read
    seven component styles (a DOM walk each). They are kept until a style change (a theme)."""
    app = _BarApp()
    async with app.run_test(size=(160, 3)) as pilot:
        bar = app.query_one(StatusBar)
        latency = [5]
        bar.bind_source(lambda: StatusSnapshot("sim", (FeedLine("book", "live"),), latency[0], 3, "12/2400", "",
                                               "40/2400"))
        first = bar.render()
        reads: list[str] = []
        real = bar.get_component_rich_style
        def counted(*names: str, **kw: Any) -> Any:
            reads.append(names[0])
            return real(*names, **kw)

        bar.get_component_rich_style = counted  # type: ignore[method-assign]
        for latency[0] in (6, 7, 8):
            bar.poll()
            text = bar.render()
            assert f"lat {latency[0]}ms" in text.plain
        assert reads == []
        assert text.spans == first.spans  # the same styles, the same places
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()
        bar.render()
        assert reads  # a new theme: read again


async def test_the_painted_line_is_textuals_rendering_of_the_bar() -> None:
    """The bar paints its text as a strip it keeps (a line API widget): the same cells and
    styles as Textual's own rendering of :meth:`StatusBar.render`, padding included, and made
    again when the snapshot or a style changes."""
    from textual.widget import Widget

    app = _BarApp()
    async with app.run_test(size=(120, 3)) as pilot:
        bar = app.query_one(StatusBar)
        snaps = [_busy(), _snap("1300/2400", "5/2400")]
        bar.bind_source(lambda: snaps[0])

        def cells() -> list[tuple[str, str]]:
            return [(c.text, str(c.style)) for c in bar.render_line(0)]

        def textuals() -> list[tuple[str, str]]:
            return [(c.text, str(c.style)) for c in Widget.render_line(bar, 0)]

        for _ in range(2):
            await pilot.pause()
            mine = cells()
            assert "".join(t for t, _s in mine).rstrip() == "".join(t for t, _s in textuals()).rstrip()
            assert [c for c in mine if c[0].strip()] == [c for c in textuals() if c[0].strip()]
            snaps.reverse()
            bar.poll()
        app.theme = "textual-light"
        await pilot.pause()
        assert [c for c in cells() if c[0].strip()] == [c for c in textuals() if c[0].strip()]
