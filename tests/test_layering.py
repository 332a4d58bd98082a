"""The import contract (pyproject.toml, checked by ``lint-imports`` in CI) covers every module.

The contract that keeps the simulator out of the core lists the core's modules by name; a new
module in feeds/ must be listed too, or the contract would silently not look at it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["name"]: c for c in config["contracts"]}


def test_the_core_contract_lists_every_core_module() -> None:
    core = {f"feeds.{p.stem}" for p in (ROOT / "feeds").glob("*.py") if p.stem != "__init__"}
    contract = next(c for name, c in _contracts().items() if "simulator" in name)
    assert set(contract["source_modules"]) == core
    assert contract["forbidden_modules"] == ["feeds.sim"]


def test_the_ui_contracts_cover_the_packages() -> None:
    contracts = _contracts().values()
    assert any(c["source_modules"] == ["feeds"] and {"tui", "widgets", "textual"} <= set(c["forbidden_modules"])
               for c in contracts)
    assert any(c["source_modules"] == ["widgets"]
               and {"websockets", "aiohttp", "feeds.sim"} <= set(c["forbidden_modules"])
               for c in contracts)
