"""widgets.cell_width: the same widths as rich's, and one-off single-cell texts kept out of rich's
width cache (they filled it in the soak: ~1.2 MB of prices and countdowns)."""

from __future__ import annotations

import rich.cells
import textual._compositor
import textual.content
import textual.strip

import tui.app  # noqa: F401  (the app installs the patch at import, as coinm does)
from widgets import cell_width

SAMPLES = [
    "", " ", "88,015.8", " Last 87,737.7▼", "▕▔▁█", "caf\u00e9 · 0.01%", "tab\there", "line\nbreak", "\x1b[0m",
    "日本語", "a\u0301", "👍", "👨\u200d👩\u200d👧", "x\ufe0f", "Ωмир", "\u00ad", "\u200b", "🇬🇧", "─" * 600,
]


def test_widths_equal_richs_uncached_answer() -> None:
    for text in SAMPLES:
        assert cell_width.cell_len(text) == rich.cells._cell_len(text, "auto"), repr(text)
        assert rich.cells.cell_len(text) == rich.cells._cell_len(text, "auto"), repr(text)


def test_installed_where_rich_and_textual_measure() -> None:
    assert rich.cells.cached_cell_len is cell_width.cell_len
    assert textual._compositor.cell_len is cell_width.cell_len
    assert textual.content.cell_len is cell_width.cell_len


def test_one_off_single_cell_texts_stay_out_of_richs_cache() -> None:
    cached = cell_width.RICH_CACHED_CELL_LEN
    before = cached.cache_info()
    for n in range(2000):
        text = f" Last {87_000 + n / 10:,.1f}▼"
        assert rich.cells.cell_len(text) == len(text)
        assert textual.strip.Strip([textual.strip.Segment(f"{n:>12,}")]).cell_length == 12
    after = cached.cache_info()
    assert after.misses == before.misses and after.currsize == before.currsize
    wide = "日本" * 3
    assert rich.cells.cell_len(wide) == 12  # wide text is still measured (and cached) by rich
    assert cached.cache_info().currsize <= before.currsize + 1
