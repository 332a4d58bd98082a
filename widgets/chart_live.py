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
changed are turned into ANSI text again, the way ``matrix_class.set_canvas`` writes a row.

It supports what the chart draws without studies, RSI or the trader's levels: line and bar
signals on linear axes, no grid, no legend, no text, no user lines (:meth:`LiveCanvas.of`
says no otherwise, and the chart does a full build). ``tests/test_chart_live.py`` compares
the result with a full build for many random live-candle moves and sizes, colours included.
"""

from __future__ import annotations

from typing import Any

from plotext import _utility as ut

__all__ = ["SIGNAL_FIELDS", "LiveCanvas"]

SIGNAL_FIELDS = ("x", "y", "xside", "yside", "lines", "marker", "color", "style", "fillx", "filly", "label")
"""A plotext monitor's per-signal lists (what ``monitor.draw`` appends to): one signal's data."""


class LiveCanvas:
    """The matrix and output lines of one finished plotext build, patchable signal by signal.

    ``monitor`` is the built figure's monitor (plotext's ``_figure_class.monitor`` after
    ``build()``); ``lines`` the build's output lines, top first, without line ends. Owned by
    one thread at a time (the chart patches it on the event loop only while no build runs).
    """

    __slots__ = ("_mon", "_col0", "_row0", "_width", "_height", "_spans", "_cells", "lines")

    def __init__(self, monitor: Any, lines: list[str]) -> None:
        self._mon = monitor
        matrix = monitor.matrix
        self._col0, self._row0 = matrix.Cols_canvas.start, matrix.Rows_canvas.start
        self._width, self._height = len(matrix.Cols_canvas), len(matrix.Rows_canvas)
        self._spans: dict[int, tuple[int, int]] = {}
        """Signal -> (first, last) canvas column it can touch (a superset of its cells')."""
        self._cells: dict[int, list[tuple[Any, ...]]] = {}
        """Signal -> its cells, for the signals whose cells were needed since the build."""
        self.lines = lines

    @classmethod
    def of(cls, monitor: Any, lines: list[str]) -> LiveCanvas | None:
        """A live canvas of a build, or None when the build draws anything it does not follow."""
        mon = monitor
        default = mon.default
        matrix = mon.matrix
        if (any(mon.hcoord) or any(mon.vcoord) or mon.text or any(mon.grid)
                or any(label is not None for label in mon.label)
                or any(f is not False for f in mon.filly)
                or mon.xscale != [default.xscale[0]] * 2 or mon.yscale != [default.xscale[0]] * 2
                or mon.fast_plot or len(lines) < matrix.rows
                or len(matrix.Cols_canvas) <= 0 or len(matrix.Rows_canvas) <= 0):
            return None
        return cls(monitor, lines)

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
        (top first), already rewritten in :attr:`lines`."""
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
            self.lines[top - r] = _row_ansi(matrix, r)
        return sorted(top - r for r in changed)


def _row_ansi(matrix: Any, row: int) -> str:
    """One row of ``matrix_class.set_canvas``'s output, without its line end."""
    markers, fullground, style, background = (matrix.marker[row], matrix.fullground[row], matrix.style[row],
                                              matrix.background[row])
    cols = matrix.cols
    out = []
    previous: tuple[Any, Any, Any] | None = None
    colours = (fullground[0], style[0], background[0]) if cols else None
    for col in range(cols):
        following = (fullground[col + 1], style[col + 1], background[col + 1]) if col + 1 < cols else None
        if col == 0 or colours != previous:
            out.append(ut.colors_to_ansi(*colours))  # type: ignore[misc]
        out.append(markers[col])
        if col == cols - 1 or colours != following:
            out.append(ut.ansi_end)
        previous, colours = colours, following
    return "".join(out)
