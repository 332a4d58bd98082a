"""Journal: an SQLite record of every order request, reply, order event and fill.

One row per entry: time, venue, kind (``request``, ``reply``, ``error``, ``unknown``,
``outcome``, ``event``, ``fill``), method, client order id, order id and a JSON payload. It
lives in the user data directory (``<XDG data>/coinm/journal.sqlite3``) and survives
restarts. Nothing secret is ever written: ``apiKey``, ``signature`` and any key that looks
like a credential are dropped from payloads before they reach the database.

Every write goes through one writer thread, in the order it was asked for, so the event loop
never waits on a commit: :meth:`Journal.record` queues an entry and returns at once;
:meth:`Journal.write` queues it and lets the caller await its commit (an order request is
written that way before it is sent). Entries that arrive together are committed together,
with ``synchronous=FULL`` (a committed entry survives a crash of the process or the machine).

A request written with ``pending=True`` stays in the ``pending`` table until an entry written
with ``resolves=<its id>`` settles it: :meth:`Journal.unresolved` lists what a previous run
sent without learning the outcome (see :func:`feeds.orders.reconcile_journal`).

A journal that cannot be opened (corrupt, unwritable) raises :class:`JournalError` and is
never replaced or repaired: what it holds may be the only record of an order.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import contextlib
import logging
import os
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import platformdirs

__all__ = ["Journal", "JournalEntry", "JournalError", "default_journal_path", "scrub"]

log = logging.getLogger(__name__)

_SECRET_KEYS = re.compile(r"^(apikey|signature)$|secret|passphrase|password|private|token", re.I)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    venue TEXT NOT NULL,
    kind TEXT NOT NULL,
    method TEXT,
    client_order_id TEXT,
    order_id INTEGER,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_cid ON journal(client_order_id);
"""

_PENDING_SCHEMA = "CREATE TABLE pending (request_id INTEGER PRIMARY KEY)"
"""Requests sent (or about to be) whose outcome is not known yet: one row per request id."""

RECONCILED_METHODS = ("order.place", "order.cancel", "order.modify")
"""Requests whose outcome can be asked of the venue afterwards (``order.status``)."""

_BATCH = 256
"""At most this many queued writes share one commit."""

_INSERT = ("INSERT INTO journal (ts_ms, venue, kind, method, client_order_id, order_id, payload) "
           "VALUES (?, ?, ?, ?, ?, ?, ?)")
_COLUMNS = "id, ts_ms, venue, kind, method, client_order_id, order_id, payload"


class JournalError(Exception):
    """The order journal cannot be opened or cannot record an entry."""


class _Connection(sqlite3.Connection):
    """The writer thread's connection (a class of its own, so that a test can make ``commit``
    fail the way a full disk does)."""


def default_journal_path() -> Path:
    """``$COINM_DATA_DIR/journal.sqlite3``, else ``<XDG data dir>/coinm/journal.sqlite3``."""
    override = os.environ.get("COINM_DATA_DIR")
    base = Path(override).expanduser() if override else platformdirs.user_data_path("coinm")
    return base / "journal.sqlite3"


