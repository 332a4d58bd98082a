"""A partial repaint renders the widgets it touches, not every widget on the screen.

For a partial update Textual's compositor (8.x) takes the box around the changed regions (the
crop) and asks every widget whose *clip* overlaps it for its lines. The clip of a widget outside
a scrolling container is the whole screen, so every visible widget qualifies: each repaint of
the ladder also renders the ticker, the chart, the tapes, both account tables, the status bar
and every footer key (29 widgets at 160x48), all of their lines, and throws the result away,
since only lines of the crop's changed regions are sent. At 1x that was most of the dashboard's
paint cost.

:func:`_get_renders` is Textual's ``Compositor._get_renders`` with one condition changed: a
widget is rendered when its *visible part* (region within clip) overlaps the crop. A widget that
does not is in none of the changed regions, so the lines sent are the same, and the cells of
every changed region are covered by the widgets that do overlap it.

:func:`_render_partial_update` goes one step further: Textual renders every line of every
widget the crop touches, and the crop is the box around *all* changed regions, so a changed
ticker line (top) and a changed status bar (bottom) make the crop the whole screen and every
widget renders every line (~230 lines a paint at 1x, for the ~30 that changed). Here a widget
renders only the lines where it fills a chop of a changed span, and only those are cut.
The chops that the update's spans show are the same as Textual's: a span ``(y, x1, x2)`` shows
the chops of line ``y`` that start before ``x2`` and end after ``x1``, each filled by the
frontmost widget covering it among those the crop overlaps; every such widget meets the span, so
it is rendered on that line here too, in the same front-to-back order; a widget whose chops on
a line are all taken by widgets in front of it (a container behind its children, the screen)
is not asked for that line at all. Lines not rendered stay dirty in the widget's styles cache.

The update it returns writes its bytes as Textual's ``ChopsUpdate`` does, with each cursor move
written directly (``ESC[y;xH``, the text rich's ``Control.move_to`` makes, through two objects
and ~2 microseconds per changed line).

One difference in the bytes, none on the screen: ``ChopsUpdate`` also sends the chop that starts
exactly at a span's end, cropped to nothing: a cursor move followed by nothing (the next write
is another move or the line's end). Textual renders the widget there for it: for every changed
ladder row, the chart's (or its container's) line beside it. Here that chop is left empty, so
neither the render nor the idle move happens.

Upstream fix (what Textual should change): in ``_get_renders``, test ``crop.overlaps(region
& clip)`` instead of ``crop.overlaps(clip)``; in ``render_partial_update``, render only the
lines of each widget that the update's spans cross. Installed only on the Textual version it
was tested with (:mod:`widgets.textual_pin`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from rich.console import Console
from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.strip import Strip

from widgets.textual_pin import patch_allowed

__all__ = ["install"]

_textual_get_renders = Compositor._get_renders
_textual_render_partial_update = Compositor.render_partial_update


def _get_renders(self: Compositor, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
    if not crop:
        yield from _textual_get_renders(self, crop)
        return
    intersection = Region.intersection
    contains_region = Region.contains_region
    crop_overlaps = crop.overlaps
    widget_regions = [
        (widget, region, clip)
        for widget, (region, clip) in self.visible_widgets.items()
        if crop_overlaps(intersection(region, clip))
    ]
    for widget, region, clip in widget_regions:
        if contains_region(clip, region):
            yield region, clip, widget.render_lines(Region(0, 0, region.width, region.height))
        else:
            new_x, new_y, new_width, new_height = intersection(region, clip)
            if new_width and new_height:
                yield region, clip, widget.render_lines(
                    Region(new_x - region.x, new_y - region.y, new_width, new_height)
                )


_NO_CHOPS: dict[int, Strip | None] = {}
_NO_ENDS: list[int] = []
"""A line outside the update's spans (never read, never written)."""

_JOIN_GAP = 3
"""Lines of a widget this close are rendered in one call (the lines between come from its cache)."""


