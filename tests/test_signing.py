"""Signing: Binance's published test vectors, Ed25519 round trips, key files, masking."""

from __future__ import annotations

import base64
import os
import pickle
import stat
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key

from feeds.signing import (
    Ed25519Signer,
    HmacSigner,
    KeyFileError,
    Secret,
    Signer,
    generate_ed25519_keypair,
    load_ed25519_private_key,
    public_key_pem,
    rest_payload,
    verify_ed25519,
    verify_hmac,
    ws_payload,
)

# From /work/shared/spec/notes.md (Binance's public documentation).
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def test_rest_vector() -> None:
    params = {
        "symbol": "LTCBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
        "quantity": 1, "price": Decimal("0.1"), "recvWindow": 5000, "timestamp": 1499827319559,
    }
    payload = rest_payload(params)
    assert payload == (
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
        "&recvWindow=5000&timestamp=1499827319559"
    )
    signer = HmacSigner(API_KEY, Secret(SECRET))
    assert signer.sign(payload) == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    assert signer.signed_query(params) == (
        payload + "&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    )


def test_websocket_api_vector() -> None:
    params = {
        "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
        "quantity": "0.01000000", "price": "52000.00", "recvWindow": 100,
        "timestamp": 1645423376532,
    }
    signer = HmacSigner(API_KEY, SECRET)
    signed = signer.sign_params(params)
    assert signed["apiKey"] == API_KEY
    assert signed["signature"] == "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
    assert "signature" not in params and "apiKey" not in params  # input untouched
    assert verify_hmac(SECRET, ws_payload(signed), signed["signature"])
    assert verify_hmac(Secret(SECRET), ws_payload(signed), signed["signature"].upper())
    tampered = dict(signed, price="52000.01")
    assert not verify_hmac(SECRET, ws_payload(tampered), signed["signature"])
    assert not verify_hmac("other", ws_payload(signed), signed["signature"])


def test_ws_payload_sorts_and_renders() -> None:
    params = {
        "type": "LIMIT", "reduceOnly": True, "apiKey": "k", "price": Decimal("1E+2"),
        "quantity": Decimal("0.000083"), "signature": "ignored", "priceProtect": False,
        "newClientOrderId": None, "timestamp": 5,
    }
    assert ws_payload(params) == (
        "apiKey=k&price=100&priceProtect=false&quantity=0.000083&reduceOnly=true"
        "&timestamp=5&type=LIMIT"
    )


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match="float"):
        ws_payload({"price": 0.1})
    with pytest.raises(TypeError, match="float"):
        HmacSigner("k", "s").sign_params({"quantity": 8.3e-05})


def test_sign_params_decimals_sent_as_signed() -> None:
    signer = HmacSigner("key", "secret")
    signed = signer.sign_params({"price": Decimal("35000.10"), "reduceOnly": False, "x": None})
    assert signed["price"] == "35000.1"
    assert signed["reduceOnly"] is False
    assert "x" not in signed
    assert verify_hmac("secret", "apiKey=key&price=35000.1&reduceOnly=false", signed["signature"])


def test_ed25519_round_trip_and_tamper() -> None:
    key = Ed25519PrivateKey.generate()
    signer = Ed25519Signer("edkey", key)
    assert isinstance(signer, Signer)
    signed = signer.sign_params(
        {"symbol": "BTCUSD_PERP", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "1", "price": "0.2", "timestamp": 1668481559918}
    )
    assert len(base64.b64decode(signed["signature"])) == 64
    pem = public_key_pem(key)
    payload = ws_payload(signed)
    assert payload.startswith("apiKey=edkey&price=0.2&quantity=1&side=SELL")
    assert verify_ed25519(pem.encode(), payload, signed["signature"])
    assert verify_ed25519(pem, payload, signed["signature"])
    assert verify_ed25519(key.public_key(), payload, signed["signature"])
    assert not verify_ed25519(pem, payload.replace("0.2", "0.3"), signed["signature"])
    assert not verify_ed25519(pem, payload, "not base64!")
    assert not verify_ed25519(pem, payload, base64.b64encode(b"short").decode())
    other = public_key_pem(Ed25519PrivateKey.generate())
    assert not verify_ed25519(other, payload, signed["signature"])
    with pytest.raises(KeyFileError):
        verify_ed25519(b"garbage", payload, signed["signature"])


