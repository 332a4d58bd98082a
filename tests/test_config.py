"""Configuration: precedence, venue profiles, TOML errors, credentials that never print."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from feeds.config import (
    PROFILES,
    Config,
    ConfigError,
    Credentials,
    VenueProfile,
    default_config_path,
    load_config,
    load_credentials,
)
from feeds.signing import (
    Ed25519Signer,
    HmacSigner,
    generate_ed25519_keypair,
    verify_ed25519,
    verify_hmac,
)

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


@pytest.fixture
def no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point the XDG config dir at an empty folder so the developer's own file is never read."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "coinm" / "config.toml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(no_user_config: Path) -> None:
    cfg = load_config(env={})
    assert cfg.venue == PROFILES["sim"] and cfg.venue.rest_url is None and not cfg.venue.ready
    assert cfg.symbol == "BTCUSD_PERP"
    assert cfg.confirm_orders is True
    assert cfg.recv_window == 5000
    assert cfg.config_path is None
    assert cfg.sources["symbol"] == "default"
    assert default_config_path() == no_user_config


def test_builtin_profiles() -> None:
    assert PROFILES["live"] == VenueProfile(
        "live", "https://dapi.binance.com", "wss://dstream.binance.com",
        "wss://ws-dapi.binance.com/ws-dapi/v1", real_money=True,
    )
    assert PROFILES["testnet"].rest_url == "https://testnet.binancefuture.com"
    assert PROFILES["testnet"].stream_url == "wss://dstream.binancefuture.com"
    assert PROFILES["testnet"].wsapi_url == "wss://testnet.binancefuture.com/ws-dapi/v1"
    assert not PROFILES["testnet"].real_money


def test_sim_urls_filled_at_run_time() -> None:
    class Urls:
        rest = "http://127.0.0.1:4001"
        stream = "ws://127.0.0.1:4002"
        wsapi = "ws://127.0.0.1:4003/ws-dapi/v1"

    sim = PROFILES["sim"].with_sim_urls(Urls())
    assert sim.ready and sim.rest_url == Urls.rest and sim.wsapi_url == Urls.wsapi
    kept = PROFILES["sim"].with_urls(rest_url="http://10.0.0.1:9").with_sim_urls(Urls())
    assert kept.rest_url == "http://10.0.0.1:9" and kept.stream_url == Urls.stream


def test_precedence_every_level(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", 'symbol = "ethusd_perp"\ntheme = "nord"\nrecv_window = 3000\n'
                 'venue = "testnet"\n')
    cfg = load_config(env={}, config_path=path)
    assert (cfg.symbol, cfg.theme, cfg.recv_window, cfg.venue.name) == (
        "ETHUSD_PERP", "nord", 3000, "testnet")
    assert cfg.sources["symbol"] == "file" and cfg.config_path == path

    env = {"COINM_SYMBOL": "BNBUSD_PERP", "COINM_THEME": "gruvbox"}
    cfg = load_config(env=env, config_path=path)
    assert (cfg.symbol, cfg.theme, cfg.recv_window) == ("BNBUSD_PERP", "gruvbox", 3000)
    assert cfg.sources["symbol"] == "env COINM_SYMBOL"

    cfg = load_config({"symbol": "SOLUSD_PERP", "theme": None}, env=env, config_path=path)
    assert (cfg.symbol, cfg.theme) == ("SOLUSD_PERP", "gruvbox")  # None means "not given"
    assert cfg.sources["symbol"] == "cli"


def test_url_precedence(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", 'venue = "testnet"\n[venues.testnet]\n'
                 'rest_url = "https://file.example/"\nstream_url = "wss://file-stream.example"\n'
                 '[venues.live]\nrest_url = "https://other.example"\n')
    cfg = load_config(env={}, config_path=path)
    assert cfg.venue.rest_url == "https://file.example"
    assert cfg.venue.stream_url == "wss://file-stream.example"
    assert cfg.venue.wsapi_url == PROFILES["testnet"].wsapi_url
    cfg = load_config(env={"COINM_REST_URL": "https://env.example"}, config_path=path)
    assert cfg.venue.rest_url == "https://env.example" and cfg.sources["rest_url"].startswith("env")
    cfg = load_config({"rest_url": "https://cli.example"},
                      env={"COINM_REST_URL": "https://env.example"}, config_path=path)
    assert cfg.venue.rest_url == "https://cli.example"
    # A venue's table applies to that venue only.
    live = load_config({"venue": "live"}, env={}, config_path=path)
    assert live.venue.rest_url == "https://other.example"
    assert live.venue.stream_url == PROFILES["live"].stream_url


def test_top_level_url_in_file_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", 'rest_url = "https://x.example"\n')
    with pytest.raises(ConfigError, match=r"\[venues.<name>\]"):
        load_config(env={}, config_path=path)


def test_confirm_orders_per_venue(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "[confirm_orders]\nsim = false\ntestnet = false\nlive = false\n")
    assert load_config(env={}, config_path=path).confirm_orders is False
    assert load_config({"venue": "testnet"}, env={}, config_path=path).confirm_orders is False
    live = load_config({"venue": "live"}, env={}, config_path=path)
    assert live.confirm_orders is True  # never skippable on live by default
    assert any("allow_unconfirmed_live" in w for w in live.warnings)
    live = load_config({"venue": "live", "confirm_orders": False},
                       env={"COINM_CONFIRM_ORDERS": "false"}, config_path=path)
    assert live.confirm_orders is True
    opted = write(tmp_path / "o.toml", "allow_unconfirmed_live = true\n[confirm_orders]\nlive = false\n")
    assert load_config({"venue": "live"}, env={}, config_path=opted).confirm_orders is False
    # Env and CLI override the file for the selected venue.
    assert load_config(env={"COINM_CONFIRM_ORDERS": "yes"}, config_path=path).confirm_orders is True
    assert load_config({"confirm_orders": "false"}, env={"COINM_CONFIRM_ORDERS": "yes"},
                       config_path=path).confirm_orders is False


def test_default_file_location_and_explicit_missing(no_user_config: Path, tmp_path: Path) -> None:
    write(no_user_config, 'symbol = "ETHUSD_PERP"\n')
    cfg = load_config(env={})
    assert cfg.symbol == "ETHUSD_PERP" and cfg.config_path == no_user_config
    other = write(tmp_path / "other.toml", 'symbol = "XRPUSD_PERP"\n')
    assert load_config(env={"COINM_CONFIG": str(other)}).symbol == "XRPUSD_PERP"
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(env={}, config_path=tmp_path / "missing.toml")


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", 'symbol = "BTCUSD_PERP"\ntheme = \n')
    with pytest.raises(ConfigError) as err:
        load_config(env={}, config_path=path)
    assert str(path) in str(err.value) and "line 2" in str(err.value)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(env={}, config_path=binary)


@pytest.mark.parametrize(
    "text,where",
    [
        ('recv_window = "soon"\n', "recv_window"),
        ("recv_window = 70000\n", "recv_window"),
        ('venue = "mainnet"\n', "venue"),
        ('symbol = "btc usd"\n', "symbol"),
        ("depth_limit = 7\n", "depth_limit"),
        ('kline_interval = "2m"\n', "kline_interval"),
        ("[venues.testnet]\nrest_url = \"ftp://x\"\n", "rest_url"),
        ("[confirm_orders]\nsim = \"maybe\"\n", "confirm_orders.sim"),
    ],
)
def test_invalid_values_in_file(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as err:
        load_config(env={}, config_path=path)
    assert str(path) in str(err.value) and where in str(err.value)


def test_invalid_env_and_cli_values(no_user_config: Path) -> None:
    with pytest.raises(ConfigError, match="environment COINM_RECV_WINDOW"):
        load_config(env={"COINM_RECV_WINDOW": "abc"})
    with pytest.raises(ConfigError, match="command line"):
        load_config({"venue": "moon"}, env={})
    with pytest.raises(ConfigError, match="unknown command-line setting"):
        load_config({"colour": "red"}, env={})


def test_unknown_keys_warn(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", 'symbl = "X"\n[venues.moon]\nrest_url = "https://m"\n')
    cfg = load_config(env={}, config_path=path)
    assert any("symbl" in w for w in cfg.warnings)
    assert any("moon" in w for w in cfg.warnings)
    assert "# warning: unknown setting 'symbl'" in cfg.dump()


@pytest.mark.parametrize(
    "text,key,line",
    [
        (f'api_key = "{API_KEY}"\n', "api_key", 1),
        (f'symbol = "BTCUSD_PERP"\n[venues.live]\nhmac_secret = "{SECRET}"\n',
         "venues.live.hmac_secret", 3),
        ('passphrase = "hunter2"\n', "passphrase", 1),
        ('key = """-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----"""\n', "key", 1),
    ],
)
def test_secret_in_toml_refused(tmp_path: Path, text: str, key: str, line: int) -> None:
    path = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as err:
        load_config(env={}, config_path=path)
    message = str(err.value)
    assert f"'{key}' (line {line})" in message and str(path) in message
    assert "COINM_API_KEY" in message
    for secret in (API_KEY, SECRET, "hunter2", "abc"):
        assert secret not in message.replace(str(path), "")


# ---------------------------------------------------------------------------- credentials


def test_no_credentials() -> None:
    assert load_credentials({}) is None
    assert load_credentials({"COINM_API_KEY": "  "}) is None


def test_hmac_credentials_from_env() -> None:
    creds = load_credentials({"COINM_API_KEY": API_KEY, "COINM_HMAC_SECRET": SECRET})
    assert creds is not None and creds.kind == "hmac"
    signer = creds.signer()
    assert isinstance(signer, HmacSigner)
    assert verify_hmac(SECRET, "a=1", signer.sign("a=1"))
    for text in (repr(creds), str(creds), f"{creds}", repr(signer)):
        assert API_KEY not in text and SECRET not in text
        assert "vmPU****" in text
    with pytest.raises(TypeError):
        pickle.dumps(creds)


@posix_only
def test_hmac_secret_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "hmac.txt"
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, (SECRET + "\n").encode())
    os.close(fd)
    creds = load_credentials({"COINM_API_KEY": API_KEY, "COINM_HMAC_SECRET_FILE": str(secret_file)})
    assert creds is not None
    assert verify_hmac(SECRET, "x=1", creds.signer().sign("x=1"))
    secret_file.chmod(0o644)
    with pytest.raises(ConfigError) as err:
        load_credentials({"COINM_API_KEY": API_KEY, "COINM_HMAC_SECRET_FILE": str(secret_file)})
    assert "readable by others (mode 0644)" in str(err.value) and SECRET not in str(err.value)
    assert f"chmod 600 {secret_file}" in str(err.value)


@posix_only
def test_ed25519_credentials(tmp_path: Path) -> None:
    key_file = tmp_path / "k.pem"
    public = generate_ed25519_keypair(key_file, passphrase="s3cret-pass")
    env = {"COINM_API_KEY": API_KEY, "COINM_ED25519_KEY_FILE": str(key_file),
           "COINM_ED25519_PASSPHRASE": "s3cret-pass", "COINM_HMAC_SECRET": SECRET}
    creds = load_credentials(env)
    assert creds is not None and creds.kind == "ed25519" and creds.key_file == key_file
    signer = creds.signer()
    assert isinstance(signer, Ed25519Signer)
    assert verify_ed25519(public, "a=1", signer.sign("a=1"))
    assert "s3cret-pass" not in repr(creds) and API_KEY not in repr(creds)
    with pytest.raises(ConfigError) as err:
        load_credentials(dict(env, COINM_ED25519_PASSPHRASE="wrong-pass"))
    assert "wrong passphrase" in str(err.value) and "wrong-pass" not in str(err.value)
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="run chmod 600"):
        load_credentials(env)


def test_incomplete_credentials() -> None:
    with pytest.raises(ConfigError, match="COINM_API_KEY is not set"):
        load_credentials({"COINM_HMAC_SECRET": SECRET})
    with pytest.raises(ConfigError, match="no signing key"):
        load_credentials({"COINM_API_KEY": API_KEY})
    with pytest.raises(ConfigError) as err:
        load_credentials({"COINM_API_KEY": "not a key!" + SECRET, "COINM_HMAC_SECRET": SECRET})
    assert SECRET not in str(err.value)
    with pytest.raises(ValueError):
        Credentials(API_KEY)


def test_dump_masks_and_shows_sources(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", 'theme = "nord"\n')
    cfg = load_config({"symbol": "ETHUSD_PERP"}, env={"COINM_VENUE": "testnet"}, config_path=path)
    creds = load_credentials({"COINM_API_KEY": API_KEY, "COINM_HMAC_SECRET": SECRET})
    text = cfg.dump(creds)
    assert API_KEY not in text and SECRET not in text
    assert "vmPU****" in text
    lines = {line.split("=")[0].strip(): line for line in text.splitlines()}
    assert lines["symbol"].endswith("# cli")
    assert lines["theme"].endswith("# file")
    assert lines["venue"].endswith("# env COINM_VENUE")
    assert "https://testnet.binancefuture.com" in lines["rest_url"]
    assert "(from the simulator)" in load_config(env={}, config_path=path).dump()
    assert isinstance(cfg, Config)


def test_cli_aliases_and_sim_settings(no_user_config: Path) -> None:
    cfg = load_config({"seed": 42, "speed": "10"}, env={"COINM_SIM_SEED": "7"})
    assert (cfg.sim_seed, cfg.sim_speed) == (42, "10")
    assert load_config(env={"COINM_SIM_SEED": "7"}).sim_seed == 7
    with pytest.raises(ConfigError, match="sim_speed"):
        load_config({"speed": "fast"}, env={})


# ---------------------------------------------------------------------------- venue URLs


@pytest.mark.parametrize(
    "key,given,expected",
    [
        ("rest_url", "http://127.0.0.1:4001/dapi/v1", "http://127.0.0.1:4001"),  # as `coinm sim` prints it
        ("rest_url", "http://127.0.0.1:4001/dapi/v1/", "http://127.0.0.1:4001"),
        ("rest_url", "HTTPS://Example.COM/", "https://example.com"),
        ("stream_url", "ws://127.0.0.1:4002/ws/<stream>", "ws://127.0.0.1:4002"),
        ("stream_url", "ws://127.0.0.1:4002/stream?streams=a/b", "ws://127.0.0.1:4002"),
        ("stream_url", "wss://example.com/", "wss://example.com"),
        ("wsapi_url", "ws://127.0.0.1:4002", "ws://127.0.0.1:4002/ws-dapi/v1"),
        ("wsapi_url", "ws://127.0.0.1:4002/ws-dapi/v1/", "ws://127.0.0.1:4002/ws-dapi/v1"),
    ],
)
def test_urls_are_normalised_from_the_forms_users_paste(key: str, given: str, expected: str) -> None:
    urls = {"rest_url": "https://example.com", "stream_url": "wss://example.com",
            "wsapi_url": "wss://example.com/ws-dapi/v1"}
    cfg = load_config({"venue": "testnet", **urls, key: given}, env={})
    assert getattr(cfg.venue, key) == expected


@pytest.mark.parametrize(
    "key,given,expected",
    [
        ("rest_url", "ws://127.0.0.1:1", "expected an http:// or https:// URL"),
        ("rest_url", "http://127.0.0.1:99999", "port from 1 to 65535"),
        ("rest_url", "http://127.0.0.1:1/dapi/v1?x=1", "without ?query"),
        ("stream_url", "http://127.0.0.1:1", "expected a ws:// or wss:// URL"),
        ("stream_url", "ws://127.0.0.1:1/ws-dapi/v1", "that is a WebSocket API URL"),
        ("wsapi_url", "ws:///ws-dapi/v1", "expected a ws:// or wss:// URL"),
    ],
)
def test_urls_that_cannot_be_used_are_refused(key: str, given: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("?", r"\?")):
        load_config({key: given}, env={})


def test_a_simulators_stream_and_wsapi_urls_complete_each_other(no_user_config: Path) -> None:
    cfg = load_config({"rest_url": "http://127.0.0.1:4001/dapi/v1", "wsapi_url": "ws://127.0.0.1:4002/ws-dapi/v1"},
                      env={})
    assert cfg.venue.ready and cfg.venue.stream_url == "ws://127.0.0.1:4002"
    assert cfg.sources["stream_url"] == "derived from --wsapi-url" and cfg.sources["rest_url"] == "cli"
    cfg = load_config(env={"COINM_REST_URL": "http://127.0.0.1:4001", "COINM_STREAM_URL": "ws://127.0.0.1:4002"})
    assert cfg.venue.wsapi_url == "ws://127.0.0.1:4002/ws-dapi/v1"
    assert cfg.sources["wsapi_url"] == "derived from COINM_STREAM_URL"
    with pytest.raises(ConfigError, match="--rest-url given but not --stream-url and --wsapi-url"):
        load_config({"rest_url": "http://127.0.0.1:4001"}, env={})
    with pytest.raises(ConfigError, match="--wsapi-url given but not --rest-url"):
        load_config({"wsapi_url": "ws://127.0.0.1:4002/ws-dapi/v1"}, env={})


def test_a_remote_venue_is_completed_from_its_own_urls_unless_that_mixes_machines(tmp_path: Path) -> None:
    cfg = load_config({"venue": "live", "rest_url": "https://dapi.binance.com/dapi/v1"}, env={})
    assert cfg.venue == PROFILES["live"]
    path = write(tmp_path / "c.toml", 'venue = "testnet"\n[venues.testnet]\nrest_url = "http://127.0.0.1:1"\n')
    with pytest.raises(ConfigError) as err:
        load_config(env={}, config_path=path)
    message = str(err.value)
    assert f"venue testnet (config file {path}): [venues.testnet] rest_url in {path} given (127.0.0.1:1)" in message
    assert "testnet.binancefuture.com" in message and "give all three URLs, or none" in message
    # All three on this machine is a choice, not a mix (a local proxy, say).
    local = {"rest_url": "http://127.0.0.1:1", "stream_url": "ws://127.0.0.1:2", "wsapi_url": "ws://127.0.0.1:2"}
    assert load_config({"venue": "testnet", **local}, env={}).venue.wsapi_url == "ws://127.0.0.1:2/ws-dapi/v1"


def test_a_url_of_a_built_in_venue_needs_that_venue(no_user_config: Path) -> None:
    with pytest.raises(ConfigError, match=r"is the testnet venue's, but the venue is live \(COINM_VENUE\)"):
        load_config({"rest_url": "https://testnet.binancefuture.com"}, env={"COINM_VENUE": "live"})
    with pytest.raises(ConfigError, match="is the live venue's, but the venue is sim .the default."):
        load_config({"rest_url": "https://dapi.binance.com", "wsapi_url": "wss://ws-dapi.binance.com"}, env={})


def test_numbers_in_the_file_are_typed(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "sim_speed = 10\nsim_seed = 3\nrecv_window = 3000\nconfirm_orders = false\n")
    cfg = load_config(env={}, config_path=path)
    assert (cfg.sim_speed, cfg.sim_seed, cfg.recv_window, cfg.confirm_orders) == ("10", 3, 3000, False)
    assert load_config(env={}, config_path=write(tmp_path / "d.toml", "sim_speed = 2.5\n")).sim_speed == "2.5"
    with pytest.raises(ConfigError, match="line 4: venues.live.rest_url"):
        load_config(env={}, config_path=write(tmp_path / "e.toml", '[venues.testnet]\nrest_url = "https://t.example"\n'
                                              '[venues.live]\nrest_url = 5\n'))


def test_the_feeds_core_never_imports_the_simulator() -> None:
    """feeds/*.py (not feeds/sim/) import nothing from feeds.sim, even inside a function."""
    import ast

    core = Path(__file__).resolve().parent.parent / "feeds"
    offenders = []
    for module in sorted(core.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{module.name}: {n}" for n in names if n == "feeds.sim" or n.startswith("feeds.sim.")]
    assert offenders == []
