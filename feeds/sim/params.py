"""A request's parameters read as the venue reads them, refused in Binance's codes and words.

One place for the simulator's REST and WebSocket API handlers (``exchange``, ``rest_market``,
``rest_account``): a missing parameter is ``-1102``, a non-integer one ``-1100``, a ``limit``
outside its range ``-1130``; a candles request's interval, limit, window and weight.
"""

from __future__ import annotations

from collections.abc import Mapping

from feeds.sim.accounts import ApiError
from feeds.sim.candles import INTERVALS

__all__ = ["int_param", "kline_params", "kline_weight", "limit_param", "mandatory", "window_params"]


def mandatory(name: str) -> ApiError:
    """The refusal of a request without ``name`` (or with it empty or malformed)."""
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def int_param(q: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    """``name`` as an integer; ``default`` when it is absent or empty."""
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'; "
                              "legal range is '^-?[0-9]{1,20}$'.") from None


def limit_param(q: Mapping[str, str], default: int, most: int) -> int:
    """``limit``: ``default`` when absent, else 1 to ``most``."""
    limit = int_param(q, "limit", default)
    assert limit is not None
    if limit < 1 or limit > most:
        raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
    return limit


def window_params(q: Mapping[str, str]) -> tuple[int | None, int | None]:
    """``startTime`` and ``endTime`` (either may be absent); -1023 when start is after end."""
    start, end = int_param(q, "startTime"), int_param(q, "endTime")
    if start is not None and end is not None and start > end:
        raise ApiError(-1023, "Start time is greater than end time.")
    return start, end


def kline_params(q: Mapping[str, str]) -> tuple[str, int, int | None, int | None]:
    """A candles request's interval (mandatory, one of Binance's), limit (default 500, at most
    1500), startTime and endTime."""
    interval = q.get("interval")
    if not interval:
        raise mandatory("interval")
    if interval not in INTERVALS:
        raise ApiError(-1120, "Invalid interval.")
    limit = limit_param(q, 500, 1500)
    start, end = window_params(q)
    return interval, limit, start, end


def kline_weight(limit: int) -> int:
    """The request weight of a candles request by its limit."""
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
