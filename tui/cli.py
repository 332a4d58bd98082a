"""The ``coinm`` command: the dashboard by default, plus ``sim``, ``keygen`` and order commands.

Heavy modules (Textual, the simulator, aiohttp) are imported only by the subcommand that needs
them, arguments included (a subcommand's module adds its arguments when that subcommand is
parsed), so ``coinm --help`` and the headless commands start fast.

An option given before the command (``coinm --testnet order ...``) means what it means after it
(``coinm order --testnet ...``); one that does not apply to the command is refused, as is a
venue given twice with different values. Bad input is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import getpass
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from feeds.config import Config
    from feeds.sim.child import SimChild

__all__ = ["UsageError", "build_parser", "dashboard_config", "main", "parse"]

_DASHBOARD_EPILOG = """\
venues:
  sim (default)  an embedded simulated COIN-M exchange on loopback: no keys, no internet;
                 trading uses the simulator's demo key pair, generated on first run
  testnet        Binance's futures testnet; keys from the environment
  live           Binance COIN-M, real money; keys from the environment

credentials (never read from the config file, never printed):
  COINM_API_KEY             the API key
  COINM_ED25519_KEY_FILE    Ed25519 private key PEM (chmod 600), see `coinm keygen`
  COINM_ED25519_PASSPHRASE  its passphrase, if it has one
  COINM_HMAC_SECRET         or an HMAC secret (or COINM_HMAC_SECRET_FILE)

