"""OrderBook maths and caching, book_checksum, and BookSync's handling of every gap case."""

from __future__ import annotations

import importlib
import importlib.util
import random
import shutil
from decimal import Decimal
from typing import Any

import pytest

from feeds import book as book_module
from feeds.book import BookSync, BookTop, Level, OrderBook, SyncAction, book_checksum
from feeds.errors import MalformedFrame
from feeds.models import DepthUpdate
from tests.book_support import use_loops

D = Decimal
TICK = D("0.1")


def make_book(bids=(), asks=(), tick=TICK, last_update_id=100) -> OrderBook:
    book = OrderBook("BTCUSD_PERP", tick)
    book.load_snapshot(last_update_id, [list(lv) for lv in bids], [list(lv) for lv in asks])
    return book


def ev(first: int, final: int, prev: int, bids=(), asks=()) -> DepthUpdate:
    return DepthUpdate(1, 1, "BTCUSD_PERP", "BTCUSD", first, final, prev, [list(b) for b in bids],
                       [list(a) for a in asks])


@pytest.fixture(autouse=True, params=["c", "python"])
def loops(request, monkeypatch):
    """Every test here runs twice: with the C hot loops (feeds._bookc) and with the Python ones."""
    return use_loops(request.param, monkeypatch)


def test_the_c_loops_are_built_where_a_compiler_is():
    # The extension is optional so that an install never fails on it; where a compiler exists
    # (CI, this project's machines) a failed build would silently cost the speed.
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here")
    assert importlib.util.find_spec("feeds._bookc") is not None
    # and built from this checkout's _bookc.c: a stale build would be ignored (Python loops)
    assert importlib.import_module("feeds._bookc").ABI == book_module._BOOKC_ABI


def _with_loops(native: bool, fn, *args):
    """``fn(*args)`` with the C loops on or off; returns ("ok", result) or ("raised", type)."""
    saved = book_module._bookc
    book_module._bookc = saved if native else None
    try:
        return "ok", fn(*args)
    except Exception as exc:  # the two must fail alike too
        return "raised", type(exc)
    finally:
        book_module._bookc = saved


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_c_and_python_loops_leave_the_same_book(seed, loops, monkeypatch):
    # Same updates (a malformed level now and then, in the middle of a side) to a book run by
    # the C loops and one run by the Python loops: the same outcome for every call, and the
    # same state after it, down to the ordered keys and their floor.
    if loops != "c":
        pytest.skip("compares the two itself")
    if seed % 2:
        monkeypatch.setattr(book_module, "_CACHE_LIMIT", 40)  # text caches emptied every few updates
        monkeypatch.setattr(book_module, "_PRICE_OF_LIMIT", 40)
    rng = random.Random(seed)
    books = {native: OrderBook("BTCUSD_PERP", TICK) for native in (True, False)}
    bad = [("9517.65", "1"), ("abc", "1"), ("9517.6", "-1"), ("9517.6",), "ab", None, ("9517.6", 1.5)]
    spell = (lambda p: p + "0", lambda p: "0" + p, lambda p: p + "00", lambda p: p[:-1] + "5",
             lambda p: p.rstrip("0").rstrip(".") if p.endswith(".0") else p, lambda p: p + "1",
             lambda p: p.replace(".", ".."), lambda p: "+" + p)  # the same price, or a bad one
    for i, (bids, asks) in enumerate(_random_updates(rng, 1200)):
        for levels in (bids, asks):
            for j, (p, q) in enumerate(levels):
                if rng.random() < 0.02:
                    levels[j] = (rng.choice(spell)(p), q)
        if rng.random() < 0.03:
            side = bids if rng.random() < 0.5 else asks
            side.insert(rng.randrange(len(side) + 1), rng.choice(bad))
        outcomes = {native: _with_loops(native, book.apply, bids, asks) for native, book in books.items()}
        assert outcomes[True] == outcomes[False], (i, outcomes)
        if rng.random() < 0.6:
            n = rng.choice((1, 5, 20, 20, 60))
            tops = {native: _with_loops(native, book.top, n) for native, book in books.items()}
            assert tops[True] == tops[False], i
        c, py = books[True], books[False]
        for a, b in ((c._bids, py._bids), (c._asks, py._asks)):
            assert (a.qty, a.keys, a.floor, a.hi) == (b.qty, b.keys, b.floor, b.hi), i
    assert books[True].levels() == books[False].levels()
    assert books[True].checksum() == books[False].checksum()


