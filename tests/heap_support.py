"""Keeping the test run's heap small: what a finished test started must be freeable."""

from __future__ import annotations

__all__ = ["forget_request_handlers"]


def forget_request_handlers() -> None:
    """Drop aiohttp's memo of request handlers' middleware chains.

    aiohttp memoises the chain per handler (an LRU cache of 1,024 entries in ``aiohttp.web_app``),
    and a simulator's handlers are its bound methods: without this, each test's simulator, books
    and candles (~50,000 objects) stay reachable for the rest of the run, and every full
    collection walks them. One long-lived simulator (the product's ``coinm sim``) is unaffected.
    """
    from aiohttp import web_app

    cached = getattr(web_app, "_cached_build_middleware", None)
    if cached is not None:
        cached.cache_clear()
