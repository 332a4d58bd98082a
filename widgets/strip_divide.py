"""A whole strip divided at its own end is the strip itself, without a reference cycle.

Textual's compositor calls ``Strip.divide(cuts)`` on every line it paints; for a line no other
widget overlaps, the only cut is the strip's end and the answer is ``[self]``. Textual (8.x)
stores that answer in the strip's own ``_divide_cache``, so the strip refers to itself and only
the garbage collector can free it, with its seven caches, segments and lists. Every line of
every repaint became cyclic garbage: under a 100x firehose the youngest generation filled
about seven times a second and each middle-generation pass found ~18,000 dead objects
(7-24 ms). Answering ``[self]`` without caching it leaves those strips to reference counting.

Every other division goes to Textual's own method, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from textual.strip import Strip

__all__ = ["install"]

_textual_divide = Strip.divide


def _divide(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
    length = self.cell_length
    kept = [cut for cut in cuts if cut <= length]
    if len(kept) == 1 and kept[0] == length:
        return [self]
    return _textual_divide(self, kept)


def install() -> None:
    """Use :func:`_divide` for ``Strip.divide`` (idempotent)."""
    Strip.divide = _divide  # type: ignore[method-assign]