# ---- OrderBook ------------------------------------------------------------------------------


def test_top_levels_and_cumulative_sizes():
    book = make_book(
        bids=[("100.0", "1"), ("99.8", "2"), ("99.9", "3.5")],
        asks=[("100.3", "5"), ("100.1", "1")],
    )
    top = book.top(2)
    assert top == BookTop(
        bids=[Level(D("100.0"), D("1"), D("1")), Level(D("99.9"), D("3.5"), D("4.5"))],
        asks=[Level(D("100.1"), D("1"), D("1")), Level(D("100.3"), D("5"), D("6"))],
    )
    assert book.top(10).bids[-1] == Level(D("99.8"), D("2"), D("6.5"))
    assert book.best_bid() == Level(D("100.0"), D("1"), D("1"))
    assert book.best_ask().price == D("100.1")
    assert book.spread() == D("0.1")
    assert book.mid() == D("100.05")
    assert book.imbalance(1) == D(0)
    assert book.imbalance(10) == (D("6.5") - 6) / (D("6.5") + 6)
    assert book.depth_counts() == (3, 2)
    assert not book.is_crossed()
    assert book.last_update_id == 100


def test_apply_updates_removes_and_ignores_absent_removals():
    book = make_book(bids=[("100.0", "1"), ("99.9", "2")], asks=[("100.1", "1")])
    book.apply([("99.9", "0"), ("99.0", "0.0"), ("100.0", "7")], [("100.2", "3"), ("100.1", "0.000")])
    assert book.levels() == ([(D("100.0"), D("7"))], [(D("100.2"), D("3"))])
    assert book.top(5).asks == [Level(D("100.2"), D("3"), D("3"))]
    # Prices with trailing zeros beyond the tick are the same level.
    book.apply([("100.00", "8")], [])
    assert book.levels()[0] == [(D("100.0"), D("8"))]
    book.clear()
    assert book.levels() == ([], []) and book.best_bid() is None and book.spread() is None
    assert book.mid() is None and book.imbalance(5) is None and book.top(5) == BookTop([], [])


def test_top_rows_are_plain_tuples_and_whole_sizes_keep_their_spelling(loops):
    # top() rows are plain (price, qty, cum) tuples (a named tuple costs ~3x as much to build in
    # the Python loop); the C loop finds whole sizes by value (book._qty_ints), which must give
    # exactly the Decimal of the text: "0125" is 125, "125.0" keeps its place (and so its sum).
    book = OrderBook("BTCUSD_PERP", TICK)
    book.apply([("100.0", "125"), ("99.9", "125.0"), ("99.8", "0125")], [("100.1", "7"), ("100.2", "0.5")])
    big = str(book_module._QTY_INTS + 3)
    book.apply([("99.7", big), ("99.6", "000")], [("100.3", "00007")])
    top = book.top(5)
    assert all(type(row) is tuple for row in (*top.bids, *top.asks))
    assert [(str(p), str(q), str(c)) for p, q, c in top.bids] == [
        ("100.0", "125", "125"), ("99.9", "125.0", "250.0"), ("99.8", "125", "375.0"),
        ("99.7", big, str(375 + int(big)) + ".0")]
    assert [(str(q), str(c)) for _, q, c in top.asks] == [("7", "7"), ("0.5", "7.5"), ("7", "14.5")]
    if loops == "c":
        assert book._qty_ints[125] == 125 and str(book._qty_ints[125]) == "125" and book._qty_ints[7] == 7
        assert book._qty_ints[0] == 0


def test_c_and_python_reads_alternating_on_one_book_stay_exact(loops, monkeypatch):
    # The C read records each cached row's key (side.top_keys) to reuse the row's price when
    # rows shift; a rebuild by the Python loop in between must not leave that record stale.
    if loops == "python":
        pytest.skip("the test switches between the loops itself")
    native = book_module._bookc
    rng = random.Random(11)
    book = OrderBook("BTCUSD_PERP", TICK)
    ref_bids: dict[Decimal, Decimal] = {}
    ref_asks: dict[Decimal, Decimal] = {}
    for i, (bids, asks) in enumerate(_random_updates(rng, 600)):
        monkeypatch.setattr(book_module, "_bookc", native if rng.random() < 0.5 else None)
        book.apply(bids, asks)
        _apply_to_reference(bids, asks, ref_bids, ref_asks)
        assert book.top(20) == _reference_top(ref_bids, ref_asks, 20), i


