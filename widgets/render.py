"""What the line API widgets share: styles kept between repaints, rich Text made into a strip."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

__all__ = ["KeptStyles", "text_strip"]

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
        super().notify_style_update()  # type: ignore[misc]
        self.__dict__.get("_kept_styles", {}).clear()


def text_strip(text: Text) -> Strip:
    """``text`` (one line) as a strip, its cells exactly as Rich renders them."""
    return Strip(list(text.render(_CONSOLE)), text.cell_len)
