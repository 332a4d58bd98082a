"""The README, the help screen and the app's bindings list the same keys (a key may be named in
the README's first column or, as ctrl+c and ctrl+p are, in the text beside another)."""

from __future__ import annotations

import re
from pathlib import Path

from tui.app import HELP, CoinmApp

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
_NAMES = {"question_mark": "?", "slash": "/", "plus": "+", "minus": "-", "exclamation_mark": "!",
          "up": "↑", "down": "↓"}


def _help_keys() -> set[str]:
    keys: set[str] = set()
    for _section, rows in HELP:
        for key, _what in rows:
            for part in re.split(r" / | or ", key):
                keys.add(_NAMES.get(part.strip(), part.strip()))
    return keys


def _readme_keys() -> set[str]:
    section = README.split("## Keys", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| ")]
    return {key for row in rows for cell in row[1:3] for key in re.findall(r"`([^`]+)`", cell)}


def test_every_binding_of_the_dashboard_is_in_the_help() -> None:
    help_keys = _help_keys()
    missing = []
    for binding in CoinmApp.BINDINGS:
        key = binding.key.split(",")[0]  # type: ignore[union-attr]
        if _NAMES.get(key, key) not in help_keys:
            missing.append(key)
    assert missing == []


def test_every_key_of_the_help_is_in_the_readme() -> None:
    readme = _readme_keys()
    assert readme, "README has a Keys table"
    assert sorted(_help_keys() - readme) == []


def test_every_command_of_coinm_is_in_the_readme() -> None:
    from tui.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    commands = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    assert sorted(name for name in sub.choices if f"coinm {name}" not in commands) == []  # type: ignore[union-attr]
