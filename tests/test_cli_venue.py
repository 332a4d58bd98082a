"""The venue a command uses is the venue the user asked for (issue 12, part 1).

A matrix of where the choice is written (before or after the command, ``COINM_*`` variables, the
config file, against a contrary lower layer) x every order command, over loopback: "testnet" and
"live" are simulators standing in at the built-in profiles' place, so the test sees which one
really received the traffic, and nothing ever leaves 127.0.0.1. The dashboard's resolution is
checked through :func:`tui.cli.parse` and :func:`tui.cli.dashboard_config`, without Textual.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import feeds.config
from feeds.config import PROFILES, ConfigError, VenueProfile, load_config
from feeds.sim import DEMO_API_KEY, SimHandle, start_in_thread
from tests.cli_support import SYM, price_under_bid
from tui.cli import dashboard_config, main, parse

pytestmark = pytest.mark.usefixtures("cli_env")
VENUES = ("sim", "testnet", "live")
"""``sim`` is a simulator named by its URLs; ``testnet`` and ``live`` stand in for the real ones."""


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SimHandle]]:
    data = tmp_path_factory.mktemp("simdata")
    handles = {name: start_in_thread(seed=7, realtime=False, data_dir=data) for name in VENUES}
    try:
        for name, h in handles.items():  # a resting order that says which venue answers `orders`
            place(h, f"mark-{name}")
        global PRICE
        PRICE = price_under_bid(handles["sim"])
        yield handles
    finally:
        for h in handles.values():
            h.stop()


@pytest.fixture
def stand_ins(sims: dict[str, SimHandle], monkeypatch: pytest.MonkeyPatch) -> dict[str, SimHandle]:
    """The testnet and live profiles point at simulators; keys are the simulators' demo keys."""
    for name in ("testnet", "live"):
        u = sims[name].urls
        monkeypatch.setitem(feeds.config.PROFILES, name,
                            VenueProfile(name, u.rest, u.stream, u.wsapi, real_money=name == "live"))
    key_file = sims["sim"].call(lambda: sims["sim"].sim.credentials.ed25519_key_path)
    monkeypatch.setenv("COINM_API_KEY", DEMO_API_KEY)
    monkeypatch.setenv("COINM_ED25519_KEY_FILE", str(key_file))
    monkeypatch.setenv("COINM_SIM_DATA_DIR", str(key_file.parent))
    return sims


def place(h: SimHandle, client_id: str) -> None:
    def go() -> None:
        bid = h.sim.engine.syms[SYM].book.best_bid()
        price = str(Decimal(bid - 800) / 10)
        h.sim.accounts.place(h.sim.default_account, {
            "symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1",
            "price": price, "newClientOrderId": client_id})

    h.call(go)


def order_status(h: SimHandle, client_id: str) -> str | None:
    return h.call(lambda: next((o.status for o in h.sim.account().orders.values()
                                if o.client_order_id == client_id), None))


def config_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config" / "coinm" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def marks(printed: str) -> list[str]:
    """The client ids of the marker orders in what ``coinm orders`` printed."""
    return [row["clientOrderId"] for row in json.loads(printed) if row["clientOrderId"].startswith("mark-")]


def host(url: str) -> str:
    return urlsplit(url).netloc


# ---------------------------------------------------------------------------- the matrix

# (id, options before the command, options after it, environment, config file): each asks for
# testnet, several against a contrary setting in a lower layer (live, the dangerous one).
VENUE_CASES = [
    ("flag-before", ["--testnet"], [], {}, ""),
    ("flag-before-over-config-live", ["--testnet"], [], {}, 'venue = "live"\n'),
    ("venue-flag-before-over-env-live", ["--venue", "testnet"], [], {"COINM_VENUE": "live"}, ""),
    ("flag-after", [], ["--testnet"], {}, ""),
    ("flag-after-over-config-live", [], ["--testnet"], {}, 'venue = "live"\n'),
    ("flag-after-over-env-live", [], ["--venue", "testnet"], {"COINM_VENUE": "live"}, 'venue = "live"\n'),
    ("env", [], [], {"COINM_VENUE": "testnet"}, ""),
    ("env-over-config-live", [], [], {"COINM_VENUE": "testnet"}, 'venue = "live"\n'),
    ("config", [], [], {}, 'venue = "testnet"\n'),
]
COMMANDS = ("order", "cancel", "orders")


