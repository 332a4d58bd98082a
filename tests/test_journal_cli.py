"""`coinm order|cancel|orders` and the order journal: no record, no order (unless --no-journal);
cancels are journaled; a `coinm order` killed between sending and the reply is reconciled by
the next command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import feeds.journal as journal_mod
from feeds.journal import Journal, default_journal_path
from feeds.orders import FOUND
from feeds.sim import SimHandle
from tests.cli_support import SYM, price_under_bid, urls, venue_orders
from tui.cli import main
from tui.order_cli import EXIT_JOURNAL

REPO = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("cli_env")]


def order_args(h: SimHandle, *extra: str, qty: str = "1") -> list[str]:
    return ["order", *urls(h), "--symbol", SYM, "--side", "BUY", "--price", price_under_bid(h), "--qty", qty,
            *extra]


def rows(kind: str | None = None) -> list[tuple[str, str | None, str | None, int | None]]:
    """(kind, method, client id, order id) of every committed journal row."""
    db = sqlite3.connect(f"file:{default_journal_path()}?mode=ro", uri=True)
    try:
        out = db.execute("SELECT kind, method, client_order_id, order_id FROM journal ORDER BY id").fetchall()
    finally:
        db.close()
    return [r for r in out if kind is None or r[0] == kind]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_an_unreadable_journal_refuses_the_order(handle: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
    path = default_journal_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(8192))
    rc = main(order_args(handle))
    err = capsys.readouterr().err
    assert rc == EXIT_JOURNAL, err
    assert str(path) in err and "nothing sent" in err and "--no-journal" in err
    assert "Traceback" not in err and venue_orders(handle) == []
    # the explicit opt-out sends it, and says nothing is recorded
    rc = main(order_args(handle, "--no-journal"))
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "--no-journal" in out.err and len(venue_orders(handle)) == 1
    # a cancel is never held back by the journal (it only takes risk away): it says so
    rc = main(["cancel", *urls(handle), "--symbol", SYM, "--all"])
    out = capsys.readouterr()
    assert rc == 0 and "not recorded" in out.err
    assert {s for _, _, s in venue_orders(handle)} == {"CANCELED"}


def test_a_full_disk_refuses_the_order(handle: SimHandle, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real_commit = journal_mod._Connection.commit

    def commit(self: sqlite3.Connection) -> None:
        if self.total_changes:  # the first row: the journal opened fine, then the disk filled up
            raise sqlite3.OperationalError("database or disk is full")
        real_commit(self)

    monkeypatch.setattr(journal_mod._Connection, "commit", commit)
    rc = main(order_args(handle))
    err = capsys.readouterr().err
    assert rc == EXIT_JOURNAL, err
    assert "disk is full" in err and "Nothing sent" in err and venue_orders(handle) == []


def test_cancels_are_journaled(handle: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
    for cid in ("j-a", "j-b", "j-c"):
        assert main(order_args(handle, "--client-id", cid)) == 0
    placed = {c: o for o, c, _ in venue_orders(handle)}
    capsys.readouterr()
    assert main(["cancel", *urls(handle), "--symbol", SYM, "--order-id", str(placed["j-a"])]) == 0
    assert main(["cancel", *urls(handle), "--symbol", SYM, "--client-id", "j-b"]) == 0
    assert main(["cancel", *urls(handle), "--symbol", SYM, "--all"]) == 0
    out = capsys.readouterr().out
    assert '"code": 200' in out  # cancel --all prints the venue's reply as before
    cancels = [(k, m, c, o) for k, m, c, o in rows() if m in ("order.cancel", "allOpenOrders")]
    assert ("request", "order.cancel", None, placed["j-a"]) in cancels
    assert ("request", "order.cancel", "j-b", None) in cancels
    assert ("request", "allOpenOrders", None, None) in cancels
    outcomes = [(m, c, o) for k, m, c, o in cancels if k == "outcome"]
    assert ("order.cancel", "j-a", placed["j-a"]) in outcomes and ("order.cancel", "j-b", placed["j-b"]) in outcomes
    assert ("allOpenOrders", None, None) in outcomes


def test_an_order_killed_after_sending_is_reconciled_by_the_next_command(
        handle: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
    # the venue executes the order and never answers: `coinm order` waits for the reply...
    handle.call(lambda: handle.sim.faults.lose_reply("order.place"))
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from tui.cli import main; sys.exit(main(sys.argv[1:]))",
         *order_args(handle, "--client-id", "kill-9-me", qty="4")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # ...and is killed once the order is at the venue, before any reply or outcome
        wait_for(lambda: any(c == "kill-9-me" for _, c, _ in venue_orders(handle)), "the order at the venue")
        handle.call(lambda: handle.sim.faults.lose_reply("order.status"))  # its own query gets no answer either
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    handle.call(lambda: handle.sim.reply_faults.pop("order.status", None))  # the venue answers again
    assert ("request", "order.place", "kill-9-me", None) in rows()
    assert [r for r in rows("outcome") if r[2] == "kill-9-me"] == []  # the run died without an outcome
    journal = Journal(default_journal_path())
    try:
        assert [e.client_order_id for e in asyncio.run(journal.unresolved())] == ["kill-9-me"]
    finally:
        journal.close()
    # the next command, whatever it is, asks the venue and journals what it says
    (order_id,) = [o for o, c, _ in venue_orders(handle) if c == "kill-9-me"]
    assert main(["orders", *urls(handle), "--symbol", SYM]) == 0
    out = capsys.readouterr()
    assert "kill-9-me" in out.err and f"order {order_id} is NEW" in out.err
    assert [r["clientOrderId"] for r in json.loads(out.out)] == ["kill-9-me"]
    outcome = [r for r in rows("outcome") if r[2] == "kill-9-me"]
    assert outcome == [("outcome", "order.place", "kill-9-me", order_id)]
    journal = Journal(default_journal_path())
    try:
        last = journal.recent(1, kind="outcome")[0]
        assert last.payload["status"] == FOUND and last.payload["order_status"] == "NEW"
        assert asyncio.run(journal.unresolved()) == []
    finally:
        journal.close()
    # settled for good: the command after that has nothing to say about it
    assert main(["orders", *urls(handle), "--symbol", SYM]) == 0
    assert "kill-9-me" not in capsys.readouterr().err
    assert len([c for _, c, _ in venue_orders(handle) if c == "kill-9-me"]) == 1  # never sent twice
