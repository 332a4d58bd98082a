"""The live candle redrawn alone over the last build is, cell for cell, what a full build draws."""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest
from rich.ansi import AnsiDecoder

from feeds.models import Kline
from feeds.studies import STUDY_PRESETS, ChartLevel
from widgets.chart import KlineChart, _Picture
from widgets.render import text_strip


def _bar(i: int, o: float, h: float, lo: float, c: float, v: int) -> Kline:
    return Kline(open_time=i * 60_000, close_time=i * 60_000 + 59_999, interval="1m", open=D(f"{o:.1f}"),
                 high=D(f"{h:.1f}"), low=D(f"{lo:.1f}"), close=D(f"{c:.1f}"), volume=D(v), base_volume=D(0),
                 trades=1, taker_buy_volume=D(0), taker_buy_base_volume=D(0), is_closed=False, first_id=0, last_id=0)


def _walk(rng: random.Random, n: int, price: float = 88_000.0, step: float = 50) -> list[Kline]:
    bars = []
    for i in range(n):
        o = price
        c = price + rng.uniform(-step, step)
        h, lo = max(o, c) + rng.uniform(0, step * 0.6), min(o, c) - rng.uniform(0, step * 0.6)
        price = c
        bars.append(_bar(i, o, h, lo, c, rng.randint(100, 3000)))
    return bars


