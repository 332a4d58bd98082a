"""Venues, settings and credentials.

Settings come from four layers, each overriding the one before: built-in defaults, the TOML
file (``<user config dir>/coinm/config.toml``, optional), ``COINM_*`` environment variables,
and command-line values. Credentials never come from the TOML file: only from environment
variables and key files that only their owner can read; a secret found in the TOML file is
refused. Nothing here prints a secret: reprs and :meth:`Config.dump` mask them.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from feeds.signing import (
    Ed25519Signer,
    HmacSigner,
    KeyFileError,
    Secret,
    check_private_file,
    load_ed25519_private_key,
    mask_key,
)

__all__ = [
    "DEFAULT_SYMBOL",
    "PROFILES",
    "Config",
    "ConfigError",
    "Credentials",
    "VenueProfile",
    "default_config_path",
    "load_config",
    "load_credentials",
    "resolve_credentials",
]

DEFAULT_SYMBOL = "BTCUSD_PERP"


class ConfigError(ValueError):
    """A setting or credential cannot be used; the message names where it came from."""


@dataclass(frozen=True, slots=True)
class VenueProfile:
    """Where a venue's three endpoints are. The simulator's are known only once it has started."""

    name: str
    """``sim``, ``testnet`` or ``live``."""
    rest_url: str | None
    """REST base, e.g. ``https://dapi.binance.com``."""
    stream_url: str | None
    """Market-stream base (``/ws/<stream>``, ``/stream?streams=``), e.g. ``wss://dstream.binance.com``."""
    wsapi_url: str | None
    """WebSocket API endpoint, e.g. ``wss://ws-dapi.binance.com/ws-dapi/v1``."""
    real_money: bool = False
    """Orders here trade real funds: confirmations cannot be switched off by default."""

    @property
    def is_sim(self) -> bool:
        return self.name == "sim"

    @property
    def ready(self) -> bool:
        """Whether all three URLs are known."""
        return bool(self.rest_url and self.stream_url and self.wsapi_url)

    def with_urls(
        self, rest_url: str | None = None, stream_url: str | None = None, wsapi_url: str | None = None
    ) -> VenueProfile:
        """A copy with the given URLs replaced (``None`` keeps the current one)."""
        return replace(
            self,
            rest_url=rest_url if rest_url is not None else self.rest_url,
            stream_url=stream_url if stream_url is not None else self.stream_url,
            wsapi_url=wsapi_url if wsapi_url is not None else self.wsapi_url,
        )

    def with_sim_urls(self, urls: Any) -> VenueProfile:
        """Fill in the URLs of a started simulator (anything with ``rest``, ``stream``, ``wsapi``).

        URLs already set (overridden by the user) are kept.
        """
        return replace(
            self,
            rest_url=self.rest_url or urls.rest,
            stream_url=self.stream_url or urls.stream,
            wsapi_url=self.wsapi_url or urls.wsapi,
        )


PROFILES: dict[str, VenueProfile] = {
    "sim": VenueProfile("sim", None, None, None),
    "testnet": VenueProfile(
        "testnet",
        "https://testnet.binancefuture.com",
        "wss://dstream.binancefuture.com",
        "wss://testnet.binancefuture.com/ws-dapi/v1",
    ),
    "live": VenueProfile(
        "live",
        "https://dapi.binance.com",
        "wss://dstream.binance.com",
        "wss://ws-dapi.binance.com/ws-dapi/v1",
        real_money=True,
    ),
}
"""The built-in venues; ``sim`` URLs are filled in from the started simulator."""

KLINE_INTERVALS = (
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
)
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
_SYMBOL_RE = re.compile(r"^[A-Z0-9_]{1,20}$")
_SECRET_NAME_RE = re.compile(r"secret|passphrase|password|private|api_?key|token", re.I)

