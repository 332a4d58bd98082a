"""The measuring side of ``python -m bench ui``: runs in its own process, prints JSON.

``python -m bench.ui_probe firehose --rest URL --stream URL --wsapi URL --key PEM ...`` runs the
real :class:`tui.app.CoinmApp` headless against a simulator that the caller started in another
process (so the simulator's CPU is not the UI's), and prints one JSON object of figures.
``python -m bench.ui_probe startup`` is what ``coinm`` runs (``tui.cli.main([])``, embedded sim,
real terminal driver on the caller's pty), instrumented to write the time of the first full
book paint to ``$BENCH_UI_STARTUP_OUT`` and exit.

How things are counted (the same in both modes):

* a *paint* is one call of ``App._display`` with a compositor update: one batch of screen
  changes written to the terminal. Headless Textual skips building the terminal bytes, so the
  probe builds them anyway (``render_segments`` with a truecolor console) and throws them
  away: the cost a real terminal would add is counted, only the write itself is not.
* a depth event *arrives* when the session's ``_on_market`` is called with it (after the
  websocket read and JSON decode); it is *on screen* at the end of the first paint after the
  ladder rebuilt its rows from a book version that includes it (or at the rebuild itself when
  the rebuilt rows are identical to the painted ones, so there is nothing to paint).
* a keystroke is sent the way the terminal driver sends one (``driver.send_message``) and is
  on screen at the end of the first paint after its action ran (the ladder's cursor moved;
  the order form is the screen being painted, in full: the first paint of a reopened form
  used to be a partial one, which left the dashboard showing outside the regions the form's
  layout changed, and the full paint followed in the same update).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import sys
import time
from collections import Counter, defaultdict, deque
from pathlib import Path
from typing import Any

perf = time.perf_counter


class Probe:
    """Everything the instrumentation records, in one place."""

    def __init__(self) -> None:
        self.recording = False
        """Latencies are kept only inside the measured window."""
        self.paints = 0
        self.paint_s = 0.0
        """Time spent inside ``App._display`` (compositor output + terminal bytes)."""
        self.arrivals: deque[tuple[int, float]] = deque()
        """``(book version after the event, arrival time)`` of depth events not yet on screen."""
        self.awaiting_paint = -1
        """The newest book version the ladder rebuilt from and asked to repaint."""
        self.event_to_screen: list[float] = []
        self.ladder_rebuilds = 0
        self.ladder_refreshed = False
        self.cursor_moved = False
        self.key_wait: tuple[str, float, asyncio.Future[float]] | None = None
        self.key_cpu: dict[str, list[float]] = {}
        """CPU seconds of the process from each timed press to its paint, by key."""
        self.lags: list[float] = []
        self.streams: Counter[str] = Counter()
        self.spent: defaultdict[str, float] = defaultdict(float)
        """Seconds inside each instrumented part (widget polls, chart render, market handler)."""
        self.level_changes = 0

    def shown(self, version: int, at: float) -> None:
        arrivals = self.arrivals
        while arrivals and arrivals[0][0] <= version:
            _, t = arrivals.popleft()
            if self.recording:
                self.event_to_screen.append(at - t)

    def painted(self, screen: Any, at: float, full: bool = True) -> None:
        self.paints += 1
        if self.awaiting_paint >= 0:
            self.shown(self.awaiting_paint, at)
            self.awaiting_paint = -1
        wait = self.key_wait
        if wait is not None and not wait[2].done():
            key = wait[0]
            from tui.order_form import OrderForm

            # the form is on screen once a full paint of it is written: a pushed screen replaces
            # every cell, and a partial paint of it (a reopened form's layout) leaves the cells
            # outside the regions its layout changed showing the dashboard
            if (key == "b" and isinstance(screen, OrderForm) and full) or (key != "b" and self.cursor_moved):
                wait[2].set_result(at - wait[1])


PROBE = Probe()


def _instrument_app_class() -> type:
    """``CoinmApp`` with ``_display`` counted (and made to build terminal bytes when headless)."""
    from textual._compositor import LayoutUpdate

    import tui.app
    from tui.app import CoinmApp

    class ProbedApp(CoinmApp):
        CSS_PATH = str(Path(tui.app.__file__).with_name("app.tcss"))  # relative paths follow the subclass

        def _display(self, screen: Any, renderable: Any) -> None:
            if renderable is None or self._batch_count:
                super()._display(screen, renderable)
                return
            start = perf()
            super()._display(screen, renderable)
            if self.is_headless and hasattr(renderable, "render_segments"):
                renderable.render_segments(self.console)  # what a real terminal would be sent
            end = perf()
            PROBE.paint_s += end - start
            PROBE.painted(screen, end, full=isinstance(renderable, LayoutUpdate))

        def on_mount(self) -> None:
            # Textual calls every class's on_mount itself (most derived first): no super() here
            from widgets.ladder import Ladder

            _instrument_ladder(self.query_one(Ladder))
            for widget in self.query("#ticker, #trades, #liquidations, #chart, #status, #orders, #positions"):
                _time_method(widget, "poll", f"poll {widget.id}")
            chart = self.query_one("#chart")
            _time_method(chart, "render_line", "chart render_line")
            # the plot is built in a worker thread (widgets.chart): its CPU is the UI's too
            _time_method(chart, "_build_strips", "chart build (plotext, worker thread)")

    return ProbedApp


def _time_screen_refresh() -> None:
    """Time every screen's compositor refresh (widgets' render + compositor + _display)."""
    from textual.screen import Screen

    refresh = Screen._compositor_refresh

    def timed(self: Any) -> None:
        start = perf()
        try:
            refresh(self)
        finally:
            PROBE.spent["paint (render widgets + compositor + terminal bytes)"] += perf() - start

    Screen._compositor_refresh = timed  # type: ignore[method-assign]


def _time_method(obj: Any, name: str, label: str) -> None:
    """Wrap ``obj.name`` (on the instance) to add its time to ``PROBE.spent[label]``."""
    method = getattr(obj, name)
    spent = PROBE.spent

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = perf()
        try:
            return method(*args, **kwargs)
        finally:
            spent[label] += perf() - start

    setattr(obj, name, timed)


def _instrument_ladder(ladder: Any) -> None:
    """Per-instance wrappers: which book version each rebuild showed, and cursor moves."""
    poll, refresh, cursor = ladder.poll, ladder.refresh, ladder.action_cursor

    def probed_refresh(*args: Any, **kwargs: Any) -> Any:
        PROBE.ladder_refreshed = True
        return refresh(*args, **kwargs)

    def probed_poll() -> None:
        before = ladder._seen
        PROBE.ladder_refreshed = False
        start = perf()
        poll()
        PROBE.spent["poll ladder"] += perf() - start
        seen = ladder._seen
        if seen is not before and seen:
            PROBE.ladder_rebuilds += 1
            if PROBE.ladder_refreshed:
                PROBE.awaiting_paint = max(PROBE.awaiting_paint, seen[0])
            else:
                PROBE.shown(seen[0], perf())

    def probed_cursor(rows: int) -> None:
        cursor(rows)
        PROBE.cursor_moved = True

    ladder.refresh = probed_refresh
    ladder.poll = probed_poll
    ladder.action_cursor = probed_cursor


def _session_class() -> type:
    from feeds.depthwire import levels_of
    from feeds.session import DashboardSession

    class ProbedSession(DashboardSession):
        def _on_market(self, stream: str | None, data: Any) -> None:
            if PROBE.recording:
                PROBE.streams[stream or "?"] += 1
            start = perf()
            try:
                self._probed_on_market(stream, data)
            finally:
                PROBE.spent["session _on_market"] += perf() - start

        def _probed_on_market(self, stream: str | None, data: Any) -> None:
            if stream is not None and "@depth" in stream:
                arrived = perf()
                super()._on_market(stream, data)
                depth = self.depth
                if depth is not None and depth.synced:
                    PROBE.arrivals.append((depth.book.version, arrived))
                    if PROBE.recording:  # a typed DepthEvent (feeds.depthwire) or the wire dict
                        bids, asks = ((data.get("b", ()), data.get("a", ())) if isinstance(data, dict)
                                      else (data.bids, data.asks))
                        # a RawDepthEvent's sides are JSON text: its pairs, not its bytes
                        PROBE.level_changes += len(levels_of(bids)) + len(levels_of(asks))
                return
            super()._on_market(stream, data)

    return ProbedSession


def _pct(values: list[float], q: int) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _summary(values: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50": _pct(ms, 50), "p99": _pct(ms, 99), "max": max(ms) if ms else None}


# ---------------------------------------------------------------------------- firehose


async def _lag_probe(period: float) -> None:
    while True:
        start = perf()
        await asyncio.sleep(period)
        if PROBE.recording:
            PROBE.lags.append(perf() - start - period)


async def _until(cond: Any, what: str, timeout: float) -> None:
    deadline = perf() + timeout
    while not cond():
        if perf() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _send_key(app: Any, key: str) -> float:
    from textual import events

    char = key if len(key) == 1 else None
    event = events.Key(key, char)
    event.set_sender(app)
    sent = perf()
    app._driver.send_message(event)
    return sent


async def _press(app: Any, key: str, timeout: float = 5.0) -> float | None:
    """Send ``key``; seconds until the paint showing its effect (None on timeout)."""
    PROBE.cursor_moved = False
    future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    PROBE.key_wait = (key, perf(), future)
    cpu = time.process_time()
    _send_key(app, key)
    try:
        took = await asyncio.wait_for(future, timeout)
        # the process's CPU time from the press to the paint (every thread): what the key cost,
        # whatever share of a core the machine left the app
        PROBE.key_cpu.setdefault(key, []).append(time.process_time() - cpu)
        return took
    except TimeoutError:
        return None
    finally:
        PROBE.key_wait = None


async def _keystrokes(app: Any, presses: int) -> dict[str, Any]:
    from tui.order_form import OrderForm

    rng = random.Random(7)
    out: dict[str, list[float]] = {"b": [], "down": []}
    missed = Counter[str]()
    for _ in range(presses):
        # keys arrive at any phase of the frame timer, as a person's do
        await asyncio.sleep(rng.uniform(0.05, 0.15))
        took = await _press(app, "down")
        out["down"].append(took) if took is not None else missed.update(["down"])
        await asyncio.sleep(rng.uniform(0.05, 0.15))
        _send_key(app, "up")
    for _ in range(presses):
        await asyncio.sleep(rng.uniform(0.1, 0.2))
        took = await _press(app, "b")
        if took is None:
            missed.update(["b"])
        else:
            out["b"].append(took)
        if isinstance(app.screen, OrderForm):
            _send_key(app, "escape")
            await _until(lambda: not isinstance(app.screen, OrderForm), "the order form to close", 5)
    return {k: {**_summary(v), "missed": missed[k],
                **{f"cpu_{name}": value for name, value in _summary(PROBE.key_cpu.get(k, [])).items()}}
            for k, v in out.items()}


async def _table_keys(app: Any, presses: int) -> dict[str, Any]:
    """down/up in the table of the open screen (the watchlist): press to the paint showing the
    moved cursor."""
    from textual.widgets import DataTable

    table = app.screen.query_one(DataTable)

    def moved(_old: Any, _new: Any) -> None:
        PROBE.cursor_moved = True

    table.watch_cursor_coordinate = moved  # Textual looks the watcher up on the instance
    rng = random.Random(7)
    took_all: list[float] = []
    missed = 0
    for i in range(presses):
        await asyncio.sleep(rng.uniform(0.05, 0.15))
        took = await _press(app, "down" if i % 2 == 0 else "up")
        if took is None:
            missed += 1
        else:
            took_all.append(took)
    return {"table_down_up": {**_summary(took_all), "missed": missed}}


async def _held_key(app: Any, seconds: float, rate: float) -> dict[str, Any]:
    """Hold the arrow keys (up, down, up... at ``rate`` a second, like key repeat): can the UI
    paint that fast while the firehose runs? Every press moves the cursor, so every press
    needs a paint; paints/s is what it managed."""
    PROBE.lags.clear()
    PROBE.event_to_screen.clear()
    paints0 = PROBE.paints
    PROBE.recording = True
    cpu0, start = time.process_time(), perf()
    period, pressed, due = 1 / rate, 0, start
    while perf() - start < seconds:
        _send_key(app, "down" if pressed % 2 else "up")
        pressed += 1
        due += period
        await asyncio.sleep(max(0.0, due - perf()))
    await asyncio.sleep(0.1)
    wall = perf() - start
    PROBE.recording = False
    return {"rate": rate, "presses_per_s": pressed / (wall - 0.1), "paints_per_s": (PROBE.paints - paints0) / wall,
            "lag": _summary(PROBE.lags), "event_to_screen": _summary(PROBE.event_to_screen),
            "cpu_per_wall": (time.process_time() - cpu0) / wall}


async def firehose(args: argparse.Namespace) -> dict[str, Any]:
    import tui.app
    from feeds.config import Credentials, load_config
    from feeds.signing import load_ed25519_private_key
    from feeds.sim import DEMO_API_KEY

    if args.frame_hz:
        tui.app.FRAME_HZ = args.frame_hz  # read by on_mount when it starts the frame timer
    config = load_config(
        cli={"venue": "sim", "rest_url": args.rest, "stream_url": args.stream, "wsapi_url": args.wsapi},
        env={}, config_path=None,
    )
    credentials = Credentials(DEMO_API_KEY, private_key=load_ed25519_private_key(Path(args.key)))
    session_class = _session_class()

    async def factory() -> Any:
        return session_class(config, credentials)

    _time_screen_refresh()
    app = _instrument_app_class()(factory, venue="sim", theme="textual-dark", freeze_gc=True)  # as `coinm` runs it
    width, height = (int(x) for x in args.size.split("x"))
    lag_task = asyncio.create_task(_lag_probe(args.lag_period))
    result: dict[str, Any] = {}
    async with app.run_test(size=(width, height)):

        def ready() -> bool:
            s = app.session
            return bool(s is not None and s.depth is not None and s.depth.synced and s.market is not None
                        and s.market.klines_loaded and s.account is not None and s.orders is not None)

        await _until(ready, "the dashboard to be ready", 30)
        session = app.session
        market = session.market
        if args.all_liquidations:
            _send_key(app, "l")
            await _until(lambda: market.all_liquidations, "all-market liquidations", 10)
        if args.open:  # a screen over the dashboard (w: the watchlist) for the whole window
            _send_key(app, args.open)
            await _until(lambda: len(app.screen_stack) > 1, f"the screen of {args.open!r}", 10)
            result["screen"] = type(app.screen).__name__
            from textual.widgets import DataTable

            tables = list(app.screen.query(DataTable))
            if tables:  # the watchlist: one row a contract (the scale figure's denominator)
                table = tables[0]
                await _until(lambda: table.row_count > 0, "the screen's table to fill", 10)
                result["screen_rows"] = table.row_count
        result["streams_subscribed"] = list(session.stream.streams)
        await asyncio.sleep(args.warmup)

        # ---- the measured window
        PROBE.arrivals.clear()
        paints0, paint_s0, rebuilds0 = PROBE.paints, PROBE.paint_s, PROBE.ladder_rebuilds
        frames0 = app.frames
        chart = app.query_one("#chart")
        builds0, patches0 = chart.builds, chart.patches
        messages0 = session.stream.state.messages
        versions0 = (market.trades_version, market.liquidations_version, market.tickers_version)
        PROBE.recording = True
        PROBE.spent.clear()
        cpu0, wall0 = time.process_time(), perf()
        await asyncio.sleep(args.seconds)
        cpu1, wall1 = time.process_time(), perf()
        PROBE.recording = False
        wall = wall1 - wall0
        spent = {k: v / wall for k, v in PROBE.spent.items()}
        paints = PROBE.paints - paints0
        result.update(
            seconds=wall,
            paints_per_s=paints / wall,
            paint_ms_mean=(PROBE.paint_s - paint_s0) / paints * 1000 if paints else None,
            frames_per_s=(app.frames - frames0) / wall,
            chart_builds_per_s=(chart.builds - builds0) / wall,
            chart_patches_per_s=(chart.patches - patches0) / wall,  # live candle redrawn over the last build
            ladder_rebuilds_per_s=(PROBE.ladder_rebuilds - rebuilds0) / wall,
            cpu_per_wall=(cpu1 - cpu0) / wall,
            lag=_summary(PROBE.lags),
            event_to_screen=_summary(PROBE.event_to_screen),
            messages_per_s=(session.stream.state.messages - messages0) / wall,
            by_stream={k: v / wall for k, v in sorted(PROBE.streams.items())},
            level_changes_per_s=PROBE.level_changes / wall,
            trades_per_s=(market.trades_version - versions0[0]) / wall,
            liquidations_per_s=(market.liquidations_version - versions0[1]) / wall,
            mini_ticker_updates_per_s=(market.tickers_version - versions0[2]) / wall,
            handler_errors=session.stream.state.handler_errors,
            frame_hz=tui.app.FRAME_HZ,
            spent_per_wall=spent,
        )
        if args.keys and args.open:
            result["keys"] = await _table_keys(app, args.keys)
        elif args.keys:
            result["keys"] = await _keystrokes(app, args.keys)
        if args.held:
            await asyncio.sleep(0.5)
            result["held"] = await _held_key(app, args.held, args.held_rate)
        if args.profile:
            result["profile"] = await _profile(args.profile)
        result["peak_rss_mb"] = _peak_rss_mb()
    lag_task.cancel()
    return result


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: Linux keeps that
    across execve, so a probe started by a parent that had grown (``python -m bench`` after the
    book bench: ~120 MB) reported the parent's peak as its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _profile(seconds: float) -> str:
    """cProfile of the UI loop for ``seconds`` (a diagnosis aid: ``--profile``)."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    await asyncio.sleep(seconds)
    prof.disable()
    if os.environ.get("BENCH_UI_PROFILE_OUT"):  # the raw stats, for pstats by hand
        prof.dump_stats(os.environ["BENCH_UI_PROFILE_OUT"])
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).sort_stats(os.environ.get("BENCH_UI_SORT", "tottime"))
    stats.print_stats(int(os.environ.get("BENCH_UI_ROWS", "30")))
    return out.getvalue()


