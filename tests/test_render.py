"""Rich text made into strips (widgets/render.py): cell widths as Rich counts them, no per-line cache."""

from __future__ import annotations

import random
from itertools import pairwise

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from widgets.cell_width import RICH_CACHED_CELL_LEN as cached_cell_len
from widgets.render import cell_width, text_strip

_PIECES = ["BTCUSD_PERP", " ", "88,188.2", "▲", "▼", "…", "│", "█", "中文", "ｱ", "e\u0301", "\x07", "\t",
           "❤\ufe0f", "👩\u200d💻", "é", "Ω", "\u200b", "⣿", "🙂", "\xad", "\u0301", "→", "\x7f"]


def test_cell_width_is_richs_count() -> None:
    rng = random.Random(6)
    texts = ["", "abc", "88,188.2▲", "中文", "👩\u200d💻", "❤\ufe0f x"]
    texts += ["".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    for text in texts:
        assert cell_width(text) == cell_len(text), repr(text)


def test_a_new_line_each_price_leaves_richs_string_cache_alone() -> None:
    # Rich keeps every string it measures (up to 4,096) in an LRU cache; a ticker line is new with
    # each price, so measuring whole lines there filled it with ~1.7 MB of dead lines, and the
    # 30-minute soak's resident memory climbed for minutes.
    before = cached_cell_len.cache_info().currsize
    for i in range(500):
        line = Text.assemble(("BTCUSD_PERP  Last ", Style(bold=True)), f"{88_000 + i / 10:,.1f}",
                             ("▲" if i % 2 else "▼", Style(color="green")), f"  Mark {87_990 + i / 10:,.1f}")
        strip = text_strip(line)
        assert strip.cell_length == len(line.plain)  # every character here is one cell
        assert "".join(seg.text for seg in strip) == line.plain
    assert cached_cell_len.cache_info().currsize == before


def test_the_ladders_text_caches_stay_small_and_exact() -> None:
    # A moving market shows ever new prices and sizes: the ladder's formatting caches refill
    # rather than grow, and a text served from them is always the one formatting gives.
    from decimal import Decimal as D

    from feeds.decimals import fmt_compact, fmt_grouped
    from widgets.ladder import _TEXT_CACHE_LIMIT, Ladder

    ladder = Ladder()
    step = D("0.1")
    for start in range(0, 6 * _TEXT_CACHE_LIMIT, 40):
        # rows as the book's top() gives them: plain (price, qty, cum) tuples
        levels = [(D(880_000 + start + i) / 10, D(i + start % 7 + 1), D(start + i)) for i in range(40)]
        texts = ladder._level_texts(levels, step)
        assert texts == [(fmt_grouped(p, step), fmt_compact(q), fmt_compact(c)) for p, q, c in levels]
        bound = _TEXT_CACHE_LIMIT + 2 * len(levels)  # checked before each rebuild, which adds its rows
        assert len(ladder._price_texts) <= bound and len(ladder._size_texts) <= bound


def test_dividing_a_strip_answers_as_textual_does_and_leaves_no_cycle() -> None:
    # The compositor divides every painted line; a line divided only at its end is the strip
    # itself. Textual cached that answer in the strip, a cycle only the collector could free.
    import gc

    from textual.strip import Strip

    import widgets.strip_divide as strip_divide

    strip_divide.install()
    rng = random.Random(3)
    styles = [None, Style(bold=True), Style(color="red")]
    for _ in range(2000):
        text = "".join(rng.choice(_PIECES[:9]) for _ in range(rng.randint(0, 6)))
        cut = sorted(rng.sample(range(len(text) + 1), rng.randint(0, min(3, len(text) + 1))))
        parts = (text[a:b] for a, b in pairwise([0, *cut, len(text)]))
        segments = [Segment(part, rng.choice(styles)) for part in parts if part]
        length = cell_width(text)
        picked = rng.sample(range(length + 3), min(length + 3, rng.randint(1, 4)))
        cuts = sorted({*picked, *([length] if rng.random() < 0.5 else [])})
        ours = Strip(segments, length).divide(cuts)
        theirs = strip_divide._textual_divide(Strip(segments, length), cuts)
        assert [(s.text, s.cell_length, list(s)) for s in ours] == [(s.text, s.cell_length, list(s)) for s in theirs]

    gc.collect()
    gc.disable()
    try:
        def strips_alive() -> int:
            return sum(1 for o in gc.get_objects() if type(o) is Strip)

        before = strips_alive()
        for i in range(200):
            strip = Strip([Segment(f"line {i}")])
            assert strip.divide([strip.cell_length]) == [strip]
        del strip
        assert strips_alive() == before  # freed by reference counting alone
    finally:
        gc.enable()