# name -> (kind, default, env var)
_SETTINGS: dict[str, tuple[str, Any, str]] = {
    "venue": ("venue", "sim", "COINM_VENUE"),
    "symbol": ("symbol", DEFAULT_SYMBOL, "COINM_SYMBOL"),
    "rest_url": ("http_url", None, "COINM_REST_URL"),
    "stream_url": ("ws_url", None, "COINM_STREAM_URL"),
    "wsapi_url": ("ws_url", None, "COINM_WSAPI_URL"),
    "theme": ("text", "textual-dark", "COINM_THEME"),
    "recv_window": ("recv_window", 5000, "COINM_RECV_WINDOW"),
    "confirm_orders": ("bool", None, "COINM_CONFIRM_ORDERS"),
    "kline_interval": ("kline_interval", "1m", "COINM_KLINE_INTERVAL"),
    "depth_limit": ("depth_limit", 1000, "COINM_DEPTH_LIMIT"),
    "ladder_levels": ("positive_int", 20, "COINM_LADDER_LEVELS"),
    "sim_seed": ("int", 1, "COINM_SIM_SEED"),
    "sim_speed": ("speed", "1", "COINM_SIM_SPEED"),
    "log_file": ("path", None, "COINM_LOG_FILE"),
}
_CONFIRM_DEFAULTS = {"sim": True, "testnet": True, "live": True}
_TOML_SECTIONS = {"confirm_orders", "venues"}
_URL_KEYS = ("rest_url", "stream_url", "wsapi_url")
_CLI_ALIASES = {"seed": "sim_seed", "speed": "sim_speed", "config_path": "config"}


def default_config_path() -> Path:
    """``<user config dir>/coinm/config.toml`` (XDG on Linux)."""
    return platformdirs.user_config_path("coinm") / "config.toml"


@dataclass(frozen=True, slots=True)
class Config:
    """The settings the dashboard runs with, after every layer has been applied."""

    venue: VenueProfile
    """The selected venue, with URL overrides applied."""
    symbol: str = DEFAULT_SYMBOL
    theme: str = "textual-dark"
    confirm_orders: bool = True
    """Whether the order modal asks for confirmation on this venue."""
    confirm_orders_by_venue: Mapping[str, bool] = field(
        default_factory=lambda: dict(_CONFIRM_DEFAULTS)
    )
    recv_window: int = 5000
    """``recvWindow`` in ms for signed requests (Binance allows up to 60000)."""
    kline_interval: str = "1m"
    depth_limit: int = 1000
    """Depth snapshot size for the local book (5..1000)."""
    ladder_levels: int = 20
    sim_seed: int = 1
    sim_speed: str = "1"
    """Simulator speed factor as text (``"1"`` real time, ``"10"`` ten times faster)."""
    log_file: Path | None = None
    config_path: Path | None = None
    """The TOML file that was read, if any."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """Where each setting came from: ``default``, ``file``, ``env COINM_...`` or ``cli``."""
    warnings: tuple[str, ...] = ()
    """Things worth telling the user (unknown keys in the file, ...)."""

    def dump(self, credentials: Credentials | None = None) -> str:
        """The settings as ``name = value  # source`` lines, secrets masked, for ``coinm config``."""
        rows: list[tuple[str, str]] = [
            ("config_file", str(self.config_path) if self.config_path else "(none)"),
            ("venue", self.venue.name),
            ("rest_url", self.venue.rest_url or "(from the simulator)"),
            ("stream_url", self.venue.stream_url or "(from the simulator)"),
            ("wsapi_url", self.venue.wsapi_url or "(from the simulator)"),
            ("symbol", self.symbol),
            ("theme", self.theme),
            ("confirm_orders", "true" if self.confirm_orders else "false"),
            ("recv_window", str(self.recv_window)),
            ("kline_interval", self.kline_interval),
            ("depth_limit", str(self.depth_limit)),
            ("ladder_levels", str(self.ladder_levels)),
            ("sim_seed", str(self.sim_seed)),
            ("sim_speed", self.sim_speed),
            ("log_file", str(self.log_file) if self.log_file else "(none)"),
        ]
        if credentials is None:
            rows.append(("credentials", "(none)"))
        else:
            rows.append(("api_key", mask_key(credentials.api_key)))
            rows.append(("signing", credentials.kind))
            if credentials.key_file is not None:
                rows.append(("key_file", str(credentials.key_file)))
        width = max(len(name) for name, _ in rows)
        lines = []
        for name, value in rows:
            source = self.sources.get(name)
            suffix = f"  # {source}" if source else ""
            lines.append(f"{name.ljust(width)} = {value}{suffix}")
        lines.extend(f"# warning: {w}" for w in self.warnings)
        return "\n".join(lines)


