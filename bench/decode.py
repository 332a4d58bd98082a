"""Decode throughput: stdlib ``json`` vs ``orjson`` (the parser coinm uses for most frames) vs
``msgspec`` (which coinm uses for diff-depth frames, feeds/depthwire.py), on the same frames.

The frames are what the simulator sends for the dashboard's streams, captured from a stepped
market (fixed seed): diff depth ``@100ms``, ``aggTrade``, ``markPrice@1s`` and the all-market
``!miniTicker@arr``, each raw and inside a combined-stream wrapper
(``{"stream": ..., "data": ...}``, as the dashboard receives them). A second table adds the
typed parse: ``unwrap_combined`` + ``DepthUpdate.from_wire`` / ``parse_market_event`` from
:mod:`feeds.models`, i.e. what the market handler does per frame, and for depth frames coinm's
own decoder (``feeds.depthwire.decode_depth_frame``: msgspec straight into typed events, which is
what the stream client does with them now).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench import print_table, register
from feeds.depthwire import decode_depth_frame
from feeds.models import DepthUpdate, parse_market_event, unwrap_combined

SYMBOL = "BTCUSD_PERP"
STREAMS = {
    "depth diff": "btcusd_perp@depth@100ms",
    "aggTrade": "btcusd_perp@aggTrade",
    "markPrice": "btcusd_perp@markPrice@1s",
    "miniTicker arr": "!miniTicker@arr",
}


def capture(seconds: float, seed: int) -> dict[str, list[bytes]]:
    """Raw frames per stream from a stepped simulator (``seconds`` of market time)."""
    from feeds.sim import SimExchange
    from feeds.sim.engine import TICK_MS

    wanted = set(STREAMS.values())
    frames: dict[str, list[bytes]] = {name: [] for name in wanted}
    with tempfile.TemporaryDirectory(prefix="coinm-decode-") as tmp:
        sim = SimExchange(seed=seed, speed=2.0, data_dir=Path(tmp), realtime=False,
                          start_time_ms=1_795_000_020_000)
        hub = sim.hub
        hub.wants = wanted.__contains__  # type: ignore[method-assign]
        hub.active = lambda: list(wanted)  # type: ignore[method-assign]  # the periodic streams

        def send(stream: str, payload: Any) -> None:
            if stream in wanted:
                frames[stream].append(orjson.dumps(payload))

        hub.send = send  # type: ignore[method-assign]
        sim.step(int(seconds * 1000 / TICK_MS))
    return frames


def combined(stream: str, data: bytes) -> bytes:
    """The combined-stream wrapper, byte for byte as the simulator frames it."""
    return b'{"stream":"' + stream.encode() + b'","data":' + data + b"}"


def _time(fn: Callable[[list[bytes]], object], frames: list[bytes], min_s: float, repeats: int) -> float:
    """Best CPU seconds per frame over ``repeats`` runs of at least ``min_s`` each (CPU time: on a
    shared machine the wall clock also counts the time other processes had the core)."""
    best = float("inf")
    for _ in range(repeats):
        n = 0
        start = time.process_time()
        while True:
            fn(frames)
            n += len(frames)
            elapsed = time.process_time() - start
            if elapsed >= min_s:
                break
        best = min(best, elapsed / n)
    return best


def decoders() -> tuple[list[tuple[str, Callable[[bytes], Any]]], list[str]]:
    out: list[tuple[str, Callable[[bytes], Any]]] = [("json (stdlib)", json.loads), ("orjson", orjson.loads)]
    notes = []
    try:
        import msgspec
    except ImportError:
        notes.append("skipped msgspec: not installed (a coinm dependency: pip install -e .)")
    else:
        out.append(("msgspec", msgspec.json.Decoder().decode))
    return out, notes


def msgspec_depth() -> Callable[[bytes], Any] | None:
    """msgspec decoding a combined depth frame straight into typed Structs (no dict at all):
    the strongest decode anchor for the hot stream, or None without msgspec."""
    try:
        import msgspec
    except ImportError:
        return None

    # defstruct: this module's annotations are strings, which msgspec cannot resolve in a function
    depth = msgspec.defstruct("Depth", [("e", str), ("E", int), ("T", int), ("s", str), ("ps", str), ("U", int),
                                        ("u", int), ("pu", int), ("b", list[tuple[str, str]]),
                                        ("a", list[tuple[str, str]])])
    frame = msgspec.defstruct("Frame", [("stream", str), ("data", depth)])
    return msgspec.json.Decoder(frame).decode


def typed(loads: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """Decode + unwrap + typed parse, as the dashboard's market handler does for one frame."""
    from_wire = DepthUpdate.from_wire

    def parse(frame: bytes) -> Any:
        stream, data = unwrap_combined(loads(frame))
        if stream is not None and "@depth" in stream:
            return from_wire(data)
        return parse_market_event(data)

    return parse


