"""Market stream names the simulator serves, parsed once into what to send and how often."""

from __future__ import annotations

import re
from dataclasses import dataclass

from feeds.sim.candles import INTERVALS

__all__ = ["StreamSpec", "parse_stream", "well_formed"]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One stream: ``kind``, the symbol or pair it is about (upper case), and its cadence.

    ``period_ms`` is 0 for event-driven streams (the engine pushes them as things happen).
    """

    name: str
    kind: str
    key: str = ""
    period_ms: int = 0
    arg: str = ""
    """Interval of kline streams, level count of partial depth, contract type of continuous klines."""


_CONTRACT_TYPES = {"perpetual": "PERPETUAL", "current_quarter": "CURRENT_QUARTER", "next_quarter": "NEXT_QUARTER"}
_NAME = re.compile(r"^[a-z0-9_]+$")


def parse_stream(name: str, symbols: set[str], pairs: set[str]) -> StreamSpec | None:
    """What ``name`` asks for, or None if it is not a stream this venue serves.

    Args:
        symbols: known symbols (upper case); pairs: known pairs (upper case).
    """
    if not isinstance(name, str):
        return None
    if name in ("!miniTicker@arr", "!ticker@arr", "!bookTicker", "!forceOrder@arr", "!contractInfo"):
        period = {"!miniTicker@arr": 1000, "!ticker@arr": 1000, "!forceOrder@arr": 1000}.get(name, 0)
        return StreamSpec(name, name, "", period)
    head, _, rest = name.partition("@")
    if not rest or not _NAME.match(head):
        return None
    key = head.upper()
    is_symbol = key in symbols
    is_pair = key in pairs
    if is_symbol:
        simple = {
            "aggTrade": ("aggTrade", 0), "depth": ("depth", 0), "depth@100ms": ("depth", 0),
            "depth@500ms": ("depth", 0), "markPrice": ("markPrice", 3000),
            "markPrice@1s": ("markPrice", 1000), "miniTicker": ("miniTicker", 500),
            "ticker": ("ticker", 500), "bookTicker": ("bookTicker", 0),
            "forceOrder": ("forceOrder", 1000),
        }
        if rest in simple:
            kind, period = simple[rest]
            return StreamSpec(name, kind, key, period)
        m = re.fullmatch(r"depth(5|10|20)(@100ms|@500ms)?", rest)
        if m:
            period = {None: 250, "@100ms": 100, "@500ms": 500}[m.group(2)]
            return StreamSpec(name, "partialDepth", key, period, m.group(1))
        m = re.fullmatch(r"(kline|markPriceKline)_(\w+)", rest)
        if m and m.group(2) in INTERVALS:
            return StreamSpec(name, m.group(1), key, 250, m.group(2))
        return None
    if is_pair:
        if rest in ("markPrice", "markPrice@1s"):
            return StreamSpec(name, "pairMarkPrice", key, 3000 if rest == "markPrice" else 1000)
        if rest in ("indexPrice", "indexPrice@1s"):
            return StreamSpec(name, "indexPrice", key, 3000 if rest == "indexPrice" else 1000)
        m = re.fullmatch(r"indexPriceKline_(\w+)", rest)
        if m and m.group(1) in INTERVALS:
            return StreamSpec(name, "indexPriceKline", key, 250, m.group(1))
        return None
    # <pair>_<contractType>@continuousKline_<interval>
    m = re.fullmatch(r"continuousKline_(\w+)", rest)
    if m and m.group(1) in INTERVALS:
        for suffix, ct in _CONTRACT_TYPES.items():
            if head.endswith("_" + suffix) and head[: -len(suffix) - 1].upper() in pairs:
                return StreamSpec(name, "continuousKline", head[: -len(suffix) - 1].upper(), 250,
                                  f"{ct}:{m.group(1)}")
    return None


def well_formed(name: str) -> bool:
    """Whether ``name`` is a valid stream name for some symbol or pair, known or not."""
    head = name.partition("@")[0] if isinstance(name, str) else ""
    if not head or not _NAME.match(head):
        return False
    key = head.upper()
    pair = key
    for suffix in _CONTRACT_TYPES:
        if head.endswith("_" + suffix):
            pair = head[: -len(suffix) - 1].upper()
    return parse_stream(name, {key}, {key, pair}) is not None