# ---------------------------------------------------------------------------- parsing


def _convert(name: str, kind: str, raw: Any, where: str) -> Any:
    """One setting's value, checked; ``where`` says where it came from for the message."""

    def fail(expected: str) -> ConfigError:
        shown = raw if not isinstance(raw, str) else repr(raw)
        return ConfigError(f"{where}: {name} = {shown} is not valid: {expected}")

    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise fail("expected true or false")
    if kind in ("int", "positive_int", "recv_window", "depth_limit"):
        if isinstance(raw, bool):
            raise fail("expected a whole number")
        if isinstance(raw, str):
            if not re.fullmatch(r"\s*-?\d+\s*", raw):
                raise fail("expected a whole number")
            raw_int = int(raw)
        elif isinstance(raw, int):
            raw_int = raw
        else:
            raise fail("expected a whole number")
        if kind == "positive_int" and raw_int <= 0:
            raise fail("expected a number above 0")
        if kind == "recv_window" and not 1 <= raw_int <= 60000:
            raise fail("expected 1 to 60000 (milliseconds)")
        if kind == "depth_limit" and raw_int not in DEPTH_LIMITS:
            raise fail(f"expected one of {', '.join(map(str, DEPTH_LIMITS))}")
        return raw_int
    if not isinstance(raw, str):
        raise fail("expected text")
    text = raw.strip()
    if kind == "venue":
        if text.lower() not in PROFILES:
            raise fail(f"expected one of {', '.join(PROFILES)}")
        return text.lower()
    if kind == "symbol":
        symbol = text.upper()
        if not _SYMBOL_RE.match(symbol):
            raise fail("expected a contract symbol like BTCUSD_PERP")
        return symbol
    if kind == "http_url":
        if not re.match(r"^https?://[^\s/]+", text):
            raise fail("expected an http:// or https:// URL")
        return text.rstrip("/")
    if kind == "ws_url":
        if not re.match(r"^wss?://[^\s/]+", text):
            raise fail("expected a ws:// or wss:// URL")
        return text.rstrip("/")
    if kind == "kline_interval":
        if text not in KLINE_INTERVALS:
            raise fail(f"expected one of {', '.join(KLINE_INTERVALS)}")
        return text
    if kind == "speed":
        if not re.fullmatch(r"\d+(\.\d+)?", text) or float(text) <= 0:
            raise fail("expected a positive number like 1 or 10")
        return text
    if kind == "path":
        return Path(text).expanduser()
    if not text:
        raise fail("expected a non-empty value")
    return text


def _find_secrets(table: Mapping[str, Any], prefix: str = "") -> list[str]:
    found = []
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found.extend(_find_secrets(value, dotted + "."))
        elif _SECRET_NAME_RE.search(key) or (
            isinstance(value, str) and "PRIVATE KEY-----" in value
        ):
            found.append(dotted)
    return found


