"""The local order book (integer ticks, exact quantities) and the spec's sync algorithm.

:class:`OrderBook` keeps each side as a dict ``key -> Decimal qty`` plus a sorted list of its
best keys (the best 128 or so, maintained with ``bisect``; deeper levels live in the dict only
and are sorted on the rare occasions they are needed, so the many changes deep in the book cost
one dict operation). Keys are integer ticks for bids and *negated* ticks for asks, so on both
sides the best level is at the end of the list: the levels that change most (near the touch)
are inserted and removed where a list insert moves the fewest items.

The hot path (``apply``) never builds a Decimal for a price: price strings map to ticks through
a bounded cache, and a miss is parsed by splitting on ``"."`` and scaling by the tick's decimal
places (exact, and checked against the tick grid). Quantity strings map to Decimals through a
second bounded cache. ``top(n)`` is cached per side: an update only invalidates the cached
levels at or below the best level it touched, and only those are rebuilt. Its rows are plain
``(price, qty, cum)`` tuples (:data:`Row`): up to forty are built per read, and a named tuple
costs about three times as much to build in the Python loop.

The two hot loops (applying a side's levels, rebuilding a side's top) also exist in C, in the
optional extension ``feeds._bookc``: same loops over the same objects, so the rest of the class
cannot tell which one ran (except that the C loop parses a plain price outright, as fast as it
could look one up, and keeps the price cache for unusual spellings only; it finds whole
quantities by value in ``_qty_ints``, and reuses a shifted row's price through ``top_keys``).
Without a compiler the
package installs without it and the Python loops below run (``native_loops()`` says which; the
tests run the book both ways).

:class:`BookSync` implements "How to manage a local order book correctly" from the spec, and
:func:`book_checksum` is the canonical checksum the simulator's true book shares with clients.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation, getcontext
from enum import StrEnum
from itertools import accumulate
from operator import itemgetter
from typing import Any, NamedTuple

from feeds.decimals import decimals_of, fmt_plain
from feeds.errors import MalformedFrame

_BOOKC_ABI = 12
"""The ``feeds._bookc`` interface this module calls (the C file's ``BOOKC_ABI``)."""
try:
    from feeds import _bookc
except ImportError:  # built only where a C compiler was found at install time
    _bookc = None  # type: ignore[assignment]  # the module, or None where it was not built
if _bookc is not None and getattr(_bookc, "ABI", None) != _BOOKC_ABI:
    # built from another version of _bookc.c (``pip install -e .`` rebuilds it): the Python
    # loops are right, a stale extension would fail on every update
    _bookc = None  # type: ignore[assignment]  # the module, or None where it is stale

__all__ = [
    "BookSync",
    "BookTop",
    "Level",
    "OrderBook",
    "Row",
    "SyncAction",
    "SyncResult",
    "book_checksum",
    "native_loops",
]

_CTX = Context(prec=60)
_ZERO = Decimal(0)
# Keys stay far inside this range: ticks of any real price are < 2**62.
_NO_CHANGE = -(1 << 62)
_ALL = -(1 << 63)
"""A side's ``floor`` while its ordered list holds every key (below any key)."""
# The ordered part of a side holds the best _NEAR_KEEP levels (or 2x the widest top read) after
# a rebalance, and is rebalanced when it grows to twice that or falls below the top read.
_NEAR_KEEP = 128
_CACHE_LIMIT = 4096
"""Entries in each text -> number cache (price text -> key per side, quantity text -> Decimal,
key -> price, which has its own smaller limit below); a full cache keeps only the entries of
levels now in the book (when they are at most half of it; else it is emptied) and refills with
the values in use, so the prices and sizes in play are not parsed again after each fill. About
2 MB for all four when full (the C loop leaves the two price-text caches nearly empty), reached
within minutes even in a fast market, so resident memory stays flat."""
_PRICE_OF_LIMIT = 1024
"""Entries in the key -> price cache. Only the levels a reader shows are asked for, a few dozen
at a time, so this is plenty; its Decimals are the largest entries of any cache here."""
_QTY_INTS = 4096
"""Whole quantities below this (COIN-M sizes are whole contracts) are found by the C loop in a
list indexed by value instead of by their text in the quantity cache (no hashing of a fresh
string). Filled as values are seen: 32 KB of list and at most about 0.4 MB of Decimals (the
same objects the quantity cache holds while it holds them)."""
_new_tuple = tuple.__new__


def native_loops() -> bool:
    """Whether the book's hot loops run in C (``feeds._bookc`` was built at install time)."""
    return _bookc is not None


class Level(NamedTuple):
    """One price level as the UI sees it."""

    price: Decimal
    qty: Decimal
    cum: Decimal
    """Cumulative quantity from the touch down to and including this level."""


Row = tuple[Decimal, Decimal, Decimal]
"""A row of :meth:`OrderBook.top` or :meth:`OrderBook.grouped`: ``(price, qty, cum)``, ``cum``
the cumulative quantity from the touch down to and including the row. A plain tuple (read by
index or unpacked): the book builds up to forty of them per read, and a named tuple costs three
times as much to build in Python. A :class:`Level` is a ``Row`` too."""


class BookTop(NamedTuple):
    """The best levels of both sides: bids descending, asks ascending."""

    bids: list[Row]
    asks: list[Row]


def book_checksum(
    bids: Iterable[tuple[Decimal, Decimal]],
    asks: Iterable[tuple[Decimal, Decimal]],
    depth: int | None = None,
) -> str:
    """Canonical checksum over all levels of a book (or the best ``depth`` of each side).

    The text ``"p:q,p:q,...|p:q,..."`` (bids descending, then asks ascending, numbers with
    :func:`fmt_plain` so ``"9517.60"`` and ``"9517.6"`` agree, zero quantities skipped) is
    hashed with CRC-32. The simulator's true book and every client book use this function, so
    equal checksums mean equal books.

    Returns:
        Eight lowercase hex digits.
    """
    bid_list = sorted(((p, q) for p, q in bids if q), key=lambda lv: lv[0], reverse=True)
    ask_list = sorted(((p, q) for p, q in asks if q), key=lambda lv: lv[0])
    if depth is not None:
        bid_list, ask_list = bid_list[:depth], ask_list[:depth]
    text = (
        ",".join(f"{fmt_plain(p)}:{fmt_plain(q)}" for p, q in bid_list)
        + "|"
        + ",".join(f"{fmt_plain(p)}:{fmt_plain(q)}" for p, q in ask_list)
    )
    return f"{zlib.crc32(text.encode()):08x}"


def _prune(cache: dict[Any, Any], in_use: Any, limit: int) -> None:
    """Empty a full cache but for the entries ``in_use`` says are (a test on the key or the value
    of a text -> number cache), when they are at most half its ``limit``."""
    keep = [(k, v) for k, v in cache.items() if in_use(v if type(k) is str else k)]
    cache.clear()
    if len(keep) <= limit // 2:
        cache.update(keep)


class _Side:
    """One side of the book; ``sign`` is +1 for bids and -1 for asks (keys = sign * ticks).

    Every level is in ``qty``; only the best ones are also kept in order, in ``keys``: every key
    at or above ``floor`` is there, the deeper ones (changed often, read rarely) are not, so an
    insert or removal deep in the book is one dict operation instead of a list shift.
    """

    __slots__ = ("qty", "keys", "floor", "key_of", "sign", "top", "top_keys", "hi", "fixed")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.qty: dict[int, Decimal] = {}
        self.keys: list[int] = []
        """The keys ``>= floor``, ascending; the best level is ``keys[-1]``."""
        self.floor = _ALL
        """``keys`` holds every key at or above this one (all of them while it is ``_ALL``)."""
        self.key_of: dict[str, int] = {}
        """Price text -> key, for this side's sign."""
        self.top: list[Row] = []
        """Cached best levels, best first."""
        self.top_keys: list[int] = []
        """The key of each row of ``top`` while it is as long as ``top`` (the C loop keeps it, and
        reuses the price of a rebuilt row whose key was already a row; the Python loop empties
        it when it rebuilds ``top``)."""
        self.hi = _NO_CHANGE
        """The best (largest) key changed at or above ``floor`` since ``top`` was built (a deeper
        change cannot reach ``top``: its rows are all in ``keys``)."""
        self.fixed: tuple[Any, ...] = ()
        """What ``_bookc.apply_side`` needs that changes only when a wider top is asked for (set by
        the book: :meth:`OrderBook._set_fixed`)."""

    def clear(self) -> None:
        self.qty.clear()
        self.keys.clear()
        self.top_keys.clear()
        self.floor = _ALL
        self.top = []
        self.hi = _NO_CHANGE

    def descending(self) -> Iterator[int]:
        """Every key, best first (the deep ones sorted only if the caller gets that far)."""
        yield from reversed(self.keys)
        if self.floor != _ALL:
            floor = self.floor
            yield from sorted([k for k in self.qty if k < floor], reverse=True)


class OrderBook:
    """A local order book for one symbol, keyed by integer ticks, quantities exact.

    Not thread-safe: one feed worker applies updates; readers on the same loop call ``top``.
    """

    def __init__(self, symbol: str, tick_size: Decimal) -> None:
        """Create an empty book.

        Raises:
            ValueError: the tick size is not a positive finite number.
        """
        if not isinstance(tick_size, Decimal) or not tick_size.is_finite() or tick_size <= 0:
            raise ValueError(f"tick size must be a positive Decimal, got {tick_size!r}")
        self.symbol = symbol
        """The contract, e.g. ``BTCUSD_PERP``."""
        self.tick_size = tick_size
        self.last_update_id = 0
        """``lastUpdateId`` of the snapshot, then ``u`` of the last applied event."""
        self.version = 0
        """Bumped on every change, so readers can skip work when nothing changed."""
        self._places = decimals_of(tick_size)
        units = tick_size.scaleb(self._places)
        if units != units.to_integral_value():
            raise ValueError(f"tick size {tick_size} has no finite decimal expansion")
        self._units = int(units)
        """The tick in units of its last decimal place (0.5 -> 5, 0.1 -> 1, 25 -> 25)."""
        self._bids = _Side(1)
        self._asks = _Side(-1)
        self._qty_of: dict[str, Decimal] = {}
        self._qty_ints: list[Decimal | None] = [None] * _QTY_INTS
        """Value -> Decimal of the whole quantities seen (the C loop's index; see ``_QTY_INTS``)."""
        self._price_of: dict[int, Decimal] = {}
        """Key -> exact price, filled by :meth:`_price` (a plain dict: the Python loops read it
        through ``itemgetter``, twice as fast on a dict as on a subclass)."""
        self._top_n = 0
        self._near_keep = _NEAR_KEEP
        self._near_min = 1
        self._near_max = 2 * _NEAR_KEEP
        self._qty_whole = 0
        """Most digits left of the point of any quantity seen."""
        self._qty_places = 0
        """Most decimal places of any quantity seen."""
        self._wide_qty = False
        """Set once the quantities seen span more than 18 digits together (then sums use 60)."""
        self._read_fixed: tuple[Any, ...] = ()
        """What ``_bookc.read_top`` needs that changes only when a wider top is asked for."""
        self._failed: list[_Side] = []
        """Where ``_bookc.apply_event`` names the side whose levels it could not apply."""
        self._event_fixed = (self, self._bids, self._asks, self._failed, self._bids.keys, self._asks.keys)
        """What ``_bookc.apply_event`` needs (BookSync's usual case in one call)."""
        self._set_fixed()

    def _set_fixed(self) -> None:
        """The C loops' arguments that change only when a wider top is asked for, built then and
        not per call (objects kept by identity: a side's ``qty``, ``keys`` and ``top`` are only
        ever changed in place)."""
        bids, asks = self._bids, self._asks
        for side in (bids, asks):
            side.fixed = (side.qty, side.keys, side.key_of, self._qty_of, self._key_miss, side, self._qty_miss,
                          self._places, self._units, side.sign, self._rebalance, Decimal, _CACHE_LIMIT, self,
                          self._qty_ints, self._near_min, self._near_max)
        self._read_fixed = (bids, asks, self._price_of, BookTop, self._top_n, _CTX.multiply, self.tick_size,
                            _PRICE_OF_LIMIT, bids.keys, bids.qty, asks.keys, asks.qty, bids.top_keys, asks.top_keys,
                            self._price)

    # ---- updates ---------------------------------------------------------------------------

    def clear(self) -> None:
        """Remove every level (the caches of text -> number stay: they are still valid)."""
        self._bids.clear()
        self._asks.clear()
        self.last_update_id = 0
        self.version += 1

    def load_snapshot(self, last_update_id: int, bids: Iterable[Any], asks: Iterable[Any]) -> None:
        """Replace the book with a REST snapshot of ``[price_str, qty_str]`` pairs.

        Raises:
            MalformedFrame: a level is not a pair of decimal strings or is off the tick grid;
                the book is left empty.
        """
        self.clear()
        try:
            self.apply(bids, asks)
        except MalformedFrame:
            self.clear()
            raise
        self.last_update_id = last_update_id

    def apply(self, bids: Iterable[Any], asks: Iterable[Any]) -> None:
        """Apply absolute quantities per price; a zero quantity removes the level.

        Removing a level that is not in the book is normal and ignored.

        Raises:
            MalformedFrame: a level is not a pair of decimal strings, a quantity is negative,
                or a price is not positive or off the tick grid. Levels before the bad one are
                applied; callers resync (``BookSync`` does).
        """
        self.version += 1
        if _bookc is not None:
            # one C call a side (it rebalances the side's ordered keys itself when due)
            side = self._bids
            try:
                _bookc.apply_side(side, bids)
                side = self._asks
                _bookc.apply_side(side, asks)
            except (TypeError, ValueError) as exc:
                raise self._apply_failed(side, exc) from None
            return
        self._apply_sides(bids, asks)

    def _apply_failed(self, side: _Side, exc: Exception) -> MalformedFrame:
        """After a loop failed on a level of ``side``: drop its cached top, rebalance it if due
        (as after a side applied whole) and say what was wrong."""
        side.top, side.hi = [], _NO_CHANGE
        n = len(side.keys)
        if n > self._near_max or (n < self._near_min and len(side.qty) > n):
            self._rebalance(side)
        name = "bids" if side is self._bids else "asks"
        if isinstance(exc, MalformedFrame):
            return MalformedFrame(f"{self.symbol} {name}: {exc}")
        return MalformedFrame(f"{self.symbol} {name}: a level is not a [price, qty] pair")

    def _apply_sides(self, bids: Iterable[Any], asks: Iterable[Any]) -> None:
        """The Python loops (no C extension): each side's levels in turn, in one call."""
        qty_of = self._qty_of
        for side, levels in ((self._bids, bids), (self._asks, asks)):
            book, keys, floor, hi, key_of = side.qty, side.keys, side.floor, side.hi, side.key_of
            try:
                for p, q in levels:
                    k = key_of.get(p)
                    if k is None:
                        k = self._key_miss(side, p)
                    qd = qty_of.get(q)
                    if qd is None:
                        qd = self._qty_miss(q)
                    # only the ordered part (keys >= floor) can reach a cached top, so ``hi`` (the
                    # best change since the top was built) follows changes there; one dict
                    # operation deeper
                    if qd:
                        if k >= floor:
                            if k not in book:
                                insort(keys, k)
                            if k > hi:
                                hi = k
                        book[k] = qd
                    elif book.pop(k, None) is not None and k >= floor:
                        del keys[bisect_left(keys, k)]
                        if k > hi:
                            hi = k
            except (TypeError, ValueError) as exc:
                raise self._apply_failed(side, exc) from None
            side.hi = hi
            n = len(keys)
            if n > self._near_max or (n < self._near_min and len(book) > n):
                self._rebalance(side)

    def _rebalance(self, side: _Side) -> None:
        """Bring the ordered part of a side back to the best ``_near_keep`` levels."""
        keys = side.keys
        keep = self._near_keep
        if len(keys) < keep and len(keys) < len(side.qty):
            keys[:] = sorted(side.qty)
            side.floor = _ALL
        if len(keys) > keep:
            side.floor = keys[-keep]
            del keys[:-keep]

    def _key_miss(self, side: _Side, p: Any) -> int:
        ticks = 0
        if type(p) is str:
            # the usual spelling (ASCII digits, exactly the tick's decimal places, "9517.6" at
            # 0.1): parsed here; anything else (or off the grid) goes to price_to_ticks
            whole, _, frac = p.partition(".")
            digits = whole + frac
            if whole and len(frac) == self._places and digits.isascii() and digits.isdigit():
                ticks, rem = divmod(int(digits), self._units)
                if rem:
                    ticks = 0
        if ticks <= 0:
            ticks = self.price_to_ticks(p)
        if len(side.key_of) >= _CACHE_LIMIT:
            _prune(side.key_of, side.qty.__contains__, _CACHE_LIMIT)  # keep the levels in the book
        key = side.key_of[p] = ticks * side.sign
        return key

    def _qty_miss(self, q: Any) -> Decimal:
        if type(q) is not str:
            raise MalformedFrame(f"quantity {q!r} is not a decimal string")
        int_part, point, frac = q.partition(".")
        if int_part.isascii() and int_part.isdigit() and (not point or (frac.isascii() and frac.isdigit())):
            # the usual spelling ("125", "0.5"): non-negative, finite, no sign or space to check;
            # whole digits counted from the text (as_tuple costs as much as the rest together)
            qd = Decimal(q)
            whole, places = len(int_part.lstrip("0")), len(frac)
        else:
            try:
                qd = Decimal(q)
            except InvalidOperation:
                raise MalformedFrame(f"quantity {q!r} is not a number") from None
            if not qd.is_finite() or qd < 0 or q != q.strip():
                raise MalformedFrame(f"quantity {q!r} is not a non-negative number")
            _, digits, exponent = qd.as_tuple()
            assert isinstance(exponent, int)  # finite: checked above
            whole, places = len(digits) + exponent, -exponent  # whole digits <= 0 for 0.00x
        if whole > self._qty_whole or places > self._qty_places:
            self._qty_whole = max(self._qty_whole, whole)
            self._qty_places = max(self._qty_places, places)
            self._wide_qty = self._qty_whole + self._qty_places > 18
        if len(self._qty_of) >= _CACHE_LIMIT:
            in_use = {*self._bids.qty.values(), *self._asks.qty.values()}
            _prune(self._qty_of, in_use.__contains__, _CACHE_LIMIT)
        self._qty_of[q] = qd
        return qd

    def _price(self, key: int) -> Decimal:
        """The exact price of a key, from the key -> price cache or computed and cached there (a
        full cache is first emptied but for the ordered keys of both sides: the levels readers
        ask for)."""
        price_of = self._price_of
        price = price_of.get(key)
        if price is not None:
            return price
        if len(price_of) >= _PRICE_OF_LIMIT:
            live = {k for side in (self._bids, self._asks) for k in side.keys}
            _prune(price_of, live.__contains__, _PRICE_OF_LIMIT)
        price = price_of[key] = _CTX.multiply(abs(key), self.tick_size)
        return price

    def price_to_ticks(self, price: Any) -> int:
        """Exact ticks of a price string, without Decimal (``"9517.6"`` -> 95176 at tick 0.1).

        Raises:
            MalformedFrame: not a plain positive decimal string, or not on the tick grid.
        """
        if type(price) is not str:
            raise MalformedFrame(f"price {price!r} is not a decimal string")
        whole, _, frac = price.partition(".")
        if (
            not (whole or frac)
            or not (whole.isascii() and (whole.isdigit() or not whole))
            or not (frac.isascii() and (frac.isdigit() or not frac))
        ):
            raise MalformedFrame(f"price {price!r} is not a plain decimal number")
        places = self._places
        if len(frac) > places:
            if frac[places:].strip("0"):
                raise MalformedFrame(f"price {price!r} is off the tick grid {self.tick_size}")
            frac = frac[:places]
        scaled = int((whole or "0") + frac.ljust(places, "0"))
        ticks, rem = divmod(scaled, self._units)
        if rem:
            raise MalformedFrame(f"price {price!r} is off the tick grid {self.tick_size}")
        if ticks <= 0:
            raise MalformedFrame(f"price {price!r} is not positive")
        return ticks

    # ---- reads -----------------------------------------------------------------------------

    def top(self, n: int) -> BookTop:
        """The best ``n`` levels of each side with cumulative sizes (fewer if the book is thinner).

        Cached: only levels at or below the best level changed since the last call are rebuilt.
        """
        if n > self._top_n:
            self._widen(n)
        if _bookc is not None:
            # The context's own add is exact while the quantities span <= 18 digits (from the most
            # whole digits to the most decimal places: sums of up to 10**10 of them fit in 28);
            # wider quantities switch to the 60-digit context.
            add = _CTX.add if self._wide_qty or getcontext().prec < 28 else None
            return _bookc.read_top(self._read_fixed, n, add)
        # the Python loops (inline: a call per side costs as much as a short rebuild)
        bids, asks, want, price_of = self._bids, self._asks, self._top_n, self._price_of
        wide = None  # whether sums need the 60-digit add (see above), found when first needed
        for side in (bids, asks):
            top = side.top
            hi = side.hi
            keys = side.keys
            if hi == _NO_CHANGE:
                if len(top) >= want:
                    continue  # nothing reached this side's cached top since it was built
                valid = len(top)
            else:
                # Cached levels better than every change since the last build are still exact:
                # nothing above ``hi`` was inserted or removed, so they are the keys above it now.
                side.hi = _NO_CHANGE
                valid = len(keys) - bisect_right(keys, hi)
                if valid > len(top):
                    valid = len(top)
            count = want if want < len(keys) else len(keys)
            if valid < count or len(top) != count:
                fresh = keys[-1 - valid : -1 - count : -1]  # best first; a stop before 0 clamps to it
                if len(fresh) > 1:
                    # the rows' sizes and prices in one call each (itemgetter of one key returns the
                    # item, not a 1-tuple)
                    get = itemgetter(*fresh)
                    qtys = get(side.qty)
                    try:
                        prices = get(price_of)
                    except KeyError:  # a price not asked for before (or since the cache was pruned)
                        prices = list(map(self._price, fresh))
                else:
                    qtys = [side.qty[k] for k in fresh]
                    prices = list(map(self._price, fresh))
                if wide is None:
                    wide = self._wide_qty or getcontext().prec < 28
                if valid:
                    base = top[valid - 1][2]
                    cums = accumulate(qtys, _CTX.add, initial=base) if wide else accumulate(qtys, initial=base)
                    next(cums)  # the initial value, already part of the kept prefix
                else:
                    cums = accumulate(qtys, _CTX.add) if wide else accumulate(qtys)
                if side.top_keys:
                    side.top_keys.clear()  # the C loop's record of the rows' keys is stale now
                del top[valid:]
                top.extend(zip(prices, qtys, cums))  # noqa: B905 (equal lengths; a keyword costs on every read)
        return _new_tuple(BookTop, (bids.top[:n], asks.top[:n]))

    def _widen(self, n: int) -> None:
        """Keep at least ``n`` levels a side in order from now on (a wider read was asked for)."""
        self._top_n = n
        self._near_min = n
        self._near_keep = max(_NEAR_KEEP, 2 * n)
        self._near_max = 2 * self._near_keep
        self._set_fixed()
        for side in (self._bids, self._asks):
            if len(side.keys) < n and len(side.keys) < len(side.qty):
                self._rebalance(side)

    def best_bid(self) -> Level | None:
        """The highest bid, or None."""
        return self._best(self._bids)

    def best_ask(self) -> Level | None:
        """The lowest ask, or None."""
        return self._best(self._asks)

    def _best(self, side: _Side) -> Level | None:
        if not side.keys:
            return None
        k = side.keys[-1]
        q = side.qty[k]
        return Level(self._price(k), q, q)

    def spread(self) -> Decimal | None:
        """Best ask minus best bid, or None when a side is empty."""
        if not self._bids.keys or not self._asks.keys:
            return None
        return _CTX.multiply(-self._asks.keys[-1] - self._bids.keys[-1], self.tick_size)

    def mid(self) -> Decimal | None:
        """Midpoint of best bid and best ask (exact: half a tick at most), or None."""
        if not self._bids.keys or not self._asks.keys:
            return None
        total = _CTX.multiply(self._bids.keys[-1] - self._asks.keys[-1], self.tick_size)
        return _CTX.divide(total, 2)

    def imbalance(self, n: int) -> Decimal | None:
        """``(bid size - ask size) / (bid size + ask size)`` over the best ``n`` levels.

        Returns:
            A ratio in [-1, 1] (rounded to 60 significant digits), or None for an empty book.
        """
        top = self.top(n)
        bid = top.bids[-1][2] if top.bids else _ZERO  # rows are (price, qty, cum)
        ask = top.asks[-1][2] if top.asks else _ZERO
        total = _CTX.add(bid, ask)
        if not total:
            return None
        return _CTX.divide(_CTX.subtract(bid, ask), total)

    def is_crossed(self) -> bool:
        """Whether the best bid is at or above the best ask (a corrupt book)."""
        return bool(self._bids.keys and self._asks.keys and self._bids.keys[-1] >= -self._asks.keys[-1])

    def depth_counts(self) -> tuple[int, int]:
        """Number of bid and ask levels."""
        return len(self._bids.qty), len(self._asks.qty)

    def levels(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """Every level as ``(price, qty)``: bids descending, asks ascending."""
        price = self._price
        return (
            [(price(k), self._bids.qty[k]) for k in sorted(self._bids.qty, reverse=True)],
            [(price(k), self._asks.qty[k]) for k in sorted(self._asks.qty, reverse=True)],
        )

    def checksum(self, depth: int | None = None) -> str:
        """:func:`book_checksum` of this book (all levels, or the best ``depth`` of each side)."""
        bids, asks = self.levels()
        return book_checksum(bids, asks, depth)

    def grouped(self, n: int, group_ticks: int) -> BookTop:
        """The best ``n`` price groups of ``group_ticks`` ticks each side.

        Bids are rounded down and asks up to a multiple of the group, so a group never shows a
        better price than any order in it.

        Raises:
            ValueError: ``group_ticks`` is not a positive integer.
        """
        if not isinstance(group_ticks, int) or group_ticks < 1:
            raise ValueError(f"group_ticks must be a positive integer, got {group_ticks!r}")
        return BookTop(self._grouped(self._bids, n, group_ticks), self._grouped(self._asks, n, group_ticks))

    def _grouped(self, side: _Side, n: int, group: int) -> list[Row]:
        out: list[Row] = []
        if n <= 0:
            return out
        current: int | None = None
        size = _ZERO
        cum = _ZERO
        for k in side.descending():
            # key // group floors in key space: down for bids, and (keys are negated) up for asks.
            g = (k // group) * group
            if g != current:
                if current is not None:
                    cum = _CTX.add(cum, size)
                    out.append((_CTX.multiply(abs(current), self.tick_size), size, cum))
                    if len(out) == n:
                        return out
                current, size = g, _ZERO
            size = _CTX.add(size, side.qty[k])
        if current is not None:
            cum = _CTX.add(cum, size)
            out.append((_CTX.multiply(abs(current), self.tick_size), size, cum))
        return out

    def __repr__(self) -> str:
        bids, asks = self.depth_counts()
        return f"OrderBook({self.symbol}, tick {self.tick_size}, {bids} bids, {asks} asks, id {self.last_update_id})"


# --------------------------------------------------------------------------------------------
# Keeping a book in sync with the venue


class SyncAction(StrEnum):
    """What :class:`BookSync` did with an event or snapshot."""

    APPLIED = "applied"
    BUFFERED = "buffered"
    DROPPED = "dropped"
    RESYNC_NEEDED = "resync_needed"


@dataclass(frozen=True, slots=True)
class SyncResult:
    """The outcome of feeding :class:`BookSync`, with a sentence for the status bar."""

    action: SyncAction
    reason: str = ""

    @property
    def needs_snapshot(self) -> bool:
        """True when the caller must fetch a fresh REST snapshot."""
        return self.action is SyncAction.RESYNC_NEEDED


_APPLIED = SyncResult(SyncAction.APPLIED)
_BUFFERED = SyncResult(SyncAction.BUFFERED)


class BookSync:
    """The spec's "How to manage a local order book correctly", without I/O.

    Feed it every depth event (``on_event``) and every REST snapshot (``on_snapshot``); when a
    result says ``RESYNC_NEEDED`` (or ``state`` is not ``"synced"``), fetch a new snapshot.
    Events keep being buffered while a snapshot is awaited.
    """

    WAITING = "waiting_snapshot"
    SYNCED = "synced"
    RESYNCING = "resyncing"

    def __init__(self, book: OrderBook, max_buffer: int = 10_000) -> None:
        self.book = book
        self.max_buffer = max_buffer
        """Events buffered while waiting for a snapshot before giving up on that snapshot."""
        self.state = self.WAITING
        """``"waiting_snapshot"``, ``"synced"`` or ``"resyncing"``."""
        self.reason = ""
        """Why the last resync happened (empty until one does)."""
        self.resyncs = 0
        """How many times the book had to be rebuilt."""
        self.applied = 0
        """Events applied since creation."""
        self._buffer: deque[Any] = deque()
        self._first_pending = True
        """After a snapshot, the next applied event must straddle its lastUpdateId."""

    @property
    def synced(self) -> bool:
        """Whether the book is a faithful copy of the venue's."""
        return self.state == self.SYNCED

    @property
    def buffered(self) -> int:
        """Events waiting for a snapshot."""
        return len(self._buffer)

    def reset(self, reason: str) -> None:
        """Forget the book and the buffer (e.g. after a reconnect) and wait for a new snapshot."""
        self._resync(reason)

    def _resync(self, reason: str, keep: Any = None) -> SyncResult:
        self.state = self.RESYNCING
        self.reason = reason
        self.resyncs += 1
        self.book.clear()
        self._buffer.clear()
        if keep is not None:
            # A valid event newer than the gap: the next snapshot may need it.
            self._buffer.append(keep)
        self._first_pending = True
        return SyncResult(SyncAction.RESYNC_NEEDED, reason)

    def on_event(self, ev: Any) -> SyncResult:
        """Feed one depth event (a :class:`feeds.models.DepthUpdate` or a
        :class:`feeds.depthwire.DepthEvent`)."""
        book = self.book
        if _bookc is not None and not self._first_pending and self.state == self.SYNCED:
            # the usual case (the next event in sequence on a synced book) in one C call
            try:
                done = _bookc.apply_event(book._event_fixed, ev)
            except (TypeError, ValueError) as exc:
                failed = book._failed
                if not failed:
                    raise  # not a level's fault (an event without its fields): a bug, not the venue
                error = book._apply_failed(failed.pop(), exc)
                return self._resync(f"malformed level in update u {ev.final_update_id}: {error}")
            if done == 1:
                self.applied += 1
                return _APPLIED
            if done == 2:
                return self._crossed(ev.final_update_id)
            return self._process(ev)
        last = book.last_update_id
        if ev.prev_final_update_id == last and not self._first_pending and ev.final_update_id > last \
                and self.state == self.SYNCED:
            # the usual case, inlined: the next event in sequence on a synced book (as _process,
            # with book.apply inlined too: this is the Python loops' path)
            try:
                book.version += 1
                book._apply_sides(ev.bids, ev.asks)
            except MalformedFrame as exc:
                return self._resync(f"malformed level in update u {ev.final_update_id}: {exc}")
            bid_keys, ask_keys = book._bids.keys, book._asks.keys  # book.is_crossed(), inlined
            if bid_keys and ask_keys and bid_keys[-1] >= -ask_keys[-1]:
                return self._crossed(ev.final_update_id)
            book.last_update_id = ev.final_update_id
            self.applied += 1
            return _APPLIED
        if self.state != self.SYNCED:
            self._buffer.append(ev)
            if len(self._buffer) > self.max_buffer:
                return self._resync(
                    f"buffer overflow: {self.max_buffer} events arrived before a usable snapshot",
                    keep=ev,
                )
            return _BUFFERED
        return self._process(ev)

    def _process(self, ev: Any) -> SyncResult:
        book = self.book
        last = book.last_update_id
        u = ev.final_update_id
        if self._first_pending:
            if u < last:
                return SyncResult(SyncAction.DROPPED, f"event u {u} is older than the snapshot {last}")
            if ev.first_update_id > last:
                return self._resync(
                    f"snapshot too old: first event starts at U {ev.first_update_id} > lastUpdateId {last}",
                    keep=ev,
                )
        else:
            if u <= last:
                return SyncResult(SyncAction.DROPPED, f"duplicate: u {u} already applied (last {last})")
            if ev.prev_final_update_id != last:
                return self._resync(f"gap: pu {ev.prev_final_update_id} != previous u {last}", keep=ev)
        try:
            book.apply(ev.bids, ev.asks)
        except MalformedFrame as exc:
            return self._resync(f"malformed level in update u {u}: {exc}")
        bid_keys, ask_keys = book._bids.keys, book._asks.keys  # book.is_crossed(), inlined
        if bid_keys and ask_keys and bid_keys[-1] >= -ask_keys[-1]:
            return self._crossed(u)
        book.last_update_id = u
        self._first_pending = False
        self.applied += 1
        return _APPLIED

    def _crossed(self, u: int) -> SyncResult:
        bid, ask = self.book.best_bid(), self.book.best_ask()
        assert bid is not None and ask is not None
        return self._resync(
            f"crossed book after update u {u}: best bid {fmt_plain(bid.price)} >= best ask {fmt_plain(ask.price)}"
        )

    def on_snapshot(self, last_update_id: int, bids: Sequence[Any], asks: Sequence[Any]) -> SyncResult:
        """Load a REST snapshot and replay the buffered events on top of it.

        Returns:
            APPLIED (with a summary) when the book is in sync, or RESYNC_NEEDED with the reason
            (malformed or crossed snapshot, snapshot older than the buffered events, a gap).
        """
        pending = list(self._buffer)
        self._buffer.clear()
        try:
            self.book.load_snapshot(last_update_id, bids, asks)
        except MalformedFrame as exc:
            result = self._resync(f"malformed snapshot {last_update_id}: {exc}")
            self._buffer.extend(pending)
            return result
        if self.book.is_crossed():
            result = self._resync(f"crossed snapshot {last_update_id}")
            self._buffer.extend(pending)
            return result
        self.state = self.SYNCED
        self._first_pending = True
        applied = dropped = 0
        for i, ev in enumerate(pending):
            result = self._process(ev)
            if result.action is SyncAction.RESYNC_NEEDED:
                # Events after the failing one are still newer than any fresh snapshot's start.
                self._buffer.extend(pending[i + 1 :])
                return result
            if result.action is SyncAction.APPLIED:
                applied += 1
            else:
                dropped += 1
        return SyncResult(
            SyncAction.APPLIED,
            f"snapshot {last_update_id} loaded: {applied} buffered events applied, {dropped} dropped",
        )
