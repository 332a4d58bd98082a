"""Venues, settings and credentials.

Settings come from four layers, each overriding the one before: built-in defaults, the TOML
file (``<user config dir>/coinm/config.toml``, optional), ``COINM_*`` environment variables,
and command-line values. Credentials never come from the TOML file: only from environment
variables and key files that only their owner can read; a secret found in the TOML file is
refused. Nothing here prints a secret: reprs and :meth:`Config.dump` mask them.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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
    def embedded(self) -> bool:
        """The simulator venue with no URL given anywhere: the caller starts one for itself."""
        return self.is_sim and not (self.rest_url or self.stream_url or self.wsapi_url)

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
BOOK_GRACE_RANGE = (0.5, 60.0)
"""Seconds without a depth event before the book is checked: at least five times the @100ms
cadence (each check of a quiet book costs weight 2), at most a minute."""
_SYMBOL_RE = re.compile(r"^[A-Z0-9_]{1,20}$")
_SECRET_NAME_RE = re.compile(r"secret|passphrase|password|private|api_?key|token", re.I)

# name -> (kind, default, env var)
_SETTINGS: dict[str, tuple[str, Any, str]] = {
    "venue": ("venue", "sim", "COINM_VENUE"),
    "symbol": ("symbol", DEFAULT_SYMBOL, "COINM_SYMBOL"),
    "rest_url": ("rest_url", None, "COINM_REST_URL"),
    "stream_url": ("stream_url", None, "COINM_STREAM_URL"),
    "wsapi_url": ("wsapi_url", None, "COINM_WSAPI_URL"),
    "theme": ("text", "textual-dark", "COINM_THEME"),
    "recv_window": ("recv_window", 5000, "COINM_RECV_WINDOW"),
    "confirm_orders": ("bool", None, "COINM_CONFIRM_ORDERS"),
    "kline_interval": ("kline_interval", "1m", "COINM_KLINE_INTERVAL"),
    "depth_limit": ("depth_limit", 1000, "COINM_DEPTH_LIMIT"),
    "book_grace_s": ("book_grace", 1.0, "COINM_BOOK_GRACE_S"),
    "ladder_levels": ("positive_int", 20, "COINM_LADDER_LEVELS"),
    "sim_seed": ("int", 1, "COINM_SIM_SEED"),
    "sim_speed": ("speed", "1", "COINM_SIM_SPEED"),
    "log_file": ("path", None, "COINM_LOG_FILE"),
}
_CONFIRM_DEFAULTS = {"sim": True, "testnet": True, "live": True}
_TOML_SECTIONS = {"confirm_orders", "venues"}
_URL_KEYS = ("rest_url", "stream_url", "wsapi_url")
_URL_FLAGS = {"rest_url": "--rest-url", "stream_url": "--stream-url", "wsapi_url": "--wsapi-url"}
_WSAPI_PATH = "/ws-dapi/v1"
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
    book_grace_s: float = 1.0
    """Seconds without a depth event before the book is checked with the venue, and marked stale
    if it missed events (:class:`feeds.depth.DepthFeed`'s ``grace``)."""
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

    def venue_summary(self) -> str:
        """The venue, where that choice came from and the REST host, e.g. for a command's stderr:
        ``venue testnet (COINM_VENUE), REST testnet.binancefuture.com``.
        """
        source = self.sources.get("venue", "default")
        origin = {"cli": "command line", "file": f"config file {self.config_path}"}.get(
            source, source.removeprefix("env ")
        )
        rest = urlsplit(self.venue.rest_url).netloc if self.venue.rest_url else "(not started)"
        return f"venue {self.venue.name} ({origin}), REST {rest}"

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
            ("book_grace_s", format(self.book_grace_s, "g")),
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


def _convert(name: str, kind: str, raw: Any, where: str, *, typed: bool = False) -> Any:
    """One setting's value, checked; ``where`` says where it came from for the message.

    ``typed`` values come from the TOML file, which has real types: there a number or a boolean
    in quotes is refused, as is a string where a number belongs. Environment and command-line
    values are text and are parsed.
    """

    def fail(expected: str) -> ConfigError:
        shown = raw if not isinstance(raw, str) else repr(raw)
        return ConfigError(f"{where}: {name} = {shown} is not valid: {expected}")

    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if typed:
            raise fail("expected true or false (a TOML boolean, without quotes)")
        if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise fail("expected true or false")
    if kind in ("int", "positive_int", "recv_window", "depth_limit"):
        if isinstance(raw, bool) or (typed and not isinstance(raw, int)):
            raise fail("expected a whole number" + (" (without quotes)" if typed else ""))
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
    if kind == "book_grace":
        low, high = BOOK_GRACE_RANGE
        expected = f"expected seconds from {low:g} to {high:g}, like 1 or 2.5"
        if isinstance(raw, bool):
            raise fail(expected)
        if isinstance(raw, str) and not typed and re.fullmatch(r"\s*(\d+(\.\d*)?|\.\d+)\s*", raw):
            seconds = float(raw)
        elif isinstance(raw, (int, float)):
            seconds = float(raw)
        else:
            raise fail(expected + (" (a number, without quotes)" if typed else ""))
        if not (math.isfinite(seconds) and low <= seconds <= high):
            raise fail(expected)
        return seconds
    if kind == "speed":
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            if not math.isfinite(raw) or raw <= 0:
                raise fail("expected a positive number like 1 or 10")
            return format(Decimal(repr(raw)).normalize(), "f")
        if not isinstance(raw, str):
            raise fail("expected a positive number like 1 or 10")
        text = raw.strip()
        if not re.fullmatch(r"\d+(\.\d+)?", text) or Decimal(text) <= 0:
            raise fail("expected a positive number like 1 or 10")
        return text
    if not isinstance(raw, str):
        raise fail("expected text" + (" (in quotes)" if typed else ""))
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
    if kind in _URL_KEYS:
        return _normalise_url(kind, text, fail)
    if kind == "kline_interval":
        if text not in KLINE_INTERVALS:
            raise fail(f"expected one of {', '.join(KLINE_INTERVALS)}")
        return text
    if kind == "path":
        return Path(text).expanduser()
    if not text:
        raise fail("expected a non-empty value")
    return text


def _normalise_url(kind: str, text: str, fail: Any) -> str:
    """A venue URL in the one form the clients expect, from any form a user is likely to paste.

    The REST base loses a trailing ``/dapi/v1`` (``coinm sim`` prints the REST URL with it); the
    market-stream base loses ``/ws/<stream>`` or ``/stream?streams=...``; a WebSocket API URL
    without a path gets Binance's ``/ws-dapi/v1``.
    """
    if kind == "rest_url":
        schemes, example = ("http", "https"), "an http:// or https:// URL"
    else:
        schemes, example = ("ws", "wss"), "a ws:// or wss:// URL"
    if re.search(r"\s", text):
        raise fail(f"expected {example} without spaces")
    parts = urlsplit(text)
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise fail(f"expected {example}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0..65535
    except ValueError:
        raise fail(f"expected {example} with a port from 1 to 65535") from None
    path, query = parts.path.rstrip("/"), parts.query
    if kind == "rest_url":
        path = re.sub(r"/dapi(/v1)?$", "", path)
    elif kind == "stream_url":
        if path.endswith(_WSAPI_PATH):
            raise fail(f"that is a WebSocket API URL; the market-stream base has no {_WSAPI_PATH}")
        match = re.search(r"/(ws(/[^/]*)?|stream)$", path)
        if match:
            path, query = path[: match.start()], ""
    elif not path:
        path = _WSAPI_PATH
    if query or parts.fragment:
        raise fail(f"expected {example} without ?query or #fragment")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, "", ""))


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _endpoint(url: str) -> tuple[str, int]:
    """``(host, port)`` of a URL, with the scheme's default port filled in."""
    parts = urlsplit(url)
    default = 443 if parts.scheme in ("https", "wss") else 80
    return (parts.hostname or "", parts.port or default)


