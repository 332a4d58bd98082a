"""Fault injection for the simulator: every fault is logged in ``sim.fault_log``.

Tests call the injector's methods (``sim.faults.stall(3)``, ``sim.faults.user_stall(40)``,
``sim.faults.bad_exchange_info("BTCUSD_PERP")``...) and assert that the client noticed and
recovered. ``coinm sim --faults`` and the loopback control ``POST /sim/fault?spec=...`` take
the same faults as text, with a schedule (see :data:`FAULTS_HELP` and :func:`parse_fault_spec`):
a scheduled fault waits until a client it can affect is connected, then fires (once, after a
delay, every N seconds, or on each frame with a probability), and each firing is recorded (and
printed by ``coinm sim``).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feeds.sim.exchange import SimExchange

__all__ = [
    "FAULTS_HELP", "FaultInjector", "FaultRecord", "FaultSpec", "FaultSpecError", "Schedule",
    "parse_fault_spec",
]

FAULTS_HELP = (
    "faults to inject while clients are connected: SPEC[,SPEC...] where SPEC is "
    "KIND[:ARG[:ARG]][@OPTION[,OPTION...]]. Kinds: drop[:market|user|wsapi] (cut connections), "
    "gap[:SYMBOL] (lose one diff-depth event), stall[:SYMBOL|:SECONDS] (market streams silent), "
    "depthstall[:SYMBOL] (only diff-depth silent), baddepth[:SYMBOL[:nopu|nob|notlist|cut|level]] "
    "(undecodable depth frames; default: each way in turn), "
    "malformed[:market|user] (a non-JSON frame), userstall (user-data stream silent, pings unanswered), "
    "slow[:MS] (each market frame MS ms late: a slow consumer), listenkey (expire listenKeys), "
    "badinfo:SYMBOL[:tick0|step|noprice|nolot] (malformed exchangeInfo), delay:METHOD[:SECONDS], "
    "lose:METHOD (WebSocket API replies), 429[:N] (next N REST requests), age:SECONDS (connection "
    "age limit), clear[:KIND] (end active faults). Options: after=DUR (first firing; default at once), "
    "every=DUR (repeat), times=N (at most N firings), for=DUR (how long a stall/slow/bad* lasts; "
    "default 10s, badinfo: until cleared), p=P (gap, baddepth, malformed: each frame with probability "
    "P). DUR is 500ms, 3s, 2m or plain seconds. Example: stall:BTCUSD_PERP@every=10s,for=3s,"
    "baddepth:BTCUSD_PERP@p=0.5,gap@after=5s. POST /sim/fault?spec=SPEC (loopback only) fires one now."
)
"""The ``--faults`` grammar, for ``coinm sim --help``."""


class FaultSpecError(ValueError):
    """A ``--faults`` text that cannot be understood; the message says what and where."""


@dataclass(frozen=True)
class FaultRecord:
    """One injected fault (or a consequence of one, e.g. a 429 actually served)."""

    time_ms: int
    kind: str
    detail: str


@dataclass(frozen=True)
class Schedule:
    """When a fault fires: once at ``after``; every ``every`` s (at most ``times``); or, with
    ``p``, on each frame with that probability for ``duration`` s (None: until cleared)."""

    after: float = 0.0
    every: float | None = None
    times: int | None = None
    p: float | None = None
    duration: float | None = None


@dataclass(frozen=True)
class FaultSpec:
    """One parsed fault: its kind, its arguments (validated), and its schedule."""

    kind: str
    args: tuple[str, ...] = ()
    schedule: Schedule = field(default_factory=Schedule)
    text: str = ""

    def __iter__(self) -> Any:
        # ``kind, args = spec`` as the old (kind, args) pairs
        return iter((self.kind, list(self.args)))


_KINDS = (
    "drop", "gap", "stall", "depthstall", "baddepth", "malformed", "userstall", "slow", "listenkey",
    "badinfo", "delay", "lose", "429", "age", "clear",
)
_P_KINDS = {"gap", "baddepth", "malformed"}
_FOR_KINDS = {"stall", "depthstall", "baddepth", "userstall", "slow", "badinfo", "gap", "malformed"}
_BADINFO = ("tick0", "step", "noprice", "nolot")
_OPTIONS = ("after", "every", "times", "for", "p")
_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}_[A-Z0-9]{2,12}$")
_METHOD = re.compile(r"^[a-zA-Z]+(\.[a-zA-Z]+)+$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)(ms|s|m)?$")
DEFAULT_STALL_S = 10.0


def _duration(text: str, where: str) -> float:
    m = _DURATION.match(text.strip())
    if not m:
        raise FaultSpecError(f"{where}: {text!r} is not a duration (e.g. 500ms, 3s, 2m, 1.5)")
    value = float(m.group(1))
    return value / 1000 if m.group(2) == "ms" else value * 60 if m.group(2) == "m" else value


def _number(text: str, where: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        raise FaultSpecError(f"{where}: {text!r} is not a finite number")
    return value


def _check_symbol(text: str, where: str, symbols: Collection[str] | None) -> str:
    if not _SYMBOL.match(text):
        raise FaultSpecError(f"{where}: {text!r} is not a symbol (e.g. BTCUSD_PERP)")
    if symbols is not None and text not in symbols:
        raise FaultSpecError(f"{where}: unknown symbol {text!r}")
    return text


def _check_args(kind: str, args: list[str], where: str, symbols: Collection[str] | None) -> tuple[str, ...]:
    def most(n: int) -> None:
        if len(args) > n:
            raise FaultSpecError(f"{where}: {kind} takes at most {n} argument{'s' if n != 1 else ''}")

    if kind in ("listenkey", "userstall"):
        most(1 if kind == "userstall" else 0)
        if args and (_number(args[0], where) or -1) <= 0:
            raise FaultSpecError(f"{where}: {args[0]!r} is not a number of seconds > 0")
    elif kind == "drop":
        most(1)
        if args and args[0] not in ("market", "user", "wsapi"):
            raise FaultSpecError(f"{where}: drop takes market, user or wsapi, not {args[0]!r}")
    elif kind == "malformed":
        most(1)
        if args and args[0] not in ("market", "user"):
            raise FaultSpecError(f"{where}: malformed takes market or user, not {args[0]!r}")
    elif kind in ("gap", "depthstall", "baddepth"):
        most(2 if kind == "baddepth" else 1)
        if args:
            _check_symbol(args[0], where, symbols)
        if len(args) > 1 and args[1] not in _BAD_DEPTH:
            raise FaultSpecError(f"{where}: baddepth's second argument is one of {', '.join(_BAD_DEPTH)}, "
                                 f"not {args[1]!r}")
    elif kind == "stall":
        most(1)
        if args:
            seconds = _number(args[0], where)
            if seconds is None:
                if not _SYMBOL.match(args[0]):
                    raise FaultSpecError(f"{where}: stall takes SECONDS or a SYMBOL, not {args[0]!r}")
                _check_symbol(args[0], where, symbols)
            elif seconds <= 0:
                raise FaultSpecError(f"{where}: stall seconds must be > 0, not {args[0]!r}")
    elif kind == "slow":
        most(1)
        if args and not (args[0].isdigit() and 0 < int(args[0]) <= 60_000):
            raise FaultSpecError(f"{where}: slow takes milliseconds per frame (1-60000), not {args[0]!r}")
    elif kind == "badinfo":
        if not args:
            raise FaultSpecError(f"{where}: badinfo needs a symbol (badinfo:BTCUSD_PERP)")
        most(2)
        _check_symbol(args[0], where, symbols)
        if len(args) > 1 and args[1] not in _BADINFO:
            raise FaultSpecError(f"{where}: badinfo's second argument is one of {', '.join(_BADINFO)}, not {args[1]!r}")
    elif kind in ("delay", "lose"):
        if not args or not _METHOD.match(args[0]):
            raise FaultSpecError(f"{where}: {kind} needs a WebSocket API method ({kind}:order.place)")
        most(2 if kind == "delay" else 1)
        if len(args) > 1 and (_number(args[1], where) or -1) < 0:
            raise FaultSpecError(f"{where}: {args[1]!r} is not a number of seconds")
    elif kind == "429":
        most(1)
        if args and not (args[0].isdigit() and 0 < int(args[0]) <= 1_000_000):
            raise FaultSpecError(f"{where}: 429 takes a count of requests > 0, not {args[0]!r}")
    elif kind == "age":
        most(1)
        if args and (_number(args[0], where) or -1) <= 0:
            raise FaultSpecError(f"{where}: age takes seconds > 0, not {args[0]!r}")
    elif kind == "clear":
        most(1)
        if args and args[0] not in _KINDS:
            raise FaultSpecError(f"{where}: clear takes a fault kind, not {args[0]!r}")
    return tuple(args)


def _schedule(kind: str, options: list[str], where: str) -> Schedule:
    seen: dict[str, str] = {}
    for opt in options:
        name, eq, value = opt.partition("=")
        name = name.strip()
        if not eq or name not in _OPTIONS:
            raise FaultSpecError(f"{where}: unknown option {opt!r}; options are {', '.join(o + '=' for o in _OPTIONS)}")
        if name in seen:
            raise FaultSpecError(f"{where}: option {name}= given twice")
        seen[name] = value.strip()
    s = Schedule()
    if "after" in seen:
        s = replace(s, after=_duration(seen["after"], where))
    if "every" in seen:
        every = _duration(seen["every"], where)
        if every <= 0:
            raise FaultSpecError(f"{where}: every= must be more than 0")
        s = replace(s, every=every)
    if "times" in seen:
        if not seen["times"].isdigit() or int(seen["times"]) < 1:
            raise FaultSpecError(f"{where}: times= takes a whole number >= 1, not {seen['times']!r}")
        if s.every is None:
            raise FaultSpecError(f"{where}: times= only makes sense with every=")
        s = replace(s, times=int(seen["times"]))
    if "for" in seen:
        if kind not in _FOR_KINDS:
            raise FaultSpecError(f"{where}: for= applies to {', '.join(sorted(_FOR_KINDS))}, not {kind}")
        duration = _duration(seen["for"], where)
        if duration <= 0:
            raise FaultSpecError(f"{where}: for= must be more than 0")
        s = replace(s, duration=duration)
    if "p" in seen:
        if kind not in _P_KINDS:
            raise FaultSpecError(f"{where}: p= applies to {', '.join(sorted(_P_KINDS))}, not {kind}")
        p = _number(seen["p"], where)
        if p is None or not 0 < p <= 1:
            raise FaultSpecError(f"{where}: p= takes a probability in (0, 1], not {seen['p']!r}")
        if s.every is not None:
            raise FaultSpecError(f"{where}: p= and every= cannot be combined")
        s = replace(s, p=p)
    return s


def parse_fault_spec(spec: str, symbols: Collection[str] | None = None) -> list[FaultSpec]:
    """Parse ``--faults`` text (the grammar is :data:`FAULTS_HELP`).

    Faults are joined by commas; a comma-separated ``name=value`` after a fault that has an
    ``@`` continues its options: ``stall:BTCUSD_PERP@every=10s,for=3s,gap`` is two faults.

    Args:
        symbols: the venue's symbols, to refuse unknown ones (None: only their shape is checked).

    Raises:
        FaultSpecError: (a ValueError) one line naming the faulty item and what is wrong.
    """
    items: list[tuple[str, list[str]]] = []  # (head, options)
    for raw in spec.split(","):
        token = raw.strip()
        if not token:
            continue
        head, at, opts = token.partition("@")
        if not at and "=" in token and ":" not in token:
            if not items or not items[-1][0].count("@"):
                raise FaultSpecError(
                    f"fault option {token!r} must follow a fault and '@' (e.g. gap@{token})")
            items[-1][1].append(token)
            continue
        items.append((token, [opts] if at else []))
    out = []
    for token, options in items:
        head = token.partition("@")[0].strip()
        where = f"fault {token.split('@')[0]!r}"
        kind, *args = [a.strip() for a in head.split(":")]
        if kind not in _KINDS:
            raise FaultSpecError(f"unknown fault {kind!r}; known: {', '.join(_KINDS)}")
        if any(not a for a in args):
            raise FaultSpecError(f"{where}: empty argument")
        checked = _check_args(kind, args, where, symbols)
        if options and not options[0]:
            raise FaultSpecError(f"{where}: nothing after '@'")
        schedule = _schedule(kind, options, where)
        text = head + ("@" + ",".join(options) if options else "")
        out.append(FaultSpec(kind, checked, schedule, text))
    return out


# --------------------------------------------------------------------------- frame rules

def _diff_depth_symbol(stream: str) -> str | None:
    """``btcusd_perp`` for ``btcusd_perp@depth@100ms`` (any diff-depth cadence), else None."""
    head, _, rest = stream.partition("@")
    if rest in ("depth", "depth@100ms", "depth@500ms"):
        return head
    return None


def _bad_level(d: bytes) -> bytes:
    if b'"b":[]' in d:
        return d.replace(b'"b":[]', b'"b":[["abc","1"]]', 1)
    return d.replace(b'"b":[', b'"b":[["abc","1"],', 1)


_BAD_DEPTH: dict[str, Callable[[bytes], bytes]] = {
    "nopu": lambda d: d.replace(b'"pu":', b'"pu_":', 1),
    "nob": lambda d: d.replace(b'"b":', b'"b_":', 1),
    "notlist": lambda d: d.replace(b'"b":[', b'"b":"x",', 1).replace(b'"x",]', b'"x"', 1),
    "cut": lambda d: d[: max(1, len(d) // 2)],
    "level": _bad_level,
}
"""Ways a diff-depth frame comes out undecodable (used in turn unless one is chosen): no ``pu``,
no ``b``, ``b`` not a list, cut in half (not JSON), a bid whose price is ``"abc"``."""
_BAD_DEPTH_TURN = tuple(_BAD_DEPTH.values())


@dataclass
class _FrameRule:
    kind: str
    """``drop`` (frame not sent), ``baddepth``, ``malformed``."""
    match: Callable[[str], bool]
    until: float | None
    p: float
    left: int | None
    """Frames still to hit (None: every matching one while active)."""
    source: str
    how: str | None = None
    """``baddepth``: one way of :data:`_BAD_DEPTH` (None: each in turn)."""

    def active(self, now: float) -> bool:
        return (self.until is None or now < self.until) and (self.left is None or self.left > 0)


class FaultInjector:
    """One method per fault; each records itself in ``sim.fault_log``.

    :meth:`schedule` runs parsed specs while clients are connected; :meth:`fire` runs one now.
    """

    def __init__(self, sim: SimExchange) -> None:
        self._sim = sim
        self._rules: list[_FrameRule] = []
        self._rng = random.Random(0xFA17)
        self._bad_turn = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._paused: list[Any] = []
        """Transports whose reading a user stall paused (resumed when it ends)."""
        self.info_faults: dict[str, tuple[str, float | None]] = {}
        """symbol -> (how, until monotonic or None): exchangeInfo serves it malformed."""

    # ------------------------------------------------------------------ connection faults
    def drop_connections(self, kind: str | None = None) -> int:
        """Abort connections without a close frame (the client sees 1006).

        Args:
            kind: ``"market"``, ``"user"``, ``"wsapi"`` or None for all.

        Returns:
            How many connections were dropped.
        """
        sim = self._sim
        victims: list[Any] = []
        if kind in (None, "market", "user"):
            victims += [c.ws for c in sim._conns if kind is None or c.kind == kind]
        if kind in (None, "wsapi"):
            victims += list(sim._wsapi_conns)
        for ws in victims:
            if ws.transport is not None:
                ws.transport.abort()
        sim.record_fault("drop_connections", f"kind={kind or 'all'} count={len(victims)}")
        return len(victims)

    def depth_gap(self, symbol: str) -> None:
        """The next diff-depth event of ``symbol`` is never sent: the next one's ``pu`` breaks."""
        self._sim.engine.drop_next_depth(symbol)
        self._sim.record_fault("depth_gap", symbol)

    def stall(self, seconds: float, kind: str = "market", symbol: str | None = None) -> int:
        """Silently stop sending frames on existing stream connections (they stay open).

        With ``symbol``: only the streams of that symbol go silent (on every connection).

        Returns:
            How many connections were affected (subscribers of the symbol's streams).
        """
        if symbol is not None:
            low = symbol.lower() + "@"
            self._add_rule(_FrameRule("drop", lambda s: s.startswith(low), time.monotonic() + seconds,
                                      1.0, None, f"stall:{symbol}"))
            n = len({c for s, cs in self._sim.hub.subs.items() if s.startswith(low) for c in cs})
            self._sim.record_fault("stall", f"symbol={symbol} seconds={seconds} connections={n}")
            return n
        until = time.monotonic() + seconds
        n = 0
        for conn in self._sim._conns:
            if conn.kind == kind:
                conn.stalled_until = until
                n += 1
        self._sim.record_fault("stall", f"kind={kind} seconds={seconds} connections={n}")
        return n

    def depth_stall(self, seconds: float, symbol: str | None = None) -> int:
        """Diff-depth frames (of ``symbol``, or all) are not sent for ``seconds``; trades, mark
        price and tickers keep flowing. Returns the number of depth streams affected."""
        low = symbol.lower() if symbol else None
        self._add_rule(_FrameRule(
            "drop", lambda s: (h := _diff_depth_symbol(s)) is not None and (low is None or h == low),
            time.monotonic() + seconds, 1.0, None, "depthstall"))
        n = sum(1 for s in self._sim.hub.active() if _diff_depth_symbol(s) and (low is None or s.startswith(low + "@")))
        self._sim.record_fault("depth_stall", f"symbol={symbol or 'all'} seconds={seconds} streams={n}")
        return n

    def bad_depth(self, symbol: str | None = None, *, frames: int | None = 1, seconds: float | None = None,
                  p: float = 1.0, how: str | None = None) -> None:
        """Diff-depth frames (of ``symbol``, or all) come out undecodable: no ``pu``, no ``b``,
        ``b`` not a list, cut in half, or a bid priced ``"abc"`` (in turn, or only ``how``).

        Args:
            frames: how many frames (None: every one while the fault lasts).
            seconds: how long the fault lasts (None: until ``frames`` are spent or cleared).
            p: the probability that each frame is hit.
        """
        if how is not None and how not in _BAD_DEPTH:
            raise FaultSpecError(f"baddepth: {how!r} is not one of {', '.join(_BAD_DEPTH)}")
        low = symbol.lower() if symbol else None
        until = time.monotonic() + seconds if seconds is not None else None
        self._add_rule(_FrameRule(
            "baddepth", lambda s: (h := _diff_depth_symbol(s)) is not None and (low is None or h == low),
            until, p, frames, "baddepth", how))
        count = "all" if frames is None else frames
        self._sim.record_fault("bad_depth", f"symbol={symbol or 'all'} frames={count} seconds={seconds} p={p} "
                                            f"how={how or 'each'}")

    def depth_loss(self, symbol: str | None = None, *, p: float, seconds: float | None = None) -> None:
        """Each diff-depth event (of ``symbol``, or all) is lost with probability ``p``."""
        low = symbol.lower() if symbol else None
        until = time.monotonic() + seconds if seconds is not None else None
        self._add_rule(_FrameRule(
            "drop", lambda s: (h := _diff_depth_symbol(s)) is not None and (low is None or h == low),
            until, p, None, "gap"))
        self._sim.record_fault("depth_loss", f"symbol={symbol or 'all'} p={p} seconds={seconds}")

    def user_stall(self, seconds: float) -> int:
        """User-data stream connections go silent for ``seconds``: no events and no pongs (the
        server stops reading, so a client's pings go unanswered); they stay open.

        Returns:
            How many user-data connections were stalled.
        """
        until = time.monotonic() + seconds
        n = 0
        for conn in self._sim._conns:
            if conn.kind == "user":
                conn.stalled_until = until
                transport = conn.ws.transport
                if transport is not None and not transport.is_closing():
                    transport.pause_reading()
                    self._paused.append(transport)
                n += 1
        if n:
            asyncio.get_running_loop().call_later(seconds, self._resume_reading)
        self._sim.record_fault("user_stall", f"seconds={seconds} connections={n}")
        return n

    def _resume_reading(self) -> None:
        now = time.monotonic()
        keep = []
        for conn in self._sim._conns:
            if conn.kind == "user" and conn.stalled_until > now and conn.ws.transport in self._paused:
                keep.append(conn.ws.transport)
        for transport in self._paused:
            if transport not in keep and not transport.is_closing():
                try:
                    transport.resume_reading()
                except (RuntimeError, AttributeError):
                    pass
        self._paused = keep

    def slow_consumer(self, seconds: float, delay_ms: int = 50, kind: str = "market") -> int:
        """Each frame on ``kind`` connections leaves ``delay_ms`` late for ``seconds``: the client
        falls behind as a slow consumer would, and a queue that fills is cut, as the venue does."""
        until = time.monotonic() + seconds
        n = 0
        for conn in self._sim._conns:
            if conn.kind == kind:
                conn.slow_until, conn.slow_delay = until, delay_ms / 1000
                n += 1
        self._sim.record_fault("slow_consumer", f"kind={kind} delay_ms={delay_ms} seconds={seconds} connections={n}")
        return n

    def delay_reply(self, method: str, seconds: float) -> None:
        """The next WebSocket API reply for ``method`` comes ``seconds`` late (request is executed)."""
        self._sim.reply_faults[method] = ("delay", seconds)
        self._sim.record_fault("delay_reply", f"method={method} seconds={seconds}")

    def lose_reply(self, method: str) -> None:
        """The next WebSocket API reply for ``method`` is never sent (the request IS executed)."""
        self._sim.reply_faults[method] = ("lose", 0.0)
        self._sim.record_fault("lose_reply", f"method={method}")

    def expire_listen_key(self, key: str | None = None) -> int:
        """Expire one listenKey (or all): ``listenKeyExpired`` is pushed, then the key is gone."""
        keys = [key] if key else list(self._sim.listen_keys)
        for k in keys:
            self._sim.expire_listen_key(k)
        self._sim.record_fault("expire_listen_key", f"count={len(keys)}")
        return len(keys)

    def malformed_frame(self, kind: str = "market") -> int:
        """Send one frame that is not valid JSON on every stream connection of ``kind``."""
        n = 0
        for conn in self._sim._conns:
            if conn.kind == kind:
                try:
                    conn.queue.put_nowait('{"e":"depthUpdate","E":17,"s":')
                    n += 1
                except Exception:
                    pass
        self._sim.record_fault("malformed_frame", f"kind={kind} connections={n}")
        return n

    def malformed_frames(self, p: float, seconds: float | None = None) -> None:
        """Each market stream frame is replaced by one that is not JSON, with probability ``p``."""
        until = time.monotonic() + seconds if seconds is not None else None
        user = set(self._sim.listen_keys)
        self._add_rule(_FrameRule("malformed", lambda s: s not in user, until, p, None, "malformed"))
        self._sim.record_fault("malformed_frames", f"p={p} seconds={seconds}")

    # ------------------------------------------------------------------ REST faults
    def rest_429(self, count: int = 1) -> None:
        """The next ``count`` REST requests answer HTTP 429 (-1003) with Retry-After."""
        self._sim.rest_429_left += count
        self._sim.record_fault("rest_429", f"count={count}")

    def max_connection_age(self, seconds: float | None) -> None:
        """Close stream and WebSocket API connections older than ``seconds`` (Binance: 24 h)."""
        self._sim.max_conn_age = seconds
        self._sim.record_fault("max_connection_age", f"seconds={seconds}")

    def bad_exchange_info(self, symbol: str, how: str = "tick0", seconds: float | None = None) -> None:
        """exchangeInfo serves ``symbol`` malformed until :meth:`fix_exchange_info` (or for ``seconds``).

        Args:
            how: ``tick0`` (PRICE_FILTER tickSize "0"), ``step`` (LOT_SIZE stepSize "abc"),
                ``noprice`` (no PRICE_FILTER), ``nolot`` (no LOT_SIZE).
        """
        if how not in _BADINFO:
            raise FaultSpecError(f"badinfo: {how!r} is not one of {', '.join(_BADINFO)}")
        self.info_faults[symbol] = (how, time.monotonic() + seconds if seconds is not None else None)
        self._sim.record_fault("bad_exchange_info", f"symbol={symbol} how={how} seconds={seconds}")

    def fix_exchange_info(self, symbol: str | None = None) -> None:
        """exchangeInfo is well formed again (for ``symbol``, or all)."""
        if symbol is None:
            self.info_faults.clear()
        else:
            self.info_faults.pop(symbol, None)
        self._sim.record_fault("fix_exchange_info", f"symbol={symbol or 'all'}")

    def exchange_info_entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        """``entry`` (a symbol of exchangeInfo) as the active badinfo fault serves it."""
        fault = self.info_faults.get(entry.get("symbol", ""))
        if fault is None:
            return entry
        how, until = fault
        if until is not None and time.monotonic() >= until:
            del self.info_faults[entry["symbol"]]
            self._sim.record_fault("fix_exchange_info", f"symbol={entry['symbol']} (fault over)")
            return entry
        filters = [dict(f) for f in entry.get("filters", [])]
        if how == "tick0":
            for f in filters:
                if f.get("filterType") == "PRICE_FILTER":
                    f["tickSize"] = "0"
        elif how == "step":
            for f in filters:
                if f.get("filterType") == "LOT_SIZE":
                    f["stepSize"] = "abc"
        else:
            drop = "PRICE_FILTER" if how == "noprice" else "LOT_SIZE"
            filters = [f for f in filters if f.get("filterType") != drop]
        return {**entry, "filters": filters}

    # ------------------------------------------------------------------ frame filter
    def _add_rule(self, rule: _FrameRule) -> None:
        self._rules.append(rule)
        self._sim.hub.filter = self._filter

    def clear(self, kind: str | None = None) -> None:
        """End active faults (of ``kind``, or all): frame rules, stalls, slow consumers, badinfo..."""
        sim = self._sim
        sources = {"gap": ("gap",), "baddepth": ("baddepth",), "malformed": ("malformed",),
                   "depthstall": ("depthstall",), "stall": ("stall:",)}
        if kind is None:
            self._rules = []
        elif kind in sources:
            self._rules = [r for r in self._rules if not r.source.startswith(sources[kind])]
        for conn in sim._conns:
            if (kind is None or kind == "stall") and conn.kind == "market":
                conn.stalled_until = 0.0
            if (kind is None or kind == "userstall") and conn.kind == "user":
                conn.stalled_until = 0.0
            if kind in (None, "slow"):
                conn.slow_until = 0.0
        if kind in (None, "userstall"):
            self._resume_reading()
        if kind in (None, "badinfo"):
            self.info_faults.clear()
        if kind in (None, "429"):
            sim.rest_429_left = 0
        if kind in (None, "age"):
            sim.max_conn_age = None
        if kind in (None, "delay", "lose"):
            sim.reply_faults.clear()
        if not self._rules:
            sim.hub.filter = None
        sim.record_fault("clear", kind or "all")

    def _filter(self, stream: str, data: bytes) -> bytes | None:
        """What goes out instead of ``data`` on ``stream`` (None: nothing)."""
        now = time.monotonic()
        rules = self._rules
        for rule in rules:
            if not rule.active(now) or not rule.match(stream):
                continue
            if rule.p < 1.0 and self._rng.random() >= rule.p:
                continue
            if rule.left is not None:
                rule.left -= 1
            if rule.kind == "drop":
                data = b""
                break
            if rule.kind == "baddepth":
                if rule.how is not None:
                    data = _BAD_DEPTH[rule.how](data)
                else:
                    turn = self._bad_turn
                    self._bad_turn += 1
                    data = _BAD_DEPTH_TURN[turn % len(_BAD_DEPTH_TURN)](data)
            elif rule.kind == "malformed":
                data = data[: max(1, len(data) // 3)]
        if any(not r.active(now) for r in rules):
            self._rules = [r for r in rules if r.active(now)]
            if not self._rules:
                self._sim.hub.filter = None
        return data or None

    # ------------------------------------------------------------------ schedules
    def fire(self, spec: FaultSpec | str) -> None:
        """Inject one fault now, whatever its schedule says (``p``/``for`` still apply)."""
        if isinstance(spec, str):
            specs = parse_fault_spec(spec, self._sim.symbols)
            for one in specs:
                self.fire(one)
            return
        kind, args, s = spec.kind, spec.args, spec.schedule
        arg = args[0] if args else None
        duration = s.duration
        if kind == "drop":
            self.drop_connections(arg)
        elif kind == "gap":
            if s.p is not None or duration is not None:
                self.depth_loss(arg, p=s.p if s.p is not None else 1.0, seconds=duration)
            else:
                self.depth_gap(arg or "BTCUSD_PERP")
        elif kind == "stall":
            if arg is not None and _number(arg, "") is not None:
                self.stall(float(arg))
            elif arg is not None:
                self.stall(duration or DEFAULT_STALL_S, symbol=arg)
            else:
                self.stall(duration or DEFAULT_STALL_S)
        elif kind == "depthstall":
            self.depth_stall(duration or DEFAULT_STALL_S, arg)
        elif kind == "baddepth":
            how = args[1] if len(args) > 1 else None
            if s.p is not None:
                self.bad_depth(arg, frames=None, seconds=duration, p=s.p, how=how)
            elif duration is not None:
                self.bad_depth(arg, frames=None, seconds=duration, how=how)
            else:
                self.bad_depth(arg, frames=1, how=how)
        elif kind == "malformed":
            if s.p is not None:
                self.malformed_frames(s.p, duration)
            else:
                self.malformed_frame(arg or "market")
        elif kind == "userstall":
            self.user_stall(float(arg) if arg else duration or DEFAULT_STALL_S)
        elif kind == "slow":
            self.slow_consumer(duration or DEFAULT_STALL_S, int(arg) if arg else 50)
        elif kind == "listenkey":
            self.expire_listen_key()
        elif kind == "badinfo":
            assert arg is not None
            self.bad_exchange_info(arg, args[1] if len(args) > 1 else "tick0", duration)
        elif kind == "delay":
            assert arg is not None
            self.delay_reply(arg, float(args[1]) if len(args) > 1 else 10.0)
        elif kind == "lose":
            assert arg is not None
            self.lose_reply(arg)
        elif kind == "429":
            self.rest_429(int(arg) if arg else 1)
        elif kind == "age":
            self.max_connection_age(float(arg) if arg else 60.0)
        elif kind == "clear":
            self.clear(arg)

    def schedule(self, specs: list[FaultSpec] | str) -> list[asyncio.Task[None]]:
        """Run each spec on its schedule, on the running loop, until :meth:`stop`.

        A fault waits until a client it can affect is connected (a market stream for the market
        faults, a user-data stream for ``userstall``/``listenkey``, a WebSocket API session for
        ``delay``/``lose``/``drop:wsapi``); ``after`` counts from then.

        Raises:
            FaultSpecError: text that does not parse, or names a symbol the venue does not list.
        """
        if isinstance(specs, str):
            specs = parse_fault_spec(specs, self._sim.symbols)
        else:
            for spec in specs:
                for a in spec.args:
                    if _SYMBOL.match(a) and a not in self._sim.symbols:
                        raise FaultSpecError(f"fault {spec.text!r}: unknown symbol {a!r}")
        tasks = []
        for spec in specs:
            task = asyncio.get_running_loop().create_task(self._run(spec), name=f"fault {spec.text}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            tasks.append(task)
        return tasks

    def _audience(self, spec: FaultSpec) -> Callable[[], bool] | None:
        """Whether a client the fault can affect is connected (None: it needs none)."""
        sim = self._sim
        kind, arg = spec.kind, spec.args[0] if spec.args else None
        if kind in ("429", "age", "badinfo", "clear"):
            return None
        if kind in ("userstall", "listenkey") or (kind in ("drop", "malformed") and arg == "user"):
            return lambda: any(c.kind == "user" for c in sim._conns)
        if kind in ("delay", "lose") or (kind == "drop" and arg == "wsapi"):
            return lambda: bool(sim._wsapi_conns)
        if kind == "drop" and arg is None:
            return lambda: bool(sim._conns or sim._wsapi_conns)
        if kind in ("gap", "depthstall", "baddepth"):
            low = arg.lower() + "@" if arg else ""
            return lambda: any(_diff_depth_symbol(s) and s.startswith(low) for s in sim.hub.active())
        if kind == "stall" and arg is not None and _number(arg, "") is None:
            low = arg.lower() + "@"
            return lambda: any(s.startswith(low) for s in sim.hub.active())
        return lambda: any(c.kind == "market" for c in sim._conns)

    async def _run(self, spec: FaultSpec) -> None:
        s = spec.schedule
        present = self._audience(spec)

        async def audience() -> None:
            while present is not None and not present():  # noqa: ASYNC110 - connections come and go unannounced
                await asyncio.sleep(0.05)

        await audience()
        if s.after:
            await asyncio.sleep(s.after)
        fired = 0
        while True:
            await audience()
            try:
                self.fire(spec)
            except Exception as exc:  # noqa: BLE001 - a fault must not take the venue down
                self._sim.record_fault("fault_failed", f"{spec.text}: {exc}")
                return
            fired += 1
            if s.every is None or (s.times is not None and fired >= s.times):
                return
            await asyncio.sleep(s.every)

    async def stop(self) -> None:
        """Cancel every schedule; stalled user connections read again."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        for transport in self._paused:
            if not transport.is_closing():
                try:
                    transport.resume_reading()
                except (RuntimeError, AttributeError):
                    pass
        self._paused = []
