"""Text widths of single-cell text measured without rich's width cache.

rich (15.x) measures every string under 512 characters through ``cached_cell_len``, an LRU cache
of 4,096 entries, and Textual's compositor, content and segment tools call that cached function
directly. A dashboard paints a stream of one-off texts (each new price, size, latency and
countdown), so the cache fills with strings that are never measured again: about 1.2 MB of
resident memory after a few minutes, the largest single fill in the 30-minute soak
(``bench soak --soak-trace``). For text whose every character is one cell wide (all of
coinm's: ASCII, Latin-1, box drawing, arrows such as ▼) the width is its length, which is what
rich's own ``_cell_len`` answers first; only other text (wide or combining characters) goes to
the cache, as before. The answers are the same for every string (tested).

Installed only on the tested Textual (:mod:`widgets.textual_pin`), and only in the modules whose
``cell_len``/``cached_cell_len`` is still rich's cached function.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

import rich.cells

from widgets.render import ONE_CELL
from widgets.textual_pin import patch_allowed

__all__ = ["RICH_CACHED_CELL_LEN", "cell_len", "install"]

RICH_CACHED_CELL_LEN: Callable[..., int] = rich.cells.cached_cell_len
"""rich's own cached function (its ``cache_info()`` shows what it keeps)."""

_BOUND = (
    ("rich.cells", "cached_cell_len"),
    ("textual._cells", "cell_len"),
    ("textual._compositor", "cell_len"),
    ("textual._segment_tools", "cell_len"),
    ("textual._wrap", "cell_len"),
    ("textual.content", "cell_len"),
)
"""Where rich's cached function is bound by name (rich's ``cell_len`` looks up
``cached_cell_len`` in its module when called; Textual's modules import it once)."""


def cell_len(text: str, unicode_version: str = "auto") -> int:
    """The cells ``text`` takes, as rich's ``cached_cell_len`` says, without caching single-cell text."""
    if text.isascii():
        if text.isprintable():
            return len(text)
    elif ONE_CELL.issuperset(text):
        return len(text)
    return RICH_CACHED_CELL_LEN(text, unicode_version)


def install(*, textual_version: str | None = None) -> bool:
    """Bind :func:`cell_len` where rich's cached function was bound (idempotent); on another
    Textual version nothing changes. Returns whether it is installed."""
    if not patch_allowed("cell_width", version=textual_version):
        return False
    for module_name, attribute in _BOUND:
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
        if getattr(module, attribute, None) is RICH_CACHED_CELL_LEN:
            setattr(module, attribute, cell_len)
    return True
