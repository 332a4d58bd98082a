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
on any other, ``KeyFooter`` is Textual's ``Footer``.
"""

from __future__ import annotations

from textual.widgets import Footer

from widgets.textual_pin import patch_allowed

__all__ = ["KeyFooter"]


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

    def _bindings_shown(self) -> object:
        if not self._bindings_ready:
            return None
        active = self.screen.active_bindings
        return (tuple((binding, enabled, tooltip) for _node, binding, enabled, tooltip in active.values()),
                self.show_command_palette)

    async def recompose(self) -> None:
        if not patch_allowed("KeyFooter"):
            await super().recompose()
            return
        shown = self._bindings_shown()
        if shown is not None and shown == self._shown_for:
            return
        await super().recompose()
        self._shown_for = shown
        watchers = getattr(self, "__watchers", {}).get("compact")
        if watchers:
            watchers[:] = [(node, callback) for node, callback in watchers
                           if not (node._closing or node._closed)]