def test_secret_and_signer_reprs_mask() -> None:
    secret = Secret(SECRET)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r:>20}", "%s" % secret):  # noqa: UP031 - %-formatting is one way a secret gets printed
        assert SECRET not in text
        assert "****" in text
    assert secret.reveal() == SECRET
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    signer = HmacSigner(API_KEY, SECRET)
    assert SECRET not in repr(signer) and API_KEY not in repr(signer)
    assert "vmPU****" in repr(signer)
    with pytest.raises(TypeError):
        pickle.dumps(signer)
    ed = Ed25519Signer(API_KEY, Ed25519PrivateKey.generate())
    assert API_KEY not in repr(ed) and "PRIVATE" not in repr(ed)


@posix_only
def test_generate_and_load_keypair(tmp_path: Path) -> None:
    priv = tmp_path / "keys" / "coinm.pem"
    public = generate_ed25519_keypair(priv)
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert (tmp_path / "keys" / "coinm.pub.pem").read_text() == public
    key = load_ed25519_private_key(priv)
    assert public_key_pem(key) == public
    with pytest.raises(KeyFileError, match="already exists"):
        generate_ed25519_keypair(priv)


@posix_only
def test_generate_keeps_0600_under_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        generate_ed25519_keypair(tmp_path / "k.pem", tmp_path / "pub.pem")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600


@posix_only
def test_permission_refusal(tmp_path: Path) -> None:
    priv = tmp_path / "k.pem"
    generate_ed25519_keypair(priv)
    priv.chmod(0o644)
    with pytest.raises(KeyFileError) as err:
        load_ed25519_private_key(priv)
    assert str(err.value) == (
        f"key file {priv} is readable by others (mode 0644): run chmod 600 {priv}"
    )
    priv.chmod(0o640)
    with pytest.raises(KeyFileError, match="mode 0640"):
        load_ed25519_private_key(priv)


@posix_only
def test_passphrase_protected_key(tmp_path: Path) -> None:
    priv = tmp_path / "enc.pem"
    passphrase = "correct horse battery"
    public = generate_ed25519_keypair(priv, passphrase=Secret(passphrase))
    assert b"ENCRYPTED" in priv.read_bytes()
    assert public_key_pem(load_ed25519_private_key(priv, Secret(passphrase))) == public
    assert public_key_pem(load_ed25519_private_key(priv, passphrase)) == public
    with pytest.raises(KeyFileError, match="wrong passphrase") as err:
        load_ed25519_private_key(priv, "wrong horse")
    assert "wrong horse" not in str(err.value)
    with pytest.raises(KeyFileError, match="encrypted"):
        load_ed25519_private_key(priv)


@posix_only
def test_bad_key_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(KeyFileError, match="does not exist"):
        load_ed25519_private_key(missing)
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    junk.chmod(0o600)
    with pytest.raises(KeyFileError, match="not a PEM private key"):
        load_ed25519_private_key(junk)
    rsa = tmp_path / "rsa.pem"
    rsa.write_bytes(
        generate_private_key(65537, 2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    rsa.chmod(0o600)
    with pytest.raises(KeyFileError, match="not an Ed25519 private key"):
        load_ed25519_private_key(rsa)
    if os.geteuid() != 0:
        unreadable = tmp_path / "locked.pem"
        unreadable.write_text("x")
        unreadable.chmod(0o000)
        with pytest.raises(KeyFileError, match="cannot read"):
            load_ed25519_private_key(unreadable)
