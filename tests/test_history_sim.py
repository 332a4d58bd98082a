"""Issue 16's done-when, on loopback: a scripted session on a stepped simulator (fills, a partial
fill, cancels, several funding settlements), then `coinm history trades|orders|income --csv`
and the P&L agree with the simulator's account to the last unit of the margin coin, and the
wallet equals the starting balance plus the sum of the income rows."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from feeds.decimals import fmt_plain
from feeds.history import iso_ms
from feeds.sim import SimHandle
from tests.cli_support import SYM, sim_in_thread, urls
from tui.cli import main

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("cli_env")]


@pytest.fixture
def handle() -> Iterator[SimHandle]:
    with sim_in_thread(seed=11) as h:
        yield h


def place(h: SimHandle, **params: str) -> dict[str, Any]:
    from feeds.sim.wsapi import place_order

    sim = h.sim
    return h.call(lambda: place_order(sim.accounts, sim.account(), {"symbol": SYM, "newOrderRespType": "RESULT",
                                                                    **params}))


def cancel(h: SimHandle, order_id: int) -> None:
    sim = h.sim
    h.call(lambda: sim.accounts.cancel(sim.account().orders[order_id]))


def settle_funding(h: SimHandle) -> None:
    """A funding settlement now (the next one is hours of 50 ms steps away)."""
    engine = h.sim.engine

    def due() -> None:
        engine._next_funding = engine.now_ms + 50

    h.call(due)
    h.call(h.sim.step, 2)


def scripted_session(h: SimHandle) -> dict[str, Decimal]:
    sim = h.sim
    start = h.call(lambda: dict(sim.account().balances))
    book = h.call(lambda: sim.engine.syms[SYM].book)
    tick = sim.symbols[SYM].tick_size
    ask = h.call(lambda: Decimal(book.best_ask()) * tick)
    bid = h.call(lambda: Decimal(book.best_bid()) * tick)
    place(h, side="BUY", type="MARKET", quantity="7")
    h.call(sim.step, 20)
    # a limit through the ask, bigger than what is offered up to its price: partly filled, rests
    big = place(h, side="BUY", type="LIMIT", timeInForce="GTC", price=fmt_plain(ask), quantity="3000")
    h.call(sim.step, 5)
    cancel(h, big["orderId"])
    far = place(h, side="SELL", type="LIMIT", timeInForce="GTC", quantity="3",
                price=fmt_plain((ask * Decimal("1.02")).quantize(tick)))
    cancel(h, far["orderId"])
    settle_funding(h)
    h.call(sim.step, 40)
    place(h, side="SELL", type="MARKET", quantity="4")
    settle_funding(h)
    h.call(sim.step, 40)
    place(h, side="SELL", type="LIMIT", timeInForce="IOC", quantity="2",
          price=fmt_plain((bid * Decimal("0.99")).quantize(tick)))
    settle_funding(h)
    h.call(sim.step, 10)
    return start


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_history_exports_agree_with_the_simulator(handle: SimHandle, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    start = scripted_session(handle)
    acct = handle.call(handle.sim.account)
    trades = handle.call(lambda: sorted(acct.trades, key=lambda t: (t.time, t.id)))
    income = handle.call(lambda: list(acct.income))
    orders = handle.call(lambda: sorted(acct.orders.values(), key=lambda o: (o.time, o.order_id)))
    wallet = handle.call(lambda: dict(acct.balances))
    assert len(trades) >= 3 and sum(1 for r in income if r.type == "FUNDING_FEE") >= 3
    assert {o.status for o in orders} >= {"FILLED", "CANCELED"}
    assert any(o.status == "CANCELED" and o.executed for o in orders), "no partial fill then cancel"

    # a stepped simulator's market clock runs ahead of the wall clock its /time answers
    until = ["--until", iso_ms(handle.call(lambda: handle.sim.engine.now_ms) + 60_000)]
    for kind in ("trades", "orders", "income"):
        rc = main(["history", kind, *urls(handle), *until, "--csv", str(tmp_path / f"{kind}.csv")])
        err = capsys.readouterr().err
        assert rc == 0, err
        assert "venue sim" in err or "REST" in err

    _, got = read_csv(tmp_path / "income.csv")
    assert [(r["time"], r["incomeType"], r["income"], r["asset"], r["tranId"], r["tradeId"]) for r in got] == [
        (iso_ms(r.time), r.type, fmt_plain(r.amount), r.asset, str(r.tran_id), r.trade_id) for r in income]
    for asset, balance in wallet.items():
        assert balance == start[asset] + sum((Decimal(r["income"]) for r in got if r["asset"] == asset), Decimal(0))

    _, got = read_csv(tmp_path / "trades.csv")
    assert [(r["id"], r["orderId"], r["side"], r["qty"], r["commission"], r["realizedPnl"], r["maker"])
            for r in got] == [
        (str(t.id), str(t.order_id), t.side, str(t.qty), fmt_plain(t.commission), fmt_plain(t.realized),
         "maker" if t.maker else "taker") for t in trades]
    fees = sum((Decimal(r["commission"]) for r in got), Decimal(0))
    assert -fees == sum((r.amount for r in income if r.type == "COMMISSION"), Decimal(0))

    _, got = read_csv(tmp_path / "orders.csv")
    assert [(r["orderId"], r["status"], r["executedQty"]) for r in got] == [
        (str(o.order_id), o.status, str(o.executed)) for o in orders]

    # P&L: realised, fees and funding summed per day equal the account's income, to the unit
    rc = main(["history", "pnl", *urls(handle), *until, "--csv", str(tmp_path / "pnl.csv")])
    assert rc == 0, capsys.readouterr().err
    _, days = read_csv(tmp_path / "pnl.csv")
    for key, kind in (("realizedPnl", "REALIZED_PNL"), ("fees", "COMMISSION"), ("funding", "FUNDING_FEE")):
        assert sum((Decimal(d[key]) for d in days), Decimal(0)) == sum(
            (r.amount for r in income if r.type == kind), Decimal(0)), key
    assert Decimal(days[-1]["cumulative"]) == wallet["BTC"] - start["BTC"]
    assert days[-1]["cumulativeUsd"] != ""  # every row priced (trade price or the index minute)


def test_history_table_and_bad_input(handle: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
    place(handle, side="BUY", type="MARKET", quantity="2")
    until = ["--until", iso_ms(handle.call(lambda: handle.sim.engine.now_ms) + 60_000)]
    assert main(["history", "trades", *urls(handle), *until, "--symbol", SYM]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["time", "symbol", "side", "price", "qty", "commission", "commissionAsset",
                              "realizedPnl", "maker", "orderId", "id", "positionSide"]
    assert len(out) >= 2 and SYM in out[1]
    assert main(["history", "income", *urls(handle), "--since", "yesterday"]) == 2
    err = capsys.readouterr().err
    assert "is not a date" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["history", "trades", *urls(handle), "--symbol", "NOPE_PERP"]) == 2
    assert "not a symbol" in capsys.readouterr().err