def _line_of(text: str, key: str) -> int | None:
    leaf = key.rsplit(".", 1)[-1]
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"\s*[\"']?{re.escape(leaf)}[\"']?\s*=", line):
            return number
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    secrets = _find_secrets(data)
    if secrets:
        where = []
        for key in secrets:
            line = _line_of(text, key)
            where.append(f"'{key}'" + (f" (line {line})" if line else ""))
        raise ConfigError(
            f"config file {path} contains credentials ({', '.join(where)}): they are never read "
            "from the config file. Remove them and set COINM_API_KEY with "
            "COINM_ED25519_KEY_FILE (or COINM_HMAC_SECRET_FILE) in the environment instead."
        )
    return data


def load_config(
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Config:
    """Settings from defaults < TOML file < ``COINM_*`` env vars < CLI values.

    Args:
        cli: values from the command line by setting name (``venue``, ``symbol``,
            ``rest_url``, ..., ``seed``/``speed`` for ``sim_seed``/``sim_speed``); ``None``
            values mean "not given". ``config`` names the file.
        env: the environment (default ``os.environ``); ``COINM_CONFIG`` names the file.
        config_path: the TOML file; default ``COINM_CONFIG`` or
            ``<user config dir>/coinm/config.toml``. A file named explicitly must exist; the
            default one is optional.

    Raises:
        ConfigError: a malformed file (with its name and line), a value that is not valid (with
            where it came from), or credentials in the file.
    """
    cli = {_CLI_ALIASES.get(k, k): v for k, v in (cli or {}).items() if v is not None}
    env = os.environ if env is None else env
    explicit = True
    if cli.get("config") is not None:
        path: Path | None = Path(cli["config"]).expanduser()
    elif config_path is not None:
        path = Path(config_path)
    elif env.get("COINM_CONFIG"):
        path = Path(env["COINM_CONFIG"]).expanduser()
    else:
        path, explicit = default_config_path(), False
    data: dict[str, Any] = {}
    if path is not None and path.exists():
        data = _read_toml(path)
    elif explicit:
        raise ConfigError(f"config file {path} does not exist")
    else:
        path = None

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    warnings: list[str] = []
    for name, (_, default, _) in _SETTINGS.items():
        values[name] = default
        sources[name] = "default"
    for key, raw in data.items():
        if key in _URL_KEYS:
            raise ConfigError(
                f"config file {path}: {key} at the top level would apply to every venue; "
                f"put it in a [venues.<name>] table ({', '.join(PROFILES)})"
            )
        if key == "confirm_orders" and isinstance(raw, Mapping):
            continue  # the per-venue table, applied below
        if key in _SETTINGS:
            values[key] = _convert(key, _SETTINGS[key][0], raw, f"config file {path}")
            sources[key] = "file"
        elif key == "allow_unconfirmed_live":
            _convert(key, "bool", raw, f"config file {path}")
        elif key not in _TOML_SECTIONS:
            warnings.append(f"unknown setting '{key}' in {path} (ignored)")
    for name, (kind, _, var) in _SETTINGS.items():
        if env.get(var, "").strip():
            values[name] = _convert(name, kind, env[var], f"environment {var}")
            sources[name] = f"env {var}"
    for key, raw in cli.items():
        if key == "config":
            continue
        if key not in _SETTINGS:
            raise ConfigError(f"unknown command-line setting '{key}'")
        values[key] = _convert(key, _SETTINGS[key][0], raw, "command line")
        sources[key] = "cli"

    venue_name: str = values["venue"]
    venue = PROFILES[venue_name]
    # Per-venue URLs from the file's [venues.<name>] table, then the layered top-level ones.
    venues_table = data.get("venues", {})
    if not isinstance(venues_table, Mapping):
        raise ConfigError(f"config file {path}: [venues] must be a table")
    file_urls: dict[str, dict[str, str]] = {}
    for name, table in venues_table.items():
        if name not in PROFILES:
            warnings.append(f"unknown venue [venues.{name}] in {path} (ignored)")
            continue
        if not isinstance(table, Mapping):
            raise ConfigError(f"config file {path}: [venues.{name}] must be a table")
        # Every venue's table is checked, so a typo surfaces before the day it is used.
        file_urls[name] = {}
        for key, raw in table.items():
            if key in _URL_KEYS:
                file_urls[name][key] = _convert(
                    f"venues.{name}.{key}", _SETTINGS[key][0], raw, f"config file {path}"
                )
            else:
                warnings.append(f"unknown setting '{key}' in [venues.{name}] of {path} (ignored)")
    per_venue = file_urls.get(venue_name, {})
    urls: dict[str, str | None] = {}
    for key in _URL_KEYS:
        if key in per_venue and sources[key] == "default":
            urls[key] = per_venue[key]
            sources[key] = "file"
        else:
            urls[key] = values[key]
    venue = venue.with_urls(**urls)
    for key in _URL_KEYS:
        if urls[key] is None:
            sources.pop(key, None)

    confirm_by_venue = dict(_CONFIRM_DEFAULTS)
    confirm_table = data.get("confirm_orders", {})
    if not isinstance(confirm_table, Mapping):
        confirm_table = {}  # a plain `confirm_orders = false` is this venue's, in values
    for name, raw in confirm_table.items():
        if name not in PROFILES:
            warnings.append(f"unknown venue '{name}' in [confirm_orders] of {path} (ignored)")
            continue
        confirm_by_venue[name] = _convert(
            f"confirm_orders.{name}", "bool", raw, f"config file {path}"
        )
    if values["confirm_orders"] is not None:
        confirm_by_venue[venue_name] = values["confirm_orders"]
    else:
        sources["confirm_orders"] = "file" if venue_name in confirm_table else "default"
    confirm = confirm_by_venue[venue_name]
    allow_unconfirmed_live = data.get("allow_unconfirmed_live") is True
    if venue.real_money and not confirm and not allow_unconfirmed_live:
        # Skipping confirmation with real money takes a deliberate line in the file, never a
        # stray flag or environment variable.
        confirm = True
        confirm_by_venue[venue_name] = True
        sources["confirm_orders"] = "forced on live (set allow_unconfirmed_live = true to change)"
        warnings.append(
            "order confirmation stays on for the live venue; "
            "set allow_unconfirmed_live = true in the config file to allow skipping it"
        )

    return Config(
        venue=venue,
        symbol=values["symbol"],
        theme=values["theme"],
        confirm_orders=confirm,
        confirm_orders_by_venue=confirm_by_venue,
        recv_window=values["recv_window"],
        kline_interval=values["kline_interval"],
        depth_limit=values["depth_limit"],
        ladder_levels=values["ladder_levels"],
        sim_seed=values["sim_seed"],
        sim_speed=values["sim_speed"],
        log_file=values["log_file"],
        config_path=path,
        sources=sources,
        warnings=tuple(warnings),
    )


# ---------------------------------------------------------------------------- credentials


class Credentials:
    """An API key and what signs for it, loaded from the environment and key files.

    The repr shows the first four characters of the API key and nothing else secret.
    """

    __slots__ = ("_hmac_secret", "_private_key", "api_key", "key_file", "kind")

    def __init__(
        self,
        api_key: str,
        *,
        private_key: Ed25519PrivateKey | None = None,
        hmac_secret: Secret | str | None = None,
        key_file: Path | None = None,
    ) -> None:
        if (private_key is None) == (hmac_secret is None):
            raise ValueError("Credentials need exactly one of private_key or hmac_secret")
        self.api_key = api_key
        """The venue's API key."""
        self.kind = "ed25519" if private_key is not None else "hmac"
        """``ed25519`` or ``hmac``."""
        self.key_file = key_file
        """Where the Ed25519 key came from, if from a file."""
        self._private_key = private_key
        self._hmac_secret = (
            hmac_secret if isinstance(hmac_secret, Secret) or hmac_secret is None
            else Secret(hmac_secret)
        )

    def signer(self) -> Ed25519Signer | HmacSigner:
        """A signer for this key: Ed25519 (can ``session.logon``) or HMAC."""
        if self._private_key is not None:
            return Ed25519Signer(self.api_key, self._private_key)
        assert self._hmac_secret is not None
        return HmacSigner(self.api_key, self._hmac_secret)

    def __repr__(self) -> str:
        file = f", key_file={str(self.key_file)!r}" if self.key_file else ""
        return f"Credentials(api_key={mask_key(self.api_key)!r}, kind={self.kind!r}{file})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Credentials cannot be pickled")


