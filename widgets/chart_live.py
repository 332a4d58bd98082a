"""The live candle redrawn over the last plotext build, cell for cell (``widgets.chart``'s cheap path).

A full plotext build of the chart costs ~15-20 ms of pure Python: it lays out the axes and
labels, draws every candle and volume bar into a matrix of cells, and turns the whole matrix
into ANSI text. Between two candles of the chart's interval, what usually changes is the live
(last) candle alone: its close, high, low, colour and its volume bar. While the y range, the
number of candles and the titles stay the same, every other cell of the picture is what the
last build put there.

:class:`LiveCanvas` keeps the matrix of the last build (plotext's own ``monitor``, whose data
lists it holds) and, for a changed live candle, replaces that candle's signals (its wick, its
body, its volume bar) in the monitor, then recomposes only the columns those signals touch the
way plotext's ``build_plot`` composes the canvas: the blank canvas, then every signal touching
those columns in plotting order, each cell mapped with plotext's own helpers
(``get_matrix_data``, ``get_lines``, ``fill_data``, ``brush``, ``hd_group``,
``remove_outsiders``) in the order ``build_plot`` applies them. Only the rows whose cells
changed are made into strips again (:func:`row_strip`).

:func:`matrix_strips` makes a build's strips straight from plotext's matrix: what
``matrix_class.set_canvas`` writes as ANSI text and Rich's ``AnsiDecoder`` reads back (a run of
cells of the same colours, one segment), without writing and parsing the escape codes, which
cost about as much as plotext's own build (~6 ms of ~20 at 92x31 when every line is new).

It supports what the chart draws without studies, RSI or the trader's levels: line and bar
signals on linear axes, no grid, no legend, no text, no user lines (:meth:`LiveCanvas.of`
says no otherwise, and the chart does a full build). ``tests/test_chart_live.py`` compares
the result with a full build for many random live-candle moves and sizes, colours included.
"""

from __future__ import annotations

from typing import Any

from plotext import _utility as ut
from rich.ansi import AnsiDecoder
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from widgets.render import cell_width, text_strip

__all__ = ["SIGNAL_FIELDS", "LiveCanvas", "matrix_strips"]

SIGNAL_FIELDS = ("x", "y", "xside", "yside", "lines", "marker", "color", "style", "fillx", "filly", "label")
"""A plotext monitor's per-signal lists (what ``monitor.draw`` appends to): one signal's data."""


