"""The order journal: nothing is sent unless its request is committed first; writes never block
the event loop; requests a run did not see the end of are reconciled with the venue."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

import feeds.journal as journal_mod
from feeds.account import AccountState
from feeds.filters import OrderRequest
from feeds.journal import Journal, JournalError
from feeds.models import parse_user_event
from feeds.orders import FOUND, NOT_FOUND, OPEN, SETTLE_MARGIN_MS, OrderManager, reconcile_journal
from feeds.signing import Ed25519Signer, load_ed25519_private_key
from feeds.sim import DEMO_API_KEY, SimExchange
from feeds.wsapi import WsApiClient

SYM = "BTCUSD_PERP"


def api_for(sim: SimExchange, timeout: float = 2.0) -> WsApiClient:
    assert sim.urls is not None
    signer = Ed25519Signer(DEMO_API_KEY, load_ed25519_private_key(sim.credentials.ed25519_key_path))
    return WsApiClient(sim.urls.wsapi, signer=signer, timeout=timeout)


def resting_limit(sim: SimExchange, qty: int = 1, cid: str | None = None) -> OrderRequest:
    price = Decimal(sim.engine.syms[SYM].book.best_bid() - 500) / 10
    return OrderRequest(symbol=SYM, side="BUY", type="LIMIT", time_in_force="GTC", quantity=Decimal(qty),
                        price=price, new_client_order_id=cid)


def venue_orders(sim: SimExchange) -> list[object]:
    return list(sim.account().orders.values())


def committed_rows(path: Path) -> list[tuple[str, str | None, str | None]]:
    """(kind, method, client id) of every row another process would see now."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT kind, method, client_order_id FROM journal ORDER BY id").fetchall()
    finally:
        db.close()


@pytest.fixture
async def api(stepped_sim: SimExchange) -> AsyncIterator[WsApiClient]:
    client = api_for(stepped_sim)
    try:
        yield client
    finally:
        await client.close()


async def submit(om: OrderManager, sim: SimExchange, order: OrderRequest):  # type: ignore[no-untyped-def]
    mark = Decimal(sim.engine.premium_index(SYM)["markPrice"])
    return await om.submit(order, sim.symbols[SYM], mark_price=mark, last_price=sim.engine.last_price(SYM))


# ---------------------------------------------------------------------------- opening


def test_a_corrupt_journal_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    garbage = b"\x00garbage, not a database\xff" * 300
    path.write_bytes(garbage)
    with pytest.raises(JournalError) as err:
        Journal(path)
    assert str(path) in str(err.value) and "not a database" in str(err.value)
    assert path.read_bytes() == garbage  # never "repaired": it may be the only record of an order


def test_a_journal_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(JournalError) as err:
        Journal(blocker / "journal.sqlite3")  # its directory cannot exist: a file is in the way
    assert "cannot open the order journal" in str(err.value)


def test_a_damaged_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    j = Journal(path)
    for i in range(400):
        j.record("event", {"n": i, "pad": "x" * 200})
    j.close()
    raw = bytearray(path.read_bytes())
    assert len(raw) > 8 * 4096
    raw[3 * 4096:6 * 4096] = b"\xa5" * (3 * 4096)  # scribble over table pages, keep the header
    path.write_bytes(bytes(raw))
    with pytest.raises(JournalError):
        Journal(path)


# ---------------------------------------------------------------------------- nothing unrecorded is sent


