"""``python -m bench`` runs every registered bench; ``python -m bench book`` runs one.

Arguments from the first one starting with ``-`` are passed on to the benches (e.g. ``--events 5000``).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import bench


def _load_all() -> None:
    for module in pkgutil.iter_modules(bench.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"bench.{module.name}")


def main(argv: list[str]) -> int:
    _load_all()
    # Bench names come first; everything from the first "-" on is passed to the benches.
    split = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:split], argv[split:]
    unknown = [n for n in names if n not in bench.REGISTRY]
    if unknown or "-h" in options or "--help" in options:
        if unknown:
            print(f"unknown bench: {', '.join(unknown)}", file=sys.stderr)
        print("usage: python -m bench [name ...] [--options]\n\nbenches:")
        for b in bench.REGISTRY.values():
            print(f"  {b.name:12} {b.description}")
        return 2 if unknown else 0
    for name in names or list(bench.REGISTRY):
        b = bench.REGISTRY[name]
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"== {b.name}: {b.description} [load average {load}, {os.cpu_count()} cores]")
        b.run(options)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
