"""What the line API widgets share: styles kept between repaints, rich Text made into a strip."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len, get_character_cell_size
from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.filter import ANSIToTruecolor, LineFilter
from textual.geometry import Region
from textual.strip import Strip

__all__ = ["ONE_CELL", "KeptStyles", "LineWidth", "PlainLines", "cell_width", "text_strip"]

_CONSOLE = Console(color_system=None, force_terminal=False)
"""What ``Text.render`` needs to look styles up (the texts here carry Style objects)."""


class KeptStyles:
    """Mixin for a widget: its own and its component styles, read once per style change.

    Reading a style walks the DOM, and Textual empties its own cache of component styles on
    every refresh, so a widget repainting many times a second would walk it each time.
    ``notify_style_update`` (a theme change, a pseudo-class change) forgets them.
    """

    def kept_style(self, component: str = "") -> Style:
        """The component's style (``""``: the widget's own), as of the last style change."""
        kept: dict[str, Style] = self.__dict__.setdefault("_kept_styles", {})
        style = kept.get(component)
        if style is None:
            widget: Any = self  # a Widget (the class this is mixed into)
            style = kept[component] = (widget.get_component_rich_style(component) if component
                                       else widget.rich_style)
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()  # type: ignore[misc]  # a mixin: the Widget after it in the MRO has it
        self.__dict__.get("_kept_styles", {}).clear()


class LineWidth:
    """Mixin for a line API widget: :meth:`line_width` is the width read once for the lines of a
    repaint (``size`` walks the DOM), not once a line."""

    _line_width = -1
    """The width while :meth:`render_lines` runs (-1: read it)."""

    def render_lines(self, crop: Region) -> list[Strip]:
        widget: Any = self  # a Widget (the class this is mixed into)
        self._line_width = widget.size.width
        try:
            return self._sized_lines(crop)
        finally:
            self._line_width = -1

    def _sized_lines(self, crop: Region) -> list[Strip]:
        """The lines of a repaint, :meth:`line_width` set: the Widget's own."""
        return super().render_lines(crop)  # type: ignore[misc]  # the Widget after it in the MRO

    def line_width(self) -> int:
        """The widget's width (as of this repaint while one runs)."""
        if self._line_width >= 0:
            return self._line_width
        widget: Any = self
        return int(widget.size.width)


class PlainLines(LineWidth):
    """Mixin for a line API widget whose ``render_line`` gives whole rows of cells that already
    carry the widget's styles: a repaint hands them to the compositor without Textual's styles
    pass (a third of a repaint's cost per line, and most of a tape's), when that pass would give
    them back unchanged. That is when the widget is plain (:meth:`_is_plain`) and each row is
    exactly the widget's width: the pass then only runs the app's line filters over each row,
    and a filter that would change nothing (ANSI-to-truecolor on truecolor cells, the themes'
    colours) is skipped. Anything else goes through Textual (``tests/test_ladder_cursor.py``
    and ``tests/test_plain_lines.py`` compare the two).
    """

    def _is_plain(self) -> bool:
        """No border, outline, padding, tint, hatch, opacity or text opacity: Textual's styles
        pass then only wraps each row (its cells already carry the widget's styles) and runs
        the app's line filters over it. Read at every render (inline styles change without
        telling the widget); a few microseconds."""
        widget: Any = self  # a Widget (the class this is mixed into)
        styles = widget.styles
        return bool(
            tuple(styles.gutter) == (0, 0, 0, 0)
            and not any(edge for edge, _color in styles.outline)
            and not styles.tint.a
            and styles.text_opacity == 1.0
            and widget.opacity == 1.0
            and not (styles.has_rule("hatch") and styles.hatch != "none")
        )

    def _filter_keeps(self, line_filter: LineFilter, strip: Strip, background: Color) -> bool:
        """Whether ``line_filter`` would give ``strip`` back unchanged: Textual's ANSI-to-truecolor
        filter on cells whose colours are all truecolor already (the theme's are), as that
        filter's own ``truecolor_style`` answers (the style itself), once per style."""
        if type(line_filter) is not ANSIToTruecolor:
            return False
        known: dict[tuple[LineFilter, object, Style], bool] = self.__dict__.setdefault("_filter_kept", {})
        if len(known) > 512:  # styles of themes no longer shown
            known.clear()
        rich_background = background.rich_color
        for segment in strip:
            style = segment.style
            if segment.control is not None:
                return False
            if style is None:
                continue
            key = (line_filter, rich_background, style)
            kept = known.get(key)
            if kept is None:
                kept = known[key] = line_filter.truecolor_style(style, rich_background) is style
            if not kept:
                return False
        return True

    def _sized_lines(self, crop: Region) -> list[Strip]:
        """The rows as Textual's styles pass would give them, without the pass when it would
        change nothing but the filters' work (see the class)."""
        widget: Any = self  # a Widget (the class this is mixed into)
        width = self._line_width
        if (not self._is_plain() or widget.region.width != width  # (a scrollbar: not plain either)
                or (widget.auto_links and widget.hover_style._link_id)):  # were there links, Textual styles them
            return super()._sized_lines(crop)
        background = widget.background_colors[1]
        filters = widget.app.get_line_filters()
        keeps = self._filter_keeps
        render_line = widget.render_line
        strips = []
        for y in crop.line_range:
            strip = render_line(y)
            if strip.cell_length != width:
                return super()._sized_lines(crop)
            for line_filter in filters:
                if not keeps(line_filter, strip, background):
                    strip = strip.apply_filter(line_filter, background)
            strips.append(strip)
        x1, x2 = crop.column_span
        if (x1, x2) != (0, width):
            strips = [strip.crop(x1, x2) for strip in strips]
        return strips


ONE_CELL = frozenset(
    c for c in map(chr, (*range(0x20, 0x7F), *range(0xA0, 0x300), *range(0x2010, 0x2070), *range(0x2190, 0x2200),
                         *range(0x2500, 0x2600), *range(0x2800, 0x2900)))
    if get_character_cell_size(c) == 1
)
"""Characters a line here is made of (Latin, punctuation, arrows, box drawing and shapes, the
chart's Braille) that Rich counts as one cell each."""


def cell_width(text: str) -> int:
    """Terminal cells of ``text``, as Rich counts them, without Rich's per-string cache.

    ``rich.cells.cell_len`` keeps every string shorter than 512 characters it measures in an LRU
    cache of 4,096: a ticker line is new with every price, so it would fill that cache with
    whole lines (~0.4 KB an entry, about 1.7 MB) and make resident memory climb for minutes.
    Counting per character gives Rich's answer (its per-character cache is bounded by the
    characters in use); text with a zero-width joiner or variation selector, which Rich measures
    as sequences, is left to Rich.
    """
    if ONE_CELL.issuperset(text):
        return len(text)
    if "\u200d" in text or "\ufe0f" in text:
        return cell_len(text)
    return sum(map(get_character_cell_size, text))


def text_strip(text: Text) -> Strip:
    """``text`` (one line) as a strip, its cells exactly as Rich renders them."""
    return Strip(list(text.render(_CONSOLE)), cell_width(text.plain))