PRICE = "30000.0"
"""A valid resting buy price on the (paused) simulators, set by the ``sims`` fixture."""


def _command_args(command: str, case_id: str) -> list[str]:
    if command == "order":
        return ["--symbol", SYM, "--side", "BUY", "--price", PRICE, "--qty", "1", "--client-id", f"o-{case_id}"]
    if command == "cancel":
        return ["--symbol", SYM, "--client-id", f"c-{case_id}"]
    return ["--symbol", SYM]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case_id,before,after,env,config", VENUE_CASES, ids=[c[0] for c in VENUE_CASES])
def test_the_command_reaches_the_venue_asked_for(
    stand_ins: dict[str, SimHandle], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], command: str, case_id: str, before: list[str], after: list[str],
    env: dict[str, str], config: str,
) -> None:
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    config_file(tmp_path, config)
    tag = f"{command}-{[c[0] for c in VENUE_CASES].index(case_id)}"  # client ids: 36 characters at most
    if command == "cancel":  # the same client id rests on every venue: only one may lose it
        for h in stand_ins.values():
            place(h, f"c-{tag}")
    rc = main([*before, command, *after, *_command_args(command, tag)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    testnet = stand_ins["testnet"]
    # One line on stderr names the venue and its REST host.
    assert out.err.count("\n") == 1, out.err
    assert f"coinm {command}: venue testnet (" in out.err and host(testnet.urls.rest) in out.err
    assert "simulator started" not in out.err
    if command == "orders":
        assert marks(out.out) == ["mark-testnet"]
    elif command == "order":
        assert [order_status(h, f"o-{tag}") for h in stand_ins.values()] == [None, "NEW", None]
    else:
        assert [order_status(h, f"c-{tag}") for h in stand_ins.values()] == ["NEW", "CANCELED", "NEW"]


@pytest.mark.parametrize("case_id,before,after,env,config", VENUE_CASES, ids=[c[0] for c in VENUE_CASES])
def test_the_dashboard_resolves_the_venue_asked_for(
    stand_ins: dict[str, SimHandle], tmp_path: Path, case_id: str, before: list[str], after: list[str],
    env: dict[str, str], config: str,
) -> None:
    config_file(tmp_path, config)
    cfg = dashboard_config(parse([*before, *after]), {**os.environ, **env})
    assert cfg.venue.name == "testnet" and cfg.venue.rest_url == stand_ins["testnet"].urls.rest
    assert not cfg.venue.embedded


def _url_cases(h: SimHandle) -> list[tuple[str, list[str], list[str], dict[str, str], str]]:
    """The simulator named by URLs, written as `coinm sim` prints them, in every place."""
    rest, wsapi = f"{h.urls.rest}/dapi/v1", h.urls.wsapi
    stream_printed = f"{h.urls.stream}/stream?streams=a/b"
    flags = ["--rest-url", rest, "--wsapi-url", wsapi]
    return [
        ("before", flags, [], {}, ""),
        ("after", [], flags, {}, ""),
        ("split", ["--rest-url", rest], ["--stream-url", stream_printed], {}, ""),
        ("env", [], [], {"COINM_REST_URL": rest, "COINM_WSAPI_URL": wsapi}, ""),
        ("config", [], [], {}, f'[venues.sim]\nrest_url = "{rest}"\nwsapi_url = "{wsapi}"\n'),
        ("config-venue-sim", [], [], {}, f'venue = "sim"\n[venues.sim]\nrest_url = "{rest}"\n'
                                         f'stream_url = "{h.urls.stream}/ws/<stream>"\n'),
        ("before-with-venue", ["--venue", "sim", *flags], [], {"COINM_VENUE": "live"}, ""),
    ]


URL_CASE_IDS = ("before", "after", "split", "env", "config", "config-venue-sim", "before-with-venue")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case_index", range(len(URL_CASE_IDS)), ids=URL_CASE_IDS)
def test_urls_name_a_simulator_wherever_they_stand(
    stand_ins: dict[str, SimHandle], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], command: str, case_index: int,
) -> None:
    sim = stand_ins["sim"]
    case_id, before, after, env, config = _url_cases(sim)[case_index]
    monkeypatch.delenv("COINM_API_KEY")  # the simulator's demo account, as with no keys at all
    monkeypatch.delenv("COINM_ED25519_KEY_FILE")
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    config_file(tmp_path, config)
    tag = f"u-{command}-{case_id}"
    if command == "cancel":
        for h in stand_ins.values():
            place(h, f"c-{tag}")
    rc = main([*before, command, *after, *_command_args(command, tag)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert out.err.count("\n") == 1 and "simulator started" not in out.err, out.err
    assert f"coinm {command}: venue sim (" in out.err and host(sim.urls.rest) in out.err
    if command == "orders":
        assert marks(out.out) == ["mark-sim"]
    elif command == "order":
        assert [order_status(h, f"o-{tag}") for h in stand_ins.values()] == ["NEW", None, None]
    else:
        assert [order_status(h, f"c-{tag}") for h in stand_ins.values()] == ["CANCELED", "NEW", "NEW"]
    # The dashboard resolves the same three URLs from the same places.
    if command == "orders":
        cfg = dashboard_config(parse([*before, *after]), dict(os.environ))
        assert (cfg.venue.name, cfg.venue.rest_url, cfg.venue.stream_url, cfg.venue.wsapi_url) == (
            "sim", sim.urls.rest, sim.urls.stream, sim.urls.wsapi)


def test_an_embedded_simulator_only_when_nothing_names_a_venue_or_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc = main(["orders", "--symbol", SYM])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert out.err.count("\n") == 1 and "coinm orders: venue sim (an embedded simulator" in out.err
    assert json.loads(out.out) == []
    cfg = dashboard_config(parse([]), {})
    assert cfg.venue.embedded and cfg.venue.name == "sim"


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("venue", ["testnet", "live"])
@pytest.mark.parametrize("where", ["before", "after", "env", "config"])
def test_testnet_or_live_without_keys_is_refused_never_the_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    command: str, venue: str, where: str,
) -> None:
    # The real profiles: the refusal comes before any network I/O.
    flag = [f"--{venue}"]
    if where == "env":
        monkeypatch.setenv("COINM_VENUE", venue)
    if where == "config":
        config_file(tmp_path, f'venue = "{venue}"\n')
    argv = [*(flag if where == "before" else []), command, *(flag if where == "after" else []),
            *_command_args(command, "nokeys")]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "simulator started" not in err
    assert f"venue {venue} (" in err and host(PROFILES[venue].rest_url or "") in err
    assert "no credentials" in err and "nothing sent" in err


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    rc = main(argv)
    out = capsys.readouterr()
    assert rc == 2, out
    assert out.err.count("\n") == 1 and "Traceback" not in out.err, out.err
    assert "simulator started" not in out.err and out.out == ""
    return out.err


def test_a_partial_set_of_simulator_urls_is_refused_naming_what_is_missing(
    sims: dict[str, SimHandle], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    rest = f"{sims['sim'].urls.rest}/dapi/v1"
    for command in COMMANDS:
        err = _refused([command, "--rest-url", rest, *_command_args(command, "partial")], capsys)
        assert "--rest-url given but not --stream-url and --wsapi-url" in err
        err = _refused(["--rest-url", rest, command, *_command_args(command, "partial")], capsys)
        assert "not --stream-url and --wsapi-url" in err
    monkeypatch.setenv("COINM_WSAPI_URL", sims["sim"].urls.wsapi)
    err = _refused(["orders", "--symbol", SYM], capsys)
    assert "venue sim: COINM_WSAPI_URL given but not --rest-url" in err
    with pytest.raises(ConfigError, match="not --rest-url"):
        dashboard_config(parse([]), dict(os.environ))


def test_urls_that_would_mix_machines_or_venues_are_refused(
    sims: dict[str, SimHandle], capsys: pytest.CaptureFixture[str],
) -> None:
    local = f"{sims['sim'].urls.rest}/dapi/v1"
    # live's own WebSocket API with a REST URL on this machine: part of the traffic to each.
    err = _refused(["--live", "orders", "--rest-url", local, "--symbol", SYM], capsys)
    assert "venue live (command line): --rest-url given" in err and "ws-dapi.binance.com" in err
    # A URL of a built-in venue under another venue's name.
    err = _refused(["orders", "--venue", "sim", "--rest-url", "https://dapi.binance.com/dapi/v1",
                    "--wsapi-url", "wss://ws-dapi.binance.com/ws-dapi/v1", "--symbol", SYM], capsys)
    assert "is the live venue's, but the venue is sim" in err
    # URLs off this machine with no venue named.
    err = _refused(["orders", "--rest-url", "https://example.com", "--wsapi-url", "wss://example.com/ws-dapi/v1",
                    "--symbol", SYM], capsys)
    assert "is not on this machine and no venue is named" in err


@pytest.mark.parametrize("command", COMMANDS)
def test_options_before_the_command_that_disagree_or_do_not_apply_are_refused(
    capsys: pytest.CaptureFixture[str], command: str, tmp_path: Path,
) -> None:
    args = _command_args(command, "x")
    err = _refused(["--testnet", command, "--live", *args], capsys)
    assert "--venue testnet before" in err and "--venue live after it disagree" in err
    err = _refused(["--rest-url", "http://127.0.0.1:1", command, "--rest-url", "http://127.0.0.1:2", *args], capsys)
    assert "disagree" in err
    err = _refused(["--theme", "nord", command, *args], capsys)
    assert "--theme before" in err
    err = _refused(["--config", str(tmp_path / "missing.toml"), command, *args], capsys)
    assert "missing.toml does not exist" in err
    err = _refused([command, "--config", str(tmp_path / "missing.toml"), *args], capsys)
    assert "missing.toml does not exist" in err


def test_options_before_sim_or_keygen_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--venue live before `sim` does not apply" in _refused(["--live", "sim"], capsys)
    assert "put it after the command: coinm sim --seed" in _refused(["--seed", "3", "sim"], capsys)
    assert "--rest-url before `keygen`" in _refused(["--rest-url", "http://127.0.0.1:1", "keygen"], capsys)


def test_the_dashboard_refuses_a_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        dashboard_config(parse(["--config", str(tmp_path / "missing.toml")]), {})


@pytest.mark.parametrize("position,venue", list(itertools.product(["before", "after"], ["testnet", "live"])))
def test_real_profiles_resolve_without_touching_the_network(position: str, venue: str) -> None:
    """With the real profiles, the resolver alone: testnet and live get their own three URLs."""
    flag = f"--{venue}"
    args = parse([flag, "orders", "--symbol", SYM] if position == "before" else ["orders", flag, "--symbol", SYM])
    cfg = load_config(cli={k: getattr(args, k, None) for k in ("venue", "rest_url", "stream_url", "wsapi_url")},
                      env={})
    assert cfg.venue == PROFILES[venue]
    assert cfg.venue_summary() == f"venue {venue} (command line), REST {host(PROFILES[venue].rest_url or '')}"
