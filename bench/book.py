"""Order book throughput: decode raw diff-depth JSON, keep the book in sync, read the top 20.

The stream is generated with a fixed seed to look like a recorded BTC feed: ~1000 levels a
side (dense near the touch, sparser deeper), 1-40 level changes an event, about 20% deletions,
20% new levels and 60% size changes, half of them near the touch and half anywhere in the book,
tick 0.1, integer contract quantities. The touch wanders as best levels are removed and new
ones are placed inside the spread.

Each event is a combined-stream frame (``{"stream": "btcusd_perp@depth@100ms", "data": ...}``).
coinm decodes it as the dashboard's stream client does (``feeds.depthwire.decode_depth_frame``:
msgspec straight into typed events); the anchors decode it with msgspec into bare positional
Structs (the fastest decode of these frames we know; prices and sizes stay strings), and one row
feeds the issue's book the way coinm decoded before (``orjson.loads``, ``unwrap_combined``,
``DepthUpdate.from_wire``). Each implementation reads the same thing (the best 20 levels of each
side with cumulative size, as Decimals); anchors use other data structures and are measured in
the same run so the figures compare on one machine. The anchor packages (sortedcontainers,
order-book) are optional and never project dependencies.
"""

from __future__ import annotations

import argparse
import random
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable
from decimal import Decimal
from itertools import accumulate, islice, repeat
from operator import itemgetter
from typing import Any

import msgspec
import orjson

from bench import print_table, register
from feeds import book as book_module
from feeds.book import BookSync, Level, OrderBook, Row, native_loops
from feeds.decimals import to_ticks
from feeds.depthwire import decode_depth_frame
from feeds.models import DepthUpdate, unwrap_combined

TICK = Decimal("0.1")
SYMBOL = "BTCUSD_PERP"
STREAM = "btcusd_perp@depth@100ms"
TOP = 20
TARGET_EVENTS_PER_S = 60_000
FRAME_S = 0.016
_new_tuple = tuple.__new__


# ---- the stream ----------------------------------------------------------------------------


def _price(ticks: int) -> str:
    return f"{ticks // 10}.{ticks % 10}"