def test_exact_with_small_ticks_and_odd_ticks():
    book = make_book(bids=[("0.15001", "10"), ("0.15", "3")], asks=[("0.15003", "1.00000001")],
                     tick=D("0.00001"))
    assert book.best_bid().price == D("0.15001")
    assert book.spread() == D("0.00002")
    assert book.mid() == D("0.15002")
    assert book.top(5).bids[1] == Level(D("0.15000"), D("3"), D("13"))
    assert book.top(5).asks[0][1] == D("1.00000001")  # rows are (price, qty, cum)
    half = make_book(bids=[("100.5", "1")], asks=[("101", "1"), ("101.0", "2")], tick=D("0.5"))
    assert half.levels() == ([(D("100.5"), D(1))], [(D("101.0"), D(2))])
    with pytest.raises(MalformedFrame, match="off the tick grid"):
        half.apply([("100.2", "1")], [])
    whole = make_book(bids=[("8800", "1")], asks=[("8825", "1")], tick=D("25"))
    assert whole.spread() == D(25)
    with pytest.raises(MalformedFrame, match="off the tick grid"):
        whole.apply([("8810", "1")], [])


@pytest.mark.parametrize(
    "level",
    [("9517.65", "1"), ("abc", "1"), ("-5.0", "1"), ("1e5", "1"), ("0", "1"), (" 9517.6", "1"),
     ("9517.6", "x"), ("9517.6", "-1"), ("9517.6", "NaN"), ("9517.6", "Infinity"), ("9517.6", 1.5),
     (9517.6, "1"), ("9517.6",), ("9517.6", "1", "2"), "ab", None, ("", "1"), (".", "1")],
)
def test_malformed_levels_raise_malformed_frame(level):
    book = make_book(bids=[("9517.5", "1")], asks=[("9517.7", "1")])
    with pytest.raises(MalformedFrame):
        book.apply([level], [])
    with pytest.raises(MalformedFrame):
        book.apply([], [level])
    with pytest.raises(MalformedFrame):
        OrderBook("X", TICK).load_snapshot(1, [level], [])


def test_failed_snapshot_leaves_an_empty_book():
    book = make_book(bids=[("1.0", "1")])
    with pytest.raises(MalformedFrame, match="bids"):
        book.load_snapshot(5, [("2.0", "1"), ("2.05", "1")], [])
    assert book.depth_counts() == (0, 0)


def test_grouping_rounds_bids_down_and_asks_up():
    book = make_book(
        bids=[("100.4", "1"), ("100.0", "2"), ("99.9", "3"), ("99.5", "4"), ("98.7", "5")],
        asks=[("100.6", "1"), ("101.0", "2"), ("101.1", "3"), ("102.3", "4")],
    )
    g = book.grouped(10, 5)  # groups of 0.5
    assert g.bids == [
        Level(D("100.0"), D(3), D(3)),
        Level(D("99.5"), D(7), D(10)),
        Level(D("98.5"), D(5), D(15)),
    ]
    assert g.asks == [
        Level(D("101.0"), D(3), D(3)),
        Level(D("101.5"), D(3), D(6)),
        Level(D("102.5"), D(4), D(10)),
    ]
    assert book.grouped(2, 10).bids == [Level(D("100.0"), D(3), D(3)), Level(D("99.0"), D(7), D(10))]
    assert book.grouped(1, 1).asks == [Level(D("100.6"), D(1), D(1))]
    assert book.grouped(10, 1) == book.top(10)
    with pytest.raises(ValueError):
        book.grouped(5, 0)


def test_crossed_detection():
    book = make_book(bids=[("100.0", "1")], asks=[("100.1", "1")])
    book.apply([("100.1", "2")], [])
    assert book.is_crossed()


def _apply_to_reference(bids: Any, asks: Any, ref_bids: dict[Decimal, Decimal],
                        ref_asks: dict[Decimal, Decimal]) -> None:
    """What an update does to a plain price -> size map of each side (size 0 removes)."""
    for levels, ref in ((bids, ref_bids), (asks, ref_asks)):
        for p, q in levels:
            if D(q):
                ref[D(p)] = D(q)
            else:
                ref.pop(D(p), None)


