"""A whole strip divided at its own end is the strip itself, without a reference cycle.

Textual's compositor calls ``Strip.divide(cuts)`` on every line it paints; for a line no other
widget overlaps, the only cut is the strip's end and the answer is ``[self]``. Textual (8.x)
stores that answer in the strip's own ``_divide_cache``, so the strip refers to itself and only
the garbage collector can free it, with its seven caches, segments and lists: every line of
every repaint becomes cyclic garbage. Answering ``[self]`` without caching it leaves those
strips to reference counting.

Every other division goes to Textual's own method, unchanged.

Upstream fix (what Textual should change): in ``Strip.divide``, return ``[self]`` without
storing it in ``_divide_cache`` when the only cut is the strip's own length (or store the
cached answer without the strip itself, e.g. as a marker meaning "self"). Installed only on the
Textual version it was tested with (:mod:`widgets.textual_pin`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from textual.strip import Strip

from widgets.textual_pin import patch_allowed

__all__ = ["install"]

_textual_divide = Strip.divide


def _divide(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
    length = self.cell_length
    kept = [cut for cut in cuts if cut <= length]
    if len(kept) == 1 and kept[0] == length:
        return [self]
    return _textual_divide(self, kept)


def install(*, textual_version: str | None = None) -> bool:
    """Use :func:`_divide` for ``Strip.divide`` (idempotent) on the tested Textual only.

    Returns whether it is installed; on another Textual version it logs why not.
    """
    if not patch_allowed("strip_divide", version=textual_version):
        return False
    Strip.divide = _divide  # type: ignore[method-assign]  # the patch itself: Textual's method replaced
    return True
