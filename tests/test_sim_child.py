"""The dashboard's embedded simulator runs in a child process (feeds/sim/child.py) that dies with
the dashboard however the dashboard ends, and a child that cannot start is one line on stderr
and exit status 2 (issue 19, start-up).

The death cases run a stand-in dashboard in its own process (it spawns the child, prints the
child's pid, and sleeps), kill it, and wait for the child to be gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from feeds.sim.child import SimChild, SimChildError, spawn

ROOT = Path(__file__).resolve().parents[1]
GONE_WITHIN_S = 15.0
pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def sim_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "sim"
    monkeypatch.setenv("COINM_SIM_DATA_DIR", str(data))
    return data


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (a reaped-by-nobody child of a container's init)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, timeout: float = GONE_WITHIN_S) -> bool:
    deadline = time.monotonic() + timeout
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _server_time(child: SimChild) -> int:
    assert child.urls is not None
    with urllib.request.urlopen(f"{child.urls.rest}/dapi/v1/time", timeout=10) as reply:  # loopback
        return int(json.load(reply)["serverTime"])


@pytest.mark.parametrize("method", ["fork", "exec"])
def test_the_child_serves_with_the_options_given_and_stops(sim_data: Path, method: str) -> None:
    child = spawn(seed=5, speed="2.5", method=method)
    try:
        urls = child.wait()
        assert child.method == method and urls.rest.startswith("http://127.0.0.1:")
        assert urls.wsapi.startswith("ws://127.0.0.1:") and urls.stream.startswith("ws://127.0.0.1:")
        assert (child.seed, child.speed) == (5, 2.5)
        assert _server_time(child) > 0
        assert (sim_data / "demo-ed25519.pem").exists()  # the demo key the dashboard then reads
        assert os.getsid(child.pid) == child.pid  # its own session: the terminal's Ctrl-C is not its
    finally:
        child.stop()
    assert child.returncode == 0  # it ended by itself when its lifeline closed, not killed
    assert not child.running
    child.stop()  # twice is fine


_STAND_IN = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {root!r})
    from feeds.sim.child import spawn
    child = spawn(method={method!r}, parent_death_signal={pdeathsig!r})
    child.wait()
    if {hold!r}:  # a process that outlives us holds the lifeline's write end open
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
    print(child.pid, flush=True)
    try:
        time.sleep(60)
    finally:
        child.stop()
""")


@pytest.fixture
def stand_in(sim_data: Path) -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the stand-in and anything it left in its group
        except ProcessLookupError:
            pass
        proc.wait()


def _start_stand_in(procs: list[subprocess.Popen[str]], *, method: str = "fork", pdeathsig: bool = True,
                    hold: bool = False) -> tuple[subprocess.Popen[str], int]:
    code = _STAND_IN.format(root=str(ROOT), method=method, pdeathsig=pdeathsig, hold=hold)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own group: the cleanup kills the holder too
    procs.append(proc)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip().isdigit(), f"the stand-in dashboard did not start its simulator: {line!r}"
    child = int(line)
    assert not _gone(child)
    return proc, child


@pytest.mark.parametrize(("method", "pdeathsig", "hold"), [
    ("fork", True, False),   # as coinm runs it
    ("fork", False, False),  # the lifeline pipe alone
    ("fork", True, True),    # the kernel's parent-death signal alone (the lifeline held open elsewhere)
])
def test_the_child_dies_when_the_dashboard_is_killed(stand_in: list[subprocess.Popen[str]], method: str,
                                                      pdeathsig: bool, hold: bool) -> None:
    proc, child = _start_stand_in(stand_in, method=method, pdeathsig=pdeathsig, hold=hold)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _wait_gone(child), "the simulator outlived the dashboard"


def test_the_child_ends_when_the_dashboard_is_interrupted(stand_in: list[subprocess.Popen[str]]) -> None:
    """Ctrl-C: the terminal signals the dashboard's process group; the child is not in it, the
    dashboard's clean-up stops it."""
    proc, child = _start_stand_in(stand_in)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(30) != 0
    assert _wait_gone(child)


def test_a_child_that_cannot_start_says_why_in_one_line(sim_data: Path) -> None:
    sim_data.mkdir(parents=True)
    key = sim_data / "demo-ed25519.pem"
    key.write_text("not a key\n")
    key.chmod(0o600)
    child = spawn()
    with pytest.raises(SimChildError) as caught:
        child.wait()
    message = str(caught.value)
    assert message.startswith("the embedded simulator did not start: ") and "not a PEM private key" in message
    assert "\n" not in message
    assert not child.running


def _bad_demo_key(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "bad-sim"
    data.mkdir()
    key = data / "demo-ed25519.pem"
    key.write_text("not a key\n")
    key.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINM_")}
    return {**env, "COINM_SIM_DATA_DIR": str(data), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "data")}


def test_coinm_with_a_simulator_that_cannot_start_is_one_line_and_status_2(tmp_path: Path) -> None:
    """The real command (the child forked before Textual is imported): no traceback, no screen."""
    done = subprocess.run([sys.executable, "-m", "tui.cli"], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env=_bad_demo_key(tmp_path), stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("coinm: the embedded simulator did not start: ") and "not a PEM" in done.stderr


@pytest.mark.usefixtures("cli_env")
def test_run_dashboard_stops_its_child_when_the_app_fails(sim_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception out of the dashboard still ends the simulator (run_dashboard's own child:
    tui.app is loaded in this process, so coinm leaves the start to run_dashboard)."""
    import feeds.sim.child
    import tui.app
    from tui.cli import main

    children: list[SimChild] = []
    real_spawn = feeds.sim.child.spawn

    def recording_spawn(**kwargs: object) -> SimChild:
        child = real_spawn(**kwargs)  # type: ignore[arg-type]
        children.append(child)
        return child

    class Crash(Exception):
        pass

    class FailingApp:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def run(self) -> None:
            raise Crash

    monkeypatch.setattr(feeds.sim.child, "spawn", recording_spawn)
    monkeypatch.setattr(tui.app, "CoinmApp", FailingApp)
    with pytest.raises(Crash):
        main(["--seed", "9"])
    [child] = children
    assert child.seed == 9 and child.urls is not None  # it served, with the seed asked for
    assert not child.running and child.returncode is not None


async def test_a_child_forked_inside_a_running_loop_serves_and_holds_none_of_the_callers_files(
        sim_data: Path) -> None:
    import asyncio
    import select

    read_end, write_end = os.pipe()  # stands for a socket or file the caller has open
    child = spawn(method="fork")
    try:
        os.close(write_end)
        # end of file once no process holds the write end: the child closed its copy
        assert select.select([read_end], [], [], GONE_WITHIN_S)[0] and os.read(read_end, 1) == b""
        await asyncio.to_thread(child.wait)  # the caller's running loop was not the child's
        assert child.urls is not None
    finally:
        os.close(read_end)
        child.stop()