def _random_updates(rng: random.Random, events: int, drift: bool = True):
    mid = 200_000
    for _ in range(events):
        if drift:
            mid += rng.choice((-2, -1, 0, 0, 1, 2))
        bids, asks = [], []
        for _ in range(rng.randint(1, 30)):
            near = rng.random() < 0.6
            depth = rng.randint(1, 8) if near else rng.randint(1, 400)
            qty = "0" if rng.random() < 0.25 else str(rng.choice((1, 2, 3, 10, 250)) * rng.randint(1, 9))
            if rng.random() < 0.5:
                bids.append((f"{(mid - depth) / 10:.1f}", qty))
            else:
                asks.append((f"{(mid + depth) / 10:.1f}", qty))
        yield bids, asks


def _reference_top(ref_bids: dict, ref_asks: dict, n: int) -> BookTop:
    def side(levels):
        out, cum = [], D(0)
        for price, qty in levels[:n]:
            cum += qty
            out.append(Level(price, qty, cum))
        return out

    return BookTop(side(sorted(ref_bids.items(), reverse=True)), side(sorted(ref_asks.items())))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("cache_limit", [None, 7])
def test_cached_top_matches_a_naive_book_after_every_update(seed, cache_limit, monkeypatch):
    # The incremental top-N cache must equal a from-scratch computation at every step,
    # whatever mix of n a reader asks for; also with text -> number caches so small that they
    # are emptied every few updates.
    if cache_limit is not None:
        monkeypatch.setattr(book_module, "_CACHE_LIMIT", cache_limit)
        monkeypatch.setattr(book_module, "_PRICE_OF_LIMIT", cache_limit)
    rng = random.Random(seed)
    book = OrderBook("BTCUSD_PERP", TICK)
    ref_bids: dict[Decimal, Decimal] = {}
    ref_asks: dict[Decimal, Decimal] = {}
    for bids, asks in _random_updates(rng, 1500):
        book.apply(bids, asks)
        _apply_to_reference(bids, asks, ref_bids, ref_asks)
        n = rng.choice((1, 5, 20, 20, 20, 50))
        if rng.random() < 0.7:
            assert book.top(n) == _reference_top(ref_bids, ref_asks, n)
    assert book.top(20) == _reference_top(ref_bids, ref_asks, 20)
    assert book.levels() == (sorted(ref_bids.items(), reverse=True), sorted(ref_asks.items()))


def test_a_wide_cached_top_matches_a_naive_book_after_every_update(loops):
    # A read of more than 64 rows a side (the ladder reads deeper when its cursor is): the C read
    # then keeps the keys and prices of the rows it rebuilds on the heap instead of the stack.
    rng = random.Random(3)
    book = OrderBook("BTCUSD_PERP", TICK)
    ref_bids: dict[Decimal, Decimal] = {}
    ref_asks: dict[Decimal, Decimal] = {}
    for i, (bids, asks) in enumerate(_random_updates(rng, 300)):
        book.apply(bids, asks)
        _apply_to_reference(bids, asks, ref_bids, ref_asks)
        if i > 100:  # both sides deeper than the read by then
            assert len(book.top(150).bids) == 150
        assert book.top(150) == _reference_top(ref_bids, ref_asks, 150), i


def _naive_grouped(levels: dict, n: int, group: Decimal, bids: bool) -> list[Level]:
    groups: dict[Decimal, Decimal] = {}
    for price, qty in levels.items():
        units = price / group
        edge = (units.to_integral_value("ROUND_FLOOR" if bids else "ROUND_CEILING")) * group
        groups[edge] = groups.get(edge, D(0)) + qty
    out, cum = [], D(0)
    for price, qty in sorted(groups.items(), reverse=bids)[:n]:
        cum += qty
        out.append(Level(price, qty, cum))
    return out