@register("decode", "frame decoding: json vs orjson vs msgspec, and decode + feeds.models typed parse (frames/s)")
def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench decode")
    parser.add_argument("--seconds", type=float, default=120.0, help="market time to capture frames from")
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="best of N")
    parser.add_argument("--seed", type=int, default=7)
    args, _ = parser.parse_known_args(argv)  # options of other benches may be in argv too

    started = time.perf_counter()
    captured = capture(args.seconds, args.seed)
    sets: list[tuple[str, list[bytes]]] = []
    for label, stream in STREAMS.items():
        raw = captured[stream]
        if not raw:
            print(f"note: no {label} frames captured")
            continue
        sets.append((f"{label} (raw)", raw))
        sets.append((f"{label} (combined)", [combined(stream, f) for f in raw]))
    mix = [combined(stream, f) for stream in STREAMS.values() for f in captured[stream]]
    mix.sort(key=lambda f: hash(f))  # interleaved, deterministic per run
    sets.append(("all of them (combined)", mix))
    print(f"frames from {args.seconds:g} s of simulated market (seed {args.seed}, captured in "
          f"{time.perf_counter() - started:.1f} s): "
          + ", ".join(f"{label} {len(captured[s])} (avg {sum(map(len, captured[s])) // max(1, len(captured[s]))} B)"
                      for label, s in STREAMS.items()))
    print(f"best of {args.repeats} runs of >= {args.min_time:g} s of CPU time each")

    decs, notes = decoders()
    # Same answer from every decoder, or the comparison means nothing.
    for _, frames in sets:
        for f in frames[:50]:
            ref = orjson.loads(f)
            for name, loads in decs:
                if loads(f) != ref:
                    notes.append(f"warning: {name} decoded a frame differently")

    def over(fn: Callable[[bytes], Any]) -> Callable[[list[bytes]], object]:
        def run(frames: list[bytes]) -> object:
            for f in frames:
                fn(f)
            return None

        return run

    rows = []
    for label, frames in sets:
        per = {name: _time(over(loads), frames, args.min_time, args.repeats) for name, loads in decs}
        base = per["json (stdlib)"]
        rows.append((label, len(frames), *(f"{1 / per[name]:,.0f}" for name, _ in decs),
                     *(f"{base / per[name]:.1f}x" for name, _ in decs if name != "json (stdlib)")))
    names = [name for name, _ in decs]
    print_table(("frames", "n", *(f"{n} frames/s" for n in names),
                 *(f"{n} vs json" for n in names if n != "json (stdlib)")), rows)

    print()
    print("decode + typed parse (unwrap_combined, then DepthUpdate.from_wire or parse_market_event); "
          "'msgspec Struct': depth frames decoded straight into bare msgspec Structs; 'coinm depth decoder': "
          "feeds.depthwire.decode_depth_frame, what the stream client does with depth frames:")
    depth_struct = msgspec_depth()
    rows = []
    for label, frames in sets:
        if "(combined)" not in label:
            continue
        per = {name: _time(over(typed(loads)), frames, args.min_time, args.repeats) for name, loads in decs}
        decode_only = _time(over(orjson.loads), frames, args.min_time, args.repeats)
        struct = ours = "-"
        if depth_struct is not None and label.startswith("depth"):
            struct = f"{1 / _time(over(depth_struct), frames, args.min_time, args.repeats):,.0f}"
            ours = f"{1 / _time(over(decode_depth_frame), frames, args.min_time, args.repeats):,.0f}"
        rows.append((label, *(f"{1 / per[name]:,.0f}" for name in names), struct, ours,
                     f"{per['orjson'] * 1e6:.1f}", f"{100 * decode_only / per['orjson']:.0f}%"))
    print_table(("frames", *(f"{n} + parse /s" for n in names), "msgspec Struct /s", "coinm depth decoder /s",
                 "orjson + parse µs/frame", "orjson decode share"), rows)
    for note in dict.fromkeys(notes):
        print(note)