# ---------------------------------------------------------------------------- start-up


def startup() -> None:
    """Run ``coinm`` (as ``tui.cli.main([])``) until the book is painted full, then exit."""
    imported = time.time()
    out_path = os.environ["BENCH_UI_STARTUP_OUT"]
    marks: dict[str, float] = {"probe imported": imported}
    _startup(out_path, marks)


def _startup(out_path: str, marks: dict[str, float]) -> None:
    # nothing of the dashboard is imported before coinm imports it (coinm's console script
    # imports tui.cli, whose dashboard path pauses the collector, imports the feed layer, forks
    # the simulator's child, then imports Textual while the child starts)
    import feeds.sim.child

    spawn = feeds.sim.child.spawn

    def timed_spawn(*args: Any, **kwargs: Any) -> Any:
        marks["sim starting"] = time.time()
        child = spawn(*args, **kwargs)
        _STARTUP_CHILDREN.append(child)
        _startup_app(out_path, marks)  # tui.app: what coinm imports next
        wait = child.wait

        def timed_wait(*args: Any, **kwargs: Any) -> Any:
            urls = wait(*args, **kwargs)
            marks["sim serving"] = child.serving_at  # the child's own reading of the clock
            marks.setdefault("sim URLs read", time.time())
            return urls

        child.wait = timed_wait
        return child

    feeds.sim.child.spawn = timed_spawn
    from tui.cli import main as coinm_main

    sys.exit(coinm_main([]))