def test_deep_book_stays_ordered_while_its_best_levels_are_eaten_and_refilled():
    # Only the best levels of a side are kept in order (deep inserts and removals touch a dict
    # only); eating through hundreds of best levels, adding levels deep in the book and inside
    # the spread, and reading wider than before must all still read exactly like a naive book.
    rng = random.Random(5)
    ref_bids = {D(100_000 - 2 * i) / 10: D(rng.randint(1, 50)) for i in range(1000)}
    ref_asks = {D(100_002 + 3 * i) / 10: D(rng.randint(1, 50)) for i in range(1000)}
    book = make_book([(f"{p}", f"{q}") for p, q in ref_bids.items()], [(f"{p}", f"{q}") for p, q in ref_asks.items()])
    n = 20

    def check():
        assert book.top(n) == _reference_top(ref_bids, ref_asks, n)
        assert book.depth_counts() == (len(ref_bids), len(ref_asks))
        assert book.best_bid().price == max(ref_bids) and book.best_ask().price == min(ref_asks)

    for step in range(700):
        best_bid, best_ask = max(ref_bids), min(ref_asks)
        bids = [(f"{best_bid}", "0")]  # the best bid is eaten
        del ref_bids[best_bid]
        asks = []
        if step % 3 == 0:  # a new ask inside the spread, then a deep bid and a deep ask
            inside = best_ask - D("0.1")
            asks.append((f"{inside}", "4"))
            ref_asks[inside] = D(4)
        deep_bid = min(ref_bids) - D(rng.randint(1, 5)) / 10
        deep_ask = max(ref_asks) + D(rng.randint(1, 5)) / 10
        bids.append((f"{deep_bid}", "9"))
        asks.append((f"{deep_ask}", "9"))
        ref_bids[deep_bid] = ref_asks[deep_ask] = D(9)
        if step % 7 == 0:  # remove a random deep level
            gone = rng.choice(sorted(ref_bids)[:300])
            bids.append((f"{gone}", "0"))
            del ref_bids[gone]
        book.apply(bids, asks)
        if step % 5 == 0:
            check()
    check()
    n = 400  # wider than anything read before
    check()
    for group in (1, 10, 1000):
        grouped = book.grouped(30, group)
        assert grouped.bids == _naive_grouped(ref_bids, 30, TICK * group, bids=True)
        assert grouped.asks == _naive_grouped(ref_asks, 30, TICK * group, bids=False)
    assert book.levels() == (sorted(ref_bids.items(), reverse=True), sorted(ref_asks.items()))


def test_text_caches_stay_bounded(loops):
    # Prices wander and sizes vary without end on a real feed: the text -> number caches must
    # stay within their limit (resident memory stays flat) and the book stay exact. The C loop
    # parses a plain price outright and caches nothing for it: a cache of every price text seen
    # held a few hundred KB per side for no speed.
    book = OrderBook("BTCUSD_PERP", TICK)
    limit = book_module._CACHE_LIMIT
    ref: dict[Decimal, Decimal] = {}
    for i in range(3 * limit):
        price, qty = D(200_000 + i) / 10, D(i + 1)
        book.apply([(f"{price}", f"{qty}")], [])
        ref[price] = qty
        if i % 500 == 0:
            book.top(5)
        assert len(book._bids.key_of) <= limit and len(book._qty_of) <= limit
        assert len(book._price_of) <= book_module._PRICE_OF_LIMIT
    if loops == "c":
        assert not book._bids.key_of
    assert book.top(5) == _reference_top(ref, {}, 5)
    assert book.levels()[0] == sorted(ref.items(), reverse=True)


def test_a_full_cache_keeps_the_texts_of_the_levels_in_the_book(loops, monkeypatch):
    # A wandering market fills the text caches with prices and sizes long gone; emptying a full
    # cache made every level still in play miss (and be parsed again) once more. Now a full cache
    # keeps what the book still holds.
    monkeypatch.setattr(book_module, "_CACHE_LIMIT", 64)
    monkeypatch.setattr(book_module, "_PRICE_OF_LIMIT", 32)
    book = OrderBook("BTCUSD_PERP", TICK)
    live = [(f"{1000 + i}.5", f"{7000 + i}") for i in range(8)]
    book.apply(live, [])
    book.top(5)
    for i in range(200):  # levels that come and go (and sizes seen once)
        book.apply([(f"{2000 + i}.5", f"{i + 1}.25")], [])
        book.top(5)
        book.apply([(f"{2000 + i}.5", "0")], [])
    assert {p for p, _ in live} <= set(book._bids.key_of) or loops == "c"  # the C loop parses plain prices
    assert {q for _, q in live} <= set(book._qty_of)
    assert {k for k in book._bids.keys[-5:]} <= set(book._price_of)
    assert len(book._qty_of) <= 64 and len(book._price_of) <= 32 and len(book._bids.key_of) <= 64
    assert book.top(8).bids == _reference_top({D(p): D(q) for p, q in live}, {}, 8).bids


