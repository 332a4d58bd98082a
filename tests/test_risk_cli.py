"""`coinm account|leverage|margin-type|margin|position-mode|close` end to end against a
simulator on loopback, Binance's refusals included."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from typing import Any

import pytest

from feeds.errors import human_error
from feeds.journal import Journal, default_journal_path
from feeds.sim import SimHandle
from tests.cli_support import SYM, urls
from tui.cli import main
from tui.order_cli import EXIT_JOURNAL

D = Decimal
pytestmark = pytest.mark.usefixtures("cli_env")


def run(h: SimHandle, capsys: pytest.CaptureFixture[str], command: str, *args: str) -> tuple[int, Any, str]:
    rc = main([command, *urls(h), *args])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, (json.loads(out.out) if out.out.strip() else None), out.err


def acct(h: SimHandle) -> Any:
    """The demo account (only inside ``h.call``: on the simulator's loop)."""
    return h.sim.account()


def leverage(h: SimHandle) -> int:
    return h.call(lambda: acct(h).leverage.get(SYM, 20))


def position(h: SimHandle, side: str = "BOTH") -> int:
    return h.call(lambda: (p.amt if (p := acct(h).peek(SYM, side)) is not None else 0))


def bid(h: SimHandle) -> Decimal:
    return h.call(lambda: D(h.sim.engine.syms[SYM].book.best_bid()) / 10)


def market(h: SimHandle, capsys: pytest.CaptureFixture[str], side: str, qty: int, *extra: str) -> None:
    rc, reply, err = run(h, capsys, "order", "--symbol", SYM, "--side", side, "--type", "MARKET", "--qty", str(qty),
                         *extra)
    assert rc == 0, err


def journal_rows(method: str) -> list[tuple[str, Any]]:
    journal = Journal(default_journal_path())
    try:
        return [(e.kind, e.payload) for e in journal.recent(100) if e.method == method]
    finally:
        journal.close()


def test_leverage_read_set_and_refusals(handle: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
    rc, shown, err = run(handle, capsys, "leverage", "--symbol", SYM)
    assert rc == 0, err
    assert "venue sim (command line)" in err  # the venue line, as for the order commands
    mark = D(shown["markPrice"])
    assert (shown["leverage"], shown["maxLeverage"], shown["maxNotional"]) == (20, 125, "50")
    assert shown["maxContractsAtMark"] == int(50 * mark / 100)
    # outside 1..125: refused before sending (Binance's -4028 and a sentence), nothing changes
    rc, _, err = run(handle, capsys, "leverage", "--symbol", SYM, "--set", "126")
    assert rc == 1 and "rejected -4028" in err and "1 to 125" in err and "nothing sent" in err
    assert journal_rows("leverage") == []
    # --dry-run prints the signed request, masked, and sends nothing
    rc, dry, err = run(handle, capsys, "leverage", "--symbol", SYM, "--set", "50", "--dry-run")
    assert rc == 0, err
    assert dry["sent"] is False and dry["params"]["leverage"] == 50 and dry["params"]["signature"] == "****"
    assert dry["preview"]["maxNotional"] == "20" and leverage(handle) == 20
    rc, done, err = run(handle, capsys, "leverage", "--symbol", SYM, "--set", "50")
    assert rc == 0, err
    assert done["result"]["leverage"] == 50 and leverage(handle) == 50
    assert [k for k, _ in journal_rows("leverage")] == ["request", "reply"]
    # the venue's own refusal: resting buys worth more than 5 BTC cannot be held at 125x (-2027)
    price = str((bid(handle) * D("0.9")).quantize(D("0.1")))
    rc, _, err = run(handle, capsys, "order", "--symbol", SYM, "--side", "BUY", "--price", price, "--qty", "4500")
    assert rc == 0, err
    rc, _, err = run(handle, capsys, "leverage", "--symbol", SYM, "--set", "125")
    assert rc == 1 and "rejected -2027" in err and human_error(-2027) in err
    assert leverage(handle) == 50
    assert [k for k, _ in journal_rows("leverage")] == ["request", "reply", "request", "error"]


def test_margin_type_and_binance_refusals(handle: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
    rc, shown, _ = run(handle, capsys, "margin-type", "--symbol", SYM)
    assert rc == 0 and shown == {"symbol": SYM, "marginType": "CROSSED"}
    rc, _, err = run(handle, capsys, "margin-type", "--symbol", SYM, "--set", "CROSSED")
    assert rc == 1 and "rejected -4046" in err and human_error(-4046) in err
    price = str((bid(handle) * D("0.9")).quantize(D("0.1")))
    assert run(handle, capsys, "order", "--symbol", SYM, "--side", "BUY", "--price", price, "--qty", "1")[0] == 0
    rc, _, err = run(handle, capsys, "margin-type", "--symbol", SYM, "--set", "ISOLATED")
    assert rc == 1 and "rejected -4047" in err
    assert run(handle, capsys, "cancel", "--symbol", SYM, "--all")[0] == 0
    market(handle, capsys, "BUY", 2)
    rc, _, err = run(handle, capsys, "margin-type", "--symbol", SYM, "--set", "ISOLATED")
    assert rc == 1 and "rejected -4048" in err
    market(handle, capsys, "SELL", 2)
    rc, _, err = run(handle, capsys, "margin-type", "--symbol", SYM, "--set", "isolated")
    assert rc == 0, err
    assert handle.call(lambda: SYM in acct(handle).isolated)
    assert run(handle, capsys, "margin-type", "--symbol", SYM)[1]["marginType"] == "ISOLATED"


def test_isolated_margin_preview_agrees_with_the_venue(handle: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
    market(handle, capsys, "BUY", 10)
    rc, _, err = run(handle, capsys, "margin", "--symbol", SYM, "--add", "0.01")
    assert rc == 1 and "rejected -4049" in err and "nothing sent" in err  # cross margined
    market(handle, capsys, "SELL", 10)
    assert run(handle, capsys, "margin-type", "--symbol", SYM, "--set", "ISOLATED")[0] == 0
    rc, _, err = run(handle, capsys, "margin", "--symbol", SYM, "--add", "0.01")
    assert rc == 1 and "rejected -4054" in err  # no position
    market(handle, capsys, "BUY", 10)
    rc, dry, err = run(handle, capsys, "margin", "--symbol", SYM, "--add", "0.01", "--dry-run")
    assert rc == 0 and dry["sent"] is False and dry["params"]["type"] == 1
    wallet = handle.call(lambda: acct(handle).peek(SYM).isolated_wallet)
    assert D(dry["preview"]["isolatedWalletBefore"]) == wallet
    rc, done, err = run(handle, capsys, "margin", "--symbol", SYM, "--add", "0.01")
    assert rc == 0, err
    assert "liquidation price" in err and done["result"]["code"] == 200
    # the preview's liquidation price is the venue's, to the last digit
    venue_liq = handle.call(lambda: handle.sim.accounts.liquidation_price(acct(handle), SYM))
    assert D(done["preview"]["liquidationPriceAfter"]) == venue_liq
    assert handle.call(lambda: acct(handle).peek(SYM).isolated_wallet) == wallet + D("0.01")
    # removing more than the position can spare: refused before sending (-4051), as the venue would
    rc, _, err = run(handle, capsys, "margin", "--symbol", SYM, "--remove", "0.5")
    assert rc == 1 and "rejected -4051" in err and "at most" in err
    rc, done, err = run(handle, capsys, "margin", "--symbol", SYM, "--remove", "0.005")
    assert rc == 0, err
    venue_liq = handle.call(lambda: handle.sim.accounts.liquidation_price(acct(handle), SYM))
    assert D(done["preview"]["liquidationPriceAfter"]) == venue_liq
    rc, _, err = run(handle, capsys, "margin", "--symbol", SYM, "--remove", "0.0000000001")
    assert rc == 1 and "rejected -1111" in err
    assert [k for k, _ in journal_rows("positionMargin")] == ["request", "reply", "request", "reply"]


def test_position_mode_and_hedge_closes(handle: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
    rc, shown, _ = run(handle, capsys, "position-mode")
    assert rc == 0 and shown == {"dualSidePosition": False, "mode": "ONE_WAY"}
    rc, _, err = run(handle, capsys, "position-mode", "--set", "ONE_WAY")
    assert rc == 1 and "rejected -4059" in err
    market(handle, capsys, "BUY", 3)
    rc, _, err = run(handle, capsys, "position-mode", "--set", "HEDGE")
    assert rc == 1 and "rejected -4068" in err
    # one-way close at market: reduce-only, the estimate on stderr
    rc, closed, err = run(handle, capsys, "close", "--symbol", SYM)
    assert rc == 0, err
    assert closed["result"]["reduceOnly"] is True and closed["result"]["side"] == "SELL"
    assert "estimated realised PnL" in err and position(handle) == 0
    rc, _, err = run(handle, capsys, "close", "--symbol", SYM)
    assert rc == 1 and "rejected -2022" in err and "nothing sent" in err
    rc, done, err = run(handle, capsys, "position-mode", "--set", "hedge")
    assert rc == 0, err
    assert handle.call(lambda: acct(handle).dual_side) is True
    # both legs open: a close must say which
    market(handle, capsys, "BUY", 4, "--position-side", "LONG")
    market(handle, capsys, "SELL", 2, "--position-side", "SHORT")
    assert (position(handle, "LONG"), position(handle, "SHORT")) == (4, -2)
    rc, _, err = run(handle, capsys, "close", "--symbol", SYM)
    assert rc == 1 and "--position-side" in err and "nothing sent" in err
    rc, dry, err = run(handle, capsys, "close", "--symbol", SYM, "--position-side", "SHORT", "--dry-run")
    assert rc == 0 and dry["params"]["positionSide"] == "SHORT" and "reduceOnly" not in dry["params"]
    rc, closed, err = run(handle, capsys, "close", "--symbol", SYM, "--position-side", "SHORT")
    assert rc == 0, err
    assert closed["result"]["positionSide"] == "SHORT" and closed["result"]["side"] == "BUY"
    assert (position(handle, "LONG"), position(handle, "SHORT")) == (4, 0)
    # a limit close of the LONG leg rests at its price
    price = str((bid(handle) * D("1.01")).quantize(D("0.1")))
    rc, closed, err = run(handle, capsys, "close", "--symbol", SYM, "--price", price)
    assert rc == 0, err
    assert (closed["result"]["type"], closed["result"]["price"], closed["result"]["origQty"]) == ("LIMIT", price, "4")
    rc, _, err = run(handle, capsys, "close", "--symbol", SYM, "--position-side", "BOTH")
    assert rc == 2 and "invalid choice" in err


def test_account_margin_ratio_agrees_with_the_venue(handle: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
    market(handle, capsys, "BUY", 50)
    rc, shown, err = run(handle, capsys, "account")
    assert rc == 0, err
    btc = next(a for a in shown["assets"] if a["asset"] == "BTC")
    venue_ratio = handle.call(lambda: handle.sim.accounts.margin_ratio(acct(handle), "BTC"))
    assert venue_ratio is not None and D(btc["marginRatio"]) == venue_ratio
    [row] = shown["positions"]
    assert (row["symbol"], row["positionAmt"], row["marginAsset"]) == (SYM, "50", "BTC")
    assert D(row["marginRatio"]) == venue_ratio  # a cross position shows its coin's ratio
    maint = handle.call(lambda: handle.sim.accounts.position_figures(acct(handle), SYM)["maint"])
    assert D(row["maintMargin"]) == maint
    assert shown["unrealizedProfitByAsset"] == {"BTC": row["unRealizedProfit"]}
    assert run(handle, capsys, "account", "--symbol", "ETHUSD_PERP")[1]["positions"] == []
    rc, _, err = run(handle, capsys, "account", "--symbol", "NOPE_PERP")
    assert rc == 1 and "rejected -1121" in err


def test_orders_without_a_symbol_lists_every_symbol(handle: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
    for sym in (SYM, "ETHUSD_PERP"):
        b = handle.call(lambda s=sym: D(handle.sim.engine.syms[s].book.best_bid()))
        tick = handle.call(lambda s=sym: handle.sim.engine.symbols[s].tick_size)
        price = str(((b * tick) * D("0.9")).quantize(tick))
        rc, _, err = run(handle, capsys, "order", "--symbol", sym, "--side", "BUY", "--price", price, "--qty", "1")
        assert rc == 0, err
    rc, rows, _ = run(handle, capsys, "orders")
    assert rc == 0 and sorted(r["symbol"] for r in rows) == ["BTCUSD_PERP", "ETHUSD_PERP"]
    rc, rows, _ = run(handle, capsys, "orders", "--symbol", SYM)
    assert [r["symbol"] for r in rows] == [SYM]


def test_an_unreadable_journal_refuses_changes(handle: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
    path = default_journal_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(8192))
    for args in (("leverage", "--symbol", SYM, "--set", "10"), ("position-mode", "--set", "HEDGE"),
                 ("close", "--symbol", SYM)):
        rc, _, err = run(handle, capsys, *args)
        assert rc == EXIT_JOURNAL and "nothing sent" in err, (args, err)
    assert leverage(handle) == 20 and handle.call(lambda: acct(handle).dual_side) is False
    # reads and dry runs go ahead; --no-journal is the explicit opt-out
    assert run(handle, capsys, "leverage", "--symbol", SYM)[0] == 0
    assert run(handle, capsys, "leverage", "--symbol", SYM, "--set", "10", "--dry-run")[0] == 0
    rc, _, err = run(handle, capsys, "leverage", "--symbol", SYM, "--set", "10", "--no-journal")
    assert rc == 0 and "--no-journal" in err and leverage(handle) == 10