def _render_partial_update(self: Compositor) -> ChopsUpdate | None:
    """Textual's ``render_partial_update``, rendering only the widget lines that fill a chop
    the update sends."""
    update_regions = self._dirty_regions.copy()
    self._dirty_regions.clear()
    if not update_regions:
        return None
    crop = Region.from_union(list(update_regions)).intersection(self.size.region)
    spans = list(self._regions_to_spans(update_regions))
    cuts = self.cuts
    # the chops each span line shows (starting before x2, ending after x1), by their start; a
    # line leaves this as its chops are filled
    wanted: dict[int, list[int]] = {}
    for y, x1, x2 in spans:
        line_cuts = cuts[y]
        starts = wanted.setdefault(y, [])
        starts.extend(c for c, end in zip(line_cuts, line_cuts[1:], strict=False)
                      if c < x2 and end > x1 and c not in starts)
    # the update reads the chops and chop ends of its spans' lines only: the others stay empty
    # (Textual makes every line's, 48 dicts and lists a paint at 160x48)
    chops: list[dict[int, Strip | None]] = [_NO_CHOPS] * len(cuts)
    chop_ends: list[list[int]] = [_NO_ENDS] * len(cuts)
    for y in wanted:
        line_cuts = cuts[y]
        chops[y] = dict.fromkeys(line_cuts[:-1])
        chop_ends[y] = line_cuts[1:]
    intersection = Region.intersection
    crop_overlaps = crop.overlaps
    wanted_ys = sorted(wanted)  # (a line filled leaves ``wanted``, not this)
    for widget, (region, clip) in self.visible_widgets.items():
        if not wanted:
            break
        visible = intersection(region, clip)
        if not crop_overlaps(visible):
            continue
        left, top, width, height = visible
        right = left + width
        bottom = top + height
        # the lines where this widget is the frontmost on a chop still to fill (most widgets
        # span a few of the update's lines: found by bisection, not by a pass over all of them)
        lines: list[int] = []
        for y in wanted_ys[bisect_left(wanted_ys, top):bisect_left(wanted_ys, bottom)]:
            to_fill = wanted.get(y)
            if to_fill is not None and any(left <= c < right for c in to_fill):
                lines.append(y)
        if not lines:
            continue
        # a call per run of lines, runs a few lines apart joined (a call costs more than a line)
        runs = [[lines[0], lines[0]]]
        for y in lines[1:]:
            if y - runs[-1][1] <= _JOIN_GAP:
                runs[-1][1] = y
            else:
                runs.append([y, y])
        at = 0
        for first, last in runs:
            strips = widget.render_lines(Region(left - region.x, first - region.y, width, last - first + 1))
            while at < len(lines) and lines[at] <= last:
                y = lines[at]
                at += 1
                chops_line = chops[y]
                final_cuts = [cut for cut in cuts[y] if right >= cut >= left]
                get_chop = chops_line.get
                pieces = strips[y - first].divide([cut - left for cut in final_cuts[1:]])
                for cut, piece in zip(final_cuts, pieces, strict=False):  # the last cut is the end
                    if get_chop(cut) is None:  # front to back: the first widget on a cut wins
                        chops_line[cut] = piece
                left_over = [c for c in wanted[y] if not (left <= c < right)]
                if left_over:
                    wanted[y] = left_over
                else:
                    del wanted[y]
    return _ChopsUpdate(chops, spans, chop_ends)


class _ChopsUpdate(ChopsUpdate):
    """Textual's ``ChopsUpdate`` whose :meth:`render_segments` writes each cursor move as text."""

    def render_segments(self, console: Console) -> str:
        """Textual's ``ChopsUpdate.render_segments``, each move made as rich's ``Control.move_to``
        makes it (``tests/test_compositor_crop.py`` compares the two)."""
        sequences: list[str] = []
        append = sequences.append
        chops = self.chops
        chop_ends = self.chop_ends
        last_y = self.spans[-1][0]
        for y, x1, x2 in self.spans:
            line = chops[y]
            ends = chop_ends[y]
            row = y + 1
            for end, (x, strip) in zip(ends, line.items(), strict=False):
                if strip is None:
                    continue
                if x > x2 or end <= x1:
                    continue
                if not (x2 > x >= x1 and end <= x2):
                    strip = strip.crop(0, min(end, x2) - x)
                append(f"\x1b[{row};{x + 1}H")
                append(strip.render(console))
            if y != last_y:
                append("\n")
        return "".join(sequences)


def install(*, textual_version: str | None = None) -> bool:
    """Use :func:`_get_renders` for ``Compositor._get_renders`` and
    :func:`_render_partial_update` for ``Compositor.render_partial_update`` (idempotent) on the
    tested Textual only.

    Returns whether it is installed; on another Textual version it logs why not.
    """
    if not patch_allowed("compositor_crop", version=textual_version):
        return False
    Compositor._get_renders = _get_renders  # type: ignore[method-assign]  # the patch itself
    Compositor.render_partial_update = _render_partial_update  # type: ignore[method-assign]
    return True
