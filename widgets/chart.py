"""Kline chart: candlesticks and volume with plotext, redrawn at most a few times a second.

Prices become floats only here, as plot coordinates; every figure shown as text stays exact.
"""

from __future__ import annotations

import re
import time
from typing import Any

from rich.ansi import AnsiDecoder
from rich.style import Style
from rich.text import Text
from textual_plotext import PlotextPlot

from feeds.market import MarketState

__all__ = ["KlineChart"]

_MIN_REDRAW_S = 0.5
"""plotext builds the whole plot each time: cap redraws so a firehose cannot stall the UI."""

_LINE_ENDS = re.compile(r"(?<=\n)")
"""How ``rich.ansi.AnsiDecoder.decode`` splits terminal output into lines."""

_KIND_TITLE = {"trade": "last price", "mark": "mark price", "index": "index price"}


def _same_candles(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether two ``(list, length, last candle)`` states would draw the same chart.

    Only the last candle of a series changes in place (``MarketState`` replaces or appends it;
    new history is a new list), so the list, its length and the last candle's figures say it all.
    """
    if a[0] is not b[0] or a[1] != b[1]:
        return False
    x, y = a[2], b[2]
    if x is None or y is None:
        return x is y
    return (x.open_time, x.open, x.high, x.low, x.close, x.volume) == (y.open_time, y.open, y.high, y.low, y.close, y.volume)


class KlineChart(PlotextPlot):
    """Candles of the market state's current series; the newest candle moves live."""

    DEFAULT_CSS = """
    KlineChart { height: 1fr; min-height: 8; }
    """

    def __init__(self, *, id: str | None = None, clock: object = time.monotonic) -> None:
        super().__init__(id=id)
        self._market: MarketState | None = None
        self._seen: tuple[object, ...] = ()
        self._drawn_at = 0.0
        self._clock = clock
        self.candles_shown = 0
        self._drawn_content: tuple[Any, ...] | None = None
        """(candle list, its length, its last candle) as of the last draw."""
        self._ansi_lines: dict[tuple[str, Style], tuple[Text, Style]] = {}
        """Decoded plot lines by (ANSI line, style at its start) -> (text, style at its end)."""
        """How many candles the last draw plotted (tests read it)."""

    def bind_source(self, market: MarketState) -> None:
        self._market = market
        self._seen = ()
        self._drawn_at = 0.0
        self.poll()

    def poll(self) -> None:
        m = self._market
        if m is None or self.size.width <= 0:
            return
        key = (m.klines_version, m.info.symbol, m.kline_kind, m.interval, m.klines_loaded, self.size)
        if key == self._seen:
            return
        now = self._clock()  # type: ignore[operator]
        structural = not self._seen or key[1:] != self._seen[1:]
        if not structural and now - self._drawn_at < _MIN_REDRAW_S:
            return
        self._seen = key
        # the kline stream repeats an unchanged candle (the sim every 250 ms): a redraw would
        # put the same cells on screen at plotext's full cost
        drawn = (m.klines, len(m.klines), m.klines[-1] if m.klines else None)
        if not structural and self._drawn_content is not None and _same_candles(drawn, self._drawn_content):
            return
        self._drawn_content = drawn
        self._drawn_at = now
        self._draw(m)
        self.refresh()

    def render(self) -> Text:
        """What ``PlotextPlot.render`` does, with the ANSI decoding cached line by line.

        Decoding plotext's ANSI output is about half of a redraw; between redraws most lines of
        the plot are unchanged, and a line decodes the same given the same starting style.
        """
        plot, width, height = self._plot, self.size.width, self.size.height
        plot.plotsize(width, height)
        plot._set_size(width, height)  # as PlotextPlot.render does (textual-plotext issue 5)
        plot.theme(self._get_plotext_theme_name(self.app.theme))
        return self._decode_ansi(plot.build())

    def _decode_ansi(self, output: str) -> Text:
        """``Text.from_ansi(output)``, reusing the lines decoded last time."""
        decoder = AnsiDecoder()
        cache = self._ansi_lines
        fresh: dict[tuple[str, Style], tuple[Text, Style]] = {}
        lines = []
        for line in _LINE_ENDS.split(output):
            line = line.rstrip("\n")
            key = (line, decoder.style)
            hit = cache.get(key) or fresh.get(key)
            if hit is None:
                hit = (decoder.decode_line(line), decoder.style)
            else:
                decoder.style = hit[1]
            fresh[key] = hit
            lines.append(hit[0])
        self._ansi_lines = fresh
        return Text("\n", tab_size=8).join(lines)

    def _draw(self, m: MarketState) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        width = max(self.size.width, 20)
        height = max(self.size.height, 6)
        # one candle needs ~2 cells to read; the y axis labels take ~10
        room = max((width - 12) // 2, 5)
        bars = m.klines[-room:]
        self.candles_shown = len(bars)
        title = f"{m.info.symbol} {m.interval} · {_KIND_TITLE[m.kline_kind]}"
        if not bars:
            plt.title(f"{title} · loading history…" if not m.klines_loaded else f"{title} · no candles")
            return
        xs = list(range(len(bars)))
        labels = [time.strftime("%H:%M" if m.interval[-1] in "mh" else "%m-%d", time.gmtime(k.open_time / 1000))
                  for k in bars]
        data = {
            "Open": [float(k.open) for k in bars],
            "Close": [float(k.close) for k in bars],
            "High": [float(k.high) for k in bars],
            "Low": [float(k.low) for k in bars],
        }
        plt.candlestick(xs, data)
        if m.kline_kind == "trade" and height >= 12:
            # volume as a histogram in a band under the candles (a fifth of the height)
            lo, hi = min(data["Low"]), max(data["High"])
            span = (hi - lo) or 1.0
            base = lo - span * 0.3
            top_volume = max(float(k.volume) for k in bars) or 1.0
            plt.bar(xs, [base + span * 0.25 * float(k.volume) / top_volume for k in bars],
                    minimum=base, color="gray", width=0.5, marker="sd")
            plt.ylim(base, hi + span * 0.02)
        # time range in the title: plotext's own x labels shift by a cell from run to run;
        # plotext drops a title wider than the plot, so the least useful parts go first
        parts = [title, f"{labels[0]}→{labels[-1]} UTC", f"close {bars[-1].close}", f"vol {bars[-1].volume}"]
        while len(parts) > 1 and len(" · ".join(parts)) > width - 14:  # less the y labels
            parts.pop(1 if len(parts) == 2 else -1)
        plt.title(" · ".join(parts))
        plt.xticks([], [])