def test_checksum_equal_for_books_built_differently():
    rng = random.Random(7)
    incremental = OrderBook("BTCUSD_PERP", TICK)
    truth_bids: dict[Decimal, Decimal] = {}
    truth_asks: dict[Decimal, Decimal] = {}
    for bids, asks in _random_updates(rng, 300):
        incremental.apply(bids, asks)
        for levels, ref in ((bids, truth_bids), (asks, truth_asks)):
            for p, q in levels:
                if D(q):
                    ref[D(p)] = D(q)
                else:
                    ref.pop(D(p), None)
    # Built in one go from a snapshot written with extra trailing zeros, in shuffled order.
    bids = [(f"{p:f}0", f"{q:f}") for p, q in truth_bids.items()]
    asks = [(f"{p:f}", f"{q:f}.00") for p, q in truth_asks.items()]
    rng.shuffle(bids)
    rng.shuffle(asks)
    snapshot = make_book(bids, asks)
    assert incremental.checksum() == snapshot.checksum()
    assert incremental.checksum() == book_checksum(truth_bids.items(), truth_asks.items())
    assert incremental.checksum(depth=5) == book_checksum(truth_bids.items(), truth_asks.items(), 5)
    # Any one difference changes it.
    some_price = next(iter(truth_bids))
    snapshot.apply([(f"{some_price:f}", "999")], [])
    assert incremental.checksum() != snapshot.checksum()


def test_book_checksum_is_canonical():
    a = book_checksum([(D("1.10"), D("2")), (D("1.2"), D("3"))], [(D("1.3"), D("1.0")), (D("1.4"), D(0))])
    b = book_checksum([(D("1.2"), D("3.00")), (D("1.1"), D("2"))], [(D("1.30"), D("1"))])
    assert a == b and len(a) == 8 and all(c in "0123456789abcdef" for c in a)
    # The documented text, hand-written: bids best first, "|", asks best first; each level
    # "price:qty" in the plainest decimal spelling; zero-quantity levels left out; CRC-32.
    import zlib
    canonical = "1.2:3,1.1:2|1.3:1"
    assert a == f"{zlib.crc32(canonical.encode()):08x}", canonical
    # one quantity changed changes the sum (a checksum that ignored quantities passed before)
    assert book_checksum([(D("1.10"), D("2")), (D("1.2"), D("4"))], [(D("1.3"), D("1"))]) != a
    assert book_checksum([(D("1.1"), D("2"))], []) != book_checksum([], [(D("1.1"), D("2"))])


# ---- BookSync -------------------------------------------------------------------------------

SNAP_BIDS = [["100.0", "1"], ["99.9", "2"]]
SNAP_ASKS = [["100.1", "1"], ["100.2", "2"]]


def new_sync(max_buffer: int = 100) -> BookSync:
    return BookSync(OrderBook("BTCUSD_PERP", TICK), max_buffer=max_buffer)


def test_buffers_until_snapshot_then_replays_straddling_events():
    sync = new_sync()
    assert sync.state == "waiting_snapshot"
    results = [
        sync.on_event(ev(90, 95, 89, bids=[("100.0", "9")])),  # all before the snapshot: dropped
        sync.on_event(ev(96, 104, 95, bids=[("100.0", "5")])),  # straddles 100
        sync.on_event(ev(105, 110, 104, asks=[("100.1", "0")])),
    ]
    assert [r.action for r in results] == [SyncAction.BUFFERED] * 3
    assert sync.buffered == 3
    result = sync.on_snapshot(100, SNAP_BIDS, SNAP_ASKS)
    assert result.action is SyncAction.APPLIED and "2 buffered events applied, 1 dropped" in result.reason
    assert sync.state == "synced" and sync.synced and sync.buffered == 0
    assert sync.book.last_update_id == 110
    assert sync.book.best_bid() == Level(D("100.0"), D(5), D(5))
    assert sync.book.best_ask().price == D("100.2")
    assert sync.on_event(ev(111, 115, 110, bids=[("99.9", "0")])).action is SyncAction.APPLIED
    assert sync.book.depth_counts() == (1, 1)


