"""The kline chart builds a new picture only when one could differ on screen."""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest

import widgets.chart as chart_module
from feeds.models import Kline
from widgets.chart import KlineChart, _exact_look, _look, _Picture


def _bar(i: int, o: str, h: str, lo: str, c: str, v: str = "100") -> Kline:
    return Kline(open_time=i * 60_000, close_time=i * 60_000 + 59_999, interval="1m", open=D(o), high=D(h),
                 low=D(lo), close=D(c), volume=D(v), base_volume=D(0), trades=1, taker_buy_volume=D(0),
                 taker_buy_base_volume=D(0), is_closed=False, first_id=0, last_id=0)


BARS = [_bar(0, "100.0", "110.0", "90.0", "105.0", "300"), _bar(1, "105.0", "106.0", "100.0", "101.0", "50")]
HEIGHT = 24  # 20 plot rows: half a row is 0.5 of the 90-110 range


def test_a_move_within_half_a_row_is_the_same_look() -> None:
    live = replace(BARS[1], close=D("101.2"), volume=D("51"))
    assert _look([BARS[0], live], HEIGHT) == _look(BARS, HEIGHT)


def test_a_move_across_half_a_row_is_a_new_look() -> None:
    assert _look([BARS[0], replace(BARS[1], close=D("101.6"))], HEIGHT) != _look(BARS, HEIGHT)


def test_a_new_high_rescales_every_candle() -> None:
    assert _look([BARS[0], replace(BARS[1], high=D("110.1"))], HEIGHT) != _look(BARS, HEIGHT)


def test_the_live_volume_bar_counts_in_half_rows() -> None:
    assert _look([BARS[0], replace(BARS[1], volume=D("52"))], HEIGHT) == _look(BARS, HEIGHT)
    assert _look([BARS[0], replace(BARS[1], volume=D("90"))], HEIGHT) != _look(BARS, HEIGHT)


def test_a_new_candle_or_a_taller_plot_is_a_new_look() -> None:
    assert _look([*BARS, _bar(2, "101.0", "101.0", "101.0", "101.0")], HEIGHT) != _look(BARS, HEIGHT)
    assert _look(BARS, HEIGHT + 10) != _look(BARS, HEIGHT)
    assert _look([], HEIGHT) == ()


# ---------------------------------------------------------------- the exact look, and the candles drawn


def _walk(seed: int, n: int = 40) -> list[Kline]:
    """``n`` candles of a random walk around 88,000, the last one live."""
    rng = random.Random(seed)
    price, bars = 88_000.0, []
    for i in range(n):
        o = price
        c = price + rng.uniform(-50, 50)
        h, lo = max(o, c) + rng.uniform(0, 30), min(o, c) - rng.uniform(0, 30)
        price = c
        bars.append(_bar(i, f"{o:.1f}", f"{h:.1f}", f"{lo:.1f}", f"{c:.1f}", str(rng.randint(100, 3000))))
    return bars


def _picture(bars: list[Kline], kind: str = "trade", lower: str = "volume", height: int = 31) -> _Picture:
    return _Picture(bars=tuple(bars), title="BTCUSD_PERP 1m · last price", kind=kind, interval="1m", loaded=True,
                    width=92, height=height, theme="dark", lower=lower)


def _cells(strips: list[Any]) -> list[Any]:
    return [(s.text, list(s)) for s in strips]


@pytest.mark.parametrize(("kind", "lower", "height"), [("trade", "volume", 31), ("mark", "volume", 31),
                                                       ("trade", "none", 20), ("trade", "volume", 10)])
def test_two_lines_a_candle_draw_what_plotexts_candlestick_draws(
        monkeypatch: pytest.MonkeyPatch, kind: str, lower: str, height: int) -> None:
    chart = KlineChart()
    for seed in range(3):
        picture = _picture(_walk(seed), kind, lower, height)
        ours = _cells(chart._build_strips(picture))
        monkeypatch.setattr(chart_module, "_candles", lambda plt, xs, data: plt.candlestick(xs, data))
        theirs = _cells(chart._build_strips(picture))
        monkeypatch.undo()
        assert ours == theirs


@pytest.mark.parametrize(("kind", "lower"), [("trade", "volume"), ("trade", "none"), ("index", "volume")])
def test_an_equal_exact_look_is_the_same_picture(kind: str, lower: str) -> None:
    """The live candle moves trade by trade (price and volume); whenever the exact look stays
    the same, a build would draw the very same cells; and most trades do leave it the same."""
    chart = KlineChart()
    rng = random.Random(11)
    bars = _walk(5)
    first = _picture(bars, kind, lower)
    drawn = _cells(chart._build_strips(first))
    width, height, rows = chart._canvas
    assert (width, height) == (first.width, first.height) and rows > 0
    pane = chart_module._lower_pane(lower, kind, height)
    look = _exact_look(bars, rows, pane)
    same = 0
    for _ in range(30):
        live = bars[-1]
        close = live.close + D(rng.randint(-12, 12)) / 2
        bars[-1] = replace(live, close=close, high=max(live.high, close), low=min(live.low, close),
                           volume=live.volume + rng.randint(0, 20))
        new_look = _exact_look(bars, rows, pane)
        new = _cells(chart._build_strips(_picture(bars, kind, lower)))
        if new_look == look:
            same += 1
            assert new == drawn, "the look missed a change on screen"
        look, drawn = new_look, new
    assert same >= 8  # the point: many trades move no cell


def test_the_exact_look_follows_the_live_candles_colour() -> None:
    bars = _walk(2)
    live = bars[-1]
    up = replace(live, close=live.open + D("0.1"), high=max(live.high, live.open + D("0.1")))
    down = replace(up, close=live.open)
    assert _exact_look([*bars[:-1], up], 28, "volume") != _exact_look([*bars[:-1], down], 28, "volume")


async def test_a_repaint_reads_the_widths_once_not_once_a_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """``size`` walks the DOM each read: the chart and the tapes read it once per repaint."""
    from textual.app import App, ComposeResult
    from textual.geometry import Region
    from textual.widget import Widget

    from widgets.tapes import TradesTape

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield KlineChart(id="chart")
            yield TradesTape(id="trades")

    app = Host()
    async with app.run_test(size=(60, 30)) as pilot:
        await pilot.pause()
        reads: list[str] = []
        real = Widget.size

        def counted(self: Widget) -> Any:
            reads.append(type(self).__name__)
            return real.fget(self)  # type: ignore[attr-defined]

        monkeypatch.setattr(Widget, "size", property(counted))
        for widget in (app.query_one(KlineChart), app.query_one(TradesTape)):
            reads.clear()
            height = widget.region.height
            assert height > 4
            widget._styles_cache.clear()  # every line rendered again, as in a full repaint
            lines = widget.render_lines(Region(0, 0, widget.region.width, height))
            assert len(lines) == height
            assert reads.count(type(widget).__name__) <= 2, reads
