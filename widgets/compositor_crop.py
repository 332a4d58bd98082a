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

Upstream fix (what Textual should change): in ``_get_renders``, test ``crop.overlaps(region
& clip)`` instead of ``crop.overlaps(clip)``. Installed only on the Textual version it was
tested with (:mod:`widgets.textual_pin`).
"""

from __future__ import annotations

from collections.abc import Iterable

from textual._compositor import Compositor
from textual.geometry import Region
from textual.strip import Strip

from widgets.textual_pin import patch_allowed

__all__ = ["install"]

_textual_get_renders = Compositor._get_renders


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


def install(*, textual_version: str | None = None) -> bool:
    """Use :func:`_get_renders` for ``Compositor._get_renders`` (idempotent) on the tested
    Textual only.

    Returns whether it is installed; on another Textual version it logs why not.
    """
    if not patch_allowed("compositor_crop", version=textual_version):
        return False
    Compositor._get_renders = _get_renders  # type: ignore[method-assign]  # the patch itself
    return True
