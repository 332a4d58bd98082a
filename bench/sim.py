"""The simulated exchange under many clients: its CPU at a given speed with N dashboards' streams.

``coinm sim --speed N`` runs in its own process; this one opens ``--clients`` combined-stream
connections, each subscribed to the dashboard's market streams for BTCUSD_PERP (diff depth
@100ms, aggTrade, markPrice@1s, indexPrice@1s, ticker, kline_1m, forceOrder, !miniTicker@arr),
reads everything for ``--seconds`` after a warm-up, and prints the simulator's CPU per wall
second (1.0 = one core) beside what each client received, and the market's pace (the share of
market time the engine stepped: below 1.00 it could not keep up and skipped ahead). The clients
only count frames (no decode), so their cost says nothing of the simulator's; they run in this
process, beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from bench import print_table, register

_DEPTH_HEAD = '{"stream":"btcusd_perp@depth@100ms"'
STREAMS = ("btcusd_perp@depth@100ms", "btcusd_perp@aggTrade", "btcusd_perp@markPrice@1s", "btcusd@indexPrice@1s",
           "btcusd_perp@ticker", "btcusd_perp@kline_1m", "btcusd_perp@forceOrder", "!miniTicker@arr")


async def _clients(url: str, n: int, warmup: float, seconds: float, sim: object) -> dict[str, float]:
    import websockets

    counts = [0] * n
    sizes = [0] * n
    recording = False
    depth = [0]
    """Client 0's diff-depth frames: one per 100 ms of market time the engine stepped (its book
    changes every step at these speeds), so they say whether it kept up."""

    async def client(i: int) -> None:
        async with websockets.connect(url, max_size=None, ping_interval=None) as ws:
            async for frame in ws:
                if recording:
                    counts[i] += 1
                    sizes[i] += len(frame)
                    if not i and isinstance(frame, str) and frame.startswith(_DEPTH_HEAD):
                        depth[0] += 1

    tasks = [asyncio.create_task(client(i)) for i in range(n)]
    await asyncio.sleep(warmup)
    cpu0, wall0, own0 = sim.cpu(), time.monotonic(), time.process_time()  # type: ignore[attr-defined]
    recording = True
    await asyncio.sleep(seconds)
    recording = False
    wall = time.monotonic() - wall0
    cpu = sim.cpu() - cpu0  # type: ignore[attr-defined]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    pace = depth[0] / 10 / wall
    return {"sim_cpu": cpu / wall, "clients_cpu": (time.process_time() - own0) / wall, "pace": pace,
            "frames_per_s": sum(counts) / wall / n, "kb_per_s": sum(sizes) / wall / n / 1024,
            "slowest_client_frames_per_s": min(counts) / wall}


@register("sim", "the simulator's CPU at a speed with N clients on the dashboard's streams")
def main(argv: list[str]) -> None:
    from bench.ui import Sim, _clean_env

    parser = argparse.ArgumentParser(prog="python -m bench sim")
    parser.add_argument("--sim-speeds", default="100,1000", help="simulator speeds (comma separated)")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--runs", type=int, default=3,
                        help="runs of each speed, each with its own simulator: the row is the run with the median "
                             "CPU per market second (a single 10 s run moves by ±15%% on a shared 2-core box)")
    args, _ = parser.parse_known_args(argv)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load}; {args.clients} clients, each on: {' '.join(STREAMS)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="coinm-bench-sim-") as tmp_name:
        tmp = Path(tmp_name)
        env = _clean_env(tmp)
        for speed in (float(s) for s in args.sim_speeds.split(",") if s):
            runs = []
            for _ in range(max(1, args.runs)):
                sim = Sim(speed, tmp, env)
                try:
                    url = f"{sim.stream}/stream?streams={'/'.join(STREAMS)}"
                    r = asyncio.run(_clients(url, args.clients, args.warmup, args.seconds, sim))
                finally:
                    sim.stop()
                r["per_market"] = r["sim_cpu"] / r["pace"] if r["pace"] else float("inf")
                runs.append(r)
            runs.sort(key=lambda x: x["per_market"])
            r = runs[len(runs) // 2]
            every = ", ".join(f"{x['per_market']:.2f}" for x in runs)
            rows.append((f"{speed:g}x", f"{r['sim_cpu']:.2f}", f"{r['frames_per_s']:,.0f}", f"{r['kb_per_s']:,.0f}",
                         f"{r['slowest_client_frames_per_s']:,.0f}", f"{r['pace']:.2f}", f"{r['per_market']:.2f}",
                         every, f"{r['clients_cpu']:.2f}", ", ".join(f"{x:.2f}" for x in os.getloadavg())))
    print_table(("speed", "sim CPU (cores)", "frames/s per client", "KiB/s per client", "slowest client frames/s",
                 "market pace", "CPU per market second", "every run", "clients' CPU", "load after"), rows)
    print(f"each row: the median of {max(1, args.runs)} runs by CPU per market second (every run: all of them, "
          "sorted), each with its own simulator")
    print("market pace: market time stepped per wall second, from the 100 ms diff-depth frames (speed multiplies "
          "activity, not time: 1.00 is the engine keeping up; below, it lags and skips ahead)")
    print("CPU per market second: the simulator's CPU over the market pace, the cores it needs to keep up at this "
          "speed (1.00 or less: one core keeps pace); less load-sensitive than the pace, which a busy box lowers")
    print("clients' CPU: this process's, reading (not decoding) every frame of every client")
