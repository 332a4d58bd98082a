"""Depth chart: cumulative bids and asks around the mid, the book seen as a whole (``d``).

The chart pane's other view: ``d`` swaps it with the candles. The curve is computed on the event
loop from the shown book (:func:`feeds.studies.book_depth`, exact sums; the book is not shared
with threads) at most once a second, and drawn by plotext in a worker thread exactly as the
candles are (:class:`widgets.chart.KlineChart`'s build worker, line API and ANSI cache, which
this class inherits): never inside a frame. A book that is not live draws no curve (the last
one would be a picture of a book that may no longer be the venue's).

Prices and sizes become floats only here, as plot coordinates; the title's figures are exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from feeds.book import OrderBook
from feeds.decimals import fmt_compact, fmt_grouped, fmt_step
from feeds.studies import DEPTH_POINTS, DEPTH_SPAN, DepthCurve, DepthStep, book_depth
from widgets.chart import KlineChart

__all__ = ["DepthChart", "depth_title"]

REDRAW_S = 1.0
"""The curve follows the book at most this often (a new symbol, size or theme is at once)."""


@dataclass(frozen=True, slots=True)
class _DepthPicture:
    """Everything one build needs, taken on the event loop."""

    curve: DepthCurve | None
    title: str
    tick: Decimal
    width: int
    height: int
    theme: str
    bars: tuple[Any, ...] = ()
    """(The inherited build counts candles: a depth chart has none.)"""


def depth_title(symbol: str, curve: DepthCurve | None, tick: Decimal, why: str = "", width: int = 0) -> str:
    """The chart's title: the reach, each side's total in contracts and USD, the imbalance; the
    longest wording that fits ``width`` columns (0: the longest)."""
    if curve is None:
        texts = [f"{symbol} depth · {why or 'waiting for both sides of the book'}", why or "waiting for the book"]
    else:
        pct = f"±{(curve.reach / curve.mid * 100).quantize(Decimal('0.01'))}%"
        imbalance = curve.imbalance
        imb = f" · imb {imbalance * 100:+.0f}%" if imbalance is not None else ""
        bids, asks = fmt_compact(curve.bid_total), fmt_compact(curve.ask_total)
        usd = (f"bids {bids} (${fmt_compact(curve.usd(curve.bid_total))}) · "
               f"asks {asks} (${fmt_compact(curve.usd(curve.ask_total))})")
        texts = [
            f"{symbol} depth {pct} of mid {fmt_step(curve.mid, tick / 2)} · {usd}{imb}",
            f"{symbol} depth {pct} · {usd}{imb}",
            f"{symbol} {pct} · bids {bids} · asks {asks}{imb}",
            f"{pct} · bids {bids} · asks {asks}",
        ]
    for text in texts:
        if not width or len(text) <= width:
            return text
    return texts[-1][: max(width - 1, 1)] + "…"


def _steps(steps: tuple[DepthStep, ...], start: Decimal, end: Decimal) -> tuple[list[float], list[float]]:
    """A side as a staircase from the mid (nothing rests there) out to the reach's end."""
    xs, ys = [float(start)], [0.0]
    cum = 0.0
    for step in steps:
        x = float(step.price)
        xs += [x, x]
        ys += [cum, float(step.cum)]
        cum = float(step.cum)
    xs.append(float(end))
    ys.append(cum)
    return xs, ys


class DepthChart(KlineChart):
    """The shown book's cumulative depth; the curve of the last build is :attr:`curve`."""

    DEFAULT_CSS = """
    DepthChart { height: 1fr; min-height: 8; }
    """

    def __init__(self, *, id: str | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(id=id, clock=clock)
        self._book: OrderBook | None = None
        self._symbol = ""
        self._contract_size = 1
        self._synced: Callable[[], bool] = lambda: False
        self.span = DEPTH_SPAN
        self.points = DEPTH_POINTS
        self.curve: DepthCurve | None = None
        """The curve of the newest picture asked for (what is or is about to be on screen)."""

    def bind_source(self, book: OrderBook, *, symbol: str, contract_size: int,  # type: ignore[override]
                    synced: Callable[[], bool]) -> None:
        self._book, self._symbol, self._contract_size, self._synced = book, symbol, contract_size, synced
        self._seen = ()
        self._drawn_at = 0.0
        self.poll()

    @property
    def up_to_date(self) -> bool:
        """Whether the picture on screen shows the book as it is now (nothing building or
        waiting, the book unchanged since, and a picture there)."""
        return (self._book is not None and not self._building and self._waiting is None
                and self._depth_key() == self._seen and bool(self._strips))

    def _depth_key(self) -> tuple[object, ...]:
        book = self._book
        theme = self.app.theme if self.is_attached else ""
        return (book.version if book is not None else None, self._synced(), self._symbol, self.size, theme)

    def poll(self) -> None:
        book = self._book
        if book is None or self.size.width <= 0:
            return  # not bound, or not on screen (the candles are): nothing to build
        key = self._depth_key()
        if key == self._seen:
            return
        now = self._clock()
        structural = not self._seen or key[1:] != self._seen[1:]
        if not structural and now - self._drawn_at < REDRAW_S:
            return
        self._seen = key
        self._drawn_at = now
        synced = bool(key[1])
        curve = book_depth(book, span=self.span, points=self.points,
                           contract_size=self._contract_size) if synced else None
        self.curve = curve
        why = "" if synced else "the book is not live: no curve until it is synced again"
        # plotext drops a title wider than the plot (less its y labels)
        title = depth_title(self._symbol, curve, book.tick_size, why, width=max(self.size.width - 12, 10))
        picture = _DepthPicture(curve=curve, title=title,
                                tick=book.tick_size, width=self.size.width, height=self.size.height,
                                theme=self._get_plotext_theme_name(str(key[4])))
        if self._building:
            self._waiting = picture  # type: ignore[assignment]
            return
        self._start(picture)  # type: ignore[arg-type]

    def _draw(self, picture: Any) -> None:
        """In the worker thread: the two staircases, the mid, the title."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        curve: DepthCurve | None = picture.curve
        title = picture.title
        if curve is None:
            plt.title(title)
            return
        bx, by = _steps(curve.bids, curve.mid, curve.low)
        ax, ay = _steps(curve.asks, curve.mid, curve.high)
        plt.plot(bx, by, color="green", marker="braille", fillx=True)
        plt.plot(ax, ay, color="red", marker="braille", fillx=True)
        plt.vline(float(curve.mid), "gray")
        plt.xlim(float(curve.low), float(curve.high))
        top = max(curve.bid_total, curve.ask_total, Decimal(1))
        plt.ylim(0, float(top) * 1.05)
        plt.yticks([float(top * i / 4) for i in range(5)], [fmt_compact(top * i / 4) for i in range(5)])
        tick = picture.tick
        plt.xticks([float(curve.low), float(curve.mid), float(curve.high)],
                   [fmt_grouped(curve.low, tick), fmt_grouped(curve.mid, tick / 2), fmt_grouped(curve.high, tick)])
        plt.title(title)