class Stream:
    """A generated snapshot plus chained diff-depth events as combined-stream JSON frames."""

    def __init__(self, seed: int, events: int, depth: int) -> None:
        rng = random.Random(seed)
        mid = 880_000  # 88000.0 at tick 0.1
        # side: sign, dict ticks -> qty, ascending keys (key = sign * ticks; best at the end)
        sides = {"b": (1, {}, []), "a": (-1, {}, [])}
        for sign, qty, keys in sides.values():
            t = mid - 1 if sign == 1 else mid + 1
            gap_scale = 1.0
            while len(qty) < depth:
                qty[t] = rng.choice((1, 2, 5, 10, 25, 100)) * rng.randint(1, 40)
                insort(keys, sign * t)
                # Dense near the touch, sparser deeper, as real books are.
                gap_scale *= 1.003
                t -= sign * (1 + int(rng.expovariate(1.0) * gap_scale))
        # The snapshot is the state just before the first event, which straddles its id.
        self.snapshot_id = 1001
        self.snapshot = {
            name: [[_price(sign * k), str(qty[sign * k])] for k in reversed(keys)]
            for name, (sign, qty, keys) in sides.items()
        }
        self.texts: list[bytes] = []
        changes_total = deletions = touched_top = 0
        u = self.snapshot_id - 1
        for i in range(events):
            n = rng.randint(1, 40)
            out: dict[str, dict[int, int]] = {"b": {}, "a": {}}
            event_touches_top = False
            for _ in range(n):
                name = "b" if rng.random() < 0.5 else "a"
                sign, qty, keys = sides[name]
                other_keys = sides["a" if name == "b" else "b"][2]
                # The other side's best, in this side's key space (keys are sign * ticks).
                other_best = -other_keys[-1] if other_keys else None
                near = rng.random() < 0.5
                d = min(int(rng.expovariate(1 / 12)), len(keys) - 1) if near else rng.randrange(len(keys))
                key = keys[-1 - d]
                r = rng.random()
                if r < 0.18 and len(keys) > depth // 2:
                    qty.pop(sign * key)
                    del keys[bisect_left(keys, key)]
                    out[name][sign * key] = 0
                    deletions += 1
                elif r < 0.38 or len(keys) < depth * 0.9:
                    # A new level next to the chosen one, or inside the spread at the touch.
                    new = key + (1 if d == 0 and rng.random() < 0.5 else -rng.randint(1, 3))
                    if (other_best is not None and new >= other_best) or sign * new in qty:
                        continue
                    qty[sign * new] = rng.choice((1, 2, 5, 10, 25, 100)) * rng.randint(1, 40)
                    insort(keys, new)
                    out[name][sign * new] = qty[sign * new]
                    d = len(keys) - 1 - bisect_left(keys, new)
                else:
                    qty[sign * key] = max(1, qty[sign * key] + rng.randint(-50, 50))
                    out[name][sign * key] = qty[sign * key]
                changes_total += 1
                event_touches_top |= d < TOP
            touched_top += event_touches_top
            first, u = u + 1, u + rng.randint(1, 30)
            payload = {
                "e": "depthUpdate",
                "E": 1_700_000_000_000 + i * 100,
                "T": 1_700_000_000_000 + i * 100 - 3,
                "s": SYMBOL,
                "ps": "BTCUSD",
                "U": first,
                "u": u,
                "pu": first - 1,
                "b": [[_price(t), str(q)] for t, q in out["b"].items()],
                "a": [[_price(t), str(q)] for t, q in out["a"].items()],
            }
            self.texts.append(orjson.dumps({"stream": STREAM, "data": payload}))
        self.changes = changes_total
        self.deletions = deletions
        self.touched_top = touched_top
        self.final = {name: {t: q for t, q in qty.items()} for name, (_, qty, _) in sides.items()}


# ---- implementations -----------------------------------------------------------------------
# Each runner takes the stream and a read interval (1 = read after every event) and returns the
# top it read last, so results can be cross-checked.


def run_coinm(stream: Stream, every: int) -> object:
    """As the dashboard does: the market stream's depth decoder (msgspec, straight to typed
    events), ``BookSync.on_event``, ``OrderBook.top``."""
    book = OrderBook(SYMBOL, TICK)
    sync = BookSync(book)
    sync.on_snapshot(stream.snapshot_id, stream.snapshot["b"], stream.snapshot["a"])
    decode, on_event, top = decode_depth_frame, sync.on_event, book.top
    for i, text in enumerate(stream.texts):
        on_event(decode(text)[1])  # type: ignore[index]  # every frame here is a depth frame
        if i % every == 0:
            top(TOP)
    assert sync.synced, sync.reason
    return top(TOP)


def run_coinm_python_loops(stream: Stream, every: int) -> object:
    """``run_coinm`` with the book's hot loops in Python (as installed without a C compiler)."""
    saved = book_module._bookc
    book_module._bookc = None
    try:
        return run_coinm(stream, every)
    finally:
        book_module._bookc = saved


def run_coinm_decode_only(stream: Stream, every: int) -> object:
    decode = decode_depth_frame
    for text in stream.texts:
        decode(text)
    return None


def run_orjson_decode_only(stream: Stream, every: int) -> object:
    loads, parse = orjson.loads, DepthUpdate.from_wire
    for text in stream.texts:
        parse(unwrap_combined(loads(text))[1])
    return None


def run_msgspec_decode_only(stream: Stream, every: int) -> object:
    decode = _msgspec_frames()
    for text in stream.texts:
        decode(text)
    return None


