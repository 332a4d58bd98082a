"""Types of the optional C extension built from feeds/_bookc.c (feeds/book.py's hot loops).

Kept in step with the C file's ``BOOKC_ABI``: feeds/book.py uses the extension only when its
``ABI`` is the one both were written for.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

ABI: int

def apply_side(side: Any, levels: Any, /) -> None:
    """Set or remove each [price, qty] of ``levels`` on one side (a ``feeds.book._Side``): pairs,
    or a side's compact JSON text (a ``msgspec.Raw``), read in place."""

def compact_levels(bids: Any, asks: Any, /) -> bool:
    """Whether both sides' JSON texts are in the compact form ``apply_side`` reads in place."""

def read_top(fixed: tuple[Any, ...], n: int, add: Callable[[Decimal, Decimal], Decimal] | None, /) -> Any:
    """Both sides' best ``n`` levels (a ``BookTop``), rebuilding each side's cached top below its ``hi``."""

def apply_event(fixed: tuple[Any, ...], ev: Any, /) -> int:
    """BookSync's usual event in one call: 1 applied, 2 applied but crossed, 0 not in sequence (nothing done)."""
