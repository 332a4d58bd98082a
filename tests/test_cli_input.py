"""Bad input at the command line: one clear line on stderr, a non-zero exit, never a traceback
(issue 12, part 8). Nothing here starts the dashboard or a server: both are replaced by stand-ins
that fail the test if the bad input gets that far.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tui.app
from feeds.config import Config
from feeds.sim import cli as sim_cli
from tui.cli import main

COINM = Path(sys.executable).parent / "coinm"
pytestmark = pytest.mark.usefixtures("cli_env")


@pytest.fixture
def dashboard(monkeypatch: pytest.MonkeyPatch) -> list[Config]:
    """The dashboard replaced by a recorder: it never starts, but we see the config it would get."""
    started: list[Config] = []

    def run_dashboard(config: Config) -> int:
        started.append(config)
        return 0

    monkeypatch.setattr(tui.app, "run_dashboard", run_dashboard)
    return started


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    async def serve(args: Any) -> None:
        raise AssertionError(f"coinm sim started serving with bad input: {args}")

    monkeypatch.setattr(sim_cli, "_serve", serve)


def one_line_refusal(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    rc = main(argv)
    out = capsys.readouterr()
    assert rc == 2, (rc, out)
    assert out.err.count("\n") == 1 and "Traceback" not in out.err, out.err
    return out.err


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "coinm" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("port", ["99999", "-1", "65535", "http"])
def test_sim_refuses_a_port_that_cannot_be(port: str, no_server: None, capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_refusal(["sim", "--port", port], capsys)
    assert err.startswith("coinm sim: argument --port:")


@pytest.mark.parametrize("speed", ["inf", "nan", "-inf", "0", "-2", "fast"])
def test_sim_refuses_a_speed_that_is_not_a_finite_positive_number(
    speed: str, no_server: None, capsys: pytest.CaptureFixture[str],
) -> None:
    err = one_line_refusal(["sim", f"--speed={speed}"], capsys)
    assert err.startswith("coinm sim: argument --speed:")


@pytest.mark.parametrize("spec", ["stall:abc", "delay:order.place:soon", "429:many", "nonsense"])
def test_sim_refuses_faults_it_cannot_read(spec: str, no_server: None, capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_refusal(["sim", "--faults", spec], capsys)
    assert err.startswith("coinm sim: ")


def test_bad_input_in_a_real_process_is_one_line_without_a_traceback() -> None:
    done = subprocess.run([str(COINM), "sim", "--port", "99999"], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if not k.startswith("COINM_")})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("where", ["flag", "env", "file"])
def test_an_unknown_theme_is_refused_before_the_dashboard_starts(
    where: str, dashboard: list[Config], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--theme", "nope"] if where == "flag" else []
    if where == "env":
        monkeypatch.setenv("COINM_THEME", "nope")
    if where == "file":
        config_file(tmp_path, 'theme = "nope"\n')
    err = one_line_refusal(argv, capsys)
    assert "theme 'nope' is not one of Textual's themes" in err and "textual-dark" in err
    assert {"flag": "--theme", "env": "COINM_THEME", "file": "config.toml"}[where] in err
    assert dashboard == []
    assert main(["--theme", "nord"]) == 0 and dashboard[0].theme == "nord"  # a real theme gets through


def test_help_does_not_import_textual() -> None:
    done = subprocess.run([sys.executable, "-c", "import sys; from tui.cli import main; main(['--help']); "
                           "print('textual' in sys.modules)"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip().endswith("False"), done.stdout[-200:]


def test_unknown_config_keys_warn_on_stderr_naming_them(
    dashboard: list[Config], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    config_file(tmp_path, 'symbl = "ETHUSD_PERP"\n[venues.sim]\nrest_urll = "http://127.0.0.1:1"\n')
    assert main([]) == 0 and len(dashboard) == 1
    err = capsys.readouterr().err
    assert "coinm: warning: unknown setting 'symbl'" in err and "'rest_urll' in [venues.sim]" in err


def test_unknown_config_keys_warn_in_the_order_commands_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    config_file(tmp_path, 'symbl = "ETHUSD_PERP"\n')
    assert main(["orders", "--symbol", "BTCUSD_PERP"]) == 0  # an embedded simulator
    err = capsys.readouterr().err
    assert "coinm orders: warning: unknown setting 'symbl'" in err


@pytest.mark.parametrize(
    "text,expected",
    [
        ('recv_window = "3000"\n', "recv_window = '3000' is not valid: expected a whole number (without quotes)"),
        ("sim_speed = inf\n", "sim_speed = inf is not valid"),
        ("sim_speed = nan\n", "sim_speed = nan is not valid"),
        ("sim_speed = 0\n", "sim_speed = 0 is not valid"),
        ('confirm_orders = "false"\n', "expected true or false (a TOML boolean, without quotes)"),
        ("theme = 5\n", "theme = 5 is not valid: expected text (in quotes)"),
        ("ladder_levels = 2.5\n", "ladder_levels = 2.5 is not valid"),
        ('symbol = "BTCUSD_PERP"\nsim_seed = "7"\n', "line 2: sim_seed"),
    ],
)
def test_wrong_types_in_the_config_file_are_refused(
    text: str, expected: str, dashboard: list[Config], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = config_file(tmp_path, text)
    err = one_line_refusal([], capsys)
    assert expected in err and str(path) in err
    assert dashboard == []
    assert expected in one_line_refusal(["orders", "--symbol", "BTCUSD_PERP"], capsys)


def test_a_missing_config_file_is_refused(tmp_path: Path, dashboard: list[Config], monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.toml"
    assert "nope.toml does not exist" in one_line_refusal(["--config", str(missing)], capsys)
    assert "is not a file" in one_line_refusal(["--config", str(tmp_path)], capsys)
    monkeypatch.setenv("COINM_CONFIG", str(missing))
    assert "nope.toml does not exist" in one_line_refusal([], capsys)
    assert dashboard == []


def test_keygen_without_a_terminal_refuses_to_write_an_unencrypted_key_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    out = tmp_path / "k.pem"
    err = one_line_refusal(["keygen", "--out", str(out)], capsys)
    assert "stdin is not a terminal" in err and "--no-passphrase" in err
    assert not out.exists()
    assert main(["keygen", "--out", str(out), "--no-passphrase"]) == 0
    assert out.exists() and "BEGIN PUBLIC KEY" in capsys.readouterr().out