every option also reads COINM_<NAME> from the environment (e.g. COINM_SYMBOL) and
`symbol = ...` style keys from <config dir>/coinm/config.toml; flags win over both.
an embedded simulator starts only when nothing (flag, COINM_* variable, config file) names a
venue or a URL; URLs given for the simulator must include --rest-url and --wsapi-url (or
--stream-url): its REST and WebSocket ports differ.
"""

_GLOBAL = "global_"
"""Prefix of the namespace names of options given before the command (see :func:`parse`)."""
_VENUE_OPTIONS = ("venue", "rest_url", "stream_url", "wsapi_url", "config")
_DASHBOARD_OPTIONS = (*_VENUE_OPTIONS, "symbol", "theme", "seed")
_TRADING_COMMANDS = ("order", "cancel", "orders", "account", "leverage", "margin-type", "margin", "position-mode",
                     "close", "history")


class UsageError(Exception):
    """The command line cannot be used as given; the message is one line for the user."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``coinm order: ...``), exit status 2.

    A subcommand's parser gets its module's arguments only when it is used (parsed, or its help
    shown): :func:`_register` defers the import, so ``coinm --help`` and every other command
    import nothing of it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: list[tuple[str, str, str]] = []

    def _load_deferred(self) -> None:
        while self._deferred:
            _load(self, *self._deferred.pop(0))

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._load_deferred()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._load_deferred()
        return super().format_help()

    def format_usage(self) -> str:
        self._load_deferred()
        return super().format_usage()

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _add_venue_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    group = parser.add_argument_group("venue")
    choice = group.add_mutually_exclusive_group()
    choice.add_argument("--venue", dest=f"{prefix}venue", choices=("sim", "testnet", "live"),
                        help="where to connect (default: sim)")
    choice.add_argument("--testnet", dest=f"{prefix}venue", action="store_const", const="testnet",
                        help="same as --venue testnet")
    choice.add_argument("--live", dest=f"{prefix}venue", action="store_const", const="live",
                        help="same as --venue live")
    group.add_argument("--rest-url", dest=f"{prefix}rest_url", metavar="URL",
                       help="REST base URL (as `coinm sim` prints it, /dapi/v1 or not)")
    group.add_argument("--stream-url", dest=f"{prefix}stream_url", metavar="URL",
                       help="market stream base URL")
    group.add_argument("--wsapi-url", dest=f"{prefix}wsapi_url", metavar="URL", help="WebSocket API URL")
    group.add_argument("--config", dest=f"{prefix}config", metavar="FILE", type=Path,
                       help="config file, which must exist (default: <config dir>/coinm/config.toml, optional)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="coinm",
        description="Keyboard-driven terminal trading dashboard for Binance COIN-M futures.",
        epilog=_DASHBOARD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Options before the command land under their own names (prefix _GLOBAL), so a command's
    # own defaults cannot silently overwrite them; parse() then applies or refuses each.
    _add_venue_arguments(parser, _GLOBAL)
    parser.add_argument("--symbol", dest=f"{_GLOBAL}symbol", help="contract to show first, e.g. BTCUSD_PERP (default)")
    parser.add_argument("--theme", dest=f"{_GLOBAL}theme",
                        help="Textual theme, e.g. textual-dark (default) or textual-light")
    parser.add_argument("--seed", dest=f"{_GLOBAL}seed", type=int, help="simulator seed (venue sim only)")
    parser.set_defaults(handler=_run_dashboard, command="dashboard")

    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    sim = sub.add_parser("sim", help="run the simulated exchange alone and print its URLs")
    sim.set_defaults(command="sim")
    _register(sim, "feeds.sim.cli", "add_arguments", "run")

    keygen = sub.add_parser("keygen", help="write an Ed25519 key pair to register with Binance")
    keygen.add_argument("--out", type=Path, help="private key path (default: <config dir>/coinm/ed25519.pem)")
    keygen.add_argument("--no-passphrase", action="store_true",
                        help="write the key unencrypted (required when stdin is not a terminal)")
    keygen.set_defaults(handler=_run_keygen, command="keygen")

    alert = sub.add_parser("alert", help="price, move, funding and liquidation alerts: add, list, rm")
    alert.set_defaults(command="alert")
    _register(alert, "tui.alert_cli", "add_alert_arguments", "run_alert")

    for module, name, help_text in (  # the commands that talk to a venue: its options, their own lazily
        ("tui.order_cli", "order", "validate and place one order (or --dry-run to print the signed request)"),
        ("tui.order_cli", "cancel", "cancel one order or all orders of a symbol"),
        ("tui.order_cli", "orders", "list open orders of a symbol (every symbol without --symbol)"),
        ("tui.risk_cli", "account", "balances, positions and margin ratios"),
        ("tui.risk_cli", "leverage", "a symbol's leverage and the largest position it allows (--set N to change it)"),
        ("tui.risk_cli", "margin-type", "a symbol's margin type (--set ISOLATED|CROSSED to change it)"),
        ("tui.risk_cli", "margin", "add or remove isolated margin, the new liquidation price previewed"),
        ("tui.risk_cli", "position-mode", "one-way or hedge mode (--set HEDGE|ONE_WAY to change it)"),
        ("tui.risk_cli", "close", "close a position: MARKET, or LIMIT with --price"),
        ("tui.history_cli", "history", "trades, orders, income or daily P&L (cached locally); a table or --csv"),
    ):
        command = sub.add_parser(name, help=help_text)
        command.set_defaults(command=name)
        _add_venue_arguments(command)
        snake = name.replace("-", "_")
        _register(command, module, f"add_{snake}_arguments", f"run_{snake}")
    return parser


def _flag(name: str, value: object) -> str:
    if name == "venue":
        return f"--venue {value}"
    return f"--{name.replace('_', '-')}"


def _place_global_options(args: argparse.Namespace) -> None:
    """Give the options written before the command the meaning they have after it, or refuse.

    Raises:
        UsageError: an option that does not apply to the command, or a setting given before
            and after the command with different values.
    """
    command: str = args.command
    before = {name: getattr(args, _GLOBAL + name, None) for name in _DASHBOARD_OPTIONS}
    for name in _DASHBOARD_OPTIONS:
        if hasattr(args, _GLOBAL + name):
            delattr(args, _GLOBAL + name)
    if command == "dashboard":
        for name, value in before.items():
            setattr(args, name, value)
        return
    given = {name: value for name, value in before.items() if value is not None}
    if command not in _TRADING_COMMANDS:
        if given:
            name, value = next(iter(given.items()))
            hint = f"; put it after the command: coinm {command} {_flag(name, value)} ..." if (
                command == "sim" and name == "seed") else ""
            raise UsageError(f"{_flag(name, value)} before `{command}` does not apply to it{hint}")
        return
    if "theme" in given:
        raise UsageError(f"--theme before `{command}` does not apply to it (the dashboard's only)")
    for name in ("venue", "rest_url", "stream_url", "wsapi_url", "config", "symbol"):
        if name not in given:
            continue
        after = getattr(args, name, None)
        top = given[name]
        same = str(after).upper() == str(top).upper() if name == "symbol" else after == top
        if after is not None and not same:
            raise UsageError(
                f"{_flag(name, top)} before `{command}` and {_flag(name, after)} after it disagree; "
                "give it once"
            )
        setattr(args, name, top if after is None else after)
    args.seed = given.get("seed")


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line, with the options written before the command applied to it.

    Raises:
        SystemExit: argparse's own exit (``--help``, or a one-line error, status 2).
        UsageError: see :func:`_place_global_options`.
    """
    args = build_parser().parse_args(argv)
    _place_global_options(args)
    return args


def _register(parser: argparse.ArgumentParser, module: str, add_name: str, run_name: str) -> None:
    """Let ``module`` add its own arguments (``add_name(parser)``) and run the command
    (``run_name(args)``), imported only when the command is used or its help shown."""
    if isinstance(parser, _Parser):
        parser._deferred.append((module, add_name, run_name))
    else:
        _load(parser, module, add_name, run_name)


def _load(parser: argparse.ArgumentParser, module: str, add_name: str, run_name: str) -> None:
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # a part not installed in this build: say so when it is used
        reason = str(exc)
        parser.set_defaults(handler=lambda _args: _unavailable(module, reason))
        return
    getattr(mod, add_name)(parser)
    parser.set_defaults(handler=getattr(mod, run_name))


def _unavailable(module: str, reason: str) -> int:
    print(f"coinm: this command is unavailable ({module}: {reason})", file=sys.stderr)
    return 2


def dashboard_config(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Config:
    """The dashboard's settings from a :func:`parse` result, the environment and the config file,
    with the theme checked against Textual's themes.

    Raises:
        ConfigError: a setting cannot be used (the message names where it came from).
    """
    config = _load_dashboard_config(args, env)
    _check_theme(config)
    return config


def _load_dashboard_config(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Config:
    """:func:`dashboard_config` without the theme check (which imports Textual)."""
    from feeds.config import load_config

    keys = ("venue", "symbol", "theme", "rest_url", "stream_url", "wsapi_url", "seed", "config")
    cli = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    return load_config(cli=cli, env=os.environ if env is None else env)


def _check_theme(config: Config) -> None:
    from textual.theme import BUILTIN_THEMES  # imported only here: `coinm --help` stays light

    from feeds.config import ConfigError

    if config.theme not in BUILTIN_THEMES:
        source = config.sources.get("theme", "")
        where = {"cli": "--theme", "file": f"theme in {config.config_path}"}.get(source, source.removeprefix("env "))
        raise ConfigError(
            f"{where}: theme {config.theme!r} is not one of Textual's themes: {', '.join(sorted(BUILTIN_THEMES))}"
        )


STARTUP_GC_PAUSE_S = 5.0
"""How long the dashboard's start-up runs without the cyclic garbage collector (see
:func:`_gc_paused`): time enough for the first full frame on a loaded machine; the dashboard
freezes its start-up objects and sets its own thresholds on its own schedule (``tui.app``)."""


class _GcPause:
    """The collector switched off by :func:`_gc_paused`, and the timer that switches it back on."""

    def __init__(self, seconds: float, paused: bool) -> None:
        self.seconds = seconds
        self.paused = paused
        """False when the collector was already off: nothing is switched on again."""
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        """Start the timer (once): the collector is on again ``seconds`` from now at the latest."""
        if self.paused and self._timer is None:
            self._timer = threading.Timer(self.seconds, gc.enable)
            self._timer.daemon = True
            self._timer.start()

    def end(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.paused:
            gc.enable()


@contextlib.contextmanager
def _gc_paused(seconds: float, *, armed: bool = True) -> Iterator[_GcPause]:
    """Run the body with the cyclic garbage collector off for at most ``seconds`` (a timer
    turns it back on; leaving the body does too, at once).

    Why: start-up builds some 100,000 objects that all stay alive (modules, Textual's DOM and
    CSS, the symbol tables, the first book); every collection in that time walks them for
    nothing, about 0.14 s of CPU before the first full frame (one sixth of it). Reference
    counting still frees everything acyclic meanwhile; cycles made in those seconds are
    collected once the collector is back on. Nothing changes if the collector was already off.

    With ``armed=False`` the timer (a thread) starts only when the body calls ``arm()`` on what
    this yields: the dashboard forks its simulator first, and a process forks safely only while
    it has one thread.
    """
    pause = _GcPause(seconds, paused=gc.isenabled())
    gc.disable()
    if armed:
        pause.arm()
    try:
        yield pause
    finally:
        pause.end()


def _run_dashboard(args: argparse.Namespace) -> int:
    from feeds.config import ConfigError

    # the collector is off from before the imports (they are a third of it); its timer thread
    # starts once the simulator's child is forked
    with _gc_paused(STARTUP_GC_PAUSE_S, armed=False) as pause:
        try:
            config = _load_dashboard_config(args)
        except ConfigError as exc:
            print(f"coinm: {exc}", file=sys.stderr)
            return 2
        try:
            sim = _early_sim(config)
        finally:
            pause.arm()
        try:
            try:
                _check_theme(config)
            except ConfigError as exc:
                print(f"coinm: {exc}", file=sys.stderr)
                return 2
            for warning in config.warnings:
                print(f"coinm: warning: {warning}", file=sys.stderr)
            from tui.app import run_dashboard

            return run_dashboard(config, sim=sim) if sim is not None else run_dashboard(config)
        finally:
            if sim is not None:
                sim.stop()  # run_dashboard stopped it already, unless it failed before it could


def _early_sim(config: Config) -> SimChild | None:
    """The embedded simulator's child process (``feeds.sim.child``), started before Textual is
    imported so the two start-ups overlap on two cores; None when the venue is not the
    embedded simulator, or when the dashboard's module is loaded already (a test, a program
    running ``coinm`` in-process): with no import left to overlap, ``run_dashboard`` starts
    it itself.

    The feed layer (aiohttp, websockets, the models: what the dashboard and the simulator both
    use) is imported first, so a forked child has it already and imports only the simulator.
    """
    if not (config.venue.is_sim and not config.venue.ready) or "tui.app" in sys.modules:
        return None
    import feeds.session  # noqa: F401  (see above)
    from feeds.sim.child import SimChildError, spawn

    try:
        return spawn(seed=config.sim_seed, speed=config.sim_speed, log_file=config.log_file)
    except SimChildError:
        return None  # run_dashboard tries again and says why it cannot


def _run_keygen(args: argparse.Namespace) -> int:
    from feeds.signing import KeyFileError, generate_ed25519_keypair

    out: Path = args.out or _default_key_path()
    passphrase = None
    if not args.no_passphrase and not sys.stdin.isatty():
        print("coinm keygen: stdin is not a terminal, so no passphrase can be asked for and the private "
              "key would be written unencrypted; pass --no-passphrase to do that deliberately "
              "(nothing written)", file=sys.stderr)
        return 2
    if not args.no_passphrase:
        first = getpass.getpass("Passphrase for the private key (empty for none): ")
        if first and getpass.getpass("Repeat passphrase: ") != first:
            print("coinm keygen: the passphrases differ; nothing written", file=sys.stderr)
            return 2
        passphrase = first or None
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        public_pem = generate_ed25519_keypair(out, out.with_suffix(".pub.pem"), passphrase=passphrase)
    except (KeyFileError, OSError) as exc:
        print(f"coinm keygen: {exc}", file=sys.stderr)
        return 2
    print(f"private key: {out} (mode 600{', passphrase protected' if passphrase else ''})")
    print(f"public key:  {out.with_suffix('.pub.pem')}")
    print("Register this public key with Binance (API Management > Create API > Self-generated):\n")
    print(public_pem.strip())
    print(f"\nthen: export COINM_API_KEY=<the key Binance shows> COINM_ED25519_KEY_FILE={out}")
    return 0


def _default_key_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("coinm")) / "ed25519.pem"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse(argv)
    except SystemExit as exc:  # --help, or argparse's one-line error
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except UsageError as exc:
        print(f"coinm: {exc}", file=sys.stderr)
        return 2
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
