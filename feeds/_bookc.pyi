"""Types of the optional C extension built from feeds/_bookc.c (feeds/book.py's hot loops).

Kept in step with the C file's ``BOOKC_ABI``: feeds/book.py uses the extension only when its
``ABI`` is the one both were written for.
"""

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

ABI: int

def apply_side(fixed: tuple[Any, ...], floor: int, hi: int, levels: Iterable[Any], /) -> int:
    """Set or remove each [price, qty] of ``levels`` on one side; the best key changed."""

def build_top(
    top: list[Any],
    keys: list[int],
    qty: Mapping[int, Decimal],
    price_of: Mapping[int, Decimal],
    hi: int,
    want: int,
    level: Callable[[Decimal, Decimal, Decimal], Any],
    add: Callable[[Decimal, Decimal], Decimal] | None,
    /,
) -> None:
    """Rebuild ``top`` below ``hi`` down to ``want`` levels as ``level(price, qty, cum)``."""