def _owner_venue(url: str) -> str | None:
    """The built-in venue whose endpoint ``url`` is on, if any (e.g. ``live`` for dapi.binance.com)."""
    endpoint = _endpoint(url)
    for profile in PROFILES.values():
        for known in (profile.rest_url, profile.stream_url, profile.wsapi_url):
            if known is not None and _endpoint(known) == endpoint:
                return profile.name
    return None


def _host(url: str) -> str:
    return urlsplit(url).netloc


def _resolve_venue(
    venue_name: str, venue_origin: str, venue_named: bool, given: Mapping[str, tuple[str, str]],
) -> tuple[VenueProfile, dict[str, str]]:
    """The venue with its URLs, completed only where that is unambiguous; otherwise refused.

    Args:
        venue_name: the selected venue.
        venue_origin: where the choice came from, for messages (``--live``, ``COINM_VENUE``...).
        venue_named: whether anything named the venue (False: the built-in default, sim).
        given: URLs set by the user, by key, with where each came from (``--rest-url``...).

    Returns:
        The profile, and where each URL that was not given came from (derived, or the venue's
        own). With no URL given, the ``sim`` venue has none: the caller starts an embedded
        simulator.

    Raises:
        ConfigError: a URL that belongs to another built-in venue, URLs on another machine for an
            unnamed venue, or a partial set that cannot be completed (naming what is missing).
    """
    profile = PROFILES[venue_name]
    urls = {key: url for key, (url, _) in given.items()}
    sources = {key: origin for key, (_, origin) in given.items()}

    def named(keys: Any) -> str:
        return " and ".join(_URL_FLAGS[k] for k in keys)

    def origins(keys: Any) -> str:
        return " and ".join(sources[k] for k in keys)

    if not urls:
        return profile, {k: f"venue {venue_name}" for k in _URL_KEYS if getattr(profile, k)}
    for key, url in urls.items():
        owner = _owner_venue(url)
        if owner is not None and owner != venue_name:
            raise ConfigError(
                f"{sources[key]} {url} is the {owner} venue's, but the venue is {venue_name} "
                f"({venue_origin}): name the venue with --venue {owner}, or use another URL"
            )
    if profile.is_sim:
        if not venue_named and not all(_is_loopback(u) for u in urls.values()):
            key = next(k for k, u in urls.items() if not _is_loopback(u))
            raise ConfigError(
                f"{sources[key]} {urls[key]} is not on this machine and no venue is named: say which "
                "venue it is (--venue sim, --testnet or --live)"
            )
        # A simulator serves its market streams and its WebSocket API on one port.
        if "wsapi_url" in urls and "stream_url" not in urls and urls["wsapi_url"].endswith(_WSAPI_PATH):
            urls["stream_url"] = urls["wsapi_url"][: -len(_WSAPI_PATH)]
            sources["stream_url"] = f"derived from {sources['wsapi_url']}"
        elif "stream_url" in urls and "wsapi_url" not in urls:
            urls["wsapi_url"] = urls["stream_url"] + _WSAPI_PATH
            sources["wsapi_url"] = f"derived from {sources['stream_url']}"
        missing = [k for k in _URL_KEYS if k not in urls]
        if missing:
            have = [k for k in _URL_KEYS if k in given]
            needed = "--rest-url" if "rest_url" in missing else "--wsapi-url (the stream URL follows from it)"
            raise ConfigError(
                f"venue sim: {origins(have)} given but not {named(missing)}, which cannot be derived "
                f"(a simulator's REST and WebSocket ports differ); give {needed} too, as `coinm sim` "
                "prints it, or no URL at all for an embedded simulator"
            )
        return profile.with_urls(**urls), {k: v for k, v in sources.items() if k not in given}
    missing = [k for k in _URL_KEYS if k not in urls]
    completed = {k: getattr(profile, k) for k in missing}
    local = {k for k, u in {**urls, **completed}.items() if _is_loopback(u)}
    if missing and local and len(local) < len(_URL_KEYS):
        have = [k for k in _URL_KEYS if k in given]
        raise ConfigError(
            f"venue {venue_name} ({venue_origin}): {origins(have)} given "
            f"({', '.join(_host(urls[k]) for k in have)}) but not {named(missing)}: "
            f"{venue_name}'s own ({', '.join(_host(completed[k]) for k in missing)}) would send "
            "part of the traffic to one machine and part to another; give all three URLs, or none"
        )
    return profile.with_urls(**urls), {key: f"venue {venue_name}" for key in missing}


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
    """The line of ``key`` (dotted: ``venues.live.rest_url``) in TOML ``text``, if plainly written."""
    table, _, leaf = key.rpartition(".")
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$", line)
        if header:
            current = re.sub(r"\s*\.\s*", ".", header.group(1)).replace('"', "").replace("'", "")
        elif current == table and re.match(rf"\s*[\"']?{re.escape(leaf)}[\"']?\s*=", line):
            return number
    return None


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
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
    return data, text


