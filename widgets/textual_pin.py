"""The one Textual version coinm's fixes to Textual were written and tested for.

``widgets/strip_divide.py`` replaces ``Strip.divide``, ``widgets/compositor_crop.py`` replaces
``Compositor._get_renders`` and ``Compositor.render_partial_update``, and ``widgets/footer.py`` relies on
``Footer``'s private ``_bindings_ready`` and on how ``data_bind`` keeps its watchers. All are
tied to Textual's internals, so each asks :func:`patch_allowed` before it changes anything: on
any other Textual version it leaves Textual alone (the dashboard works, only without the fix)
and says so once in the log. ``constraints.txt`` pins the same version; bump the two together
after rerunning ``tests/test_strip_divide.py``, ``tests/test_compositor_crop.py``,
``tests/test_app_gc.py`` and ``bench ui``.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib import metadata

__all__ = ["TESTED_TEXTUAL", "installed_textual", "patch_allowed"]

TESTED_TEXTUAL = "8.2.8"
"""The Textual release the fixes were written and tested against."""

log = logging.getLogger("coinm.textual")
_said: set[str] = set()


@cache
def installed_textual() -> str:
    try:
        return metadata.version("textual")
    except metadata.PackageNotFoundError:  # pragma: no cover - textual is a dependency
        return "unknown"


def patch_allowed(patch: str, *, version: str | None = None) -> bool:
    """True when Textual is the tested version; otherwise log once why ``patch`` stays off."""
    found = installed_textual() if version is None else version
    if found == TESTED_TEXTUAL:
        return True
    if patch not in _said:
        _said.add(patch)
        log.warning("%s not applied: written for textual %s, this is %s; Textual left as it is",
                    patch, TESTED_TEXTUAL, found)
    return False