def load_credentials(env: Mapping[str, str] | None = None) -> Credentials | None:
    """Credentials from ``COINM_API_KEY`` plus an Ed25519 key file or an HMAC secret.

    ``COINM_ED25519_KEY_FILE`` (with optional ``COINM_ED25519_PASSPHRASE``) is preferred when
    both kinds are set, since only Ed25519 can log a WebSocket API session on.
    ``COINM_HMAC_SECRET_FILE`` must be readable by its owner only, like a key file.

    Returns:
        ``None`` when no credential variable is set at all (market data only).

    Raises:
        ConfigError: an incomplete set of variables, or a key/secret file that cannot be used
            (the message never contains a secret).
    """
    env = os.environ if env is None else env

    def get(name: str) -> str:
        return (env.get(name) or "").strip()

    api_key = get("COINM_API_KEY")
    key_file = get("COINM_ED25519_KEY_FILE")
    secret_text = env.get("COINM_HMAC_SECRET") or ""
    secret_file = get("COINM_HMAC_SECRET_FILE")
    passphrase = env.get("COINM_ED25519_PASSPHRASE") or None
    if not (api_key or key_file or secret_text or secret_file):
        return None
    if not api_key:
        raise ConfigError(
            "a signing key is configured but COINM_API_KEY is not set: set it to the API key "
            "the venue gave you"
        )
    if not re.fullmatch(r"[A-Za-z0-9]{8,128}", api_key):
        raise ConfigError(
            f"COINM_API_KEY ({mask_key(api_key)}) is not an API key: letters and digits only"
        )
    if key_file:
        path = Path(key_file).expanduser()
        try:
            private_key = load_ed25519_private_key(path, Secret(passphrase) if passphrase else None)
        except KeyFileError as exc:
            raise ConfigError(f"COINM_ED25519_KEY_FILE: {exc}") from None
        return Credentials(api_key, private_key=private_key, key_file=path)
    if secret_file:
        path = Path(secret_file).expanduser()
        try:
            check_private_file(path, "secret file")
            text = path.read_text(encoding="utf-8").strip()
        except KeyFileError as exc:
            raise ConfigError(f"COINM_HMAC_SECRET_FILE: {exc}") from None
        except (OSError, UnicodeDecodeError):
            raise ConfigError(f"COINM_HMAC_SECRET_FILE: cannot read secret file {path}") from None
        if not text:
            raise ConfigError(f"COINM_HMAC_SECRET_FILE: secret file {path} is empty")
        return Credentials(api_key, hmac_secret=Secret(text))
    if secret_text.strip():
        return Credentials(api_key, hmac_secret=Secret(secret_text.strip()))
    raise ConfigError(
        "COINM_API_KEY is set but no signing key is: set COINM_ED25519_KEY_FILE (Ed25519, needed "
        "for session.logon) or COINM_HMAC_SECRET / COINM_HMAC_SECRET_FILE"
    )


def resolve_credentials(venue: VenueProfile, env: Mapping[str, str] | None = None) -> Credentials | None:
    """The user's credentials (:func:`load_credentials`), or on the simulator without any, its
    demo account.

    Raises:
        ConfigError: as :func:`load_credentials`, or the demo key file cannot be used.
    """
    creds = load_credentials(env)
    if creds is None and venue.is_sim:
        from feeds.sim.credentials import demo_credentials

        try:
            creds = demo_credentials().as_credentials()
        except KeyFileError as exc:
            raise ConfigError(f"simulator demo key: {exc}") from None
    return creds
