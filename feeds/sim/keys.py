"""Further simulator accounts, each with its own API key and Ed25519 public key or HMAC secret.

``coinm sim --account NAME:ed25519:PUBKEY.pem`` or ``--account NAME:hmac:SECRETFILE`` (repeatable),
or ``--accounts FILE``, a TOML file::

    [[account]]
    name = "bot"
    ed25519_public_key = "bot.pub.pem"   # or: hmac_secret_file = "bot.secret"
    api_key = "..."                      # optional; default derived from the name and key
    balances = { BTC = "2", ETH = "10" } # optional; default the demo account's

Each account is isolated: its key sees and cancels only its own orders. The API key, unless
given, is ``sha256("coinm-sim-account:" + name + ":" + public key or secret)`` in hex, so the
same options give the same key on every run. HMAC secret files must be private (mode 0600).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from feeds.signing import KeyFileError, Secret, check_private_file, load_ed25519_public_key

if TYPE_CHECKING:
    from feeds.sim.exchange import SimExchange

__all__ = ["AccountKey", "AccountSpecError", "from_options", "load_accounts_file", "parse_account", "register"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_API_KEY = re.compile(r"^[A-Za-z0-9]{1,128}$")


class AccountSpecError(ValueError):
    """An ``--account``/``--accounts`` entry that cannot be used (one line, says which)."""


@dataclass(frozen=True)
class AccountKey:
    """One further account: its name, API key and the key that signs for it."""

    name: str
    api_key: str
    ed25519_public_pem: str | None = None
    hmac_secret: Secret | None = None
    balances: dict[str, Decimal] | None = field(default=None, compare=False)


def _ed25519(name: str, path: Path) -> str:
    try:
        pem = path.read_text()
    except OSError as exc:
        raise AccountSpecError(f"account {name}: cannot read {path}: {exc.strerror}") from None
    try:
        load_ed25519_public_key(pem)
    except KeyFileError as exc:
        raise AccountSpecError(f"account {name}: {path}: {exc}") from None
    return pem


def _hmac(name: str, path: Path) -> str:
    try:
        check_private_file(path, "HMAC secret file")
        text = path.read_text().strip()
    except KeyFileError as exc:
        raise AccountSpecError(f"account {name}: {exc}") from None
    except OSError as exc:
        raise AccountSpecError(f"account {name}: cannot read {path}: {exc.strerror}") from None
    if not text or any(c.isspace() for c in text):
        raise AccountSpecError(f"account {name}: {path} holds no single-line HMAC secret")
    return text


def _make(name: str, kind: str, path: Path, api_key: str | None = None,
          balances: dict[str, Decimal] | None = None) -> AccountKey:
    if not _NAME.match(name):
        raise AccountSpecError(f"account name {name!r}: use 1-32 letters, digits, '_', '.' or '-'")
    if kind == "ed25519":
        pem = _ed25519(name, path)
        material, secret = pem.strip(), None
    elif kind == "hmac":
        material, pem = _hmac(name, path), None
        secret = Secret(material)
    else:
        raise AccountSpecError(f"account {name}: key type {kind!r} is not ed25519 or hmac")
    if api_key is None:
        api_key = hashlib.sha256(f"coinm-sim-account:{name}:{material}".encode()).hexdigest()
    elif not _API_KEY.match(api_key):
        raise AccountSpecError(f"account {name}: api_key must be 1-128 letters and digits")
    return AccountKey(name, api_key, pem, secret, balances)


def parse_account(text: str) -> AccountKey:
    """``NAME:ed25519:PUBKEY.pem`` or ``NAME:hmac:SECRETFILE``.

    Raises:
        AccountSpecError: malformed, or the key file is unusable.
    """
    parts = text.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise AccountSpecError(f"--account {text!r}: expected NAME:ed25519:PUBKEY.pem or NAME:hmac:SECRETFILE")
    name, kind, path = parts
    return _make(name, kind.lower(), Path(path).expanduser())


def load_accounts_file(path: Path) -> list[AccountKey]:
    """The ``[[account]]`` entries of a TOML file (paths relative to the file).

    Raises:
        AccountSpecError: unreadable file, bad TOML, or a bad entry.
    """
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise AccountSpecError(f"--accounts {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AccountSpecError(f"--accounts {path}: not TOML: {exc}") from None
    entries = data.get("account")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise AccountSpecError(f"--accounts {path}: expected one or more [[account]] tables")
    out = []
    for i, entry in enumerate(entries, 1):
        name = entry.get("name")
        if not isinstance(name, str):
            raise AccountSpecError(f"--accounts {path}: account #{i} has no name")
        unknown = set(entry) - {"name", "ed25519_public_key", "hmac_secret_file", "api_key", "balances"}
        if unknown:
            raise AccountSpecError(f"--accounts {path}: account {name}: unknown key {sorted(unknown)[0]!r}")
        keys = [k for k in ("ed25519_public_key", "hmac_secret_file") if k in entry]
        if len(keys) != 1 or not isinstance(entry[keys[0]], str):
            raise AccountSpecError(f"--accounts {path}: account {name}: give ed25519_public_key or "
                                   "hmac_secret_file (one of them)")
        api_key = entry.get("api_key")
        if api_key is not None and not isinstance(api_key, str):
            raise AccountSpecError(f"--accounts {path}: account {name}: api_key must be a string")
        out.append(_make(name, "ed25519" if keys[0] == "ed25519_public_key" else "hmac",
                         Path(path).parent / Path(entry[keys[0]]).expanduser(), api_key,
                         _balances(path, name, entry.get("balances"))))
    return out


def _balances(path: Path, name: str, raw: Any) -> dict[str, Decimal] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise AccountSpecError(f"--accounts {path}: account {name}: balances must be a table")
    out = {}
    for asset, value in raw.items():
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            amount = Decimal(-1)
        if not isinstance(value, (str, int)) or not amount.is_finite() or amount < 0:
            raise AccountSpecError(f"--accounts {path}: account {name}: balance {asset} must be a "
                                   "non-negative decimal string")
        out[str(asset)] = amount
    return out


def register(sim: SimExchange, accounts: list[AccountKey]) -> None:
    """Open each account on ``sim`` under its own API key.

    Raises:
        AccountSpecError: two accounts (or one and the demo account) share a name or API key.
    """
    from feeds.sim.exchange import KeyEntry

    names: set[str] = set()
    for a in accounts:
        if a.name in names:
            raise AccountSpecError(f"account {a.name}: the name is given twice")
        if a.api_key in sim.keys:
            raise AccountSpecError(f"account {a.name}: its API key is already registered")
        names.add(a.name)
        acct = sim.accounts.create(a.balances)
        sim.keys[a.api_key] = KeyEntry(acct, a.ed25519_public_pem, a.hmac_secret)


def from_options(specs: list[str] | None, file: Path | None) -> list[AccountKey]:
    """The accounts of ``--account`` (each) and ``--accounts FILE``, names and keys unique.

    Raises:
        AccountSpecError: a bad entry, or a name or API key given twice.
    """
    out = [parse_account(s) for s in specs or []]
    if file is not None:
        out += load_accounts_file(file)
    for attr in ("name", "api_key"):
        seen: set[str] = set()
        for a in out:
            value = getattr(a, attr)
            if value in seen:
                raise AccountSpecError(f"account {a.name}: its {attr.replace('_', ' ')} is given twice")
            seen.add(value)
    return out
