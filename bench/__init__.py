"""Benchmarks that print figures (``python -m bench [name ...]``); no pass/fail asserts.

A bench module registers itself with :func:`register`; ``python -m bench`` imports every module
of this package, so adding ``bench/<name>.py`` with a registered function is all it takes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Bench", "REGISTRY", "print_table", "register"]


@dataclass(frozen=True, slots=True)
class Bench:
    """A registered benchmark."""

    name: str
    description: str
    run: Callable[[list[str]], None]
    """Called with the command-line arguments after the bench names."""


REGISTRY: dict[str, Bench] = {}


def register(name: str, description: str) -> Callable[[Callable[[list[str]], None]], Callable[[list[str]], None]]:
    """Decorator: make ``fn(args)`` runnable as ``python -m bench <name>``."""

    def decorator(fn: Callable[[list[str]], None]) -> Callable[[list[str]], None]:
        if name in REGISTRY and REGISTRY[name].run is not fn:
            raise ValueError(f"bench {name!r} is registered twice")
        REGISTRY[name] = Bench(name, description, fn)
        return fn

    return decorator


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows as an aligned text table (first column left-aligned, the rest right-aligned)."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))