def load_config(
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Config:
    """Settings from defaults < TOML file < ``COINM_*`` env vars < CLI values.

    The venue's URLs follow the same layers (the file's per-venue ``[venues.<name>]`` table in
    place of top-level keys), then :func:`_resolve_venue`'s rules: no URL anywhere means the
    venue's own (for ``sim``, an embedded simulator the caller starts); a partial set is
    completed only where that is unambiguous.

    Args:
        cli: values from the command line by setting name (``venue``, ``symbol``,
            ``rest_url``, ..., ``seed``/``speed`` for ``sim_seed``/``sim_speed``); ``None``
            values mean "not given". ``config`` names the file.
        env: the environment (default ``os.environ``); ``COINM_CONFIG`` names the file.
        config_path: the TOML file; default ``COINM_CONFIG`` or
            ``<user config dir>/coinm/config.toml``. A file named explicitly must exist; the
            default one is optional.

    Raises:
        ConfigError: a malformed file (with its name and line), a value that is not valid or
            of the wrong type (with where it came from), credentials in the file, or venue URLs
            that cannot be used together.
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
    text = ""
    if path is not None and path.is_file():
        data, text = _read_toml(path)
    elif explicit:
        what = "is not a file" if path is not None and path.exists() else "does not exist"
        raise ConfigError(f"config file {path} {what}")
    else:
        path = None

    def from_file(dotted: str, kind: str, raw: Any) -> Any:
        line = _line_of(text, dotted)
        where = f"config file {path}" + (f" line {line}" if line else "")
        return _convert(dotted, kind, raw, where, typed=True)

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
            values[key] = from_file(key, _SETTINGS[key][0], raw)
            sources[key] = "file"
        elif key == "allow_unconfirmed_live":
            from_file(key, "bool", raw)
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
                file_urls[name][key] = from_file(f"venues.{name}.{key}", key, raw)
            else:
                warnings.append(f"unknown setting '{key}' in [venues.{name}] of {path} (ignored)")
    given: dict[str, tuple[str, str]] = {}
    for key in _URL_KEYS:
        if sources[key] == "cli":
            given[key] = (values[key], _URL_FLAGS[key])
        elif sources[key].startswith("env "):
            given[key] = (values[key], sources[key].removeprefix("env "))
        elif key in file_urls.get(venue_name, {}):
            given[key] = (file_urls[venue_name][key], f"[venues.{venue_name}] {key} in {path}")
            sources[key] = "file"
        else:
            sources.pop(key)
    venue_origin = {
        "default": "the default", "cli": "command line", "file": f"config file {path}",
    }.get(sources["venue"], sources["venue"].removeprefix("env "))
    venue, url_sources = _resolve_venue(
        venue_name, venue_origin, sources["venue"] != "default", given
    )
    sources.update(url_sources)

    confirm_by_venue = dict(_CONFIRM_DEFAULTS)
    confirm_table = data.get("confirm_orders", {})
    if not isinstance(confirm_table, Mapping):
        confirm_table = {}  # a plain `confirm_orders = false` is this venue's, in values
    for name, raw in confirm_table.items():
        if name not in PROFILES:
            warnings.append(f"unknown venue '{name}' in [confirm_orders] of {path} (ignored)")
            continue
        confirm_by_venue[name] = from_file(f"confirm_orders.{name}", "bool", raw)
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
        book_grace_s=values["book_grace_s"],
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

