"""The dashboard's embedded simulator in a child process (``coinm`` with no venue given).

Why a process and not a thread: ``coinm`` starts the simulator before it imports Textual, so
the simulator's start runs on the second core while the dashboard's imports run on the first;
once running, the simulator's work (market activity, the REST replies the dashboard's start-up
asks for: rules, candles, a 1000-level book) no longer competes with the interface for one
interpreter lock.

:func:`spawn` returns a :class:`SimChild` at once; :meth:`SimChild.wait` returns the URLs (one
JSON line from the child) or raises :class:`SimChildError` with one line for the user. Two
ways to start the child:

* ``fork`` (Linux, and only while the process has no other thread): the child is a copy of the
  caller, so every module the caller imported already (``coinm`` imports the feed layer first:
  aiohttp, websockets, the models) costs the child nothing; it imports the simulator's own
  modules and serves.
* ``exec`` (elsewhere): ``python -c`` running this module, which imports everything itself.

Either way the child runs in its own session (the terminal's Ctrl-C and Ctrl-Z are the
dashboard's, not the simulator's), its stdout/stderr go nowhere (never onto the dashboard's
screen; logs go to the dashboard's ``log_file`` if it has one), and it dies with the dashboard
whatever way the dashboard ends:

* its stdin is a pipe only the dashboard holds the write end of: end of file (the dashboard
  closed it, exited, crashed or was killed with ``kill -9``) stops it;
* on Linux it also asks the kernel for SIGTERM when the dashboard dies (``PR_SET_PDEATHSIG``),
  and exits at once if the dashboard is already gone when it starts;
* :meth:`SimChild.stop` closes the pipe, waits for the child a moment, and kills it if it
  lingers.

Importing this module imports neither the simulator nor aiohttp nor asyncio.
"""

from __future__ import annotations

import json
import os
import selectors
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ChildUrls", "SimChild", "SimChildError", "spawn"]

READY_TIMEOUT_S = 30.0
"""How long :meth:`SimChild.wait` waits for the child to serve (the thread's limit before)."""

STOP_TIMEOUT_S = 5.0
"""How long :meth:`SimChild.stop` waits for the child to end by itself before killing it."""

_ROOT = str(Path(__file__).resolve().parents[2])
"""The directory ``feeds`` was imported from: an ``exec`` child runs this very code."""

_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from feeds.sim.child import child_main; child_main(sys.argv[2])"


class SimChildError(Exception):
    """The embedded simulator could not be started; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class ChildUrls:
    """The child's base URLs (what :meth:`feeds.config.VenueProfile.with_sim_urls` reads)."""

    rest: str
    stream: str
    wsapi: str


