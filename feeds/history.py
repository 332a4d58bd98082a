"""Account history and P&L: trades with fees, orders, income; paged from the venue, cached locally.

Rows (:class:`Trade`, :class:`Order`, :class:`Income`) are typed and Decimal-exact, parsed from
Binance COIN-M's ``GET /dapi/v1/userTrades``, ``/allOrders`` and ``/income``; each keeps the
venue's own object (``raw``) so the cache and the CSV export say exactly what the venue said.

Walking the venue (:class:`HistoryClient`), by Binance's rules:

* ``userTrades`` (20 weight with ``symbol``): at most 7 days between ``startTime`` and
  ``endTime``, ``limit`` at most 1000, ``fromId`` never with a time. A period is walked in 7-day
  windows; a window that comes back full (1000 rows) is halved until every half fits, so no row
  is lost whichever 1000 the venue chose to send. Newer rows after a cached one are read by
  ``fromId`` (the next id), 1000 at a time.
* ``allOrders`` (20 with ``symbol``): 7-day windows, ``limit`` at most 100, halved when full
  like trades; orders since a cached one are read by ``orderId`` (ascending from that id).
* ``income`` (20): every symbol in one walk, ``startTime``/``endTime`` at most a year apart,
  ``limit`` 1000; a full page continues from its last row's time (rows seen twice are the same
  ``(incomeType, tranId)`` and kept once), with ``page`` only when a thousand rows share one
  millisecond.

Every call is signed and *not urgent* (the REST client's weight budget holds it back near the
limit, :meth:`feeds.rest.RestClient.signed`), and a :class:`WeightPacer` keeps history's own
spending under ``share`` (a quarter by default) of the minute's REQUEST_WEIGHT limit, waiting
for the venue's next minute rather than crowding out what trading needs.

The cache (:class:`HistoryCache`) is an SQLite file beside the order journal
(``<data dir>/coinm/history.sqlite3``), written on its own thread so the event loop never waits
on a commit. It holds one venue account (venue, REST host, a hash of the API key); another
account, or a newest cached row that the venue now describes differently (or not at all), wipes
it and it is rebuilt from the venue: a cache is never trusted over the venue.

P&L (:func:`pnl_by_day`, :func:`funding_by_position`) is computed from income rows, per UTC day
and margin coin, in coin and in USD at the time: a row that belongs to a trade (realised PnL,
commission) is valued at that trade's price; any other row (funding, insurance clear, transfers)
at the open of the index price's 1-minute candle of the minute it happened (``<coin>USD``
index), which is the approximation: the index moves within the minute. A row whose price cannot
be read has no USD value, and a total over it says so (``None``), never a guess.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import csv
import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson

from feeds.decimals import D, DecimalParseError, fmt_plain
from feeds.errors import MalformedFrame
from feeds.rest import endpoint_weight

__all__ = [
    "DEFAULT_SHARE", "FINAL_STATUSES", "History", "HistoryCache", "HistoryClient", "HistoryError", "Income",
    "Order", "PnlDay", "PositionFunding", "Report", "Trade", "WeightPacer", "collect", "csv_rows",
    "cumulative_by_asset",
    "default_history_path", "open_history",
    "funding_by_position", "iso_ms", "parse_date", "pnl_by_day", "write_csv",
]

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
WINDOW_MS = 7 * DAY_MS
"""userTrades and allOrders: at most 7 days between startTime and endTime."""
INCOME_WINDOW_MS = 365 * DAY_MS
"""income: at most a year between startTime and endTime."""
TRADE_LIMIT = 1000
ORDER_LIMIT = 100
INCOME_LIMIT = 1000
DEFAULT_SHARE = 0.25
"""History's share of the minute's REQUEST_WEIGHT limit."""
OVERLAP_MS = 60_000
"""Income and orders are re-read this far back of what the cache covers (a row stamped just before
the last walk's end may have been written after it)."""
FINAL_STATUSES = frozenset({"FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"})
ZERO = Decimal(0)

Fetch = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""``fetch(path, params)``: one signed GET of ``/dapi/v1/<path>``, the venue's JSON."""
PriceFetch = Callable[[str, int], Awaitable[Decimal | None]]
"""``price(pair, minute_ms)``: the index price at the open of that minute (None: unknown)."""


class HistoryError(Exception):
    """History cannot be read as asked (one line for the user)."""


# ---------------------------------------------------------------------------- parsing


def _get(raw: dict[str, Any], key: str, where: str) -> Any:
    try:
        return raw[key]
    except KeyError:
        raise MalformedFrame(f"{where}: missing {key!r}") from None


def _dec(raw: dict[str, Any], key: str, where: str) -> Decimal:
    value = _get(raw, key, where)
    if not isinstance(value, str):
        raise MalformedFrame(f"{where}.{key}: expected a decimal string, got {value!r:.40}")
    try:
        return D(value)
    except DecimalParseError as exc:
        raise MalformedFrame(f"{where}.{key}: {exc}") from None


def _int(raw: dict[str, Any], key: str, where: str) -> int:
    value = _get(raw, key, where)
    if type(value) is not int:
        raise MalformedFrame(f"{where}.{key}: expected an integer, got {value!r:.40}")
    return value


def _str(raw: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if value is None:
        raise MalformedFrame(f"{where}: missing {key!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # tranId/tradeId: strings on COIN-M, numbers elsewhere
    if not isinstance(value, str):
        raise MalformedFrame(f"{where}.{key}: expected a string, got {value!r:.40}")
    return value


def _bool(raw: dict[str, Any], key: str, where: str) -> bool:
    value = _get(raw, key, where)
    if not isinstance(value, bool):
        raise MalformedFrame(f"{where}.{key}: expected true/false, got {value!r:.40}")
    return value


def _obj(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise MalformedFrame(f"{where}: expected an object, got {type(raw).__name__}")
    return raw


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill of one of the account's orders (``userTrades``)."""

    symbol: str
    id: int
    order_id: int
    side: str
    price: Decimal
    qty: Decimal
    realized_pnl: Decimal
    commission: Decimal
    commission_asset: str
    margin_asset: str
    base_qty: Decimal
    time: int
    position_side: str
    maker: bool
    raw: dict[str, Any] = field(compare=False, repr=False)

    @classmethod
    def from_wire(cls, raw: Any) -> Trade:
        w = "userTrades"
        raw = _obj(raw, w)
        return cls(
            symbol=_str(raw, "symbol", w), id=_int(raw, "id", w), order_id=_int(raw, "orderId", w),
            side=_str(raw, "side", w), price=_dec(raw, "price", w), qty=_dec(raw, "qty", w),
            realized_pnl=_dec(raw, "realizedPnl", w), commission=_dec(raw, "commission", w),
            commission_asset=_str(raw, "commissionAsset", w), margin_asset=_str(raw, "marginAsset", w, ""),
            base_qty=_dec(raw, "baseQty", w) if "baseQty" in raw else ZERO, time=_int(raw, "time", w),
            position_side=_str(raw, "positionSide", w, "BOTH"), maker=_bool(raw, "maker", w), raw=raw,
        )

    @property
    def key(self) -> tuple[str, int]:
        return (self.symbol, self.id)


@dataclass(frozen=True, slots=True)
class Order:
    """One order with its latest status (``allOrders``)."""

    symbol: str
    order_id: int
    client_order_id: str
    status: str
    type: str
    orig_type: str
    side: str
    position_side: str
    price: Decimal
    avg_price: Decimal
    orig_qty: Decimal
    executed_qty: Decimal
    stop_price: Decimal
    time_in_force: str
    reduce_only: bool
    close_position: bool
    time: int
    update_time: int
    raw: dict[str, Any] = field(compare=False, repr=False)

    @classmethod
    def from_wire(cls, raw: Any) -> Order:
        w = "allOrders"
        raw = _obj(raw, w)
        return cls(
            symbol=_str(raw, "symbol", w), order_id=_int(raw, "orderId", w),
            client_order_id=_str(raw, "clientOrderId", w, ""), status=_str(raw, "status", w),
            type=_str(raw, "type", w), orig_type=_str(raw, "origType", w, raw.get("type") or ""),
            side=_str(raw, "side", w), position_side=_str(raw, "positionSide", w, "BOTH"),
            price=_dec(raw, "price", w), avg_price=_dec(raw, "avgPrice", w), orig_qty=_dec(raw, "origQty", w),
            executed_qty=_dec(raw, "executedQty", w),
            stop_price=_dec(raw, "stopPrice", w) if "stopPrice" in raw else ZERO,
            time_in_force=_str(raw, "timeInForce", w, ""), reduce_only=_bool(raw, "reduceOnly", w),
            close_position=_bool(raw, "closePosition", w) if "closePosition" in raw else False,
            time=_int(raw, "time", w), update_time=_int(raw, "updateTime", w), raw=raw,
        )

    @property
    def key(self) -> tuple[str, int]:
        return (self.symbol, self.order_id)

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def ended_by(self) -> str:
        """Who ended it, as far as the venue's order says: the venue's own close-outs are named
        by their client order id (liquidation, ADL, delivery settlement); an expired order says
        expired (allOrders does not say why); a cancel is a cancel."""
        cid = self.client_order_id
        if cid.startswith("autoclose-"):
            return "liquidation"
        if cid.startswith("adl_autoclose"):
            return "ADL"
        if cid.startswith("settlement_autoclose"):
            return "delivery"
        return {"CANCELED": "canceled", "EXPIRED": "expired", "EXPIRED_IN_MATCH": "self-trade prevention",
                "REJECTED": "rejected"}.get(self.status, "")


@dataclass(frozen=True, slots=True)
class Income:
    """One change of a wallet balance (``income``): REALIZED_PNL, COMMISSION, FUNDING_FEE, ..."""

    symbol: str
    type: str
    amount: Decimal
    asset: str
    info: str
    time: int
    tran_id: str
    trade_id: str
    raw: dict[str, Any] = field(compare=False, repr=False)

    @classmethod
    def from_wire(cls, raw: Any) -> Income:
        w = "income"
        raw = _obj(raw, w)
        return cls(
            symbol=_str(raw, "symbol", w, ""), type=_str(raw, "incomeType", w), amount=_dec(raw, "income", w),
            asset=_str(raw, "asset", w), info=_str(raw, "info", w, ""), time=_int(raw, "time", w),
            tran_id=_str(raw, "tranId", w), trade_id=_str(raw, "tradeId", w, ""), raw=raw,
        )

    @property
    def key(self) -> tuple[str, str]:
        """``tranId`` is unique within an income type (Binance)."""
        return (self.type, self.tran_id)


Row = TypeVar("Row", Trade, Order, Income)


def _income_order(row: Income) -> tuple[int, int, str, str]:
    """Time, then the venue's transaction id (numeric text: shorter is smaller)."""
    return (row.time, len(row.tran_id), row.tran_id, row.type)


def _rows(payload: Any, parse: Callable[[Any], Row], where: str) -> list[Row]:
    if not isinstance(payload, list):
        raise MalformedFrame(f"{where}: expected a list, got {type(payload).__name__}")
    return [parse(item) for item in payload]


# ---------------------------------------------------------------------------- times and text


def iso_ms(ms: int) -> str:
    """``2026-11-19T10:00:00.123Z`` (UTC, milliseconds)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def day_of(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%d")


def parse_date(text: str, *, end: bool = False) -> int:
    """``2026-11-19`` (the day's start, or with ``end`` its last millisecond), or an ISO time
    (``2026-11-19T10:00``, ``...Z``, an offset): milliseconds since the epoch, UTC.

    Raises:
        HistoryError: not a date.
    """
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
            ms = int(day.timestamp() * 1000)
            return ms + DAY_MS - 1 if end else ms
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise HistoryError(f"{text!r} is not a date: use YYYY-MM-DD or an ISO time such as "
                           "2026-11-19T10:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


# ---------------------------------------------------------------------------- weight


class WeightPacer:
    """Keeps history's REST weight under ``share`` of the minute's limit: a call that would pass
    it waits for the venue's next minute (a call heavier than the share alone still goes, first
    in its minute). ``spent`` is what went out per venue minute (tests read it)."""

    def __init__(self, limit: Callable[[], int], now_ms: Callable[[], int], *, share: float = DEFAULT_SHARE,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.limit = limit
        self.now_ms = now_ms
        self.share = share
        self.sleep = sleep
        self.spent: dict[int, int] = {}
        self.waits = 0

    def cap(self) -> int:
        return max(1, int(self.limit() * self.share))

    async def admit(self, weight: int) -> None:
        while True:
            now = self.now_ms()
            minute = now // 60_000
            used = self.spent.get(minute, 0)
            if used == 0 or used + weight <= self.cap():
                self.spent[minute] = used + weight
                return
            self.waits += 1
            await self.sleep((60_000 - now % 60_000) / 1000 + 0.05)


# ---------------------------------------------------------------------------- walking the venue


class HistoryClient:
    """Binance's history endpoints walked by their rules, each call paced (see the module)."""

    def __init__(self, fetch: Fetch, pacer: WeightPacer, *, price: PriceFetch | None = None) -> None:
        self._fetch = fetch
        self.pacer = pacer
        self._price = price
        self.calls: list[tuple[str, dict[str, Any]]] = []
        """Every request sent, in order (path, params): tests and the bench read it."""

    async def call(self, path: str, params: dict[str, Any]) -> Any:
        await self.pacer.admit(endpoint_weight("GET", "/" + path, params))
        self.calls.append((path, dict(params)))
        return await self._fetch(path, params)

    async def price(self, pair: str, minute_ms: int) -> Decimal | None:
        if self._price is None:
            return None
        await self.pacer.admit(1)
        self.calls.append(("indexPriceKlines", {"pair": pair, "startTime": minute_ms, "limit": 1}))
        return await self._price(pair, minute_ms)

    # -- userTrades

    async def trades(self, symbol: str, start: int, end: int) -> list[Trade]:
        """Every trade of ``symbol`` with ``start <= time <= end``, oldest first."""
        out: dict[int, Trade] = {}
        s = start
        while s <= end:
            e = min(s + WINDOW_MS - 1, end)
            await self._trade_span(symbol, s, e, out)
            s = e + 1
        return sorted(out.values(), key=lambda t: (t.time, t.id))

    async def _trade_span(self, symbol: str, s: int, e: int, out: dict[int, Trade]) -> None:
        params = {"symbol": symbol, "startTime": s, "endTime": e, "limit": TRADE_LIMIT}
        rows = _rows(await self.call("userTrades", params), Trade.from_wire, "userTrades")
        if len(rows) < TRADE_LIMIT:
            out.update((t.id, t) for t in rows if s <= t.time <= e)
            return
        if e > s:  # full: the venue may have left rows out; halve and ask again
            mid = (s + e) // 2
            await self._trade_span(symbol, s, mid, out)
            await self._trade_span(symbol, mid + 1, e, out)
            return
        raise HistoryError(f"{symbol}: {TRADE_LIMIT} or more trades in one millisecond ({iso_ms(s)}): "
                           "the venue's paging cannot list them all")

    async def trades_after(self, symbol: str, last_id: int, end: int | None = None) -> list[Trade]:
        """Trades of ``symbol`` with an id above ``last_id`` (``fromId``), up to ``end``."""
        out: dict[int, Trade] = {}
        from_id = last_id + 1
        while True:
            rows = _rows(await self.call("userTrades", {"symbol": symbol, "fromId": from_id, "limit": TRADE_LIMIT}),
                         Trade.from_wire, "userTrades")
            keep = [t for t in rows if t.id >= from_id and (end is None or t.time <= end)]
            out.update((t.id, t) for t in keep)
            if len(rows) < TRADE_LIMIT or len(keep) < len(rows) or not keep:
                break
            from_id = max(t.id for t in keep) + 1
        return sorted(out.values(), key=lambda t: (t.time, t.id))

    # -- allOrders

    async def orders(self, symbol: str, start: int, end: int) -> list[Order]:
        """Every order of ``symbol`` created in ``[start, end]``, by order id."""
        out: dict[int, Order] = {}
        s = start
        while s <= end:
            e = min(s + WINDOW_MS - 1, end)
            await self._order_span(symbol, s, e, out)
            s = e + 1
        return sorted(out.values(), key=lambda o: o.order_id)

    async def _order_span(self, symbol: str, s: int, e: int, out: dict[int, Order]) -> None:
        params = {"symbol": symbol, "startTime": s, "endTime": e, "limit": ORDER_LIMIT}
        rows = _rows(await self.call("allOrders", params), Order.from_wire, "allOrders")
        if len(rows) < ORDER_LIMIT:
            out.update((o.order_id, o) for o in rows if s <= o.time <= e)
            return
        if e > s:
            mid = (s + e) // 2
            await self._order_span(symbol, s, mid, out)
            await self._order_span(symbol, mid + 1, e, out)
            return
        # a hundred orders in one millisecond: ascending by orderId from the smallest seen
        oid = min(o.order_id for o in rows)
        while True:
            rows = _rows(await self.call("allOrders", {**params, "orderId": oid}), Order.from_wire, "allOrders")
            out.update((o.order_id, o) for o in rows if o.order_id >= oid and s <= o.time <= e)
            if len(rows) < ORDER_LIMIT:
                return
            oid = max(o.order_id for o in rows) + 1

    async def orders_from(self, symbol: str, order_id: int) -> list[Order]:
        """Orders of ``symbol`` with an id from ``order_id`` on (``orderId``, ascending; the venue
        looks back 7 days)."""
        out: dict[int, Order] = {}
        oid = order_id
        while True:
            rows = _rows(await self.call("allOrders", {"symbol": symbol, "orderId": oid, "limit": ORDER_LIMIT}),
                         Order.from_wire, "allOrders")
            keep = [o for o in rows if o.order_id >= oid]
            out.update((o.order_id, o) for o in keep)
            if len(rows) < ORDER_LIMIT or not keep:
                break
            oid = max(o.order_id for o in keep) + 1
        return sorted(out.values(), key=lambda o: o.order_id)

    # -- income

    async def income(self, start: int, end: int, *, symbol: str | None = None,
                     income_type: str | None = None) -> list[Income]:
        """Every income row with ``start <= time <= end`` (all symbols unless ``symbol``)."""
        out: dict[tuple[str, str], Income] = {}
        s = start
        while s <= end:
            e = min(s + INCOME_WINDOW_MS - 1, end)
            cursor, page = s, 1
            while True:
                params: dict[str, Any] = {"startTime": cursor, "endTime": e, "limit": INCOME_LIMIT}
                if symbol:
                    params["symbol"] = symbol
                if income_type:
                    params["incomeType"] = income_type
                if page > 1:
                    params["page"] = page
                rows = _rows(await self.call("income", params), Income.from_wire, "income")
                before = len(out)
                out.update((r.key, r) for r in rows if s <= r.time <= e)
                if len(rows) < INCOME_LIMIT:
                    break
                if page > 1 and len(out) == before:  # the venue ignores `page`: it cannot list them all
                    raise HistoryError(f"income: {INCOME_LIMIT} or more rows at {iso_ms(cursor)} and the venue "
                                       "does not page them")
                last = max(r.time for r in rows)
                if last > cursor:
                    cursor, page = last, 1
                else:
                    page += 1
            s = e + 1
        return sorted(out.values(), key=_income_order)


# ---------------------------------------------------------------------------- the cache


def default_history_path() -> Path:
    """``history.sqlite3`` beside the order journal (``$COINM_DATA_DIR`` or the XDG data dir)."""
    from feeds.journal import default_journal_path

    return default_journal_path().parent / "history.sqlite3"


def identity_of(venue: str, rest_url: str, api_key: str | None) -> str:
    """What a cache belongs to: the venue, its REST host and a hash of the API key (never the
    key itself)."""
    from urllib.parse import urlsplit

    digest = hashlib.sha256((api_key or "").encode()).hexdigest()[:16]
    return f"{venue}|{urlsplit(rest_url).netloc}|{digest}"


_CACHE_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trades (symbol TEXT NOT NULL, id INTEGER NOT NULL, time INTEGER NOT NULL,
    raw TEXT NOT NULL, PRIMARY KEY (symbol, id));
CREATE TABLE IF NOT EXISTS orders (symbol TEXT NOT NULL, order_id INTEGER NOT NULL, time INTEGER NOT NULL,
    status TEXT NOT NULL, raw TEXT NOT NULL, PRIMARY KEY (symbol, order_id));
CREATE TABLE IF NOT EXISTS income (type TEXT NOT NULL, tran_id TEXT NOT NULL, time INTEGER NOT NULL,
    raw TEXT NOT NULL, PRIMARY KEY (type, tran_id));
CREATE TABLE IF NOT EXISTS coverage (kind TEXT NOT NULL, scope TEXT NOT NULL, lo INTEGER NOT NULL,
    hi INTEGER NOT NULL, PRIMARY KEY (kind, scope));
CREATE TABLE IF NOT EXISTS prices (pair TEXT NOT NULL, minute INTEGER NOT NULL, price TEXT NOT NULL,
    PRIMARY KEY (pair, minute));
"""
_TABLES = ("trades", "orders", "income", "coverage", "prices")


class HistoryCache:
    """The local copy of one account's history (SQLite, on its own thread; see the module).

    A file that cannot be read as a cache (corrupt, another format) is replaced: it holds
    nothing the venue cannot give again.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_history_path()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="coinm-history")
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    async def _run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        def job() -> Any:
            with self._lock:
                if self._db is None:
                    self._db = self._connect()
                return fn(self._db)

        return await asyncio.wrap_future(self._pool.submit(job))

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in (1, 2):
            try:
                db = sqlite3.connect(self.path, check_same_thread=False)
                db.executescript(_CACHE_SCHEMA)
                db.execute("PRAGMA journal_mode=WAL")
                return db
            except sqlite3.DatabaseError as exc:
                if attempt == 2:
                    raise HistoryError(f"history cache {self.path}: {exc}") from None
                log.warning("history cache %s unreadable (%s): replaced", self.path, exc)
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
        raise AssertionError("unreachable")

    async def open(self, identity: str) -> str | None:
        """Open for ``identity``; a cache of another account is wiped (the reason is returned)."""
        def run(db: sqlite3.Connection) -> str | None:
            row = db.execute("SELECT v FROM meta WHERE k='identity'").fetchone()
            reason = None
            if row is not None and row[0] != identity:
                reason = "the cache belonged to another venue or account"
                _wipe(db)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('identity', ?)", (identity,))
            db.commit()
            return reason

        result: str | None = await self._run(run)
        return result

    async def wipe(self) -> None:
        def run(db: sqlite3.Connection) -> None:
            _wipe(db)
            db.commit()

        await self._run(run)

    async def put(self, kind: str, rows: Sequence[Trade | Order | Income]) -> None:
        if not rows:
            return

        def run(db: sqlite3.Connection) -> None:
            if kind == "trades":
                db.executemany("INSERT OR REPLACE INTO trades VALUES (?, ?, ?, ?)",
                               [(t.symbol, t.id, t.time, orjson.dumps(t.raw).decode()) for t in rows
                                if isinstance(t, Trade)])
            elif kind == "orders":
                db.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?, ?)",
                               [(o.symbol, o.order_id, o.time, o.status, orjson.dumps(o.raw).decode()) for o in rows
                                if isinstance(o, Order)])
            else:
                db.executemany("INSERT OR REPLACE INTO income VALUES (?, ?, ?, ?)",
                               [(r.type, r.tran_id, r.time, orjson.dumps(r.raw).decode()) for r in rows
                                if isinstance(r, Income)])
            db.commit()

        await self._run(run)

    async def trades(self, symbol: str | None = None) -> list[Trade]:
        sql, args = "SELECT raw FROM trades", tuple[str, ...]()
        if symbol:
            sql, args = sql + " WHERE symbol=?", (symbol,)
        rows = await self._run(lambda db: db.execute(sql + " ORDER BY time, id", args).fetchall())
        return [Trade.from_wire(orjson.loads(r[0])) for r in rows]

    async def orders(self, symbol: str | None = None) -> list[Order]:
        sql, args = "SELECT raw FROM orders", tuple[str, ...]()
        if symbol:
            sql, args = sql + " WHERE symbol=?", (symbol,)
        rows = await self._run(lambda db: db.execute(sql + " ORDER BY time, order_id", args).fetchall())
        return [Order.from_wire(orjson.loads(r[0])) for r in rows]

    async def income(self) -> list[Income]:
        sql = "SELECT raw FROM income ORDER BY time, length(tran_id), tran_id, type"
        rows = await self._run(lambda db: db.execute(sql).fetchall())
        return [Income.from_wire(orjson.loads(r[0])) for r in rows]

    async def coverage(self, kind: str, scope: str) -> tuple[int, int] | None:
        row = await self._run(lambda db: db.execute("SELECT lo, hi FROM coverage WHERE kind=? AND scope=?",
                                                    (kind, scope)).fetchone())
        return (int(row[0]), int(row[1])) if row else None

    async def cover(self, kind: str, scope: str, lo: int, hi: int) -> None:
        def run(db: sqlite3.Connection) -> None:
            old = db.execute("SELECT lo, hi FROM coverage WHERE kind=? AND scope=?", (kind, scope)).fetchone()
            new_lo, new_hi = (min(lo, old[0]), max(hi, old[1])) if old else (lo, hi)
            db.execute("INSERT OR REPLACE INTO coverage VALUES (?, ?, ?, ?)", (kind, scope, new_lo, new_hi))
            db.commit()

        await self._run(run)

    async def prices(self) -> dict[tuple[str, int], Decimal]:
        rows = await self._run(lambda db: db.execute("SELECT pair, minute, price FROM prices").fetchall())
        return {(p, int(m)): D(v) for p, m, v in rows}

    async def put_price(self, pair: str, minute: int, price: Decimal) -> None:
        def run(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR REPLACE INTO prices VALUES (?, ?, ?)", (pair, minute, fmt_plain(price)))
            db.commit()

        await self._run(run)

    def close(self) -> None:
        def run() -> None:
            with self._lock:
                if self._db is not None:
                    self._db.close()
                    self._db = None

        with contextlib.suppress(RuntimeError):
            self._pool.submit(run).result(timeout=10)
        self._pool.shutdown(wait=True)


def _wipe(db: sqlite3.Connection) -> None:
    for table in _TABLES:
        db.execute(f"DELETE FROM {table}")  # noqa: S608 - table names are this module's constants


# ---------------------------------------------------------------------------- cache + venue


class History:
    """One account's history: read from the cache at once, brought up to date from the venue.

    ``sync_*`` first checks the newest cached row of the kind against the venue (the same id must
    come back identical); any disagreement wipes the cache and reads everything again, and
    ``rebuilt`` says why. Then only what the cache does not cover is fetched.
    """

    def __init__(self, client: HistoryClient, cache: HistoryCache, identity: str) -> None:
        self.client = client
        self.cache = cache
        self.identity = identity
        self.rebuilt: list[str] = []
        self._verified: set[str] = set()

    async def open(self) -> None:
        reason = await self.cache.open(self.identity)
        if reason:
            self.rebuilt.append(reason)

    async def _rebuild(self, reason: str) -> None:
        log.warning("history cache rebuilt: %s", reason)
        self.rebuilt.append(reason)
        await self.cache.wipe()
        self._verified.clear()

    # -- verification: the newest cached row must be the venue's row with the same id

    async def _verify_income(self) -> None:
        if "income" in self._verified:
            return
        cached = await self.cache.income()
        if cached:
            newest = cached[-1]
            rows = await self.client.income(newest.time, newest.time)
            same = next((r for r in rows if r.key == newest.key), None)
            if same is None or same.raw != newest.raw:
                await self._rebuild(f"income {newest.type} {newest.tran_id} differs at the venue")
                return
        self._verified.add("income")

    async def _verify_trades(self, symbol: str) -> None:
        key = f"trades:{symbol}"
        if key in self._verified:
            return
        cached = await self.cache.trades(symbol)
        if cached:
            newest = max(cached, key=lambda t: t.id)
            rows = _rows(await self.client.call("userTrades", {"symbol": symbol, "fromId": newest.id, "limit": 1}),
                         Trade.from_wire, "userTrades")
            if not rows or rows[0].id != newest.id or rows[0].raw != newest.raw:
                await self._rebuild(f"trade {symbol} {newest.id} differs at the venue")
                return
        self._verified.add(key)

    async def _verify_orders(self, symbol: str) -> None:
        key = f"orders:{symbol}"
        if key in self._verified:
            return
        final = [o for o in await self.cache.orders(symbol) if o.final]
        if final:
            newest = max(final, key=lambda o: o.order_id)
            rows = await self.client.orders(symbol, newest.time, newest.time)
            same = next((o for o in rows if o.order_id == newest.order_id), None)
            if same is None or same.raw != newest.raw:
                await self._rebuild(f"order {symbol} {newest.order_id} differs at the venue")
                return
        self._verified.add(key)

    # -- bringing the cache up to date

    async def sync_income(self, start: int, end: int) -> list[Income]:
        """Income rows of every symbol in ``[start, end]`` (the cache brought up to date)."""
        await self._verify_income()
        cover = await self.cache.coverage("income", "*")
        spans = _gaps(cover, start, end, OVERLAP_MS)
        for s, e in spans:
            await self.cache.put("income", await self.client.income(s, e))
        await self.cache.cover("income", "*", start, end)
        return [r for r in await self.cache.income() if start <= r.time <= end]

    async def sync_trades(self, symbol: str, start: int, end: int) -> list[Trade]:
        await self._verify_trades(symbol)
        cover = await self.cache.coverage("trades", symbol)
        cached = await self.cache.trades(symbol)
        if cover is not None and start < cover[0]:
            await self.cache.put("trades", await self.client.trades(symbol, start, cover[0] - 1))
        if cover is None:
            await self.cache.put("trades", await self.client.trades(symbol, start, end))
        elif end > cover[1]:
            if cached:  # everything after the newest cached id, by fromId
                await self.cache.put("trades", await self.client.trades_after(symbol, max(t.id for t in cached), end))
            else:
                await self.cache.put("trades", await self.client.trades(symbol, cover[1] + 1, end))
        await self.cache.cover("trades", symbol, start, end)
        return [t for t in await self.cache.trades(symbol) if start <= t.time <= end]

    async def sync_orders(self, symbol: str, start: int, end: int) -> list[Order]:
        await self._verify_orders(symbol)
        cover = await self.cache.coverage("orders", symbol)
        cached = await self.cache.orders(symbol)
        spans = _gaps(cover, start, end, OVERLAP_MS)
        live = [o.time for o in cached if not o.final]
        if live and cover is not None:  # orders still open when cached: read again until final
            spans.append((max(start, min(live)), min(end, cover[1])))
        for s, e in spans:
            if s <= e:
                await self.cache.put("orders", await self.client.orders(symbol, s, e))
        await self.cache.cover("orders", symbol, start, end)
        return [o for o in await self.cache.orders(symbol) if start <= o.time <= end]

    async def symbols_traded(self, start: int, end: int) -> list[str]:
        """Symbols with income rows (every fill pays or earns a commission) in ``[start, end]``."""
        rows = await self.sync_income(start, end)
        return sorted({r.symbol for r in rows if r.symbol})

    async def usd_prices(self, income: Iterable[Income], trades: Iterable[Trade]) -> Callable[[Income], Decimal | None]:
        """A pricer for :func:`pnl_by_day`: trade rows at the trade's price, the others at the
        ``<coin>USD`` index price of their minute (read once, cached)."""
        by_trade = {(t.symbol, str(t.id)): t.price for t in trades}
        known = await self.cache.prices()
        for row in income:
            if row.trade_id and (row.symbol, row.trade_id) in by_trade:
                continue
            pair, minute = f"{row.asset}USD", row.time - row.time % 60_000
            if (pair, minute) in known:
                continue
            price = await self.client.price(pair, minute)
            if price is not None:
                known[(pair, minute)] = price
                await self.cache.put_price(pair, minute, price)

        def usd(row: Income) -> Decimal | None:
            price = by_trade.get((row.symbol, row.trade_id)) if row.trade_id else None
            if price is None:
                price = known.get((f"{row.asset}USD", row.time - row.time % 60_000))
            return row.amount * price if price is not None else None

        return usd


def _gaps(cover: tuple[int, int] | None, start: int, end: int, overlap: int) -> list[tuple[int, int]]:
    """The spans of ``[start, end]`` the cache does not cover (the newer one re-read from
    ``overlap`` before the covered end)."""
    if cover is None:
        return [(start, end)]
    lo, hi = cover
    out = []
    if start < lo:
        out.append((start, min(end, lo - 1)))
    if end > hi:
        out.append((max(start, hi + 1 - overlap), end))
    return out


# ---------------------------------------------------------------------------- P&L


REALIZED, FEES, FUNDING = "REALIZED_PNL", "COMMISSION", "FUNDING_FEE"


@dataclass(frozen=True, slots=True)
class PnlDay:
    """One UTC day of one margin coin: realised PnL, fees, funding, anything else (insurance
    clear, delivery, transfers), their sum, and the running sum; each in coin and in USD at the
    time (None when a row of it has no price)."""

    day: str
    asset: str
    realized: Decimal
    fees: Decimal
    funding: Decimal
    other: Decimal
    net: Decimal
    cumulative: Decimal
    realized_usd: Decimal | None
    fees_usd: Decimal | None
    funding_usd: Decimal | None
    other_usd: Decimal | None
    net_usd: Decimal | None
    cumulative_usd: Decimal | None


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a + b


def pnl_by_day(income: Iterable[Income], usd: Callable[[Income], Decimal | None] | None = None) -> list[PnlDay]:
    """Income rows summed per UTC day and coin (days in order, coins by name within a day)."""
    usd = usd or (lambda _row: None)
    days: dict[tuple[str, str], list[Any]] = {}
    for row in sorted(income, key=_income_order):
        bucket = days.setdefault((day_of(row.time), row.asset), [ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO])
        slot = {REALIZED: 0, FEES: 1, FUNDING: 2}.get(row.type, 3)
        bucket[slot] += row.amount
        bucket[4 + slot] = _add(bucket[4 + slot], usd(row))
    out: list[PnlDay] = []
    running: dict[str, tuple[Decimal, Decimal | None]] = {}
    for (day, asset), b in sorted(days.items()):
        net = b[0] + b[1] + b[2] + b[3]
        net_usd = _add(_add(b[4], b[5]), _add(b[6], b[7]))
        cum, cum_usd = running.get(asset, (ZERO, ZERO))
        cum, cum_usd = cum + net, _add(cum_usd, net_usd)
        running[asset] = (cum, cum_usd)
        out.append(PnlDay(day, asset, b[0], b[1], b[2], b[3], net, cum, b[4], b[5], b[6], b[7], net_usd, cum_usd))
    return out


def cumulative_by_asset(income: Iterable[Income]) -> dict[str, list[tuple[int, Decimal]]]:
    """Per coin, the running sum of every income row in time order: ``(time, cumulative)``."""
    out: dict[str, list[tuple[int, Decimal]]] = {}
    totals: dict[str, Decimal] = {}
    for row in sorted(income, key=_income_order):
        totals[row.asset] = totals.get(row.asset, ZERO) + row.amount
        out.setdefault(row.asset, []).append((row.time, totals[row.asset]))
    return out


@dataclass(frozen=True, slots=True)
class PositionFunding:
    """Funding paid (negative) or received since the open position of a symbol was opened."""

    symbol: str
    position: Decimal
    """Contracts, signed (long positive), from the trades (hedge legs netted)."""
    since: int
    funding: Decimal
    asset: str
    payments: int


def funding_by_position(trades: Iterable[Trade], income: Iterable[Income]) -> list[PositionFunding]:
    """For each symbol whose trades leave a position open: the funding rows since it opened
    (the last trade that took a leg from flat, or across zero). Needs the trades since then."""
    legs: dict[tuple[str, str], tuple[Decimal, int]] = {}
    asset_of: dict[str, str] = {}
    for t in sorted(trades, key=lambda t: (t.time, t.symbol, t.id)):
        key = (t.symbol, t.position_side)
        amt, since = legs.get(key, (ZERO, t.time))
        new = amt + (t.qty if t.side == "BUY" else -t.qty)
        if amt == 0 or (amt > 0) != (new > 0):
            since = t.time
        legs[key] = (new, since)
        asset_of[t.symbol] = t.margin_asset or t.commission_asset
    open_by_symbol: dict[str, tuple[Decimal, int]] = {}
    for (symbol, _side), (amt, since) in legs.items():
        if amt == 0:
            continue
        total, first = open_by_symbol.get(symbol, (ZERO, since))
        open_by_symbol[symbol] = (total + amt, min(first, since))
    rows = list(income)
    out = []
    for symbol, (amt, since) in sorted(open_by_symbol.items()):
        paid = [r for r in rows if r.type == FUNDING and r.symbol == symbol and r.time >= since]
        out.append(PositionFunding(symbol, amt, since, sum((r.amount for r in paid), ZERO), asset_of[symbol],
                                   len(paid)))
    return out


# ---------------------------------------------------------------------------- CSV and tables


TRADE_COLUMNS = ("time", "symbol", "side", "price", "qty", "commission", "commissionAsset", "realizedPnl",
                 "maker", "orderId", "id", "positionSide")
ORDER_COLUMNS = ("time", "updateTime", "symbol", "orderId", "clientOrderId", "side", "type", "status", "price",
                 "avgPrice", "origQty", "executedQty", "stopPrice", "timeInForce", "reduceOnly", "endedBy")
INCOME_COLUMNS = ("time", "symbol", "incomeType", "income", "asset", "info", "tranId", "tradeId")
PNL_COLUMNS = ("day", "asset", "realizedPnl", "fees", "funding", "other", "net", "cumulative", "realizedPnlUsd",
               "feesUsd", "fundingUsd", "otherUsd", "netUsd", "cumulativeUsd")


def _txt(value: Decimal | None) -> str:
    return "" if value is None else fmt_plain(value)


def csv_rows(kind: str, rows: Sequence[Any]) -> tuple[tuple[str, ...], list[list[str]]]:
    """The header and the rows as text: exact decimals (``fmt_plain``), UTC ISO times."""
    if kind == "trades":
        return TRADE_COLUMNS, [[iso_ms(t.time), t.symbol, t.side, fmt_plain(t.price), fmt_plain(t.qty),
                                fmt_plain(t.commission), t.commission_asset, fmt_plain(t.realized_pnl),
                                "maker" if t.maker else "taker", str(t.order_id), str(t.id), t.position_side]
                               for t in rows]
    if kind == "orders":
        return ORDER_COLUMNS, [[iso_ms(o.time), iso_ms(o.update_time), o.symbol, str(o.order_id), o.client_order_id,
                                o.side, o.orig_type or o.type, o.status, fmt_plain(o.price), fmt_plain(o.avg_price),
                                fmt_plain(o.orig_qty), fmt_plain(o.executed_qty), fmt_plain(o.stop_price),
                                o.time_in_force, "true" if o.reduce_only else "false", o.ended_by] for o in rows]
    if kind == "income":
        return INCOME_COLUMNS, [[iso_ms(r.time), r.symbol, r.type, fmt_plain(r.amount), r.asset, r.info, r.tran_id,
                                 r.trade_id] for r in rows]
    if kind == "pnl":
        return PNL_COLUMNS, [[d.day, d.asset, _txt(d.realized), _txt(d.fees), _txt(d.funding), _txt(d.other),
                              _txt(d.net), _txt(d.cumulative), _txt(d.realized_usd), _txt(d.fees_usd),
                              _txt(d.funding_usd), _txt(d.other_usd), _txt(d.net_usd), _txt(d.cumulative_usd)]
                             for d in rows]
    raise ValueError(f"unknown history kind {kind!r}")


def write_csv(kind: str, rows: Sequence[Any], out: IO[str]) -> int:
    """Write the header and ``rows``; returns the number of rows."""
    header, body = csv_rows(kind, rows)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(body)
    return len(body)


# ---------------------------------------------------------------------------- wiring


@dataclass(slots=True)
class Report:
    """Everything the views show for one period."""

    start: int
    end: int
    symbols: list[str]
    trades: list[Trade] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    income: list[Income] = field(default_factory=list)
    pnl: list[PnlDay] = field(default_factory=list)
    funding: list[PositionFunding] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)


async def collect(history: History, start: int, end: int, *, symbol: str | None = None,
                  kinds: Iterable[str] = ("trades", "orders", "income", "pnl"), cached_only: bool = False,
                  ) -> Report:
    """Trades, orders and income of ``[start, end]`` (one symbol, or every symbol with income rows
    in the period plus those already cached), the P&L and funding per open position.
    ``cached_only`` reads the cache alone (instant; the venue is not asked)."""
    kinds = set(kinds)
    if "pnl" in kinds:
        kinds |= {"trades", "income"}
    if cached_only:
        income = [r for r in await history.cache.income() if start <= r.time <= end]
        trades = [t for t in await history.cache.trades(symbol) if start <= t.time <= end]
        orders = [o for o in await history.cache.orders(symbol) if start <= o.time <= end]
        symbols = sorted({r.symbol for r in income if r.symbol} | {t.symbol for t in trades}
                         | {o.symbol for o in orders}) if symbol is None else [symbol]
    else:
        income = await history.sync_income(start, end) if (kinds & {"income", "trades", "orders"}) else []
        if symbol is not None:
            symbols = [symbol]
        else:
            cached = {t.symbol for t in await history.cache.trades()} | {o.symbol for o in await history.cache.orders()}
            symbols = sorted({r.symbol for r in income if r.symbol} | cached)
        trades, orders = [], []
        for sym in symbols:
            if "trades" in kinds:
                trades += await history.sync_trades(sym, start, end)
            if "orders" in kinds:
                orders += await history.sync_orders(sym, start, end)
    if symbol is not None:
        income = [r for r in income if r.symbol == symbol]
    trades.sort(key=lambda t: (t.time, t.symbol, t.id))
    orders.sort(key=lambda o: (o.time, o.symbol, o.order_id))
    report = Report(start, end, symbols, trades, orders, income, rebuilt=list(history.rebuilt))
    if "pnl" in kinds:
        usd = (await history.usd_prices(income, trades)) if not cached_only else await _cached_pricer(history, trades)
        report.pnl = pnl_by_day(income, usd)
        report.funding = funding_by_position(trades, income)
    return report


async def _cached_pricer(history: History, trades: Iterable[Trade]) -> Callable[[Income], Decimal | None]:
    by_trade = {(t.symbol, str(t.id)): t.price for t in trades}
    known = await history.cache.prices()

    def usd(row: Income) -> Decimal | None:
        price = by_trade.get((row.symbol, row.trade_id)) if row.trade_id else None
        if price is None:
            price = known.get((f"{row.asset}USD", row.time - row.time % 60_000))
        return row.amount * price if price is not None else None

    return usd


def open_history(rest: Any, signer: Any, *, venue: str, recv_window: int = 5000, path: str | Path | None = None,
                 share: float = DEFAULT_SHARE) -> History:
    """A :class:`History` over ``rest`` (a :class:`feeds.rest.RestClient`) signing with ``signer``:
    every call not urgent, paced under ``share`` of the weight limit; index prices from
    ``indexPriceKlines`` (1m)."""
    from feeds.errors import VenueError
    from feeds.rest import RestError

    async def fetch(path: str, params: dict[str, Any]) -> Any:
        return await rest.signed("GET", path, params, signer, recv_window=recv_window, urgent=False)

    async def price(pair: str, minute: int) -> Decimal | None:
        try:
            rows = await rest.klines(pair, "1m", kind="index", pair=pair, start_time=minute, limit=1)
        except (VenueError, RestError, MalformedFrame, ConnectionError) as exc:
            log.info("history: no index price for %s at %s: %s", pair, iso_ms(minute), exc)
            return None
        return rows[0].open if rows and rows[0].open_time == minute else None

    pacer = WeightPacer(lambda: int(rest.weight_limit), rest.server_now_ms, share=share)
    client = HistoryClient(fetch, pacer, price=price)
    return History(client, HistoryCache(path), identity_of(venue, rest.base_url, signer.api_key))
