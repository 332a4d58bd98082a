"""Errors shared by every part of the core: venue rejections, unknown outcomes, bad frames."""

from __future__ import annotations

__all__ = ["MalformedFrame", "OutcomeUnknown", "VenueError"]


class MalformedFrame(ValueError):
    """A frame from the venue could not be understood; the caller logs it and carries on."""


class VenueError(Exception):
    """The venue answered a request with an error code (e.g. ``-4014``)."""

    def __init__(self, code: int, msg: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        """Binance's error code."""
        self.msg = msg
        """The venue's own message."""
        self.status = status
        """HTTP or WebSocket API status, when there was one."""


class OutcomeUnknown(Exception):
    """A request left and no answer came in time: it may or may not have taken effect.

    Never retried blindly; callers query the venue (``order.status``) before reporting.
    """

    def __init__(self, method: str, request_id: str | int | None, detail: str = "") -> None:
        super().__init__(f"{method} (id {request_id}): outcome unknown{': ' + detail if detail else ''}")
        self.method = method
        self.request_id = request_id