def _picture(bars: list[Kline], width: int, height: int, kind: str = "trade", lower: str = "volume",
             theme: str = "dark", room: int = 0) -> _Picture:
    """What the chart's poll asks for (``room``: more candles than it puts in that width)."""
    room = room or max((max(width, 20) - 12) // 2, 5)
    return _Picture(bars=tuple(bars[-room:]), title="BTCUSD_PERP 1m · last price", kind=kind, interval="1m",
                    loaded=True, width=width, height=height, theme=theme, lower=lower)


def _cells(strips: list[Any]) -> list[Any]:
    return [(s.text, list(s)) for s in strips]


def _move(rng: random.Random, live: Kline, step: float) -> Kline:
    """A trade or a few on the live candle: its close moves, its range and volume follow; or
    (one time in five) a corrected candle: a narrower range, less volume."""
    if rng.random() < 0.2:
        o, c = float(live.open), float(live.close)
        high = max(o, c) + (float(live.high) - max(o, c)) * rng.random()
        low = min(o, c) - (min(o, c) - float(live.low)) * rng.random()
        close = rng.uniform(low, high)
        return replace(live, close=D(f"{close:.1f}"), high=D(f"{max(high, close):.1f}"),
                       low=D(f"{min(low, close):.1f}"), volume=live.volume * rng.randint(1, 9) // 10)
    close = float(live.close) + rng.choice((-1, 1)) * rng.choice((0.01, 0.02, 0.06, 0.1, 0.16, 0.4, 0.9)) * step
    return replace(live, close=D(f"{close:.1f}"), high=max(live.high, D(f"{close:.1f}")),
                   low=min(live.low, D(f"{close:.1f}")), volume=live.volume + rng.choice((0, 0, 1, 5, 20, 40, 400)))


@pytest.mark.parametrize(("width", "height", "kind", "lower", "theme", "moves", "price", "room"), [
    (92, 31, "trade", "volume", "dark", 60, 88_000.0, 0), (60, 20, "trade", "volume", "textual-dark", 25, 88_000.0, 0),
    (137, 40, "trade", "volume", "dark", 25, 88_000.0, 0), (40, 14, "trade", "none", "dark", 25, 88_000.0, 0),
    (92, 31, "mark", "volume", "dark", 25, 88_000.0, 0), (33, 10, "trade", "volume", "dark", 25, 88_000.0, 0),
    (25, 16, "trade", "volume", "pro", 25, 88_000.0, 0), (40, 20, "trade", "volume", "dark", 40, 1_234_567.8, 0),
    # candles closer than a cell apart: the live candle shares columns with the ones before it
    (40, 20, "trade", "volume", "dark", 40, 88_000.0, 60), (30, 14, "trade", "none", "dark", 25, 88_000.0, 45),
])
def test_a_redrawn_live_candle_is_what_a_build_draws(width: int, height: int, kind: str, lower: str,
                                                      theme: str, moves: int, price: float, room: int) -> None:
    """Random moves of the live candle (price, range, volume) at several sizes and themes: after
    each, the chart's picture (redrawn or, when the range or volume scale changed, built) is
    the full build's, cell for cell with colours; the lines repainted cover every line that
    changed; and most moves are redrawn."""
    rng = random.Random(width * 1000 + height)
    step = price / 1760
    bars = _walk(rng, 60, price, step)
    # the live candle opens mid-range with a small volume, as a new candle does
    shown = bars[-(room or max((max(width, 20) - 12) // 2, 5)):]
    mid = (float(min(k.low for k in shown)) + float(max(k.high for k in shown))) / 2
    bars[-1] = _bar(59, mid, mid, mid, mid, 50)
    chart = KlineChart()  # patched: a build, then live candles redrawn over it
    fresh = KlineChart()  # a full build of every picture
    first = _picture(bars, width, height, kind, lower, theme, room)
    chart._strips = chart._build_strips(first)
    chart._adopt()
    patched = builds = 0
    previous = _cells(chart._strips)
    for _ in range(moves):
        bars[-1] = _move(rng, bars[-1], step)
        picture = _picture(bars, width, height, kind, lower, theme, room)
        full = _cells(fresh._build_strips(picture))
        changed = chart._patch(picture)
        if changed is None:  # a new y range or volume scale: the chart builds
            builds += 1
            chart._strips = chart._build_strips(picture)
            chart._adopt()
        else:
            patched += 1
            lines_changed = [y for y, (a, b) in enumerate(zip(_cells(chart._strips), previous, strict=True)) if a != b]
            assert set(lines_changed) <= set(changed)  # every line that changed is repainted
        assert _cells(chart._strips) == full, f"after {patched} redraws and {builds} builds"
        previous = full
    assert patched >= moves // 2  # the point: most moves are redrawn, not built
    assert chart.patches == patched


def test_a_new_candle_a_new_range_or_a_study_is_built() -> None:
    rng = random.Random(3)
    bars = _walk(rng, 50)
    chart = KlineChart()
    first = _picture(bars, 92, 31)
    chart._strips = chart._build_strips(first)
    chart._adopt()
    live = bars[-1]
    assert chart._patch(_picture([*bars[:-1], replace(live, high=live.high + 500)], 92, 31)) is None  # new high
    assert chart._patch(_picture([*bars, _bar(50, 1, 1, 1, 1, 1)], 92, 31)) is None  # a new candle
    assert chart._patch(_picture(bars, 92, 32)) is None  # another size
    assert chart._patch(replace(_picture(bars, 92, 31), lower="rsi")) is None
    older = list(bars)
    older[-2] = replace(older[-2], close=older[-2].close + 1)
    assert chart._patch(_picture(older, 92, 31)) is None  # a candle before the live one
    assert chart._patch(_picture(bars, 92, 31)) == []  # nothing moved
    chart._building = True
    assert chart._patch(_picture(bars, 92, 31)) is None  # a build holds the figure


@pytest.mark.parametrize(("width", "height"), [(92, 31), (60, 20)])
def test_a_live_candle_outgrowing_the_tallest_bar_rescales_the_bars_in_place(width: int, height: int) -> None:
    """Past the tallest volume bar, the live bar is the scale: every other bar shrinks, and
    those whose top crosses a row are redrawn (the y range stays, so no build)."""
    rng = random.Random(7)
    bars = _walk(rng, 60)
    shown = bars[-max((width - 12) // 2, 5):]
    mid = (float(min(k.low for k in shown)) + float(max(k.high for k in shown))) / 2
    tallest = max(k.volume for k in shown)
    bars[-1] = _bar(59, mid, mid, mid, mid, int(tallest) - 300)
    chart, fresh = KlineChart(), KlineChart()
    chart._strips = chart._build_strips(_picture(bars, width, height))
    chart._adopt()
    for step in range(12):
        bars[-1] = replace(bars[-1], volume=bars[-1].volume * D("1.12"))
        picture = _picture(bars, width, height)
        assert chart._patch(picture) is not None, f"step {step}: built"
        assert _cells(chart._strips) == _cells(fresh._build_strips(picture)), f"step {step}"
    assert bars[-1].volume > 3 * tallest


def _decoded(chart: KlineChart) -> list[Any]:
    """The chart's last build the way plotext shows it: its matrix written as ANSI text
    (``set_canvas``), read back line by line by Rich's decoder."""
    text = chart._plot.monitor.matrix.set_canvas()
    decoder = AnsiDecoder()
    return [text_strip(decoder.decode_line(line)) for line in text.split("\n")]


@pytest.mark.parametrize(("width", "height", "theme", "extra"), [
    (92, 31, "dark", "plain"), (60, 20, "textual-dark", "plain"), (137, 40, "pro", "plain"),
    (92, 31, "textual-light", "studies"), (92, 31, "dark", "rsi"), (80, 24, "clear", "levels"),
    (25, 10, "dark", "plain"), (92, 31, "default", "empty"),
])
def test_strips_from_the_matrix_are_what_plotexts_text_decodes_to(width: int, height: int, theme: str,
                                                                   extra: str) -> None:
    rng = random.Random(width + height)
    bars = _walk(rng, 120)
    picture = _picture(bars, width, height, theme=theme)
    if extra == "studies":
        picture = replace(picture, studies=STUDY_PRESETS[1], history=tuple(bars[:-40]))
    elif extra == "rsi":
        picture = replace(picture, lower="rsi", history=tuple(bars[:-40]))
    elif extra == "levels":
        mid = (bars[-1].high + bars[-1].low) / 2
        picture = replace(picture, levels=(ChartLevel("buy", mid, "BUY 1"), ChartLevel("entry", mid + 5, "entry"),
                                           ChartLevel("liquidation", mid * 2, "liq")))
    elif extra == "empty":
        picture = replace(picture, bars=(), loaded=False)
    chart = KlineChart()
    strips = chart._build_strips(picture)
    assert _cells(strips) == _cells(_decoded(chart))
    assert [s.cell_length for s in strips] == [s.cell_length for s in _decoded(chart)]
