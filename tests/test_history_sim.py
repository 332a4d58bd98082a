"""Issue 16's done-when, on loopback: a scripted session on a stepped simulator (fills, a partial
fill, cancels, several funding settlements, a quarterly's delivery with an order it expires, and
the liquidation of an isolated position), then `coinm history trades|orders|income --csv` and
the P&L agree with the simulator's account to the last unit of each margin coin, and each wallet
equals its starting balance plus the sum of its income rows."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from feeds.decimals import fmt_plain
from feeds.history import iso_ms
from feeds.sim import SimHandle, start_in_thread
from tests.cli_support import SYM, urls
from tests.sim_support import sim_in_thread
from tests.test_sim_delivery import DEC_2026
from tui.cli import main

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("cli_env")]


QUARTER = "BTCUSD_261225"
"""BTC's December quarter: it delivers at DEC_2026 (08:00 UTC), a minute into the session."""
LIQUIDATED = "ETHUSD_PERP"


@pytest.fixture
def handle() -> Iterator[SimHandle]:
    with sim_in_thread(seed=11) as h:
        yield h


@pytest.fixture
def before_delivery() -> Iterator[SimHandle]:
    """A stepped simulator whose market clock stands a minute before December's delivery."""
    h = start_in_thread(seed=11, realtime=False, start_time_ms=DEC_2026 - 60_000)
    try:
        yield h
    finally:
        h.stop()


def place(h: SimHandle, **params: str) -> dict[str, Any]:
    from feeds.sim.wsapi import place_order

    sim = h.sim
    return h.call(lambda: place_order(sim.accounts, sim.account(), {"symbol": SYM, "newOrderRespType": "RESULT",
                                                                    **params}))


def deliver_with_a_position(h: SimHandle) -> None:
    """A long of 3 contracts and a resting bid in the December quarter; the clock past its
    delivery: the position settles at the delivery price, the bid expires."""
    sim = h.sim
    tick = sim.symbols[QUARTER].tick_size
    place(h, symbol=QUARTER, side="BUY", type="MARKET", quantity="3")
    bid = h.call(lambda: Decimal(sim.engine.syms[QUARTER].book.best_bid()) * tick)
    place(h, symbol=QUARTER, side="BUY", type="LIMIT", timeInForce="GTC", quantity="2",
          price=fmt_plain((bid * Decimal("0.99")).quantize(tick)))

    def past_delivery() -> None:
        while sim.symbols[QUARTER].status != "DELIVERED":
            sim.step(20)

    h.call(past_delivery)


