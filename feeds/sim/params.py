"""A request's parameters read as the venue reads them, refused in Binance's codes and words.

One place for the simulator's REST and WebSocket API handlers (``exchange``, ``rest_market``,
``rest_account``): a missing parameter is ``-1102``, a non-integer one ``-1100``, a ``limit``
outside its range ``-1130``.
"""

from __future__ import annotations

from collections.abc import Mapping

from feeds.sim.accounts import ApiError

__all__ = ["int_param", "limit_param", "mandatory"]


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
