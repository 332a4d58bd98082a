"""Soak: the real dashboard, headless, against the simulator at 10x for a long while; RSS over time.

The simulator runs in its own process (``coinm sim --speed N``, as in ``bench ui``); the app
runs here with the demo account and every feed. Resident memory is sampled from ``/proc``; the
table shows it from the end of the warm-up on, and the drift from the first sample to the last
(the issue's target: flat within ±5% over 30 minutes at 10x).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import print_table, register
from bench.ui import Sim, _clean_env


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _soak(sim: Sim, minutes: float, warmup: float, every: float,
                tracer: Any = None, trace_every: float = 0,
                trim: bool = False) -> list[tuple[float, float, int, bool]]:
    from feeds.config import Credentials, load_config
    from feeds.session import DashboardSession
    from feeds.signing import load_ed25519_private_key
    from feeds.sim import DEMO_API_KEY
    from tui.app import CoinmApp

    config = load_config(cli={"venue": "sim", "rest_url": sim.rest, "stream_url": sim.stream,
                              "wsapi_url": sim.wsapi}, env={}, config_path=None)
    credentials = Credentials(DEMO_API_KEY, private_key=load_ed25519_private_key(Path(sim.key)))

    async def factory() -> DashboardSession:
        return DashboardSession(config, credentials)

    app = CoinmApp(factory, venue="sim", freeze_gc=True)  # as `coinm` runs it
    samples: list[tuple[float, float, int, bool]] = []
    async with app.run_test(size=(160, 48)) as pilot:
        start = time.monotonic()
        await pilot.pause(warmup)
        end = start + warmup + minutes * 60
        next_trace = start + warmup
        while time.monotonic() < end:
            s = app.session
            messages = s.stream.state.messages if s is not None and s.stream is not None else 0
            synced = bool(s is not None and s.depth is not None and s.depth.synced)
            if trim:  # an experiment: how much of the drift is free memory glibc keeps
                import ctypes

                ctypes.CDLL("libc.so.6").malloc_trim(0)
            now = time.monotonic()
            samples.append((now - start, _rss_mb(), messages, synced))
            if tracer is not None:
                print(f"  {(now - start) / 60:5.1f} min  RSS {samples[-1][1]:6.1f} MB  "
                      + "  ".join(f"{k} {v:.1f}" for k, v in tracer.cheap().items()), flush=True)
                if now >= next_trace:
                    tracer.checkpoint((now - start) / 60, app)
                    next_trace = now + trace_every
            await pilot.pause(every)
        if tracer is not None:
            tracer.checkpoint((time.monotonic() - start) / 60, app)
    return samples


@register("soak", "the dashboard at 10x for N minutes: resident memory over time (flat within ±5%?)")
def run(argv: list[str]) -> None:
    """Soak in a fresh interpreter: ``python -m bench`` runs the other benches first in this
    process, and the memory they leave mapped would be part of every sample here, shrinking the
    drift's share (the book bench leaves this process at ~120 MB, more than the dashboard's own)."""
    code = "import sys; from bench.soak import soak_here; soak_here(sys.argv[1:])"
    subprocess.run([sys.executable, "-c", code, *argv], check=False)


def soak_here(argv: list[str]) -> None:
    # every bench gets the same options (``python -m bench book ui soak --soak-minutes 30``): the
    # soak's are prefixed, or its --minutes would also set bench resilience's length (it did)
    parser = argparse.ArgumentParser(prog="python -m bench soak")
    parser.add_argument("--soak-minutes", type=float, default=5, help="the issue's soak is --soak-minutes 30")
    parser.add_argument("--soak-speed", type=float, default=10)
    parser.add_argument("--soak-warmup", type=float, default=60, help="seconds before the first sample")
    parser.add_argument("--soak-every", type=float, default=30, help="seconds between samples")
    parser.add_argument("--soak-trace", type=float, default=0, metavar="SECONDS",
                        help="diagnose growth (bench/soak_trace.py): object counts by type, containers that "
                             "grew, pymalloc arenas, glibc heap, Textual caches, every SECONDS")
    parser.add_argument("--soak-tracemalloc", action="store_true",
                        help="with --soak-trace: tracemalloc snapshots compared (slows the app, inflates RSS)")
    parser.add_argument("--soak-malloc-trim", action="store_true",
                        help="an experiment: glibc malloc_trim(0) before every sample")
    args, _ = parser.parse_known_args(argv)
    tracer = None
    if args.soak_trace:
        from bench.soak_trace import Tracer

        tracer = Tracer(args.soak_tracemalloc)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = _clean_env(tmp)
        os.environ.update({k: v for k, v in env.items() if k.startswith("COINM_")})
        sim = Sim(args.soak_speed, tmp, env)
        try:
            samples = asyncio.run(_soak(sim, args.soak_minutes, args.soak_warmup, args.soak_every,
                                        tracer, args.soak_trace, args.soak_malloc_trim))
        finally:
            sim.stop()
    if not samples:
        print("no samples")
        return
    step = max(1, len(samples) // 12)
    rows: list[list[Any]] = [[f"{t / 60:.1f}", f"{rss:.1f}", f"{msgs:,}", "yes" if ok else "no"]
                             for t, rss, msgs, ok in samples[::step]]
    if samples[-1] is not samples[::step][-1]:
        t, rss, msgs, ok = samples[-1]
        rows.append([f"{t / 60:.1f}", f"{rss:.1f}", f"{msgs:,}", "yes" if ok else "no"])
    print_table(("minute", "RSS MB", "market messages", "book synced"), rows)
    first, last = samples[0][1], samples[-1][1]
    low, high = min(s[1] for s in samples), max(s[1] for s in samples)
    print(f"speed {args.soak_speed:g}x, {args.soak_minutes:g} min after {args.soak_warmup:g} s warm-up: "
          f"RSS first {first:.1f} MB, "
          f"last {last:.1f} MB ({last - first:+.1f} MB, {(last - first) / first * 100:+.1f}%), "
          f"range {low:.1f}–{high:.1f} MB "
          f"({(high - low) / first * 100:.1f}% of the first); target: flat within ±5%")
    # bounded caches (rich's cell-width cache, Textual's region caches, the tapes) fill in the
    # first minutes whatever the speed; the second half tells a fill from a creep
    half = [s for s in samples if s[0] >= (samples[0][0] + samples[-1][0]) / 2]
    if len(half) >= 2 and half[-1][0] > half[0][0]:
        drift = half[-1][1] - half[0][1]
        print(f"second half (minute {half[0][0] / 60:.1f} to {half[-1][0] / 60:.1f}): {drift:+.1f} MB "
              f"({drift / first * 100:+.1f}%), {drift / ((half[-1][0] - half[0][0]) / 60):+.3f} MB/min")
    if tracer is not None:
        tracer.report()