def liquidate(h: SimHandle) -> None:
    """An isolated long of 100 ETHUSD_PERP at the highest leverage; the index down 1 % a second
    until the venue closes it."""
    sim = h.sim

    def run() -> None:
        acct = sim.account()
        sim.accounts.set_margin_type(acct, LIQUIDATED, "ISOLATED")
        sim.accounts.set_leverage(acct, LIQUIDATED, sim.accounts.max_leverage(LIQUIDATED))
        from feeds.sim.wsapi import place_order

        place_order(sim.accounts, acct, {"symbol": LIQUIDATED, "side": "BUY", "type": "MARKET", "quantity": "100",
                                         "newOrderRespType": "RESULT"})
        sim.step(5)
        pair = sim.engine.pairs["ETHUSD"]
        for _second in range(30):
            if not acct.positions[LIQUIDATED].amt:
                break
            pair.index = int(pair.index * Decimal("0.99"))
            sim.step(20)
        assert not acct.positions[LIQUIDATED].amt, "not liquidated"

    h.call(run)


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
    """Run the session on ``h`` (a simulator a minute before December's delivery); the balances
    it started with."""
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
    deliver_with_a_position(h)
    liquidate(h)
    return start


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_history_exports_agree_with_the_simulator(before_delivery: SimHandle, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    handle = before_delivery
    start = scripted_session(handle)
    acct = handle.call(handle.sim.account)
    trades = handle.call(lambda: sorted(acct.trades, key=lambda t: (t.time, t.symbol, t.id)))
    income = handle.call(lambda: list(acct.income))
    orders = handle.call(lambda: sorted(acct.orders.values(), key=lambda o: (o.time, o.symbol, o.order_id)))
    wallet = handle.call(lambda: dict(acct.balances))
    assert len(trades) >= 3 and sum(1 for r in income if r.type == "FUNDING_FEE") >= 3
    assert {o.status for o in orders} >= {"FILLED", "CANCELED", "EXPIRED"}
    assert any(o.status == "CANCELED" and o.executed for o in orders), "no partial fill then cancel"
    # the delivery settled the quarter's position, the liquidation closed the isolated one
    assert [r.symbol for r in income if r.type == "DELIVERED_SETTELMENT"] == [QUARTER]
    assert any(o.client_order_id.startswith("settlement_autoclose-") for o in orders)
    assert any(o.client_order_id.startswith("autoclose-") and o.symbol == LIQUIDATED for o in orders)
    assert set(wallet) >= {"BTC", "ETH"}

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
    assert [(r["symbol"], r["id"], r["orderId"], r["side"], r["qty"], r["commission"], r["realizedPnl"], r["maker"])
            for r in got] == [
        (t.symbol, str(t.id), str(t.order_id), t.side, str(t.qty), fmt_plain(t.commission), fmt_plain(t.realized),
         "maker" if t.maker else "taker") for t in trades]
    for asset in wallet:  # every fill's fee is a COMMISSION row; the delivery's fee has no trade
        fees = sum((Decimal(r["commission"]) for r in got if r["commissionAsset"] == asset), Decimal(0))
        assert -fees == sum((r.amount for r in income if r.type == "COMMISSION" and r.asset == asset
                             and r.trade_id), Decimal(0)), asset
    assert [r.symbol for r in income if r.type == "COMMISSION" and not r.trade_id] == [QUARTER]

    _, got = read_csv(tmp_path / "orders.csv")
    assert [(r["symbol"], r["orderId"], r["status"], r["executedQty"], r["type"]) for r in got] == [
        (o.symbol, str(o.order_id), o.status, str(o.executed), o.type) for o in orders]
    ended = {r["orderId"]: r["endedBy"] for r in got}
    for o in orders:
        if o.client_order_id.startswith("settlement_autoclose-"):
            assert ended[str(o.order_id)] == "delivery"
        elif o.client_order_id.startswith("autoclose-"):
            assert ended[str(o.order_id)] == "liquidation" and o.type == "LIQUIDATION"
        elif o.status == "EXPIRED":
            assert o.symbol == QUARTER and ended[str(o.order_id)] == "expired"

    # P&L: realised, fees and funding summed per day equal the account's income, to the unit
    rc = main(["history", "pnl", *urls(handle), *until, "--csv", str(tmp_path / "pnl.csv")])
    assert rc == 0, capsys.readouterr().err
    _, days = read_csv(tmp_path / "pnl.csv")
    other = ("REALIZED_PNL", "COMMISSION", "FUNDING_FEE")
    for asset in wallet:
        for key, kind in (("realizedPnl", "REALIZED_PNL"), ("fees", "COMMISSION"), ("funding", "FUNDING_FEE")):
            assert sum((Decimal(d[key]) for d in days if d["asset"] == asset), Decimal(0)) == sum(
                (r.amount for r in income if r.type == kind and r.asset == asset), Decimal(0)), (asset, key)
        # delivery settlement and insurance clear land in "other"
        assert sum((Decimal(d["other"]) for d in days if d["asset"] == asset), Decimal(0)) == sum(
            (r.amount for r in income if r.type not in other and r.asset == asset), Decimal(0)), asset
        rows = [d for d in days if d["asset"] == asset]
        if not rows:  # a coin the session never touched
            assert wallet[asset] == start[asset] and not any(r.asset == asset for r in income), asset
            continue
        assert Decimal(rows[-1]["cumulative"]) == wallet[asset] - start[asset], asset
        assert rows[-1]["cumulativeUsd"] != ""  # every row priced (trade price or the index minute)
    assert {d["asset"] for d in days} == {"BTC", "ETH"}


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
