"""Kline chart: candlesticks and volume with plotext, built off the event loop.

plotext builds the whole picture in pure Python each time (≈25 ms at 160x48), so the chart is
never built inside a frame: ``poll`` takes a snapshot of what to draw (candles are immutable,
the list is copied), a worker thread builds and decodes the plot, and ``render`` only hands
Textual the last finished picture. One build runs at a time; a change that arrives meanwhile
waits, and only the newest waiting one is built. A thread still shares the GIL, but Python
switches threads every few milliseconds, so a paint waits for a slice, not for a whole build.

Between builds, a change of the live (last) candle alone (same candles before it, same y range
and volume scale, size and titles; no studies, RSI or levels) is not built: the live candle is
redrawn over the last build's matrix on the event loop, cell for cell what a build would draw
(``widgets.chart_live``, ~0.4 ms instead of ~15 ms), and only the lines that changed are repainted.

Prices become floats only here, as plot coordinates; every figure shown as text stays exact.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from plotext._utility import get_lim, get_matrix_data
from textual.geometry import Region, Size
from textual.strip import Strip
from textual_plotext import PlotextPlot

from feeds.market import MarketState
from feeds.models import Kline
from feeds.studies import STUDY_PRESETS, ChartLevel, StudySpec, rsi
from widgets.chart_live import SIGNAL_FIELDS, LiveCanvas, matrix_strips
from widgets.render import KeptStyles, LineWidth

__all__ = ["KlineChart"]

_MIN_REDRAW_S = 1.0
"""The live candle is redrawn at most this often (a new series, size or theme is at once)."""


_KIND_TITLE = {"trade": "last price", "mark": "mark price", "index": "index price"}

LOWER_PANES = ("volume", "rsi", "none")
"""What the band under the candles shows (volume only for last-price candles)."""

RSI_LENGTH = 14

_STUDY_COLOURS = ("orange", "cyan", "magenta", "blue", "yellow")
_LEVEL_COLOURS = {"buy": "green", "sell": "red", "entry": "blue", "liquidation": "magenta"}


def _prices(bars: Sequence[Kline]) -> dict[str, list[float]]:
    """The candles as plot coordinates (what :meth:`KlineChart._draw` and :func:`_exact_look` use)."""
    return {
        "Open": [float(k.open) for k in bars],
        "Close": [float(k.close) for k in bars],
        "High": [float(k.high) for k in bars],
        "Low": [float(k.low) for k in bars],
    }


def _lower_pane(lower: str, kind: str, height: int) -> str:
    """What the band under the candles shows for a picture (``none`` when there is no room or,
    for volume, no volume: mark and index candles have none)."""
    if lower == "volume" and kind != "trade":
        return "none"
    return lower if max(height, 6) >= 12 else "none"


def _band(lo: float, hi: float) -> tuple[float, float, float]:
    """The lower pane's base and height under candles from ``lo`` to ``hi``, and the top of
    the y axis: a band a quarter of the candles' span high, under them."""
    span = (hi - lo) or 1.0
    return lo - span * 0.3, span * 0.25, hi + span * 0.02


def _top_volume(bars: Sequence[Kline]) -> float:
    """The volume the tallest volume bar stands for."""
    return max(float(k.volume) for k in bars) or 1.0


def _volume_tops(bars: Sequence[Kline], base: float, band: float, top_volume: float | None = None) -> list[float]:
    """Each candle's volume bar top, in plot coordinates (``top_volume``: of all the candles
    drawn, when ``bars`` are some of them)."""
    if top_volume is None:
        top_volume = _top_volume(bars)
    return [base + band * float(k.volume) / top_volume for k in bars]


_Extent = tuple[float, float, float, float, float]
"""(lowest low, highest high, lowest and highest price plotted, largest volume) of candles."""

_NO_EXTENT: _Extent = (math.inf, -math.inf, math.inf, -math.inf, 0.0)


