"""Keys of every size: the C loops read a key of one 30-bit digit (below 2**30 ticks) from the
digit itself and any other through PyLong_AsLongLong; books whose keys straddle 2**30 ticks (one
digit to two) or 2**60 (two to three) must read and order exactly as with small keys, in both
loops."""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest

from feeds.book import BookTop, Level, OrderBook
from tests.book_support import use_loops

TICK = D("0.00001")
EDGE = 1 << 30
"""Ticks where a key stops fitting one 30-bit digit (10737.41824 at this tick)."""
EDGE2 = 1 << 60
"""Ticks where a key stops fitting two."""


@pytest.fixture(autouse=True, params=["c", "python"])
def loops(request, monkeypatch):
    return use_loops(request.param, monkeypatch)


def _price(ticks: int) -> str:
    return f"{ticks // 100_000}.{ticks % 100_000:05d}"


def _reference(levels: dict[int, int], sign: int, n: int) -> list[Level]:
    rows, cum = [], D(0)
    for t in sorted(levels, key=lambda t: -sign * t)[:n]:
        cum += levels[t]
        rows.append(Level(D(_price(t)), D(levels[t]), cum))
    return rows


@pytest.mark.parametrize("mid", [EDGE, EDGE + 40, EDGE - 40, EDGE2, EDGE2 - 40])
def test_keys_across_one_digit_order_and_read_exactly(mid):
    # Bids just below and asks just above the boundary, the touch moving across it: inserts,
    # removals and size changes on both sides of 2**30 ticks, a top-20 read after each.
    rng = random.Random(mid)
    book = OrderBook("BTCUSD_PERP", TICK)
    truth: dict[int, dict[int, int]] = {1: {}, -1: {}}
    for step in range(400):
        mid += rng.choice((-3, -1, 0, 1, 3))
        updates: dict[int, list[tuple[str, str]]] = {1: [], -1: []}
        for _ in range(rng.randint(1, 12)):
            sign = rng.choice((1, -1))
            t = mid - sign * rng.randint(1, 60)
            if truth[-sign] and (t >= min(truth[-1]) if sign == 1 else t <= max(truth[1])):
                continue  # would cross the book
            qty = 0 if rng.random() < 0.25 else rng.randint(1, 500)
            updates[sign].append((_price(t), str(qty)))
            if qty:
                truth[sign][t] = qty
            else:
                truth[sign].pop(t, None)
        book.apply(updates[1], updates[-1])
        assert book.top(20) == BookTop(_reference(truth[1], 1, 20), _reference(truth[-1], -1, 20)), step
    bids, asks = book.levels()
    assert bids == [(D(_price(t)), D(q)) for t, q in sorted(truth[1].items(), reverse=True)]
    assert sorted(asks) == [(D(_price(t)), D(q)) for t, q in sorted(truth[-1].items())]