_STARTUP_CHILDREN: list[Any] = []
"""The simulator's child process, once coinm started it."""


def _cpu_marks() -> dict[str, float]:
    """CPU seconds (user + system) used so far by this process (the dashboard) and by the
    simulator's child: what the start-up cost, whatever share of the cores the machine gave it."""
    out = {"cpu dashboard": time.process_time()}
    tick = os.sysconf("SC_CLK_TCK")
    for child in _STARTUP_CHILDREN:
        try:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()
            out["cpu simulator"] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return out


def _startup_app(out_path: str, marks: dict[str, float]) -> None:
    """Swap ``tui.app.CoinmApp`` for a subclass that records the start-up's marks."""
    import tui.app

    base = _instrument_app_class()

    class StartupApp(base):  # type: ignore[misc, valid-type]
        _full = False

        def on_mount(self) -> None:  # no super(): Textual calls the base classes' handlers
            from widgets.ladder import Ladder

            marks["app mounted"] = time.time()
            ladder = self.query_one(Ladder)
            poll = ladder.poll

            def watch() -> None:
                poll()
                rows = ladder._rows
                s = self.session
                if (not self._full and rows and s is not None and s.depth is not None and s.depth.synced
                        and all(r.kind != "empty" for r in rows)):
                    self._full = True
                    marks.setdefault("book synced", time.time())

            ladder.poll = watch

        def _bind_widgets(self) -> None:
            marks.setdefault("session started", time.time())
            super()._bind_widgets()

        def _display(self, screen: Any, renderable: Any) -> None:
            super()._display(screen, renderable)
            if renderable is not None and "first paint" not in marks:
                marks["first paint"] = time.time()
            if self._full and renderable is not None and "full book painted" not in marks:
                marks["full book painted"] = time.time()
                Path(out_path).write_text(json.dumps({**marks, **_cpu_marks()}))
                self.exit(0)

    tui.app.CoinmApp = StartupApp  # type: ignore[misc]  # run_dashboard builds the app by this name


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ui_probe")
    sub = parser.add_subparsers(dest="mode", required=True)
    fh = sub.add_parser("firehose")
    fh.add_argument("--rest", required=True)
    fh.add_argument("--stream", required=True)
    fh.add_argument("--wsapi", required=True)
    fh.add_argument("--key", required=True, help="the simulator's demo Ed25519 key file")
    fh.add_argument("--seconds", type=float, default=15)
    fh.add_argument("--warmup", type=float, default=2)
    fh.add_argument("--size", default="160x48")
    fh.add_argument("--all-liquidations", action="store_true")
    fh.add_argument("--open", default="", help="press this key once ready (w: the watchlist) and measure under it")
    fh.add_argument("--keys", type=int, default=0, help="presses of each key to time after the window")
    fh.add_argument("--held", type=float, default=0, help="then hold up/down for N seconds")
    fh.add_argument("--held-rate", type=float, default=60, help="key repeats a second while held")
    fh.add_argument("--frame-hz", type=float, default=0, help="override tui.app.FRAME_HZ")
    fh.add_argument("--lag-period", type=float, default=0.01)
    fh.add_argument("--profile", type=float, default=0, help="then cProfile the loop for N seconds")
    sub.add_parser("startup")
    args = parser.parse_args(argv)
    if args.mode == "startup":
        startup()
        return
    result = asyncio.run(firehose(args))
    print("BENCH_UI_RESULT " + json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
