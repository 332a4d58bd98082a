"""The ladder's cursor on a hand-made book: it moves by shown rows, stays on screen, and keeps
its price while the market moves (issue 13)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.app import App, ComposeResult
from textual.strip import Strip

from feeds.book import OrderBook
from widgets.ladder import Ladder

pytestmark = pytest.mark.timeout(30)

D = Decimal


def sparse_book() -> OrderBook:
    """Asks from 100.5 up and bids from 99.5 down, one level every 0.3 (the tick is 0.1): most
    ticks have nothing resting, as in a real book."""
    book = OrderBook("TEST", D("0.1"))
    asks = [(str(D("100.5") + D("0.3") * i), "2") for i in range(60)]
    bids = [(str(D("99.5") - D("0.3") * i), "3") for i in range(60)]
    book.load_snapshot(1, bids, asks)
    return book


class LadderHost(App[None]):
    def __init__(self, book: OrderBook) -> None:
        super().__init__()
        self.book = book

    def compose(self) -> ComposeResult:
        yield Ladder(id="ladder")

    def on_mount(self) -> None:
        ladder = self.query_one(Ladder)
        ladder.bind_source(self.book, synced=lambda: True)
        ladder.focus()


def cursor_rows(ladder: Ladder) -> list[Decimal | None]:
    return [r.price for r in ladder._rows if r.cursor]


def shown(ladder: Ladder) -> list[Decimal]:
    return [r.price for r in ladder._rows if r.price is not None]


async def test_arrows_move_one_shown_row_and_the_highlight_stays_visible() -> None:
    book = sparse_book()
    app = LadderHost(book)
    async with app.run_test(size=(40, 30)) as pilot:
        ladder = app.query_one(Ladder)
        await pilot.press("z")
        assert ladder.cursor_price == D("99.5")
        await pilot.press("down")
        assert ladder.cursor_price == D("99.2")  # the next row shown, not 99.4 (nothing there)
        assert cursor_rows(ladder) == [D("99.2")]
        await pilot.press("down", "down", "up")
        assert ladder.cursor_price == D("98.9")
        await pilot.press("a", "up")
        assert ladder.cursor_price == D("100.8")
        await pilot.press("down", "down")  # from the best ask across the spread to the best bid
        assert ladder.cursor_price == D("99.5") and cursor_rows(ladder) == [D("99.5")]
        await pilot.press("pagedown")
        assert ladder.cursor_price == D("99.5") - 10 * D("0.3")
        assert cursor_rows(ladder) == [ladder.cursor_price]


async def test_paging_past_the_shown_rows_scrolls_the_ladder_to_keep_the_cursor() -> None:
    book = sparse_book()
    app = LadderHost(book)
    async with app.run_test(size=(40, 20)) as pilot:
        ladder = app.query_one(Ladder)
        await pilot.press("z")
        lowest_centred = min(shown(ladder))
        await pilot.press("pagedown", "pagedown", "pagedown")  # 30 rows: deeper than the screen
        assert ladder.cursor_price == D("99.5") - 30 * D("0.3")
        assert ladder.cursor_price < lowest_centred
        assert cursor_rows(ladder) == [ladder.cursor_price]  # on screen: the ladder scrolled
        assert ladder._rows[-1].price == ladder.cursor_price  # at the bottom edge
        assert "spread above" in ladder._strips[0].text and "x" in ladder._strips[0].text
        await pilot.press("up")
        assert ladder.cursor_price == D("99.5") - 29 * D("0.3") and cursor_rows(ladder)
        await pilot.press("x")  # recentre on the spread
        assert ladder.cursor_price is None and ladder.scrolled == 0
        assert any(r.kind == "mid" for r in ladder._rows)
        await pilot.press("a", "pageup", "pageup", "pageup")
        assert ladder.cursor_price == D("100.5") + 30 * D("0.3")
        assert ladder._rows[0].price == ladder.cursor_price and cursor_rows(ladder)
        assert "spread below" in ladder._strips[0].text


async def test_the_cursor_keeps_its_price_when_its_level_empties_or_the_market_moves_away() -> None:
    book = sparse_book()
    app = LadderHost(book)
    async with app.run_test(size=(40, 20)) as pilot:
        ladder = app.query_one(Ladder)
        await pilot.press("z", "down")
        assert ladder.cursor_price == D("99.2")
        book.apply([("99.2", "0")], [])  # the level at the cursor is gone
        ladder.poll()
        assert ladder.cursor_price == D("99.2")
        row = next(r for r in ladder._rows if r.cursor)
        assert row.price == D("99.2") and "99.2" in row.text  # still shown, with no size
        await pilot.press("down")
        assert ladder.cursor_price == D("98.9")  # moves on from there by shown rows
        # the market rallies: 40 new ask and bid levels above; the cursor's price stays put
        book.apply([(str(D("100.0") + D("0.1") * i), "1") for i in range(100)],
                   [(str(D("99.5") - D("0.3") * i), "0") for i in range(60)])
        book.apply([], [(str(D("110.1") + D("0.1") * i), "1") for i in range(40)])
        ladder.poll()
        assert ladder.cursor_price == D("98.9")
        assert cursor_rows(ladder) == [D("98.9")]
        assert ladder._rows[-1].price == D("98.9")  # scrolled down to it, spread above
        assert "spread above" in ladder._strips[0].text


async def test_grouping_moves_the_cursor_to_its_row_and_rows_move_at_the_grouping() -> None:
    book = sparse_book()
    app = LadderHost(book)
    async with app.run_test(size=(40, 30)) as pilot:
        ladder = app.query_one(Ladder)
        await pilot.press("a", "plus", "plus")  # ×5: 0.5 rows; asks round up
        assert ladder.step == D("0.5")
        assert ladder.cursor_price == D("100.5") and cursor_rows(ladder) == [D("100.5")]
        await pilot.press("up")
        above = sorted(p for p in shown(ladder) if p > D("100.5"))[0]
        assert ladder.cursor_price == above and cursor_rows(ladder) == [above]
        await pilot.press("z", "down")
        below = sorted((p for p in shown(ladder) if p < D("99.5")), reverse=True)[0]
        assert ladder.cursor_price == below and cursor_rows(ladder) == [below]


async def test_the_cursor_row_is_marked_in_text_for_no_colour() -> None:
    book = sparse_book()
    app = LadderHost(book)
    async with app.run_test(size=(40, 20)) as pilot:
        ladder = app.query_one(Ladder)
        await pilot.press("z")
        y = next(i for i, r in enumerate(ladder._rows) if r.cursor)
        assert "▸" in ladder._strips[y + 1].text
        assert all("▸" not in strip.text for i, strip in enumerate(ladder._strips) if i != y + 1)


async def test_an_empty_book_shows_no_rows_and_keys_do_nothing() -> None:
    app = LadderHost(OrderBook("TEST", D("0.1")))
    async with app.run_test(size=(40, 20)) as pilot:
        ladder = app.query_one(Ladder)
        await pilot.press("z", "down", "a", "up", "plus", "x")
        assert ladder.cursor_price is None and not shown(ladder)
        assert any("no book yet" in r.text for r in ladder._rows)


async def test_the_ladders_own_line_rendering_gives_textuals_lines() -> None:
    """Ladder.render_lines skips Textual's styles pass for a plain ladder: the strips (every
    cell and style, after the app's line filters, the ANSI-to-truecolor one skipped as it would
    change nothing) are the ones the pass gives, whole or cropped, with the cursor, under both
    themes (a cell in an ANSI colour is filtered); a ladder with a border goes through Textual."""
    from textual.geometry import Region
    from textual.widget import Widget

    book = sparse_book()
    app = LadderHost(book)
    async with app.run_test(size=(40, 30)) as pilot:
        ladder = app.query_one(Ladder)
        await pilot.press("z", "down", "down")
        crops = [Region(0, 0, 40, 30), Region(0, 7, 40, 3), Region(5, 12, 20, 4)]
        for theme in ("textual-dark", "textual-light"):
            app.theme = theme
            ladder._filter_kept.clear()
            await pilot.pause()
            assert ladder._is_plain()
            for crop in crops:
                ours = ladder.render_lines(crop)
                ladder._styles_cache.clear()
                theirs = Widget.render_lines(ladder, crop)
                assert len(ours) == len(theirs) == crop.height
                assert ours == theirs and [s.cell_length for s in ours] == [s.cell_length for s in theirs]
            assert ladder._filter_kept and all(ladder._filter_kept.values())  # truecolor cells: skipped
        # a cell in an ANSI colour is filtered; one in truecolor is what the filter gives back
        from rich.segment import Segment
        from rich.style import Style
        from textual.filter import ANSIToTruecolor

        truecolor = next(f for f in app.get_line_filters() if isinstance(f, ANSIToTruecolor))
        background = ladder.background_colors[1]
        ansi = Strip([Segment("ab", Style(color="red")), Segment("cd", Style(color="#102030"))], 4)
        true = Strip([Segment("ab", Style(color="#ff0000", bgcolor="#000010")), Segment("cd")], 4)
        assert not ladder._filter_keeps(truecolor, ansi, background)
        assert ansi.apply_filter(truecolor, background) != ansi
        assert ladder._filter_keeps(truecolor, true, background)
        assert true.apply_filter(truecolor, background) == true
        ladder.styles.border = ("round", "red")
        await pilot.pause()
        assert not ladder._is_plain()
        crop = Region(0, 0, ladder.region.width, ladder.region.height)
        ladder._styles_cache.clear()
        assert ladder.render_lines(crop) == Widget.render_lines(ladder, crop)
        assert ladder.render_lines(crop)[0].text.startswith("╭")


async def test_a_rebuild_combines_no_row_styles_and_reads_the_size_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19 (idle CPU): each depth event changes ~25 rows (the cumulative column, the bars);
    their text and bar styles are combined once per style change, not for every new row, and
    a poll works out the ladder's size (a DOM walk) once. The rows' cells stay the same."""
    from rich.style import Style
    from textual.widget import Widget

    book = sparse_book()
    app = LadderHost(book)
    async with app.run_test(size=(40, 30)) as pilot:
        ladder = app.query_one(Ladder)
        await pilot.press("z", "down")
        fresh = Ladder()
        sizes = [0]
        adds = [0]
        real_add = Style.__add__
        monkeypatch.setattr(Ladder, "size", property(lambda self: (sizes.__setitem__(0, sizes[0] + 1),
                                                                   Widget.size.fget(self))[1]))  # type: ignore[attr-defined]
        monkeypatch.setattr(Style, "__add__", lambda self, other: (adds.__setitem__(0, adds[0] + 1),
                                                                   real_add(self, other))[1])
        for i in range(3):
            book.apply([(str(D("99.5") - D("0.3") * k), str(4 + i + k)) for k in range(20)], [])
            sizes[0] = adds[0] = 0
            ladder.poll()
            assert sizes[0] == 1
            assert adds[0] <= 1  # the spread's row (its imbalance moved): base + mid
        # the same strips as rows rendered from scratch
        monkeypatch.undo()
        rows, width = ladder._rows, ladder.size.width
        styles = (ladder.kept_style(), *(ladder.kept_style(c) for c in (
            "ladder--ask", "ladder--bid", "ladder--ask-bar", "ladder--bid-bar", "ladder--mid",
            "ladder--cursor", "ladder--own", "ladder--last")))
        fresh._row_styles = {}
        assert any(r.cursor for r in rows)
        for row, strip in zip(rows, ladder._strips[1:], strict=True):
            assert list(strip) == list(Ladder._render_row(fresh, row, width, styles))