def _extent(bars: Sequence[Kline], start: _Extent = _NO_EXTENT) -> _Extent:
    """What fixes the y range and the volume bars' scale of a picture of ``bars`` (and of
    the candles ``start`` is the extent of): equal extents, same y range and volume scale."""
    lo, hi, ylo, yhi, volume = start
    for k in bars:
        low, high, o, c = float(k.low), float(k.high), float(k.open), float(k.close)
        lo, hi = min(lo, low), max(hi, high)
        ylo, yhi = min(ylo, low, o, c), max(yhi, high, o, c)
        volume = max(volume, float(k.volume))
    return lo, hi, ylo, yhi, volume


@dataclass(slots=True)
class _Live:
    """The last finished build, kept to redraw its live candle alone (see ``widgets.chart_live``)."""

    canvas: LiveCanvas
    picture: _Picture
    """What is drawn now (the build's picture, or the last one patched in)."""
    before_live: _Extent
    """The extent of every candle but the live one."""
    extent: _Extent
    """The extent of the picture's candles."""
    tops: list[float]
    """The volume bars' tops drawn (none without the volume pane)."""


def _candles(plt: Any, xs: list[int], data: dict[str, list[float]]) -> None:
    """plotext's ``candlestick`` in two lines a candle instead of three.

    plotext draws a candle as the wick above the body, the wick below it, then the body, each
    a line of its own (a line costs the same to build whatever its length). One wick from low
    to high, then the body over it, covers the same cells with the same markers and colour
    (the body is drawn last either way): the same picture, a third fewer lines to build
    (``tests/test_chart.py`` compares the two).
    """
    opens, closes, highs, lows = data["Open"], data["Close"], data["High"], data["Low"]
    for x, o, c, h, lo in zip(xs, opens, closes, highs, lows, strict=True):
        color = "green" if c > o else "red"
        plt.plot([x, x], [lo, h], color=color, marker="│")
        plt.plot([x, x], [min(o, c), max(o, c)], color=color, marker="sd")


def _exact_look(bars: Sequence[Kline], canvas_rows: int, lower: str) -> tuple[Any, ...]:
    """What a build of ``bars`` (no studies, ``lower`` volume or none) draws, exactly: the
    canvas rows plotext puts the live candle's open, high, low and close in and each volume
    bar's top (its own mapping, ``get_matrix_data``, on the same floats and y range as
    :meth:`KlineChart._draw`), the live candle's colour, the y range (the axis labels), and the
    candles drawn. Two equal looks are the same picture; a trade that moves no cell is not built.
    """
    if not bars:
        return ()
    data = _prices(bars)
    lo, hi = min(data["Low"]), max(data["High"])
    tops: list[float] = []
    if lower == "volume":
        base, band, top = _band(lo, hi)
        ylim = [base, top]
        tops = _volume_tops(bars, base, band)
    else:  # the y range plotext takes from the data (the levels drawn are inside it)
        ylim = get_lim([lo, hi])
    last = bars[-1]
    o, c = data["Open"][-1], data["Close"][-1]
    rows = get_matrix_data([o, c, data["High"][-1], data["Low"][-1], *tops], ylim, canvas_rows)
    return ("exact", len(bars), bars[0].open_time, last.open_time, lo, hi, lower, canvas_rows, c > o, tuple(rows))