def _msgspec_frames() -> Callable[[bytes], Any]:
    """The anchors' decoder: msgspec straight into positional Structs (no name checks, no
    wrapper: the fastest decode of these frames we know, without floats: prices stay str)."""
    depth = msgspec.defstruct("Depth", [("e", str), ("E", int), ("T", int), ("s", str), ("ps", str), ("U", int),
                                        ("u", int), ("pu", int), ("b", list[tuple[str, str]]),
                                        ("a", list[tuple[str, str]])], gc=False)
    frame = msgspec.defstruct("Frame", [("stream", str), ("data", depth)], gc=False)
    return msgspec.json.Decoder(frame).decode


def _top_from(prices: list[Decimal], qtys: list[Decimal]) -> list[Row]:
    """Plain (price, qty, cum) rows, as coinm's top() returns them."""
    return list(zip(prices, qtys, accumulate(qtys), strict=False))


def _replay(stream: Stream, every: int, bids: Any, asks: Any,
            apply: Callable[[Any, list], None], read: Callable[[], object], decoder: str = "msgspec") -> object:
    """What every anchor does with the stream: load the snapshot, then decode each frame (with
    msgspec into Structs, or as coinm did before it used msgspec: orjson + ``from_wire``), check
    the sequence, apply both sides and read every ``every`` events."""
    apply(bids, stream.snapshot["b"])
    apply(asks, stream.snapshot["a"])
    last_u = None
    if decoder == "msgspec":
        decode = _msgspec_frames()
        for i, text in enumerate(stream.texts):
            ev = decode(text).data
            if last_u is not None and ev.pu != last_u:
                raise RuntimeError("gap")
            last_u = ev.u
            apply(bids, ev.b)
            apply(asks, ev.a)
            if i % every == 0:
                read()
        return read()
    loads, parse = orjson.loads, DepthUpdate.from_wire
    for i, text in enumerate(stream.texts):
        ev = parse(unwrap_combined(loads(text))[1])
        if last_u is not None and ev.prev_final_update_id != last_u:
            raise RuntimeError("gap")
        last_u = ev.final_update_id
        apply(bids, ev.bids)
        apply(asks, ev.asks)
        if i % every == 0:
            read()
    return read()


def make_sorteddict_runner(by_ticks: bool) -> Callable[[Stream, int], object] | None:
    try:
        from sortedcontainers import SortedDict
    except ImportError:
        return None

    def run(stream: Stream, every: int) -> object:
        bids, asks = SortedDict(), SortedDict()

        def key(p: str) -> object:
            return to_ticks(Decimal(p), TICK) if by_ticks else Decimal(p)

        def apply(side: SortedDict, levels: list) -> None:
            for p, q in levels:
                qd = Decimal(q)
                if qd:
                    side[key(p)] = qd
                else:
                    side.pop(key(p), None)

        def read() -> tuple[list[Row], list[Row]]:
            bk = list(islice(reversed(bids), TOP))
            ak = list(islice(asks, TOP))
            bp = [k * TICK for k in bk] if by_ticks else bk
            ap = [k * TICK for k in ak] if by_ticks else ak
            return _top_from(bp, [bids[k] for k in bk]), _top_from(ap, [asks[k] for k in ak])

        return _replay(stream, every, bids, asks, apply, read)

    return run


def make_order_book_runner() -> Callable[[Stream, int], object] | None:
    """The ``order-book`` package (a sorted book in C, Decimal prices), if installed."""
    try:
        from order_book import OrderBook as CBook
    except ImportError:
        return None

    def run(stream: Stream, every: int) -> object:
        book = CBook()  # no max_depth: truncating would lose levels that come back into range
        bids, asks = book.bids, book.asks

        def apply(side: Any, levels: list) -> None:
            for p, q in levels:
                qd = Decimal(q)
                if qd:
                    side[Decimal(p)] = qd
                else:
                    try:
                        del side[Decimal(p)]
                    except KeyError:
                        pass

        def read() -> tuple[list[Row], list[Row]]:
            out = []
            for side in (bids, asks):
                levels = [side.index(i) for i in range(min(TOP, len(side)))]
                out.append(_top_from([p for p, _ in levels], [q for _, q in levels]))
            return out[0], out[1]

        return _replay(stream, every, bids, asks, apply, read)

    return run


