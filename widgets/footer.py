"""The key footer: Textual's ``Footer`` without its leak of key widgets, and without rebuilding
keys that did not change.

Textual 8's ``Footer`` recomposes on every change of the active bindings (each screen pushed or
popped, each focus change) and binds every new ``FooterKey``'s ``compact`` to the footer with
``data_bind``. The binding is a watcher on the footer that holds the key; Textual drops a
watcher of a removed node only when the watched reactive next changes, and ``compact`` never
does. So every recompose kept ~12 removed keys (≈3,000 objects) alive for good: after a few
hundred order forms a full garbage collection walked 100,000 more objects.

Upstream fix (what Textual should change): ``Footer.recompose`` could skip a recompose whose
active bindings equal the ones on show, and removing a node should drop the watchers
``data_bind`` registered for it (today they go only when the watched reactive next changes).
Both behaviours read Textual internals (``_bindings_ready``, the ``__watchers`` mapping), so
they are on only for the Textual version they were tested with (:mod:`widgets.textual_pin`);
on any other, ``KeyFooter`` recomposes as Textual's ``Footer`` does.

The footer also fits its keys to its width (Textual's cuts them off at the right edge: at 80
columns the dashboard lost ``j`` and ``q``): keys are shown by priority, the most important
first, each only whole, and a key whose panel is not on screen in this layout is not shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.cells import cell_len
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from widgets.textual_pin import patch_allowed

__all__ = ["DASHBOARD_PRIORITY", "DASHBOARD_SHOWN_WITH", "KeyFooter"]

DASHBOARD_PRIORITY = (
    "quit", "help", "order('BUY')", "order('SELL')", "cancel_selected", "switch_symbol", "journal",
    "pick", "cancel_all", "modify_selected", "interval(1)", "kline_kind", "all_liquidations",
    "group(1)", "group(-1)",
)
"""The dashboard's keys by action, most important first: leaving, help and trading, then what
the focused panel does, then the views. Keys not listed come after these (in the order Textual
lists them), the command palette last (``/`` opens the same switcher)."""
DASHBOARD_SHOWN_WITH = {
    "interval(1)": "#chart",
    "kline_kind": "#chart",
    "all_liquidations": "#liquidations",
}
"""Keys that act on one panel, by action: shown only while that panel is on screen (the compact
layouts hide the tapes, or show them instead of the chart)."""


class KeyFooter(Footer):
    """``Footer`` that recomposes only when the keys it shows change, and then forgets the
    watchers of the keys it removed.

    Closing the order form (or any screen over the dashboard) announces the dashboard's
    bindings again, unchanged; Textual's footer would rebuild its dozen key widgets anyway, each
    with its own styles, message pump and task, and that garbage lands in the collector's middle
    generation while the trader is opening forms.
    """

    _shown_for: object = None
    """The bindings the keys on show were composed for (None: not composed yet)."""

    def __init__(self, *children: Widget, priority: Sequence[str] = DASHBOARD_PRIORITY,
                 shown_with: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*children, **kwargs)
        self.priority = tuple(priority)
        """Actions, most important first: the keys shown when not all fit."""
        self.shown_with = dict(DASHBOARD_SHOWN_WITH if shown_with is None else shown_with)
        """``action -> selector``: the key shows only while that widget is on screen."""

    def on_mount(self) -> None:  # Footer's own on_mount runs too (Textual calls both)
        # A panel shown or hidden (a layout toggle) changes the screen's layout, and the screen
        # says so after every layout: the keys are fitted then, not polled four times a second.
        self.screen.screen_layout_refresh_signal.subscribe(self, self._layout_refreshed)

    def _layout_refreshed(self, _screen: object) -> None:
        self.fit_keys()

    def on_resize(self) -> None:
        self.fit_keys()

    _fitted: object = None
    """What the keys on show were fitted for (the keys, the width, which panels are on screen)."""

    def fit_keys(self) -> None:
        """Show the keys that fit the width, by priority, each whole; hide the rest and the keys
        whose panel is not on screen. Does nothing when none of that changed since the last fit
        (it runs after every layout of the screen; measuring keys is not free)."""
        keys = self._keys()
        width = self.size.width
        if not keys or width <= 0:
            return
        fitted = (tuple(map(id, keys)), width, tuple(self._acts_here(a) for a in self.shown_with))
        if fitted == self._fitted:
            return
        self._fitted = fitted
        rank = {action: i for i, action in enumerate(self.priority)}
        last = len(rank)

        def order(i: int) -> tuple[int, int]:
            key = keys[i]
            palette = key.has_class("-command-palette")
            return (last + 1 if palette else rank.get(key.action, last), i)

        show: set[int] = set()
        used = 0
        for i in sorted(range(len(keys)), key=order):
            if not self._acts_here(keys[i].action):
                continue
            need = _key_width(keys[i])
            if used + need <= width:
                show.add(i)
                used += need
        for i, key in enumerate(keys):
            if key.display != (i in show):
                key.display = i in show

    _keys_for: tuple[int, list[FooterKey]] = (-1, [])
    """The footer's keys, and the footer's node-list update count they were found at."""
    _panels_for: tuple[object, int, dict[str, Widget | None]] = (None, -1, {})
    """The panels of ``shown_with`` by selector (None: not on this screen), and the screen and
    its node-list update count they were found at."""

    def _keys(self) -> list[FooterKey]:
        """The key widgets, found again only when the footer's children changed (Textual counts
        every change below a node in its ``_nodes._updates``): the fit runs after every layout
        and a DOM query each time was most of its cost."""
        updates = self._nodes._updates
        if self._keys_for[0] != updates:
            self._keys_for = (updates, list(self.query(FooterKey)))
        return self._keys_for[1]

    def _panel(self, selector: str) -> Widget | None:
        """The widget ``selector`` names on this screen, looked up again only when a widget was
        added to or removed from the screen (its ``_nodes._updates`` count)."""
        screen = self.screen
        updates = screen._nodes._updates
        owner, seen, panels = self._panels_for
        if owner is not screen or seen != updates:
            panels = {}
            self._panels_for = (screen, updates, panels)
        if selector not in panels:
            found = screen.query(selector)
            panels[selector] = found.first() if found else None
        return panels[selector]

    def _acts_here(self, action: str) -> bool:
        selector = self.shown_with.get(action)
        if selector is None:
            return True
        node: Any = self._panel(selector)
        if node is None:
            return True
        while isinstance(node, Widget):
            if not node.display:
                return False
            node = node.parent
        return True

    def _bindings_shown(self) -> object:
        if not self._bindings_ready:
            return None
        active = self.screen.active_bindings
        return (tuple((binding, enabled, tooltip) for _node, binding, enabled, tooltip in active.values()),
                self.show_command_palette)

    async def recompose(self) -> None:
        if not patch_allowed("KeyFooter"):
            await super().recompose()
            self._fitted = None  # new key widgets: fit them whatever ids they reuse
            self.fit_keys()
            return
        shown = self._bindings_shown()
        if shown is not None and shown == self._shown_for:
            return
        await super().recompose()
        self._fitted = None  # new key widgets: fit them whatever ids they reuse
        self.fit_keys()
        self._shown_for = shown
        watchers = getattr(self, "__watchers", {}).get("compact")
        if watchers:
            watchers[:] = [(node, callback) for node, callback in watchers
                           if not (node._closing or node._closed)]


def _key_width(key: FooterKey) -> int:
    """Columns ``key`` takes: its key and description with their padding (as FooterKey renders
    them), its own padding and border, and its margin."""
    key_pad = key.get_component_styles("footer-key--key").padding
    width = key_pad.left + cell_len(key.key_display) + key_pad.right
    if key.description:
        desc_pad = key.get_component_styles("footer-key--description").padding
        width += desc_pad.left + cell_len(key.description) + desc_pad.right
    return width + key.styles.gutter.width + key.styles.margin.width