def _full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    def commit(self: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(journal_mod._Connection, "commit", commit)


async def test_no_order_is_sent_when_its_request_cannot_be_committed(
        stepped_sim: SimExchange, api: WsApiClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    try:
        om = OrderManager(api, AccountState(), journal=journal, venue="sim")
        _full_disk(monkeypatch)
        out = await submit(om, stepped_sim, resting_limit(stepped_sim))
        assert out.status == "rejected" and not out.sent
        assert "journal" in out.message and "disk is full" in out.message
        mod = await om.modify(SYM, 1, "BUY", Decimal(1), Decimal("30000"))
        assert mod.status == "rejected" and not mod.sent and "disk is full" in mod.message
        assert venue_orders(stepped_sim) == []
        assert journal.last_error is not None and "disk is full" in journal.last_error
        monkeypatch.undo()  # space again: orders go out again
        again = await submit(om, stepped_sim, resting_limit(stepped_sim))
        assert again.status == "accepted" and len(venue_orders(stepped_sim)) == 1
    finally:
        journal.close()


async def test_a_cancel_goes_out_even_when_the_journal_cannot_record_it(
        stepped_sim: SimExchange, api: WsApiClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    try:
        om = OrderManager(api, AccountState(), journal=journal, venue="sim")
        placed = await submit(om, stepped_sim, resting_limit(stepped_sim))
        _full_disk(monkeypatch)
        out = await om.cancel(SYM, placed.order_id)  # a cancel only takes risk away
        assert out.status == "accepted" and out.order_status == "CANCELED"
        assert "not in the journal" in out.message and "disk is full" in out.message
    finally:
        journal.close()


async def test_without_a_journal_orders_are_refused_unless_opted_out(
        stepped_sim: SimExchange, api: WsApiClient) -> None:
    refused = OrderManager(api, AccountState(), journal=None, journal_error="journal.sqlite3: file is not a database")
    out = await submit(refused, stepped_sim, resting_limit(stepped_sim))
    assert out.status == "rejected" and not out.sent and "file is not a database" in out.message
    assert venue_orders(stepped_sim) == []
    opted_out = OrderManager(api, AccountState(), journal=None, no_journal=True)
    assert (await submit(opted_out, stepped_sim, resting_limit(stepped_sim))).status == "accepted"


async def test_the_request_is_committed_before_the_order_leaves(
        stepped_sim: SimExchange, api: WsApiClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    entered, release = threading.Event(), threading.Event()
    real_commit = journal_mod._Connection.commit

    def slow_commit(self: sqlite3.Connection) -> None:
        entered.set()
        release.wait(10)
        real_commit(self)

    try:
        om = OrderManager(api, AccountState(), journal=journal, venue="sim")
        monkeypatch.setattr(journal_mod._Connection, "commit", slow_commit)
        task = asyncio.create_task(submit(om, stepped_sim, resting_limit(stepped_sim, cid="durable-1")))
        assert await asyncio.to_thread(entered.wait, 10)  # the writer thread is committing the request
        assert venue_orders(stepped_sim) == [] and not task.done()  # and nothing has left yet
        release.set()
        out = await task
        assert out.status == "accepted" and len(venue_orders(stepped_sim)) == 1
        assert committed_rows(path)[0] == ("request", "order.place", "durable-1")
    finally:
        release.set()
        journal.close()


# ---------------------------------------------------------------------------- off the event loop, in order

ORDER_EVENT = {
    "e": "ORDER_TRADE_UPDATE", "E": 5, "T": 5,
    "o": {"s": SYM, "c": "cid-9", "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "1", "p": "50000.0",
          "ap": "50000.0", "sp": "0", "x": "TRADE", "X": "FILLED", "i": 9, "l": "1", "z": "1",
          "L": "50000.0", "ma": "BTC", "N": "BTC", "n": "0.00000010", "T": 5, "t": 77, "rp": "0",
          "b": "0", "a": "0", "m": False, "R": False, "wt": "CONTRACT_PRICE", "ot": "LIMIT",
          "ps": "BOTH", "cp": False}}


async def test_a_slow_disk_never_stalls_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    om = OrderManager(None, AccountState(), journal=journal, venue="sim")
    other = sqlite3.connect(str(path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock: commits must wait
    try:
        started = time.perf_counter()
        for _ in range(20):
            om.on_user_event(parse_user_event(ORDER_EVENT))
        spent = time.perf_counter() - started
        assert spent < 0.25, f"20 user events took {spent * 1000:.0f} ms on the event loop"
    finally:
        other.execute("ROLLBACK")
        other.close()
    try:
        entries = journal.recent(100)
        assert [e.kind for e in entries] == ["event", "fill"] * 20
        assert journal.last_error is None
    finally:
        journal.close()


async def test_entries_are_written_in_the_order_they_were_made(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    try:
        for i in range(1000):
            journal.record("event", {"n": i})
            if i % 97 == 0:
                await journal.write("request", {"n": i, "durable": True})
        ns = [e.payload["n"] for e in journal.recent(2000)]
        assert ns == sorted(ns) and len(ns) == 1000 + len(range(0, 1000, 97))
    finally:
        journal.close()
    reopened = Journal(tmp_path / "journal.sqlite3")  # and all of it survived the close
    try:
        assert len(reopened.recent(2000)) == 1000 + len(range(0, 1000, 97))
    finally:
        reopened.close()


# ---------------------------------------------------------------------------- reconcile


async def test_an_order_sent_by_a_run_that_died_is_reconciled(stepped_sim: SimExchange, api: WsApiClient,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    # What a run killed between sending and the reply leaves: a pending request, an order at the venue.
    dead = Journal(path)
    order = resting_limit(stepped_sim, 2, cid="coinm-killed-1")
    await dead.write("request", {**order.to_params(), "recvWindow": 5000}, method="order.place",
                     client_order_id="coinm-killed-1", pending=True)
    dead.close()
    placed = await api.place_order(order)
    journal = Journal(path)
    try:
        assert [e.client_order_id for e in await journal.unresolved()] == ["coinm-killed-1"]
        account = AccountState()
        seen = []
        results = await reconcile_journal(journal, api.order_status, account=account, report=seen.append)
        assert [r.status for r in results] == [FOUND] and seen == results
        assert results[0].order is not None and results[0].order["orderId"] == placed["orderId"]
        assert "NEW" in results[0].message and "coinm-killed-1" in results[0].message
        assert [o.order_id for o in account.open_orders(SYM)] == [placed["orderId"]]
        assert await journal.unresolved() == []
        last = journal.recent(1)[0]
        assert (last.kind, last.method, last.order_id) == ("outcome", "order.place", placed["orderId"])
        assert last.payload["status"] == FOUND and last.payload["order_status"] == "NEW"
        assert await reconcile_journal(journal, api.order_status) == []  # settled for good
    finally:
        journal.close()


async def test_does_not_exist_means_never_landed_only_once_the_request_has_expired(
        stepped_sim: SimExchange, api: WsApiClient, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    now = int(time.time() * 1000)
    try:
        old, fresh = [await journal.write(
            "request", {**resting_limit(stepped_sim, cid=cid).to_params(), "recvWindow": 5000},
            method="order.place", client_order_id=cid, pending=True, ts_ms=ts)
            for cid, ts in (("coinm-old", now - 5000 - SETTLE_MARGIN_MS - 1000), ("coinm-fresh", now - 2000))]
        results = {r.entry.client_order_id: r for r in await reconcile_journal(journal, api.order_status)}
        assert results["coinm-old"].status == NOT_FOUND and "never landed" in results["coinm-old"].message
        assert results["coinm-fresh"].status == OPEN  # it could still arrive: concluding now could be wrong
        assert results["coinm-fresh"].retry_at_ms == now - 2000 + 5000 + SETTLE_MARGIN_MS
        assert [e.id for e in await journal.unresolved()] == [fresh]
        outcome = journal.recent(1, kind="outcome")[0]
        assert outcome.client_order_id == "coinm-old" and outcome.payload["status"] == NOT_FOUND
        assert old < fresh
    finally:
        journal.close()


async def test_an_unreachable_venue_leaves_requests_pending(stepped_sim: SimExchange, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    gone = WsApiClient("ws://127.0.0.1:9/", signer=None, timeout=0.5, connect_timeout=0.3)
    try:
        await journal.write("request", {"symbol": SYM, "recvWindow": 5000}, method="order.place",
                            client_order_id="coinm-x", pending=True, ts_ms=1)
        results = await reconcile_journal(journal, gone.order_status)
        assert [r.status for r in results] == [OPEN] and "could not be asked" in results[0].message
        assert len(await journal.unresolved()) == 1
    finally:
        await gone.close()
        journal.close()


async def test_a_cancel_whose_reply_was_never_seen_is_reconciled(stepped_sim: SimExchange, api: WsApiClient,
                                                                 tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    try:
        om = OrderManager(api, AccountState(), journal=journal, venue="sim")
        placed = await submit(om, stepped_sim, resting_limit(stepped_sim))
        assert await journal.unresolved() == []  # the order's outcome settled its request
        await journal.write("request", {"symbol": SYM, "orderId": placed.order_id}, method="order.cancel",
                            order_id=placed.order_id, pending=True)
        await api.cancel_order(SYM, order_id=placed.order_id)  # sent, then the run "died"
        results = await om.reconcile()
        assert [r.status for r in results] == [FOUND] and results[0].order["status"] == "CANCELED"
        assert om.account.open_orders(SYM) == []
        assert await journal.unresolved() == []
    finally:
        journal.close()


async def test_every_request_kind_is_journaled_and_settled(stepped_sim: SimExchange, api: WsApiClient,
                                                           tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    try:
        om = OrderManager(api, AccountState(), journal=journal, venue="sim")
        a = await submit(om, stepped_sim, resting_limit(stepped_sim))
        price = Decimal(stepped_sim.engine.syms[SYM].book.best_bid() - 800) / 10
        assert (await om.modify(SYM, a.order_id, "BUY", Decimal(3), price)).status == "accepted"
        assert (await om.cancel(SYM, a.order_id)).status == "accepted"
        methods = [(e.kind, e.method) for e in journal.recent(50) if e.kind in ("request", "outcome")]
        assert methods == [("request", "order.place"), ("outcome", "order.place"),
                           ("request", "order.modify"), ("outcome", "order.modify"),
                           ("request", "order.cancel"), ("outcome", "order.cancel")]
        assert await journal.unresolved() == []
    finally:
        journal.close()


def test_a_journal_from_before_pending_requests_gets_its_loose_ends_listed(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    db = sqlite3.connect(str(path), isolation_level=None)
    db.executescript(journal_mod._SCHEMA)
    rows = [("request", "order.place", "coinm-done", None, '{"symbol":"BTCUSD_PERP"}'),
            ("outcome", "order.place", "coinm-done", 5, '{"status":"accepted"}'),
            ("request", "order.place", "coinm-lost", None, '{"symbol":"BTCUSD_PERP"}'),
            ("request", "order.place", "coinm-unknown", None, '{"symbol":"BTCUSD_PERP"}'),
            ("outcome", "order.place", "coinm-unknown", None, '{"status":"unknown"}')]
    for kind, method, cid, oid, payload in rows:
        db.execute("INSERT INTO journal (ts_ms, venue, kind, method, client_order_id, order_id, payload) "
                   "VALUES (1, 'sim', ?, ?, ?, ?, ?)", (kind, method, cid, oid, payload))
    db.close()
    journal = Journal(path)
    try:
        pending = asyncio.run(journal.unresolved())
        assert [e.client_order_id for e in pending] == ["coinm-lost", "coinm-unknown"]
    finally:
        journal.close()