def _look(bars: list[Kline], height: int) -> tuple[Any, ...]:
    """What a build of ``bars`` would draw, to half a row of the plot (with studies or RSI,
    whose lines :func:`_exact_look` does not follow).

    The candles' range is exact (a new high or low rescales every candle), the live candle's
    prices and its volume bar are in half rows, so a trade that cannot move a cell does not
    cost a build; a new candle, a new first candle or a new tallest volume bar always does.
    """
    if not bars:
        return ()
    lo = min(k.low for k in bars)
    hi = max(k.high for k in bars)
    top_volume = max(k.volume for k in bars)
    rows = 2 * max(height - 4, 1)
    last = bars[-1]
    span = hi - lo
    prices = tuple(int((v - lo) * rows / span) if span else 0 for v in (last.open, last.high, last.low, last.close))
    # the volume bars fill a band a quarter of the candles' span high (see _draw)
    volume = int(last.volume * (rows // 4 or 1) / top_volume) if top_volume else 0
    return (len(bars), bars[0].open_time, last.open_time, lo, hi, top_volume, prices, volume,
            last.close > last.open)


@dataclass(frozen=True, slots=True)
class _Picture:
    """Everything one build needs, taken on the event loop (nothing in it changes later)."""

    bars: tuple[Kline, ...]
    title: str
    kind: str
    interval: str
    loaded: bool
    width: int
    height: int
    theme: str
    history: tuple[Kline, ...] = ()
    """Candles before ``bars`` that the studies need to warm up (oldest first)."""
    studies: tuple[StudySpec, ...] = ()
    lower: str = "volume"
    levels: tuple[ChartLevel, ...] = ()
    """The trader's own prices (orders, entry, liquidation) as horizontal lines."""


class KlineChart(LineWidth, KeptStyles, PlotextPlot):
    """Candles of the market state's current series; the newest candle moves live."""

    DEFAULT_CSS = """
    KlineChart { height: 1fr; min-height: 8; }
    """

    def __init__(self, *, id: str | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(id=id)
        self._market: MarketState | None = None
        self._seen: tuple[object, ...] = ()
        self._drawn_at = 0.0
        self._clock = clock
        self.candles_shown = 0
        """How many candles the last build plotted (tests read it)."""
        self.builds = 0
        """Finished builds (tests and benchmarks read it)."""
        self.patches = 0
        """Live candles redrawn over the last build instead of a build (tests and benchmarks read it)."""
        self._live: _Live | None = None
        """The last finished build, while its live candle can be redrawn alone (event loop only)."""
        self._built_live: _Live | None = None
        """What the build thread hands :attr:`_live` (set in the thread, taken on the loop)."""
        self._scratch: Any = None
        """A plotext figure to turn the live candle into plotext's signal data."""
        self._drawn_look: tuple[Any, ...] = ()
        """:func:`_look` of the last build."""
        self._drawn_list: list[Kline] | None = None
        """The market's candle list as of the last build (new history is a new list)."""
        self._strips: list[Strip] = []
        """The last finished build, a strip per line; what ``render_line`` shows."""
        self._building = False
        self._canvas: tuple[int, int, int] = (0, 0, 0)
        """(width, height, canvas rows) of the last finished build: the rows plotext plots in at
        that size (what :func:`_exact_look` maps to)."""
        self._waiting: _Picture | None = None
        """A picture asked for while a build was running (only the newest is kept)."""
        self.presets: tuple[tuple[StudySpec, ...], ...] = STUDY_PRESETS
        """The study sets the study key cycles through."""
        self.preset = 0
        """Index of the studies shown in :attr:`presets`."""
        self.lower = LOWER_PANES[0]
        """What the band under the candles shows (one of ``LOWER_PANES``)."""
        self._levels: Callable[[], tuple[ChartLevel, ...]] = lambda: ()
        """Gives the trader's levels for the shown symbol (cheap: asked on every poll)."""

    def bind_levels(self, levels: Callable[[], tuple[ChartLevel, ...]]) -> None:
        """``levels()`` -> ``tuple[ChartLevel, ...]`` of the shown symbol (cached by the caller)."""
        self._levels = levels

    @property
    def studies(self) -> tuple[StudySpec, ...]:
        return self.presets[self.preset % len(self.presets)]

    def cycle_studies(self) -> str:
        """Show the next study set (the candles are redrawn, nothing is fetched); its name."""
        self.preset = (self.preset + 1) % len(self.presets)
        self.poll()
        return ", ".join(s.label for s in self.studies) or "no studies"

    def cycle_lower(self) -> str:
        """Volume -> RSI -> nothing under the candles; the new choice."""
        self.lower = LOWER_PANES[(LOWER_PANES.index(self.lower) + 1) % len(LOWER_PANES)]
        self.poll()
        return self.lower

    def bind_source(self, market: MarketState) -> None:
        self._market = market
        self._seen = ()
        self._drawn_at = 0.0
        self.poll()

    @property
    def up_to_date(self) -> bool:
        """Whether the picture on screen is the newest one asked for (nothing building or
        waiting, and no change held back by the redraw cap)."""
        m = self._market
        return (m is not None and not self._building and self._waiting is None
                and self._key(m, self._levels()) == self._seen and bool(self._strips))

    def _key(self, m: MarketState, levels: tuple[ChartLevel, ...], size: Size | None = None,
             theme: str | None = None) -> tuple[object, ...]:
        if theme is None:
            theme = self.app.theme if self.is_attached else ""
        return (m.klines_version, m.info.symbol, m.kline_kind, m.interval, m.klines_loaded,
                self.size if size is None else size, theme, self.preset, self.lower, levels)

    def poll(self) -> None:
        m = self._market
        size = self.size  # (a DOM walk: read once)
        if m is None or size.width <= 0:
            return
        levels = self._levels()
        # laid out (a width), so attached: the app's theme without is_attached's DOM walk
        key = self._key(m, levels, size, self.app.theme)
        if key == self._seen:
            return
        now = self._clock()
        structural = not self._seen or key[1:] != self._seen[1:]
        if not structural and now - self._drawn_at < _MIN_REDRAW_S:
            return
        self._seen = key
        width, height = size.width, size.height
        # one candle needs ~2 cells to read; the y axis labels take ~10
        room = max((max(width, 20) - 12) // 2, 5)
        bars = m.klines[-room:]
        studies = self.studies
        warm = (max((max(s.length, 1) for s in studies), default=0)
                + (RSI_LENGTH if self.lower == "rsi" else 0)) * 3
        history = tuple(m.klines[-room - warm: -room]) if warm and len(m.klines) > room else ()
        # most trades (and the kline stream's repeats of an unchanged candle) move nothing on
        # screen: a build would put the same cells there at plotext's full cost
        lower = _lower_pane(self.lower, m.kline_kind, height)
        canvas = self._canvas
        if not studies and lower != "rsi" and canvas[:2] == (width, height):
            look = _exact_look(bars, canvas[2], lower)
        else:  # studies' lines, the RSI, or a size not built yet: half a row
            look = _look(bars, height)
        if not structural and m.klines is self._drawn_list and look == self._drawn_look:
            return
        self._drawn_look, self._drawn_list = look, m.klines
        self._drawn_at = now
        picture = _Picture(
            bars=tuple(bars), title=f"{m.info.symbol} {m.interval} · {_KIND_TITLE[m.kline_kind]}",
            kind=m.kline_kind, interval=m.interval, loaded=m.klines_loaded, width=width, height=height,
            theme=self._get_plotext_theme_name(str(key[6])), history=history, studies=studies,
            lower=self.lower, levels=levels,
        )
        if self._building:
            self._waiting = picture
            return
        changed = self._patch(picture)
        if changed is None:
            self._start(picture)
        elif changed:  # the changed lines alone (regions are the widget's, gutter included)
            gutter = self.styles.gutter
            self.refresh(*(Region(0, gutter.top + y, width + gutter.width, 1) for y in changed))

    def _patch(self, picture: _Picture) -> list[int] | None:
        """When only the live candle changed since the last build (same candles before it,
        same y range, volume scale, size, titles; no studies, RSI or levels), redraw it alone
        over that build, exactly as a build would draw it (``widgets.chart_live``): the lines
        that changed; None when a build is needed."""
        live = self._live
        if live is None or self._building:
            return None
        drawn = live.picture
        bars = picture.bars
        if (not bars or picture.studies or picture.levels or picture.lower == "rsi"
                or len(bars) != len(drawn.bars) or bars[-1].open_time != drawn.bars[-1].open_time
                or replace(picture, bars=drawn.bars, history=drawn.history) != drawn
                or bars[:-1] != drawn.bars[:-1]):
            return None
        last = bars[-1]
        extent = _extent((last,), live.before_live)
        if extent[:4] != live.extent[:4]:
            return None  # a new y range: every candle moves
        n = len(bars)
        x = n - 1
        lower = _lower_pane(picture.lower, picture.kind, picture.height)
        canvas = live.canvas
        if canvas.signals != (3 if lower == "volume" else 2) * n:
            return None
        scratch = self._scratch
        if scratch is None:
            scratch = self._scratch = type(self._plot)()
        scratch.clear_data()
        _candles(scratch, [x], _prices((last,)))
        signals = {2 * x: 0, 2 * x + 1: 1}
        tops = live.tops
        if lower == "volume":
            base, band, axis_top = _band(extent[0], extent[1])
            top_volume = extent[4] or 1.0
            if extent[4] == live.extent[4]:  # the live bar alone moves
                tops = [*tops[:-1], *_volume_tops((last,), base, band, top_volume)]
                moved = [x]
            else:  # a new tallest bar: every bar is rescaled; redraw those whose top moved a row
                tops = _volume_tops(bars, base, band, top_volume)
                ylim, rows = [base, axis_top], canvas.rows
                moved = [i for i, (a, b) in enumerate(zip(get_matrix_data(live.tops, ylim, rows),
                                                          get_matrix_data(tops, ylim, rows), strict=True))
                         if a != b or i == x]
            if 0.0 in tops:
                return None  # plotext draws a bar of height 0 with another marker
            for i in moved:  # one bar a call: plotext sizes a call's bars by their spacing
                scratch.bar([i], [tops[i]], minimum=base, color="gray", width=0.5, marker="sd")
                signals[2 * n + i] = len(signals)
        monitor = scratch.monitor
        changed = canvas.replace({s: {f: getattr(monitor, f)[i] for f in SIGNAL_FIELDS} for s, i in signals.items()})
        live.picture, live.extent, live.tops = picture, extent, tops
        self._strips = list(canvas.strips)
        self.patches += 1
        return changed

    def _adopt(self) -> None:
        """Keep the finished build for live-candle redraws (on the event loop)."""
        self._live, self._built_live = self._built_live, None

    def _start(self, picture: _Picture) -> None:
        self._building = True
        self._live = None  # the build clears the figure whose matrix it holds
        self.run_worker(self._build(picture), name="chart build", group="chart", exit_on_error=False)

    async def _build(self, picture: _Picture) -> None:
        try:
            strips = await asyncio.to_thread(self._build_strips, picture)
        except Exception:
            self._building = False
            self._waiting = None
            raise  # the worker logs it; the last picture stays on screen
        self._building = False
        self._strips = strips
        self._adopt()
        self.candles_shown = len(picture.bars)
        self.builds += 1
        self.refresh()
        waiting, self._waiting = self._waiting, None
        if waiting is not None and self.is_attached:
            self._start(waiting)

    def render_line(self, y: int) -> Strip:
        """A line of the last finished picture (cropped or padded until a resize's build lands).

        A line API widget: Textual takes the strips as they are, where a ``render`` result
        would be converted cell by cell on every repaint (as costly as the build itself).
        """
        base = self.kept_style()
        width = self.line_width()
        if y >= len(self._strips):
            return Strip.blank(width, base)
        strip = self._strips[y].apply_style(base)  # cached by the strip
        return strip if strip.cell_length == width else strip.adjust_cell_length(width, base)

    def _build_strips(self, picture: _Picture) -> list[Strip]:
        """In the worker thread: draw, build and decode the plot."""
        plot = self._plot
        self._draw(picture)
        plot.plotsize(picture.width, picture.height)
        plot._set_size(picture.width, picture.height)  # as PlotextPlot.render does (textual-plotext issue 5)
        plot.theme(picture.theme)
        self._built_live = None
        # plot.build() without its last step (the matrix written as ANSI text, which the
        # strips would be decoded from): the strips straight from plotext's matrix
        figure: Any = plot
        figure._set_sizes()
        figure._build_matrix()
        monitor = figure.monitor
        strips = matrix_strips(monitor.matrix)
        # the rows plotext plotted in (its figure's canvas; not part of its typed API)
        rows = monitor.matrix.Rows_canvas
        self._canvas = (picture.width, picture.height, len(rows))
        if picture.bars and not picture.studies and not picture.levels and picture.lower != "rsi":
            canvas = LiveCanvas.of(monitor, list(strips))
            if canvas is not None:
                before = _extent(picture.bars[:-1])
                extent = _extent(picture.bars[-1:], before)
                tops: list[float] = []
                if _lower_pane(picture.lower, picture.kind, picture.height) == "volume":
                    base, band, _ = _band(extent[0], extent[1])
                    tops = _volume_tops(picture.bars, base, band)
                self._built_live = _Live(canvas, picture, before, extent, tops)
        return strips

    def _draw(self, picture: _Picture) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        width = max(picture.width, 20)
        bars = picture.bars
        title = picture.title
        if not bars:
            plt.title(f"{title} · loading history…" if not picture.loaded else f"{title} · no candles")
            return
        xs = list(range(len(bars)))
        labels = [time.strftime("%H:%M" if picture.interval[-1] in "mh" else "%m-%d", time.gmtime(k.open_time / 1000))
                  for k in bars]
        data = _prices(bars)
        _candles(plt, xs, data)
        lo, hi = min(data["Low"]), max(data["High"])
        legend = self._draw_studies(picture, xs)
        lower = _lower_pane(picture.lower, picture.kind, picture.height)
        if lower != "none":
            # the lower pane: a band a quarter of the candles' span high under them
            base, band, top = _band(lo, hi)
            if lower == "volume":
                plt.bar(xs, _volume_tops(bars, base, band), minimum=base, color="gray", width=0.5, marker="sd")
            else:
                closes = [k.close for k in (*picture.history, *bars)]
                values = rsi(closes, RSI_LENGTH)[-len(bars):]
                points = [(x, base + band * float(v) / 100) for x, v in zip(xs, values, strict=True)
                          if v is not None]
                for bound in (30, 70):
                    plt.hline(base + band * bound / 100, "gray")
                if points:
                    plt.plot([p[0] for p in points], [p[1] for p in points], color="yellow", marker="braille")
                    last = values[-1]
                    legend.append(f"RSI {RSI_LENGTH} {last:.0f}" if last is not None else f"RSI {RSI_LENGTH}")
            plt.ylim(base, top)
        for level in picture.levels:
            y = float(level.price)
            colour = _LEVEL_COLOURS.get(level.kind, "gray")
            # orders labelled on the left, the position's prices on the right: an entry next
            # to a resting order keeps both labels readable
            align: Literal["left", "right"]
            x, align = (xs[0], "left") if level.kind in ("buy", "sell") else (xs[-1], "right")
            if lo <= y <= hi:
                plt.hline(y, colour)
                plt.text(level.label, x=x, y=y, color=colour, alignment=align)
            else:  # off the candles' range: say where, without squashing the candles to show it
                plt.text(f"{level.label} {'↑' if y > hi else '↓'}", x=x, y=hi if y > hi else lo,
                         color=colour, alignment=align)
        if legend:
            title = f"{title} · {' '.join(legend)}"
        # time range in the title: plotext's own x labels shift by a cell from run to run;
        # plotext drops a title wider than the plot (the ticker shows the live prices, so the
        # title carries nothing that changes with every trade: see _look)
        parts = [title, f"{labels[0]}→{labels[-1]} UTC"]
        if len(" · ".join(parts)) > width - 14:  # less the y labels
            parts.pop()
        plt.title(" · ".join(parts))
        plt.xticks([], [])

    def _draw_studies(self, picture: _Picture, xs: list[int]) -> list[str]:
        """The overlays of ``picture.studies`` on the price pane; their legend entries."""
        plt = self.plt
        bars = picture.bars
        history = (*picture.history, *bars)
        legend = []
        for i, spec in enumerate(picture.studies):
            colour = _STUDY_COLOURS[i % len(_STUDY_COLOURS)]
            drawn = False
            for _label, series in spec.compute(history):
                points = [(x, float(v)) for x, v in zip(xs, series[-len(bars):], strict=True) if v is not None]
                if points:
                    plt.plot([p[0] for p in points], [p[1] for p in points], color=colour, marker="braille")
                    drawn = True
            if drawn:
                legend.append(spec.label)
        return legend