def run_plain_dict(stream: Stream, every: int) -> object:
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}

    def apply(side: dict, levels: list) -> None:
        for p, q in levels:
            qd = Decimal(q)
            if qd:
                side[Decimal(p)] = qd
            else:
                side.pop(Decimal(p), None)

    def read() -> tuple[list[Row], list[Row]]:
        bk = sorted(bids, reverse=True)[:TOP]
        ak = sorted(asks)[:TOP]
        return _top_from(bk, [bids[k] for k in bk]), _top_from(ak, [asks[k] for k in ak])

    return _replay(stream, every, bids, asks, apply, read)


_NONE = -(1 << 62)


class _TickSide:
    __slots__ = ("sign", "qty", "keys", "key_of", "top", "hi")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # keys are sign * ticks, ascending: the best level is keys[-1]
        self.qty: dict[int, Decimal] = {}
        self.keys: list[int] = []
        self.key_of: dict[str, int] = {}  # price text -> key (sign applied)
        self.top: list[tuple[Decimal, Decimal, Decimal]] = []
        self.hi = _NONE  # the best key changed since ``top`` was built


def _rows_of(side: _TickSide, price_of: dict[int, Decimal], keys: list[int]) -> tuple[Any, Any]:
    """The sizes and prices of ``keys`` (best first): one ``itemgetter`` on each exact dict (on a
    dict subclass with ``__missing__`` each lookup costs about twice as much); a price not cached
    yet is computed and cached."""
    if len(keys) > 1:
        get = itemgetter(*keys)
        try:
            return get(side.qty), get(price_of)
        except KeyError:
            pass
    for k in keys:
        if k not in price_of:
            price_of[k] = abs(k) * TICK
    return [side.qty[k] for k in keys], [price_of[k] for k in keys]


class TickBook:
    """The strongest pure-Python book we could write (the issue's design, and then some): an
    integer-tick dict per side, every key in a bisect-maintained sorted list (negated for asks,
    so both sides' best is at the end, where the busy inserts and deletes move the fewest
    items), price text -> key and quantity text -> Decimal caches (unbounded), key -> Decimal
    price cache, top-n rows as plain tuples with cumulative Decimal sizes. ``incremental``: the
    cached rows better than every change since the last read are kept and only the rest are
    rebuilt (a read after an event that changed nothing in the top costs one comparison);
    otherwise every read rebuilds the top (the issue's 60-line book)."""

    def __init__(self, named_rows: bool = False, incremental: bool = True) -> None:
        self.named_rows = named_rows
        """Rows as plain tuples (the design in the issue, and coinm's top() rows), or as named
        tuples (feeds.book.Level: what coinm's rows were before, ~3x as dear to build in Python)."""
        self.bids, self.asks = _TickSide(1), _TickSide(-1)
        self.qty_of: dict[str, Decimal] = {}
        self.price_of: dict[int, Decimal] = {}  # key -> price (see _rows_of)
        self.side_top = self.incremental_top if incremental else self.rebuilt_top

    def apply(self, side: _TickSide, levels: list) -> None:
        qty, keys, sign, hi, key_of = side.qty, side.keys, side.sign, side.hi, side.key_of
        qty_of = self.qty_of
        for p, q in levels:
            k = key_of.get(p)
            if k is None:
                ticks, rem = divmod(Decimal(p), TICK)
                if rem or ticks <= 0:
                    raise ValueError(f"price {p} off the grid")
                k = key_of[p] = sign * int(ticks)
            qd = qty_of.get(q)
            if qd is None:
                qd = qty_of[q] = Decimal(q)
            if qd:
                if k not in qty:
                    insort(keys, k)
                qty[k] = qd
            elif qty.pop(k, None) is not None:
                del keys[bisect_left(keys, k)]
            else:
                continue
            if k > hi:
                hi = k
        side.hi = hi

    def incremental_top(self, side: _TickSide, n: int) -> list[tuple[Decimal, Decimal, Decimal]]:
        top, hi, keys = side.top, side.hi, side.keys
        total = len(keys)
        count = n if n < total else total
        valid = len(top)
        if hi != _NONE:
            above = total - bisect_right(keys, hi)
            if above < valid:
                valid = above
            side.hi = _NONE
        if valid == count == len(top):
            return top
        start, stop = total - 1 - valid, total - 1 - count
        fresh = keys[start:stop:-1] if stop >= 0 else keys[start::-1]
        qtys, prices = _rows_of(side, self.price_of, fresh)
        if valid:
            cums = accumulate(qtys, initial=top[valid - 1][2])
            next(cums)
        else:
            cums = accumulate(qtys)
        del top[valid:]
        rows = zip(prices, qtys, cums, strict=False)
        top.extend(map(_new_tuple, repeat(Level), rows) if self.named_rows else rows)
        return top

    def rebuilt_top(self, side: _TickSide, n: int) -> list[tuple[Decimal, Decimal, Decimal]]:
        best = side.keys[: -n - 1 : -1]
        qtys, prices = _rows_of(side, self.price_of, best)
        rows = zip(prices, qtys, accumulate(qtys), strict=False)
        return list(map(_new_tuple, repeat(Level), rows) if self.named_rows else rows)