def test_snapshot_with_empty_buffer_waits_for_a_straddling_event():
    sync = new_sync()
    assert sync.on_snapshot(100, SNAP_BIDS, SNAP_ASKS).action is SyncAction.APPLIED
    assert sync.on_event(ev(80, 99, 79)).action is SyncAction.DROPPED
    assert sync.on_event(ev(100, 100, 99, bids=[("99.9", "4")])).action is SyncAction.APPLIED
    assert sync.book.top(1).bids[0][2] == 1 and sync.book.levels()[0][1] == (D("99.9"), D(4))


def test_first_kept_event_after_snapshot_means_snapshot_too_old():
    sync = new_sync()
    sync.on_event(ev(90, 99, 89))
    sync.on_event(ev(101, 104, 99))  # starts after lastUpdateId 100: event(s) 100 missing
    result = sync.on_snapshot(100, SNAP_BIDS, SNAP_ASKS)
    assert result.action is SyncAction.RESYNC_NEEDED and result.needs_snapshot
    assert "snapshot too old" in result.reason and "U 101 > lastUpdateId 100" in result.reason
    assert sync.state == "resyncing" and sync.resyncs == 1 and sync.book.depth_counts() == (0, 0)
    # The newer event is kept: a fresh snapshot at 102 can use it.
    assert sync.buffered == 1
    sync.on_event(ev(105, 106, 104, asks=[("100.3", "1")]))
    assert sync.on_snapshot(102, SNAP_BIDS, SNAP_ASKS).action is SyncAction.APPLIED
    assert sync.synced and sync.book.last_update_id == 106 and sync.book.depth_counts() == (2, 3)


def test_gap_mid_stream_needs_resync_with_reason():
    sync = new_sync()
    sync.on_snapshot(100, SNAP_BIDS, SNAP_ASKS)
    assert sync.on_event(ev(99, 118, 98)).action is SyncAction.APPLIED
    result = sync.on_event(ev(121, 125, 120, bids=[("99.0", "1")]))
    assert result.action is SyncAction.RESYNC_NEEDED
    assert result.reason == "gap: pu 120 != previous u 118" == sync.reason
    assert sync.state == "resyncing" and sync.book.depth_counts() == (0, 0)
    assert sync.on_event(ev(126, 130, 125)).action is SyncAction.BUFFERED
    assert sync.on_snapshot(123, SNAP_BIDS, SNAP_ASKS).action is SyncAction.APPLIED
    assert sync.book.last_update_id == 130 and sync.book.best_bid().price == D("100.0")
    assert sync.book.levels()[0][-1] == (D("99.0"), D(1))


def test_duplicates_and_old_events_are_dropped():
    sync = new_sync()
    sync.on_snapshot(100, SNAP_BIDS, SNAP_ASKS)
    first = ev(95, 105, 94, bids=[("100.0", "3")])
    assert sync.on_event(first).action is SyncAction.APPLIED
    again = sync.on_event(first)
    assert again.action is SyncAction.DROPPED and "duplicate" in again.reason
    assert sync.on_event(ev(101, 103, 100, bids=[("100.0", "99")])).action is SyncAction.DROPPED
    assert sync.book.best_bid().qty == 3
    assert sync.on_event(ev(106, 107, 105)).action is SyncAction.APPLIED
    # Duplicates inside the buffer are dropped on replay too.
    sync.reset("reconnect")
    e1, e2 = ev(200, 210, 199, bids=[("100.0", "1")]), ev(211, 212, 210, bids=[("100.0", "2")])
    for e in (e1, e1, e2, e2):
        sync.on_event(e)
    assert "2 buffered events applied, 2 dropped" in sync.on_snapshot(205, SNAP_BIDS, SNAP_ASKS).reason
    assert sync.book.best_bid().qty == 2


def test_reset_on_reconnect_forgets_book_and_buffer():
    sync = new_sync()
    sync.on_event(ev(90, 99, 89))
    sync.on_snapshot(95, SNAP_BIDS, SNAP_ASKS)
    assert sync.synced
    sync.reset("stream reconnected")
    assert sync.state == "resyncing" and sync.reason == "stream reconnected" and sync.resyncs == 1
    assert sync.book.depth_counts() == (0, 0) and sync.buffered == 0
    assert sync.on_event(ev(300, 301, 299)).action is SyncAction.BUFFERED


