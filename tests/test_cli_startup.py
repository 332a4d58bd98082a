"""``coinm --help`` (and a light command's help) stays light: the heavy parts of the program
(Textual, aiohttp, the simulator, a subcommand's own module) are imported only by the command
that uses them. Checked in a fresh interpreter, through ``sys.modules``."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
import types
from collections.abc import Callable

import pytest

HEAVY = ("textual", "aiohttp", "feeds.sim", "websockets", "rich")


def _imported_after(argv: list[str]) -> set[str]:
    code = (
        "import json, sys\n"
        "from tui.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stdout = sys.__stdout__\n"
        "print('\\n@@' + json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(out.stdout.rpartition("\n@@")[2]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_help_imports_neither_textual_nor_aiohttp_nor_the_simulator():
    modules = _imported_after(["--help"])
    assert _heavy(modules) == []
    # nor any subcommand's module: their arguments are added when the subcommand is used
    assert not {"tui.order_cli", "tui.risk_cli", "tui.history_cli", "tui.alert_cli", "feeds.sim.cli"} & modules


def test_a_subcommand_imports_its_own_module_only():
    modules = _imported_after(["keygen", "--help"])
    assert _heavy(modules) == []
    modules = _imported_after(["alert", "--help"])
    assert "tui.alert_cli" in modules
    assert not {"tui.order_cli", "tui.risk_cli", "tui.history_cli", "feeds.sim.cli"} & modules
    assert _heavy(modules) == []


def test_subcommand_help_still_shows_its_arguments():
    out = subprocess.run([sys.executable, "-m", "tui.cli", "order", "--help"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "--side" in out and "--venue" in out


def test_sim_help_does_not_load_the_exchange():
    modules = _imported_after(["sim", "--help"])
    assert "feeds.sim.cli" in modules
    assert not {"feeds.sim.exchange", "feeds.sim.engine", "aiohttp", "textual"} & modules


# ---- the dashboard's start-up runs without the cyclic garbage collector -------------------------


def _run_with_fake_dashboard(monkeypatch: pytest.MonkeyPatch, body: Callable[[], object]) -> list[object]:
    """``coinm`` (the dashboard) with ``tui.app`` replaced: ``body`` runs where the app would."""
    from tui.cli import main

    seen: list[object] = []

    def run_dashboard(config: object) -> int:
        seen.append(body())
        return 0

    monkeypatch.setitem(sys.modules, "tui.app", types.SimpleNamespace(run_dashboard=run_dashboard))
    assert main([]) == 0
    return seen


@pytest.mark.usefixtures("cli_env")
def test_the_dashboard_starts_with_the_collector_off_and_turns_it_back_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert gc.isenabled()
    assert _run_with_fake_dashboard(monkeypatch, gc.isenabled) == [False]
    assert gc.isenabled()  # on again once the dashboard returns


@pytest.mark.usefixtures("cli_env")
def test_the_collector_comes_back_on_by_itself_while_the_dashboard_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tui.cli.STARTUP_GC_PAUSE_S", 0.05)

    def wait_for_the_collector() -> bool:
        end = time.monotonic() + 10
        while not gc.isenabled() and time.monotonic() < end:
            time.sleep(0.01)
        return gc.isenabled()

    assert _run_with_fake_dashboard(monkeypatch, wait_for_the_collector) == [True]


@pytest.mark.usefixtures("cli_env")
def test_a_collector_switched_off_by_the_caller_stays_off(monkeypatch: pytest.MonkeyPatch) -> None:
    gc.disable()
    try:
        assert _run_with_fake_dashboard(monkeypatch, gc.isenabled) == [False]
        assert not gc.isenabled()
    finally:
        gc.enable()