def scrub(value: Any) -> Any:
    """A copy of ``value`` with credential-looking keys removed (recursively); Decimals as text."""
    if isinstance(value, Mapping):
        return {str(k): scrub(v) for k, v in value.items() if not _SECRET_KEYS.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: int
    ts_ms: int
    venue: str
    kind: str
    method: str | None
    client_order_id: str | None
    order_id: int | None
    payload: Any


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    return JournalEntry(row[0], row[1], row[2], row[3], row[4], row[5], row[6], orjson.loads(row[7]))


@dataclass(slots=True)
class _Job:
    run: Callable[[sqlite3.Connection], Any]
    future: concurrent.futures.Future[Any]
    write: bool


_STOP = None


class Journal:
    """Append-only order journal in SQLite, written by one thread of its own.

    Args:
        path: the database file (default :func:`default_journal_path`); ``":memory:"`` works.
        venue: default venue name for entries.

    Raises:
        JournalError: the file cannot be opened, is not a journal, is damaged, or cannot be
            written (read-only, no space).
    """

    def __init__(self, path: str | Path | None = None, *, venue: str = "sim") -> None:
        self.path: Path | str = (Path(path) if path not in (None, ":memory:")
                                 else (path or default_journal_path()))
        self.venue = venue
        self.last_error: str | None = None
        """Why the latest write failed (``None`` once a write succeeds again)."""
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        opened: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(opened,), name="coinm-journal", daemon=True)
        self._thread.start()
        try:
            opened.result()
        except JournalError:
            self._thread.join()
            raise
        atexit.register(self.close)

    @classmethod
    def open_default(cls, venue: str = "sim") -> Journal:
        """The journal in the user data directory (created on first use)."""
        return cls(default_journal_path(), venue=venue)

    # ------------------------------------------------------------------ writer thread
    def _open(self) -> sqlite3.Connection:
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = sqlite3.connect(str(self.path), factory=_Connection, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            check = db.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise JournalError(f"the order journal {self.path} is damaged ({check[0] if check else 'no answer'})")
            db.executescript(_SCHEMA)
            if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='pending'").fetchone() is None:
                db.execute(_PENDING_SCHEMA)
                _backfill_pending(db)
            db.commit()
            db.execute("BEGIN IMMEDIATE")  # can we write? (a read-only file opens and reads fine)
            db.rollback()
        except BaseException:
            db.close()
            raise
        return db

    def _run(self, opened: concurrent.futures.Future[None]) -> None:
        try:
            db = self._open()
        except JournalError as exc:
            opened.set_exception(exc)
            return
        except (sqlite3.Error, OSError) as exc:
            opened.set_exception(JournalError(f"cannot open the order journal {self.path}: {exc}"))
            return
        opened.set_result(None)
        waiting: collections.deque[_Job | None] = collections.deque()
        while True:
            job = waiting.popleft() if waiting else self._queue.get()
            if job is _STOP:
                break
            if not job.write:
                self._settle(job, db)
                continue
            batch = [job]
            while len(batch) < _BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP or not nxt.write:
                    waiting.append(nxt)  # after this batch, in order
                    break
                batch.append(nxt)
            self._commit(batch, db)
        db.close()

    def _settle(self, job: _Job, db: sqlite3.Connection) -> None:
        try:
            job.future.set_result(job.run(db))
        except (sqlite3.Error, OSError) as exc:
            job.future.set_exception(JournalError(f"order journal {self.path}: {exc}"))
        except Exception as exc:  # noqa: BLE001 - reported to whoever waits on the entry
            job.future.set_exception(exc)

    def _commit(self, batch: list[_Job], db: sqlite3.Connection) -> None:
        try:
            results = [job.run(db) for job in batch]
            db.commit()
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error, OSError, or a bug: the entry failed
            with contextlib.suppress(sqlite3.Error):
                db.rollback()
            if len(batch) > 1:  # one bad entry must not take its neighbours with it
                for job in batch:
                    self._commit([job], db)
                return
            self._failed(batch[0], exc)
            return
        self.last_error = None
        for job, result in zip(batch, results, strict=True):
            job.future.set_result(result)

    def _failed(self, job: _Job, exc: BaseException) -> None:
        text = f"cannot write the order journal {self.path}: {exc}"
        if self.last_error is None:
            log.warning("%s", text)
        self.last_error = text
        job.future.set_exception(JournalError(text))

    def _submit(self, run: Callable[[sqlite3.Connection], Any], *, write: bool) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if self._closed:
            future.set_exception(JournalError(f"the order journal {self.path} is closed"))
            return future
        self._queue.put(_Job(run, future, write))
        return future

    # ------------------------------------------------------------------ writing
    def _insert(self, kind: str, payload: Any, *, method: str | None, client_order_id: str | None,
                order_id: int | None, venue: str | None, ts_ms: int | None, pending: bool,
                resolves: int | None) -> concurrent.futures.Future[int]:
        data = orjson.dumps(scrub(payload)).decode()  # here: the payload may change once we return
        row = (ts_ms if ts_ms is not None else int(time.time() * 1000), venue or self.venue, kind, method,
               client_order_id, int(order_id) if order_id is not None else None, data)

        def run(db: sqlite3.Connection) -> int:
            rowid = int(db.execute(_INSERT, row).lastrowid or 0)
            if pending:
                db.execute("INSERT INTO pending (request_id) VALUES (?)", (rowid,))
            if resolves is not None:
                db.execute("DELETE FROM pending WHERE request_id = ?", (int(resolves),))
            return rowid

        return self._submit(run, write=True)

    def record(self, kind: str, payload: Any, *, method: str | None = None,
               client_order_id: str | None = None, order_id: int | None = None,
               venue: str | None = None, ts_ms: int | None = None, pending: bool = False,
               resolves: int | None = None) -> concurrent.futures.Future[int]:
        """Queue one entry (scrubbed of anything secret) and return at once.

        Args:
            pending: the entry is a request whose outcome is to be learned (listed by
                :meth:`unresolved` until settled).
            resolves: the id of the pending request this entry settles.

        Returns:
            A future of the entry's id; a failed write sets :attr:`last_error` and is logged.
        """
        return self._insert(kind, payload, method=method, client_order_id=client_order_id, order_id=order_id,
                            venue=venue, ts_ms=ts_ms, pending=pending, resolves=resolves)

    async def write(self, kind: str, payload: Any, *, method: str | None = None,
                    client_order_id: str | None = None, order_id: int | None = None,
                    venue: str | None = None, ts_ms: int | None = None, pending: bool = False,
                    resolves: int | None = None) -> int:
        """Queue one entry and wait (without blocking the event loop) until it is committed.

        Returns:
            The entry's id.

        Raises:
            JournalError: it could not be written; nothing of it is in the journal.
        """
        return await asyncio.wrap_future(self.record(
            kind, payload, method=method, client_order_id=client_order_id, order_id=order_id, venue=venue,
            ts_ms=ts_ms, pending=pending, resolves=resolves))

    def record_event(self, event: Any, *, venue: str | None = None) -> None:
        """A user-data event (a model with ``to_wire()``); TRADE executions also as ``fill``."""
        from feeds.models import OrderTradeUpdate

        wire = event.to_wire() if hasattr(event, "to_wire") else event
        kind_name = getattr(event, "EVENT", "event")
        if kind_name == "listenKeyExpired":
            return  # nothing about orders, and the key is a read credential
        cid = oid = None
        if isinstance(event, OrderTradeUpdate):
            cid, oid = event.order.client_order_id, event.order.order_id
        self.record("event", wire, method=kind_name, client_order_id=cid, order_id=oid, venue=venue)
        if isinstance(event, OrderTradeUpdate) and event.order.execution_type == "NEW":
            from feeds.account import is_venue_close

            o = event.order
            closed_by = is_venue_close(o.order_type, o.client_order_id)
            if closed_by is not None:  # the venue closes our position: a row of its own
                self.record("liquidation", {"kind": closed_by, "symbol": o.symbol, "side": o.side,
                                            "positionSide": o.position_side, "qty": o.orig_qty},
                            method=kind_name, client_order_id=cid, order_id=oid, venue=venue)
        # CALCULATED is Binance's execution type of a liquidation's fills
        if isinstance(event, OrderTradeUpdate) and event.order.execution_type in ("TRADE", "CALCULATED"):
            o = event.order
            self.record("fill", {"symbol": o.symbol, "side": o.side, "qty": o.last_filled_qty,
                                 "price": o.last_filled_price, "tradeId": o.trade_id,
                                 "commission": o.commission, "commissionAsset": o.commission_asset,
                                 "realizedProfit": o.realized_profit, "maker": o.is_maker},
                        method=kind_name, client_order_id=cid, order_id=oid, venue=venue)

    def flush(self, timeout: float | None = 10.0) -> None:
        """Wait until everything queued so far is written (or has failed)."""
        self._submit(lambda db: None, write=False).result(timeout)

    # ------------------------------------------------------------------ reading
    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> concurrent.futures.Future[list[JournalEntry]]:
        # through the writer thread: a read sees every entry queued before it
        return self._submit(lambda db: [_entry(r) for r in db.execute(sql, args).fetchall()], write=False)

    def recent(self, n: int = 50, *, kind: str | None = None,
               client_order_id: str | None = None) -> list[JournalEntry]:
        """The last ``n`` entries, oldest first (optionally of one kind / one client id)."""
        where: list[str] = []
        args: list[Any] = []
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if client_order_id is not None:
            where.append("client_order_id = ?")
            args.append(client_order_id)
        sql = f"SELECT {_COLUMNS} FROM journal"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(int(n))
        return list(reversed(self._read(sql, tuple(args)).result()))

    async def unresolved(self, venue: str | None = None) -> list[JournalEntry]:
        """Requests (of ``venue``, default this journal's) written ``pending`` and not settled yet,
        oldest first."""
        return await asyncio.wrap_future(self._read(
            f"SELECT {_COLUMNS} FROM journal WHERE id IN (SELECT request_id FROM pending) AND venue = ? "
            "ORDER BY id", (venue or self.venue,)))

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Write what is queued, then close (called at exit too)."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(30)

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"


def _backfill_pending(db: sqlite3.Connection) -> None:
    """A journal written before the ``pending`` table: its requests that never got a final
    outcome (accepted/rejected) become pending, so that they are reconciled like new ones."""
    marks = ",".join("?" * len(RECONCILED_METHODS))
    requests = db.execute(f"SELECT id, method, client_order_id, order_id FROM journal WHERE kind = 'request' "
                          f"AND method IN ({marks})", RECONCILED_METHODS).fetchall()
    if not requests:
        return
    final: dict[tuple[str, str | None, int | None], list[int]] = {}
    for rid, method, cid, oid, payload in db.execute(
            f"SELECT id, method, client_order_id, order_id, payload FROM journal WHERE kind = 'outcome' "
            f"AND method IN ({marks})", RECONCILED_METHODS):
        try:
            status = orjson.loads(payload).get("status")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if status in ("accepted", "rejected"):
            final.setdefault((method, cid, None if cid else oid), []).append(rid)
    for rid, method, cid, oid in requests:
        if not any(out > rid for out in final.get((method, cid, None if cid else oid), ())):
            db.execute("INSERT INTO pending (request_id) VALUES (?)", (rid,))