def test_buffer_overflow_says_so_and_resyncs():
    sync = new_sync(max_buffer=3)
    results = [sync.on_event(ev(i, i, i - 1)) for i in range(1, 5)]
    assert [r.action for r in results[:3]] == [SyncAction.BUFFERED] * 3
    assert results[3].action is SyncAction.RESYNC_NEEDED and "buffer overflow" in results[3].reason
    assert sync.buffered == 1 and sync.resyncs == 1
    # A snapshot covering the kept event brings the book in sync.
    assert sync.on_snapshot(4, SNAP_BIDS, SNAP_ASKS).action is SyncAction.APPLIED


def test_malformed_level_and_crossed_book_resync_without_raising():
    sync = new_sync()
    sync.on_snapshot(100, SNAP_BIDS, SNAP_ASKS)
    bad = sync.on_event(ev(100, 101, 99, bids=[("100.05", "1")]))
    assert bad.action is SyncAction.RESYNC_NEEDED and "malformed level" in bad.reason
    assert "off the tick grid" in bad.reason
    sync.on_snapshot(100, SNAP_BIDS, SNAP_ASKS)
    assert sync.on_event(ev(100, 101, 99, asks=[("1e3", "1")])).needs_snapshot
    sync.on_snapshot(100, SNAP_BIDS, SNAP_ASKS)
    crossed = sync.on_event(ev(100, 101, 99, bids=[("100.2", "1")]))
    assert crossed.action is SyncAction.RESYNC_NEEDED
    assert crossed.reason == "crossed book after update u 101: best bid 100.2 >= best ask 100.1"
    assert sync.resyncs == 3 and sync.book.depth_counts() == (0, 0)
    # Broken snapshots, too.
    sync.on_event(ev(200, 201, 199))
    bad_snap = sync.on_snapshot(200, [["x", "1"]], [])
    assert bad_snap.needs_snapshot and "malformed snapshot" in bad_snap.reason and sync.buffered == 1
    crossed_snap = sync.on_snapshot(200, [["101.0", "1"]], [["100.0", "1"]])
    assert crossed_snap.needs_snapshot and "crossed snapshot" in crossed_snap.reason
    assert sync.buffered == 1
    assert sync.on_snapshot(200, SNAP_BIDS, SNAP_ASKS).action is SyncAction.APPLIED
    assert sync.book.last_update_id == 201


def test_synced_book_equals_truth_over_a_long_random_stream():
    # A venue-side truth produces a chained event stream; the client starts mid-stream, buffers,
    # loads a snapshot taken later, and ends equal to the truth (checked by checksum).
    rng = random.Random(11)
    truth = OrderBook("BTCUSD_PERP", TICK)
    events, u = [], 0
    for bids, asks in _random_updates(rng, 400, drift=False):  # bids < mid < asks: never crossed
        truth.apply(bids, asks)
        first, u = u + 1, u + rng.randint(1, 5)
        events.append((ev(first, u, first - 1, bids, asks), truth.checksum(), truth.levels()))
    sync = new_sync(max_buffer=1000)
    for depth_ev, _, _ in events[:50]:
        sync.on_event(depth_ev)
    snap_event, _, (snap_bids, snap_asks) = events[40]
    sync.on_snapshot(
        snap_event.final_update_id,
        [(f"{p:f}", f"{q:f}") for p, q in snap_bids],
        [(f"{p:f}", f"{q:f}") for p, q in snap_asks],
    )
    assert sync.synced, sync.reason
    for depth_ev, checksum, _ in events[50:]:
        assert sync.on_event(depth_ev).action is SyncAction.APPLIED
        assert sync.book.checksum() == checksum
    assert sync.resyncs == 0


def test_cumulative_sizes_stay_exact_for_wide_quantities():
    # 29-digit sums would round in the default 28-digit context.
    from decimal import Context

    big = "1234567890123456789012.1234567"
    book = make_book(bids=[("100.0", big), ("99.9", big), ("99.8", "0.0000001")], asks=[("100.1", "1")])
    exact = Context(prec=60)
    expected = exact.add(exact.add(D(big), D(big)), D("0.0000001"))
    assert book.top(3).bids[-1][2] == expected
    assert str(book.top(3).bids[-1][2]) == "2469135780246913578024.2469135"
    # Short quantities far apart in scale: 18 whole digits plus 16 decimal places.
    spread = make_book(bids=[("100.0", "123456789012345678"), ("99.9", "0.0000000000000001")])
    assert str(spread.top(2).bids[-1][2]) == "123456789012345678.0000000000000001"
    assert spread.imbalance(2) == 1
