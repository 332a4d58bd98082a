"""``coinm sim``: run the simulated exchange alone (wired into the CLI by tui/cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from feeds.sim.faults import FAULTS_HELP, parse_fault_spec

if TYPE_CHECKING:  # the exchange (and aiohttp) load when the simulator runs, not for --help
    from feeds.sim.exchange import SimExchange

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``coinm sim``."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=0,
                        help="REST port (streams and WebSocket API use port+1); 0 picks free ports")
    parser.add_argument("--seed", type=int, default=1, help="market seed (same seed, same market)")
    parser.add_argument("--speed", type=_speed, default=1.0, help="activity multiplier (default 1)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the demo credentials live (default: $COINM_SIM_DATA_DIR or <XDG data>/coinm/sim)")
    parser.add_argument("--algo-orders", action="store_true",
                        help="like the live venue: conditional order types only via POST /dapi/v1/algoOrder "
                             "(order.place answers -4120)")
    parser.add_argument("--faults", default="", help=FAULTS_HELP)
    parser.add_argument("--account", action="append", default=[], metavar="NAME:ed25519:PUBKEY.pem",
                        help="another account with its own key: NAME:ed25519:PUBKEY.pem or NAME:hmac:SECRETFILE "
                             "(repeatable; its API key is printed at start)")
    parser.add_argument("--accounts", type=Path, default=None, metavar="FILE",
                        help="more accounts from a TOML file of [[account]] tables (see feeds/sim/keys.py)")


def _port(text: str) -> int:
    """``--port``: 0 (free ports) or a port whose successor (streams, WebSocket API) exists too."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= port <= 65534:
        raise argparse.ArgumentTypeError(f"{port} is not a port from 1 to 65534 (or 0 for free ports); "
                                         "the WebSocket port is the next one")
    return port


def _speed(text: str) -> float:
    """``--speed``: a finite number above 0."""
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(speed) or speed <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number above 0 (e.g. 1 or 10)")
    return speed


def apply_faults(sim: SimExchange, spec: str) -> None:
    """Run each fault of a ``--faults`` spec on its schedule, printing each as it fires
    (see :func:`feeds.sim.faults.parse_fault_spec`)."""
    sim.on_fault = lambda r: print(f"fault  {r.kind}  {r.detail}", flush=True)
    sim.faults.schedule(parse_fault_spec(spec, sim.symbols))


GC_THRESHOLD = (20_000, 20, 20)
"""The garbage collector's thresholds in a ``coinm sim`` process. A fast market makes and
drops tens of thousands of resting orders and fills a second: at the default (700, 10, 10)
the collector ran every few hundred and rescanned the books each time (about a tenth of the
simulator's CPU at 1000x). Collections are rarer but the same (nothing here depends on when
they happen: the market's objects are freed by reference counting)."""


def tune_collector() -> None:
    """The start-up's objects (contracts, books, candles) leave the collector's generations,
    and collections are rarer (``GC_THRESHOLD``): for the simulator's own process only."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


async def _serve(args: argparse.Namespace) -> None:
    from feeds.sim.exchange import SimExchange

    sim = SimExchange(seed=args.seed, speed=args.speed, data_dir=args.data_dir, algo_orders=args.algo_orders)
    from feeds.sim.keys import register

    register(sim, getattr(args, "sim_accounts", []))
    urls = await sim.start(args.host, args.port)
    apply_faults(sim, args.faults)
    tune_collector()
    creds = sim.credentials
    print(f"REST            {urls.rest}/dapi/v1")
    print(f"market streams  {urls.stream}/ws/<stream>  {urls.stream}/stream?streams=a/b")
    print(f"WebSocket API   {urls.wsapi}")
    print(f"demo API key    {creds.api_key}")
    print(f"demo Ed25519    {creds.ed25519_key_path}")
    print(f"demo HMAC file  {creds.ed25519_key_path.parent / 'demo-hmac-secret'}")
    for a in getattr(args, "sim_accounts", []):
        print(f"account {a.name:<8}{a.api_key}  ({'Ed25519' if a.ed25519_public_pem else 'HMAC'})")
    print(f"use with        coinm --venue sim --rest-url {urls.rest} --wsapi-url {urls.wsapi} ...")
    print("serving; Ctrl-C to stop", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; returns the exit status."""
    try:
        from feeds.sim.market import build_symbols

        parse_fault_spec(getattr(args, "faults", "") or "", set(build_symbols()))
        from feeds.sim.keys import from_options

        args.sim_accounts = from_options(getattr(args, "account", []), getattr(args, "accounts", None))
    except ValueError as exc:
        print(f"coinm sim: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"coinm sim: cannot listen: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