class SimChild:
    """A simulator starting or serving in a child process; see the module text.

    Args:
        pid: the child's process id.
        lifeline: the write end of the child's stdin pipe (closing it ends the child).
        report: the read end of the child's stdout pipe (its one JSON line).
        popen: the ``subprocess.Popen`` of an ``exec`` child (it reaps the child).
    """

    def __init__(self, pid: int, lifeline: int, report: int, spawned_at: float, method: str,
                 popen: Any = None) -> None:
        self.pid = pid
        self.method = method
        """``"fork"`` or ``"exec"``."""
        self.spawned_at = spawned_at
        """``time.time()`` when the child was started."""
        self.urls: ChildUrls | None = None
        self.serving_at: float | None = None
        """``time.time()`` when the child said it was serving (its own reading of the clock)."""
        self.seed: int | None = None
        self.speed: float | None = None
        """The seed and speed the child's simulator runs with, as it reported them."""
        self.returncode: int | None = None
        self._lifeline: int | None = lifeline
        self._report: int | None = report
        self._popen = popen
        self._line = b""

    def wait(self, timeout: float = READY_TIMEOUT_S) -> ChildUrls:
        """The URLs once the child serves (at once if it said so already).

        Raises:
            SimChildError: the child reported a failure, exited, or did not answer in time
                (the child is stopped then).
        """
        if self.urls is not None:
            return self.urls
        try:
            report = self._read_report(timeout)
            error = report.get("error")
            if error is not None:
                raise SimChildError(f"the embedded simulator did not start: {error}")
            try:
                urls = ChildUrls(str(report["rest"]), str(report["stream"]), str(report["wsapi"]))
                self.serving_at = float(report["serving_at"])
                self.seed, self.speed = int(report["seed"]), float(report["speed"])
            except (KeyError, TypeError, ValueError):
                raise SimChildError("the embedded simulator did not start: it answered "
                                    f"{_shorten(self._line)!r}") from None
        except SimChildError:
            self.stop()
            raise
        self._close_report()
        self.urls = urls
        return urls

    def _read_report(self, timeout: float) -> dict[str, Any]:
        fd = self._report
        if fd is None:
            raise SimChildError("the embedded simulator was stopped")
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._line:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise SimChildError(f"the embedded simulator did not start within {timeout:g} s")
                chunk = os.read(fd, 65536)
                if not chunk:
                    code = self._reap(STOP_TIMEOUT_S)
                    how = f"exit status {code}" if code is None or code >= 0 else f"signal {-code}"
                    raise SimChildError(f"the embedded simulator exited before serving ({how})")
                self._line += chunk
        try:
            report = json.loads(self._line.partition(b"\n")[0])
        except ValueError:
            report = None
        if not isinstance(report, dict):
            raise SimChildError(f"the embedded simulator did not start: it answered {_shorten(self._line)!r}")
        return report

    @property
    def running(self) -> bool:
        """Whether the child process has not ended (reaps it if it has)."""
        return self._reap(0) is None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """End the child: close its lifeline, wait ``timeout`` for it, then kill it. Safe to
        call twice."""
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None
        self._close_report()
        if self._reap(timeout) is None:
            import signal

            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap(None)

    def _close_report(self) -> None:
        if self._report is not None:
            os.close(self._report)
            self._report = None

    def _reap(self, timeout: float | None) -> int | None:
        """The child's exit status once it ended within ``timeout`` s (None: wait as long as it
        takes), else None; negative: killed by that signal."""
        if self.returncode is not None:
            return self.returncode
        if self._popen is not None:
            import subprocess

            try:
                self.returncode = self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
            return self.returncode
        deadline = None if timeout is None else time.monotonic() + timeout
        pidfd = _pidfd(self.pid)
        try:
            while True:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
                    return self.returncode
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                if pidfd is not None:  # readable when the child exits
                    with selectors.DefaultSelector() as sel:
                        sel.register(pidfd, selectors.EVENT_READ)
                        sel.select(left)
                else:
                    time.sleep(0.01 if left is None else min(0.01, left))
        except ChildProcessError:  # reaped elsewhere
            self.returncode = 0
            return 0
        finally:
            if pidfd is not None:
                os.close(pidfd)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)  # Linux 5.3+
    except (AttributeError, OSError):
        return None


def spawn(*, seed: int = 1, speed: str | float = "1", log_file: str | os.PathLike[str] | None = None,
          method: str = "auto", parent_death_signal: bool = True) -> SimChild:
    """Start the simulator in a child process; returns at once (see :meth:`SimChild.wait`).

    Args:
        seed: the market seed (``--seed``).
        speed: the activity multiplier (``sim_speed``: a number or its text).
        log_file: where the child logs (the dashboard's ``log_file``), or nowhere.
        method: ``"fork"``, ``"exec"`` or ``"auto"``: fork on Linux while this process has no
            other thread (forking a threaded process can deadlock the child), else exec.
        parent_death_signal: ask the kernel for SIGTERM to the child when this process dies
            (Linux; False leaves it to the lifeline pipe alone: for tests).

    Raises:
        SimChildError: the child process cannot be started at all.
    """
    if method == "auto":
        method = "fork" if sys.platform.startswith("linux") and threading.active_count() == 1 else "exec"
    options = {
        "seed": int(seed), "speed": str(speed), "parent": os.getpid(),
        "log_file": os.fspath(log_file) if log_file else None,
        # the kernel's parent-death signal follows the spawning *thread*: ask for it only from
        # the main thread, which lives as long as the process
        "pdeathsig": parent_death_signal and threading.current_thread() is threading.main_thread(),
    }
    spawned_at = time.time()
    try:
        if method == "fork":
            return _fork(options, spawned_at)
        return _exec(options, spawned_at)
    except OSError as exc:
        raise SimChildError(f"cannot start the embedded simulator: {exc.strerror or exc}") from None