def make_tick_book_runner(incremental: bool = True, named_rows: bool = False,
                          decoder: str = "msgspec") -> Callable[[Stream, int], object]:
    def run(stream: Stream, every: int) -> object:
        book = TickBook(named_rows, incremental)
        bids, asks, top = book.bids, book.asks, book.side_top
        return _replay(stream, every, bids, asks, book.apply, lambda: (top(bids, TOP), top(asks, TOP)), decoder)

    return run


def _time(run: Callable[[Stream, int], object], stream: Stream, every: int, repeats: int) -> float:
    """Best CPU seconds of ``repeats`` runs (CPU time: on a shared machine the wall clock also
    counts the time other processes had the core)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        run(stream, every)
        best = min(best, time.process_time() - start)
    return best


@register("book", "OrderBook: decode diff-depth JSON + sync + apply + top-20 read (events/s)")
def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench book")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--depth", type=int, default=1000, help="levels a side")
    parser.add_argument("--repeats", type=int, default=5, help="best of N interleaved runs (every row alike)")
    parser.add_argument("--seed", type=int, default=20_240_601)
    parser.add_argument("--only", default="", help="comma-separated parts of the names of the rows to run")
    args, _ = parser.parse_known_args(argv)  # options of other benches may be in argv too

    started = time.perf_counter()
    stream = Stream(args.seed, args.events, args.depth)
    frame_every = max(1, round(TARGET_EVENTS_PER_S * FRAME_S))
    count = len(stream.texts)
    print(
        f"stream: {count} events, {stream.changes / count:.1f} level changes/event "
        f"({100 * stream.deletions / stream.changes:.0f}% deletions), "
        f"{100 * stream.touched_top / count:.0f}% of events touch a top-{TOP} level, "
        f"{args.depth} levels a side, tick {TICK} (generated in {time.perf_counter() - started:.1f}s)"
    )
    print(
        f"read: top-{TOP} of both sides with cumulative size; 'frame' = once per {frame_every} "
        f"events (16 ms at {TARGET_EVENTS_PER_S:,} events/s); best of {args.repeats} interleaved runs, CPU time"
    )
    print("coinm's hot loops: " + ("C (feeds._bookc)" if native_loops() else
                                   "Python (feeds._bookc was not built: no C compiler at install time)"))

    # The same final top from every implementation, or the comparison means nothing.
    reference = run_coinm(stream, 1)
    expected_bids = sorted(((Decimal(_price(t)), Decimal(q)) for t, q in stream.final["b"].items()), reverse=True)
    assert [(price, qty) for price, qty, _cum in reference.bids] == expected_bids[:TOP]

    impls: list[tuple[str, Callable[[Stream, int], object] | None]] = [
        ("coinm OrderBook + BookSync", run_coinm),
        *([("coinm, Python loops", run_coinm_python_loops)] if native_loops() else []),
        ("anchor: tick dict + bisect list + caches, incremental top", make_tick_book_runner()),
        ("anchor: the same, Level rows", make_tick_book_runner(named_rows=True)),
        ("anchor: the same, every read rebuilt (the issue's book)", make_tick_book_runner(incremental=False)),
        ("anchor: the issue's book fed by orjson + from_wire",
         make_tick_book_runner(incremental=False, decoder="orjson")),
        ("anchor: SortedDict by ticks", make_sorteddict_runner(by_ticks=True)),
        ("anchor: SortedDict by Decimal", make_sorteddict_runner(by_ticks=False)),
        ("anchor: order-book (C)", make_order_book_runner()),
        ("anchor: dict, sorted on read", run_plain_dict),
    ]
    notes = []
    runs: list[tuple[str, Callable[[Stream, int], object]]] = []
    only = [part for part in args.only.split(",") if part]
    for name, run in impls:
        if only and not any(part in name for part in only) and name != "coinm OrderBook + BookSync":
            continue
        if run is None:
            package = "order-book" if "order-book" in name else "sortedcontainers"
            notes.append(f"skipped {name}: {package} is not installed (pip install {package})")
            continue
        got = run(stream, 1)
        if tuple(got) != tuple(reference):
            notes.append(f"warning: {name} read a different top than coinm")
        runs.append((name, run))
    runs.append(("(decode alone: coinm's depth decoder, msgspec)", run_coinm_decode_only))
    runs.append(("(decode alone: the anchors' msgspec Structs)", run_msgspec_decode_only))
    runs.append(("(decode alone: orjson + unwrap + from_wire)", run_orjson_decode_only))
    # Rounds interleave the implementations, so a burst of load on a shared machine costs each
    # of them a round rather than one of them its best.
    cases = [(name, run, label, every) for name, run in runs
             for label, every in ((("every event", 1), ("frame", frame_every)) if name[0] != "(" else (("", 1),))]
    best = {(name, label): float("inf") for name, _, label, _ in cases}
    for _ in range(args.repeats):
        for name, run, label, every in cases:
            best[name, label] = min(best[name, label], _time(run, stream, every, 1))
    rows = [(f"{name} [{label}]" if label else name, f"{count / s:,.0f}", f"{s / count * 1e6:.1f}")
            for (name, label), s in best.items()]
    print_table(("implementation [top-20 read]", "events/s", "µs/event"), rows)

    def strongest(pure: bool, named: bool = False) -> tuple[str, float] | None:
        anchors = [(name, s) for (name, label), s in best.items()
                   if name.startswith("anchor") and label == "every event" and not (pure and "(C)" in name)
                   and (not named or "Level rows" in name)]
        return min(anchors, key=lambda a: a[1]) if anchors else None

    coinm_s = best["coinm OrderBook + BookSync", "every event"]
    python_s = best.get(("coinm, Python loops", "every event"))
    if (top := strongest(pure=False)) is not None:
        print(f"read after every event: coinm is {top[1] / coinm_s:.2f}x the strongest anchor ({top[0]})")
    if python_s is not None and (top := strongest(pure=True)) is not None:
        print(f"read after every event: coinm's Python loops are {top[1] / python_s:.2f}x the strongest "
              f"pure-Python anchor ({top[0]})")
    if python_s is not None and (top := strongest(pure=True, named=True)) is not None:
        print(f"read after every event: coinm's Python loops are {top[1] / python_s:.2f}x the same anchor with "
              f"named (Level) rows ({top[0]})")
    for note in notes:
        print(note)