class LiveCanvas:
    """The matrix and output lines of one finished plotext build, patchable signal by signal.

    ``monitor`` is the built figure's monitor (plotext's ``_figure_class.monitor`` after
    ``build()``); ``strips`` the build's lines, top first (:func:`matrix_strips`). Owned by
    one thread at a time (the chart patches it on the event loop only while no build runs).
    """

    __slots__ = ("_mon", "_col0", "_row0", "_width", "_height", "_spans", "_cells", "strips")

    def __init__(self, monitor: Any, strips: list[Strip]) -> None:
        self._mon = monitor
        matrix = monitor.matrix
        self._col0, self._row0 = matrix.Cols_canvas.start, matrix.Rows_canvas.start
        self._width, self._height = len(matrix.Cols_canvas), len(matrix.Rows_canvas)
        self._spans: dict[int, tuple[int, int]] = {}
        """Signal -> (first, last) canvas column it can touch (a superset of its cells')."""
        self._cells: dict[int, list[tuple[Any, ...]]] = {}
        """Signal -> its cells, for the signals whose cells were needed since the build."""
        self.strips = strips

    @classmethod
    def of(cls, monitor: Any, strips: list[Strip]) -> LiveCanvas | None:
        """A live canvas of a build, or None when the build draws anything it does not follow."""
        mon = monitor
        default = mon.default
        matrix = mon.matrix
        if (any(mon.hcoord) or any(mon.vcoord) or mon.text or any(mon.grid)
                or any(label is not None for label in mon.label)
                or any(f is not False for f in mon.filly)
                or mon.xscale != [default.xscale[0]] * 2 or mon.yscale != [default.xscale[0]] * 2
                or mon.fast_plot or len(strips) < matrix.rows
                or len(matrix.Cols_canvas) <= 0 or len(matrix.Rows_canvas) <= 0):
            return None
        return cls(monitor, strips)

    @property
    def signals(self) -> int:
        return len(self._mon.x)

    @property
    def rows(self) -> int:
        """The canvas rows (the bins plotext maps y to, for single-cell markers)."""
        return self._height

    def _lims(self, s: int) -> tuple[Any, Any]:
        mon = self._mon
        default = mon.default
        xlim = mon.xlim[0] if mon.xside[s] == default.xside[0] else mon.xlim[1]
        ylim = mon.ylim[0] if mon.yside[s] == default.yside[0] else mon.ylim[1]
        return xlim, ylim

    def _span(self, s: int) -> tuple[int, int]:
        """The canvas columns signal ``s`` can touch: its points' columns (lines join points
        between them; fills along y and HD grouping keep a point's column)."""
        span = self._spans.get(s)
        if span is None:
            mon = self._mon
            xf = max((ut.marker_factor(el, 2, 2, 2) for el in mon.marker[s]), default=1)
            xlim, _ = self._lims(s)
            cols = [c for c in ut.get_matrix_data(mon.x[s], xlim, self._width * xf) if isinstance(c, int)]
            span = (min(cols) // xf, max(cols) // xf) if cols else (1, 0)
            self._spans[s] = span
        return span

    def cells(self, s: int) -> list[tuple[Any, ...]]:
        """Signal ``s``'s cells as (column, row, marker, colour, style), in the order
        ``build_plot`` inserts them (its "Get Relative Data" to "Add Data to Canvas" steps,
        for one signal)."""
        got = self._cells.get(s)
        if got is not None:
            return got
        mon = self._mon
        width, height = self._width, self._height
        xlim, ylim = self._lims(s)
        xf = max((ut.marker_factor(el, 2, 2, 2) for el in mon.marker[s]), default=1)
        yf = max((ut.marker_factor(el, 2, 3, 4) for el in mon.marker[s]), default=1)
        width_expanded, height_expanded = width * xf, height * yf
        if not width_expanded * width_expanded:
            x: Any = []
            y: Any = []
        else:
            x = ut.get_matrix_data(mon.x[s], xlim, width_expanded)
            y = ut.get_matrix_data(mon.y[s], ylim, height_expanded)
        m, c, st = mon.marker[s], mon.color[s], mon.style[s]
        if mon.lines[s]:
            x, y, m, c, st = ut.get_lines(x, y, m, c, st)
        if mon.fillx[s] is not False:
            level = ut.get_fill_level(mon.fillx[s], ylim, height_expanded)
            x, y, m, c, st = ut.fill_data(x, y, level, m, c, st)
        # (filly is False: see of())
        x, y, m, c, st = ut.brush(x, y, m, c, st)
        xfs = [ut.marker_factor(el, 2, 2, 2) for el in m]
        yfs = [ut.marker_factor(el, 2, 3, 4) for el in m]
        if max(xfs, default=1) * max(yfs, default=1) != 1:
            x, y, mxy = ut.hd_group(x, y, xfs, yfs)
        else:
            mxy = []
        m = [ut.get_hd_marker(mxy[i]) if m[i] in ut.hd_symbols else m[i] for i in range(len(x))]
        x, y, m, c, st = ut.remove_outsiders(x, y, width, height, m, c, st)
        x, y, m, c, st = ut.brush(x, y, m, c, st)
        col0, row0 = self._col0, self._row0
        got = [(x[i] + col0, y[i] + row0, m[i], c[i], st[i]) for i in range(len(x))]
        self._cells[s] = got
        return got

    def replace(self, fresh: dict[int, dict[str, Any]]) -> list[int]:
        """Put new data in place of signals (index -> one value per :data:`SIGNAL_FIELDS`);
        recompose the columns they touch, before and after; the output lines that changed
        (top first), already remade in :attr:`strips`."""
        mon = self._mon
        columns: set[int] = set()
        for s, data in fresh.items():
            columns.update(cell[0] for cell in self.cells(s))
            for field in SIGNAL_FIELDS:
                getattr(mon, field)[s] = data[field]
            self._cells.pop(s, None)
            self._spans.pop(s, None)
            columns.update(cell[0] for cell in self.cells(s))
        if not columns:
            return []
        first, last = min(columns), max(columns)
        touching = [s for s in range(len(mon.x))
                    if (span := self._span(s))[0] + self._col0 <= last and span[1] + self._col0 >= first]
        matrix = mon.matrix
        markers, fullground, style = matrix.marker, matrix.fullground, matrix.style
        rows = matrix.Rows_canvas
        before = {r: [(markers[r][c], fullground[r][c], style[r][c]) for c in columns] for r in rows}
        space, no_color = ut.space, ut.no_color
        for r in rows:  # the blank canvas (set_matrices), in these columns
            for c in columns:
                markers[r][c] = space
                fullground[r][c] = no_color
                style[r][c] = no_color
        for s in touching:  # insert_element, as build_plot does
            for c, r, marker, colour, st in self.cells(s):
                if c in columns:
                    markers[r][c] = marker
                    if colour is not None:
                        fullground[r][c] = colour
                    if st is not None:
                        style[r][c] = st
        changed = [r for r in rows
                   if before[r] != [(markers[r][c], fullground[r][c], style[r][c]) for c in columns]]
        top = matrix.rows - 1
        for r in changed:
            self.strips[top - r] = row_strip(matrix, r)
        return sorted(top - r for r in changed)


_STYLES: dict[tuple[Any, Any, Any], Style | None] = {}
"""(foreground, style, background) of plotext's cells -> the style of a run of them in the
strip (None: no escape codes, so Rich gives the run no style span of its own)."""


def _style(colours: tuple[Any, Any, Any]) -> Style | None:
    try:
        return _STYLES[colours]
    except KeyError:
        pass
    decoder = AnsiDecoder()
    text = decoder.decode_line(ut.colors_to_ansi(*colours) + "x" + ut.ansi_end)
    style = next(iter(text_strip(text))).style if text.spans else None
    _STYLES[colours] = style
    return style


def _gap_style() -> Style | None:
    """The style Rich renders a line's text outside its styled spans with."""
    text = Text("xy")
    text.stylize("bold", 0, 1)
    return list(text_strip(text))[1].style


_GAP = _gap_style()


def row_strip(matrix: Any, row: int) -> Strip:
    """Row ``row`` of plotext's matrix as the strip its ``set_canvas`` line decodes to.

    ``set_canvas`` writes each run of cells of the same colours between its escape codes and
    a reset; Rich's decoder makes a run with codes a span of its style; rendering the line
    gives a segment per span and one for each stretch between spans (a line without spans
    is one unstyled segment). The same segments, from the matrix.
    """
    markers, fullground, style, background = (matrix.marker[row], matrix.fullground[row], matrix.style[row],
                                              matrix.background[row])
    runs: list[tuple[str, Style | None]] = []
    start = 0
    cols = matrix.cols
    for col in range(1, cols + 1):
        if col == cols or (fullground[col], style[col], background[col]) != (
                fullground[start], style[start], background[start]):
            runs.append(("".join(markers[start:col]), _style((fullground[start], style[start], background[start]))))
            start = col
    plain = "".join(markers)
    if all(run_style is None for _, run_style in runs):
        return Strip([Segment(plain)], cell_width(plain))
    segments = []
    gap: list[str] = []
    for text, run_style in runs:
        if run_style is None:
            gap.append(text)
            continue
        if gap:
            segments.append(Segment("".join(gap), _GAP))
            gap = []
        segments.append(Segment(text, run_style))
    if gap:
        segments.append(Segment("".join(gap), _GAP))
    return Strip(segments, cell_width(plain))


_LAST_LINE = text_strip(AnsiDecoder().decode_line(""))
"""plotext's output ends with a line end: the empty line after it."""


def matrix_strips(matrix: Any) -> list[Strip]:
    """A built plotext matrix as strips, top line first, plus the empty last line (what
    decoding ``matrix.set_canvas()``'s text line by line gives)."""
    return [*(row_strip(matrix, r) for r in reversed(matrix.Rows)), _LAST_LINE]