def _exec(options: dict[str, Any], spawned_at: float) -> SimChild:
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-c", _BOOT, _ROOT, json.dumps(options)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    # the fds are the SimChild's from now on (closed by it, not by the file objects)
    lifeline, report = os.dup(proc.stdin.fileno()), os.dup(proc.stdout.fileno())
    proc.stdin.close()
    proc.stdout.close()
    return SimChild(proc.pid, lifeline, report, spawned_at, "exec", popen=proc)


def _fork(options: dict[str, Any], spawned_at: float) -> SimChild:
    lifeline_r, lifeline_w = os.pipe()  # not inheritable: a program the dashboard runs later holds neither
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        code = 2
        try:
            os.close(lifeline_w)  # else the child would hold its own lifeline open
            os.close(report_r)
            os.setsid()
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(lifeline_r, 0)
            os.dup2(report_w, 1)
            os.dup2(devnull, 2)
            for fd in (lifeline_r, report_w, devnull):
                if fd > 2:
                    os.close(fd)
            os.closerange(3, _max_fd())  # none of the caller's files or sockets stay open in here
            code = _child(options)
        except BaseException as exc:  # noqa: BLE001 - told to the parent in one line, never a traceback
            _report({"error": _describe(exc)})
        finally:
            os._exit(code)
    os.close(lifeline_r)
    os.close(report_w)
    return SimChild(pid, lifeline_w, report_r, spawned_at, "fork")


def _max_fd() -> int:
    try:
        return min(os.sysconf("SC_OPEN_MAX"), 1 << 20)
    except (OSError, ValueError):
        return 4096


def _shorten(raw: bytes, limit: int = 120) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------------------ the child side


def child_main(raw_options: str) -> None:
    """An ``exec`` child: serve until the parent goes away. Never returns."""
    code = 2
    try:
        code = _child(json.loads(raw_options))
    except BaseException as exc:  # noqa: BLE001 - told to the parent in one line, never a traceback
        _report({"error": _describe(exc)})
    finally:
        os._exit(code)


def _child(options: dict[str, Any]) -> int:
    """Serve until stdin ends; the exit status."""
    import gc
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the dashboard's
    if options.get("pdeathsig"):
        _die_with_parent()
    if os.getppid() != options["parent"]:
        return 0  # the dashboard died before we could watch it
    # a forked child inherits the collector as the dashboard's start-up left it (off): what was
    # inherited is frozen (never walked, so never copied page by page), and the collector runs
    gc.freeze()
    gc.enable()
    if options.get("log_file"):
        import logging

        logging.basicConfig(filename=options["log_file"], level=logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
    import asyncio

    return asyncio.run(_serve(options))


def _die_with_parent() -> None:
    """SIGTERM to this process when its parent dies (Linux only; elsewhere the pipe does it)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # no prctl: the lifeline pipe still ends the child


async def _serve(options: dict[str, Any]) -> int:
    import asyncio
    from decimal import Decimal

    loop = asyncio.get_running_loop()
    gone = asyncio.Event()

    def lifeline() -> None:
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(0)
            gone.set()

    loop.add_reader(0, lifeline)  # before anything slow: a parent gone meanwhile is seen at once
    from feeds.sim.exchange import SimExchange

    sim = SimExchange(seed=options["seed"], speed=float(Decimal(options["speed"])))
    try:
        urls = await sim.start()
        _report({"rest": urls.rest, "stream": urls.stream, "wsapi": urls.wsapi, "serving_at": time.time(),
                 "seed": sim.engine.seed, "speed": sim.engine.speed})
        from feeds.sim.cli import tune_collector

        tune_collector()  # as `coinm sim` does (the simulator has this process to itself), after the report
        await gone.wait()
    finally:
        await sim.stop()
    return 0


def _report(message: dict[str, Any]) -> None:
    """One JSON line to the parent, then stdout goes nowhere (nothing else is read from it)."""
    data = (json.dumps(message) + "\n").encode()
    try:
        while data:
            data = data[os.write(1, data):]
    except OSError:
        pass  # the parent is gone; the lifeline ends us
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


def _describe(exc: BaseException) -> str:
    """One line for the user: an OS error by its reason, anything else by its message (and
    type, unless it is one of ours that reads well alone); never a traceback."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    if not text:
        return name
    return text if name in {"KeyFileError", "ValueError", "ConfigError"} else f"{name}: {text}"
