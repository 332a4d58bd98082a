"""The ladder's poll does only the work a change needs (issue 19, idle CPU), with the same rows
and strips as a full rebuild."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from textual.app import App, ComposeResult

from feeds.book import OrderBook
from widgets.ladder import Ladder

pytestmark = pytest.mark.timeout(30)

D = Decimal


class Host(App[None]):
    def __init__(self, book: OrderBook) -> None:
        super().__init__()
        self.book = book
        self.last: Decimal | None = None

    def compose(self) -> ComposeResult:
        yield Ladder(id="ladder")

    def on_mount(self) -> None:
        ladder = self.query_one(Ladder)
        ladder.bind_source(self.book, synced=lambda: True, last_price=lambda: self.last)
        ladder.focus()


def book_of(rnd: random.Random) -> OrderBook:
    book = OrderBook("TEST", D("0.1"))
    asks = [(str(D(1000) + D("0.1") * (i + 1)), str(rnd.randint(1, 900))) for i in range(80)]
    bids = [(str(D(1000) - D("0.1") * i), str(rnd.randint(1, 900))) for i in range(80)]
    book.load_snapshot(1, bids, asks)
    return book


async def test_a_last_price_move_alone_remarks_the_rows_without_a_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    """A trade that moves only the last price (a sixth of the ladder's rebuilds at 1x) moves the
    mark: no rebuild, and the rows and strips are those a full rebuild gives, whatever the
    cursor and grouping."""
    rnd = random.Random(19)
    book = book_of(rnd)
    app = Host(book)
    async with app.run_test(size=(40, 30)) as pilot:
        ladder = app.query_one(Ladder)
        await pilot.pause()
        builds = [0]
        real = Ladder._build_rows

        def counted(self: Ladder, *args: object) -> object:
            builds[0] += 1
            return real(self, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(Ladder, "_build_rows", counted)
        for step in range(60):
            if step == 20:
                await pilot.press("z", "down", "down")  # a cursor
            if step == 40:
                await pilot.press("plus")  # grouped rows: the mark is on the row the price falls in
            if step % 3 == 0:
                side = rnd.choice(("bid", "ask"))
                price = D(1000) + D("0.1") * rnd.randint(1, 12) * (1 if side == "ask" else -1)
                book.apply(*(([(str(price), str(rnd.randint(0, 900)))], []) if side == "bid"
                             else ([], [(str(price), str(rnd.randint(0, 900)))])))
                builds[0] = 0
                ladder.poll()
                assert builds[0] == 1
            else:
                app.last = D(1000) + D("0.1") * rnd.randint(-8, 8)
                builds[0] = 0
                ladder.poll()
                assert builds[0] == 0
            shown = ladder._rows
            assert any(r.last for r in shown) or not any(r.price is not None and r.price == app.last for r in shown)
            # the same as from scratch
            ladder._seen = ()
            ladder.poll()
            assert ladder._rows == shown
            fresh = Ladder()
            width = ladder.size.width
            styles = ladder._strip_cache_key[1]
            assert isinstance(styles, tuple)
            for row, strip in zip(ladder._rows, ladder._strips[1:], strict=True):
                assert list(strip) == list(Ladder._render_row(fresh, row, width, styles))
