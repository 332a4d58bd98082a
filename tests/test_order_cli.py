"""`coinm order|cancel|orders` end to end against a simulator on loopback."""

from __future__ import annotations

import json

import pytest

from feeds.errors import human_error
from feeds.journal import Journal, default_journal_path
from feeds.sim import DEMO_API_KEY, SimHandle
from tests.cli_support import SYM, price_under_bid, urls, venue_orders
from tui.cli import main

pytestmark = pytest.mark.usefixtures("cli_env")


def test_order_places_and_prints_the_venue_reply(handle: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
    price = price_under_bid(handle)
    rc = main(["order", *urls(handle), "--symbol", SYM, "--side", "buy", "--type", "LIMIT", "--price", price,
               "--qty", "2", "--tif", "GTC"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    reply = json.loads(out.out)
    assert reply["status"] == "NEW" and reply["price"] == price and reply["origQty"] == "2"
    assert reply["clientOrderId"].startswith("coinm-")
    assert venue_orders(handle) == [(reply["orderId"], reply["clientOrderId"], "NEW")]
    # The journal (XDG data dir) recorded it, without the API key.
    journal = Journal(default_journal_path())
    try:
        kinds = {(e.kind, e.method) for e in journal.recent(20, client_order_id=reply["clientOrderId"])}
        assert {("request", "order.place"), ("reply", "order.place")} <= kinds
    finally:
        journal.close()
    assert DEMO_API_KEY.encode() not in default_journal_path().read_bytes()
    # orders lists it; cancel by id cancels it; cancel --all then has nothing left to do.
    assert main(["orders", *urls(handle), "--symbol", SYM]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["orderId"] for r in rows] == [reply["orderId"]]
    assert main(["cancel", *urls(handle), "--symbol", SYM, "--order-id", str(reply["orderId"])]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "CANCELED"
    assert main(["cancel", *urls(handle), "--symbol", SYM, "--order-id", str(reply["orderId"])]) == 1
    assert "rejected -2011" in capsys.readouterr().err


def test_cancel_all_and_by_client_id(handle: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
    for i, cid in enumerate(("cli-a", "cli-b", "cli-c")):
        assert main(["order", *urls(handle), "--symbol", SYM, "--side", "BUY", "--price",
                     price_under_bid(handle, 500 + i), "--qty", "1", "--client-id", cid]) == 0
    capsys.readouterr()
    assert main(["cancel", *urls(handle), "--symbol", SYM, "--client-id", "cli-a"]) == 0
    assert json.loads(capsys.readouterr().out)["clientOrderId"] == "cli-a"
    assert main(["cancel", *urls(handle), "--symbol", SYM, "--all"]) == 0
    assert json.loads(capsys.readouterr().out)["code"] == 200
    assert {s for _, _, s in venue_orders(handle)} == {"CANCELED"}
    assert main(["orders", *urls(handle), "--symbol", SYM]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_validation_error_exits_non_zero_with_code_and_sentence(handle: SimHandle,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["order", *urls(handle), "--symbol", SYM, "--side", "BUY", "--price", "35000.15", "--qty", "1"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "rejected -4014" in err and human_error(-4014) in err and "35000.2" in err
    rc = main(["order", *urls(handle), "--symbol", SYM, "--side", "BUY", "--type", "MARKET", "--qty", "1.5"])
    err = capsys.readouterr().err
    assert rc == 1 and "rejected -4023" in err
    rc = main(["order", *urls(handle), "--symbol", SYM, "--side", "BUY", "--qty", "1"])  # LIMIT without price
    assert rc == 1 and "rejected -1102" in capsys.readouterr().err
    rc = main(["order", *urls(handle), "--symbol", "NOPE_PERP", "--side", "BUY", "--price", "1", "--qty", "1"])
    assert rc == 1 and "rejected -1121" in capsys.readouterr().err
    assert venue_orders(handle) == []


def test_dry_run_prints_the_masked_signed_request(handle: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["order", *urls(handle), "--symbol", SYM, "--side", "SELL", "--type", "LIMIT",
               "--price", "99999.9", "--qty", "3", "--reduce-only", "--dry-run"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    shown = json.loads(out.out)
    params = shown["params"]
    assert shown["method"] == "order.place" and shown["sent"] is False
    assert params["signature"] == "****" and params["apiKey"] == "coin****"
    assert params["price"] == "99999.9" and params["quantity"] == "3" and params["reduceOnly"] == "true"
    assert isinstance(params["timestamp"], int) and params["newClientOrderId"].startswith("coinm-")
    secret = handle.call(lambda: handle.sim.credentials.hmac_secret.reveal())
    assert DEMO_API_KEY not in out.out + out.err and secret not in out.out + out.err
    assert venue_orders(handle) == []
    bad = main(["order", *urls(handle), "--symbol", SYM, "--side", "SELL", "--price", "99999.95", "--qty", "3",
                "--dry-run"])
    assert bad == 1 and "rejected -4014" in capsys.readouterr().err


def test_sim_without_urls_starts_an_embedded_simulator(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["orders", "--symbol", SYM])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "embedded simulator" in out.err and json.loads(out.out) == []


def test_unreachable_venue_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["orders", "--venue", "sim", "--rest-url", "http://127.0.0.1:9", "--stream-url", "ws://127.0.0.1:9",
               "--wsapi-url", "ws://127.0.0.1:9/ws-dapi/v1", "--symbol", SYM])
    assert rc == 4 and "unreachable" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["tick0", "step", "noprice", "nolot"])
def test_a_symbol_whose_rules_cannot_be_read_is_not_traded(handle: SimHandle, capsys: pytest.CaptureFixture[str],
                                                           how: str) -> None:
    handle.fault("bad_exchange_info", SYM, how)
    try:
        for extra in ([], ["--dry-run"]):
            rc = main(["order", *urls(handle), "--symbol", SYM, "--side", "BUY", "--price", price_under_bid(handle),
                       "--qty", "1", *extra])
            err = capsys.readouterr().err
            assert rc == 2, err
            assert f"{SYM}: the venue's trading rules cannot be read (" in err and "nothing sent" in err
            assert "Traceback" not in err and len(err.strip().splitlines()) == 2  # the venue line, the refusal
    finally:
        handle.fault("fix_exchange_info")
    assert venue_orders(handle) == []
