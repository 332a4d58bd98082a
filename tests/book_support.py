"""The book's two implementations of its hot loops, for tests that run both."""

from __future__ import annotations

from typing import Any

import pytest

from feeds import book as book_module


def use_loops(which: str, monkeypatch: Any) -> str:
    """Run the book on the C hot loops (``"c"``; skipped where ``feeds._bookc`` was not built) or
    on the Python ones (``"python"``) for the rest of the test."""
    if which == "python":
        monkeypatch.setattr(book_module, "_bookc", None)
    elif book_module._bookc is None:
        pytest.skip("feeds._bookc was not built (no C compiler at install time)")
    return which
