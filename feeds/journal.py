"""Journal: an SQLite record of every order request, reply, order event and fill.

One row per entry: time, venue, kind (``request``, ``reply``, ``error``, ``unknown``,
``outcome``, ``event``, ``fill``), method, client order id, order id and a JSON payload. It
lives in the user data directory (``<XDG data>/coinm/journal.sqlite3``) and survives
restarts. Nothing secret is ever written: ``apiKey``, ``signature`` and any key that looks
like a credential are dropped from payloads before they reach the database.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import platformdirs

__all__ = ["Journal", "JournalEntry", "default_journal_path", "scrub"]

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


class Journal:
    """Append-only order journal in SQLite (thread-safe, one connection).

    Args:
        path: the database file (default :func:`default_journal_path`); ``":memory:"`` works.
        venue: default venue name for entries.
    """

    def __init__(self, path: str | Path | None = None, *, venue: str = "sim") -> None:
        self.path = Path(path) if path not in (None, ":memory:") else (path or default_journal_path())
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.venue = venue
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def open_default(cls, venue: str = "sim") -> Journal:
        """The journal in the user data directory (created on first use)."""
        return cls(default_journal_path(), venue=venue)

    def record(self, kind: str, payload: Any, *, method: str | None = None,
               client_order_id: str | None = None, order_id: int | None = None,
               venue: str | None = None, ts_ms: int | None = None) -> None:
        """Append one entry; the payload is scrubbed of anything secret first."""
        data = orjson.dumps(scrub(payload)).decode()
        ts = ts_ms if ts_ms is not None else int(time.time() * 1000)
        with self._lock:
            self._db.execute(
                "INSERT INTO journal (ts_ms, venue, kind, method, client_order_id, order_id, payload) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (ts, venue or self.venue, kind, method, client_order_id,
                 int(order_id) if order_id is not None else None, data))

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
        if isinstance(event, OrderTradeUpdate) and event.order.execution_type == "TRADE":
            o = event.order
            self.record("fill", {"symbol": o.symbol, "side": o.side, "qty": o.last_filled_qty,
                                 "price": o.last_filled_price, "tradeId": o.trade_id,
                                 "commission": o.commission, "commissionAsset": o.commission_asset,
                                 "realizedProfit": o.realized_profit, "maker": o.is_maker},
                        method=kind_name, client_order_id=cid, order_id=oid, venue=venue)

    def recent(self, n: int = 50, *, kind: str | None = None,
               client_order_id: str | None = None) -> list[JournalEntry]:
        """The last ``n`` entries, oldest first (optionally of one kind / one client id)."""
        where, args = [], []
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if client_order_id is not None:
            where.append("client_order_id = ?")
            args.append(client_order_id)
        sql = "SELECT id, ts_ms, venue, kind, method, client_order_id, order_id, payload FROM journal"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(int(n))
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [JournalEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], orjson.loads(r[7]))
                for r in reversed(rows)]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"
