"""Further simulator accounts with their own keys (issue 14 §6), isolated from each other."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from feeds.signing import Ed25519Signer, HmacSigner, Secret, generate_ed25519_keypair, load_ed25519_private_key
from feeds.sim import SimExchange
from feeds.sim.cli import add_arguments, run
from feeds.sim.keys import AccountSpecError, from_options, register


def secret_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.fixture
def key_files(tmp_path: Path) -> dict[str, Path]:
    generate_ed25519_keypair(tmp_path / "bot.pem")
    return {"private": tmp_path / "bot.pem", "public": tmp_path / "bot.pub.pem",
            "secret": secret_file(tmp_path / "mm.secret", "s3cr3t-for-the-market-maker")}


@pytest.fixture
async def venue(tmp_path: Path, key_files: dict[str, Path]) -> AsyncIterator[tuple[SimExchange, dict[str, Any]]]:
    sim = SimExchange(seed=7, data_dir=tmp_path / "sim", realtime=False, start_time_ms=1_795_000_020_000)
    accounts = from_options([f"bot:ed25519:{key_files['public']}", f"mm:hmac:{key_files['secret']}"], None)
    register(sim, accounts)
    await sim.start()
    signers = {
        "demo": Ed25519Signer(sim.credentials.api_key, load_ed25519_private_key(sim.credentials.ed25519_key_path)),
        "bot": Ed25519Signer(accounts[0].api_key, load_ed25519_private_key(key_files["private"])),
        "mm": HmacSigner(accounts[1].api_key, Secret("s3cr3t-for-the-market-maker")),
    }
    try:
        yield sim, signers
    finally:
        await sim.stop()


async def call(sim: SimExchange, signer: Any, method: str, params: dict[str, Any]) -> dict[str, Any]:
    assert sim.urls is not None
    async with connect(sim.urls.wsapi) as ws:
        signed = signer.sign_params({**params, "timestamp": sim.server_ms()})
        await ws.send(orjson.dumps({"id": 1, "method": method, "params": signed}).decode())
        return orjson.loads(await asyncio.wait_for(ws.recv(), 5))


async def test_each_key_trades_its_own_account_only(venue: tuple[SimExchange, dict[str, Any]],
                                                    key_files: dict[str, Path]) -> None:
    sim, signers = venue
    bid = sim.engine.syms["BTCUSD_PERP"].book.best_bid()
    assert bid is not None
    order = {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1",
             "price": str((bid - 500) / 10)}
    ids = {}
    for name in ("bot", "mm"):
        placed = await call(sim, signers[name], "order.place", {**order, "newClientOrderId": f"{name}-1"})
        assert placed["status"] == 200, placed
        ids[name] = placed["result"]["orderId"]
    accounts = {name: sim.keys[s.api_key].account for name, s in signers.items()}
    assert len({a.uid for a in accounts.values()}) == 3
    assert [o.order_id for o in sim.accounts.open_orders(accounts["bot"])] == [ids["bot"]]
    assert [o.order_id for o in sim.accounts.open_orders(accounts["mm"])] == [ids["mm"]]
    assert sim.accounts.open_orders(accounts["demo"]) == []
    for who, other in (("bot", "mm"), ("mm", "bot"), ("demo", "bot")):
        seen = await call(sim, signers[who], "order.status", {"symbol": "BTCUSD_PERP", "orderId": ids[other]})
        assert seen["status"] == 400 and seen["error"]["code"] == -2013, (who, other, seen)
        cancel = await call(sim, signers[who], "order.cancel", {"symbol": "BTCUSD_PERP", "orderId": ids[other]})
        assert cancel["error"]["code"] == -2013
    assert len(sim.accounts.open_orders(accounts["bot"])) == 1 and len(sim.accounts.open_orders(accounts["mm"])) == 1
    mine = await call(sim, signers["mm"], "order.cancel", {"symbol": "BTCUSD_PERP", "orderId": ids["mm"]})
    assert mine["status"] == 200 and mine["result"]["status"] == "CANCELED"
    # A key signs for its own account only: the bot's key with the market maker's API key fails.
    forged = Ed25519Signer(signers["mm"].api_key, load_ed25519_private_key(key_files["private"]))
    assert (await call(sim, forged, "account.balance", {}))["error"]["code"] == -1022


def test_accounts_file_and_refusals(tmp_path: Path, key_files: dict[str, Path]) -> None:
    toml = tmp_path / "accounts.toml"
    toml.write_text('[[account]]\nname = "bot"\ned25519_public_key = "bot.pub.pem"\napi_key = "botKey123"\n'
                    'balances = { BTC = "2.5" }\n\n[[account]]\nname = "mm"\nhmac_secret_file = "mm.secret"\n')
    bot, mm = from_options([], toml)
    assert (bot.name, bot.api_key, bot.balances) == ("bot", "botKey123", {"BTC": Decimal("2.5")})
    assert mm.hmac_secret is not None and len(mm.api_key) == 64
    assert from_options([f"mm:hmac:{key_files['secret']}"], None)[0].api_key == mm.api_key  # stable
    loose = secret_file(tmp_path / "loose.secret", "abc", 0o644)
    for spec, words in ((f"x:rsa:{key_files['public']}", "not ed25519 or hmac"),
                        ("x:ed25519", "expected NAME:ed25519"),
                        (f"x:ed25519:{key_files['secret']}", "not a PEM public key"),
                        (f"x:hmac:{loose}", "chmod 600"),
                        (f"bad name:hmac:{key_files['secret']}", "account name")):
        with pytest.raises(AccountSpecError, match=words):
            from_options([spec], None)
    with pytest.raises(AccountSpecError, match="given twice"):
        from_options([f"a:hmac:{key_files['secret']}", f"a:ed25519:{key_files['public']}"], None)


def test_cli_refuses_a_bad_account_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--account", f"bot:ed25519:{tmp_path / 'missing.pem'}"])
    assert run(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("coinm sim: account bot: cannot read") and "\n" not in err
