"""The ``coinm`` command: the dashboard by default, plus ``sim``, ``keygen`` and order commands.

Heavy modules (Textual, the simulator) are imported only by the subcommand that needs them,
so ``coinm --help`` and the headless commands start fast.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["main", "build_parser"]

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
"""


def _add_venue_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("venue")
    choice = group.add_mutually_exclusive_group()
    choice.add_argument("--venue", choices=("sim", "testnet", "live"), help="where to connect (default: sim)")
    choice.add_argument("--testnet", dest="venue", action="store_const", const="testnet", help="same as --venue testnet")
    choice.add_argument("--live", dest="venue", action="store_const", const="live", help="same as --venue live")
    group.add_argument("--rest-url", metavar="URL", help="override the REST base URL")
    group.add_argument("--stream-url", metavar="URL", help="override the market stream base URL")
    group.add_argument("--wsapi-url", metavar="URL", help="override the WebSocket API URL")
    group.add_argument("--config", metavar="FILE", type=Path, help="config file (default: <config dir>/coinm/config.toml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coinm",
        description="Keyboard-driven terminal trading dashboard for Binance COIN-M futures.",
        epilog=_DASHBOARD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_venue_arguments(parser)
    parser.add_argument("--symbol", help="contract to show first, e.g. BTCUSD_PERP (default)")
    parser.add_argument("--theme", help="Textual theme, e.g. textual-dark (default) or textual-light")
    parser.add_argument("--seed", type=int, help="simulator seed (venue sim only)")
    parser.set_defaults(handler=_run_dashboard)

    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    sim = sub.add_parser("sim", help="run the simulated exchange alone and print its URLs")
    _register(sim, "feeds.sim.cli", "add_arguments", "run")

    keygen = sub.add_parser("keygen", help="write an Ed25519 key pair to register with Binance")
    keygen.add_argument("--out", type=Path, help="private key path (default: <config dir>/coinm/ed25519.pem)")
    keygen.add_argument("--no-passphrase", action="store_true", help="do not ask for a passphrase")
    keygen.set_defaults(handler=_run_keygen)

    for name, help_text in (
        ("order", "validate and place one order (or --dry-run to print the signed request)"),
        ("cancel", "cancel one order or all orders of a symbol"),
        ("orders", "list open orders of a symbol"),
    ):
        command = sub.add_parser(name, help=help_text)
        _add_venue_arguments(command)
        _register(command, "tui.order_cli", f"add_{name}_arguments", f"run_{name}")
    return parser


def _register(parser: argparse.ArgumentParser, module: str, add_name: str, run_name: str) -> None:
    """Let a module add its own arguments; defer its import cost to when it runs if possible."""
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


def _cli_overrides(args: argparse.Namespace) -> dict[str, object]:
    keys = ("venue", "symbol", "theme", "rest_url", "stream_url", "wsapi_url", "seed")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def _run_dashboard(args: argparse.Namespace) -> int:
    from feeds.config import ConfigError, load_config

    try:
        config = load_config(cli=_cli_overrides(args), env=os.environ, config_path=args.config)
    except ConfigError as exc:
        print(f"coinm: {exc}", file=sys.stderr)
        return 2
    from tui.app import run_dashboard

    return run_dashboard(config)


def _run_keygen(args: argparse.Namespace) -> int:
    from feeds.signing import KeyFileError, generate_ed25519_keypair

    out: Path = args.out or _default_key_path()
    passphrase = None
    if not args.no_passphrase and sys.stdin.isatty():
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
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
