"""The embedded simulated COIN-M exchange: Binance's wire protocols on loopback.

``SimExchange`` runs on the caller's event loop (tests); ``start_in_thread`` runs one on its
own loop in a daemon thread (the dashboard). ``demo_credentials`` gives the default account's
API key, Ed25519 key file and HMAC secret.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # asyncio too: importing feeds.sim.child (the dashboard's simulator process) stays light
    import asyncio

    from feeds.sim.credentials import DEMO_API_KEY, DemoCredentials, demo_credentials
    from feeds.sim.exchange import SimExchange, SimUrls
    from feeds.sim.faults import FaultRecord

_LAZY = {
    "DEMO_API_KEY": "feeds.sim.credentials",
    "DemoCredentials": "feeds.sim.credentials",
    "demo_credentials": "feeds.sim.credentials",
    "SimExchange": "feeds.sim.exchange",
    "SimUrls": "feeds.sim.exchange",
    "FaultRecord": "feeds.sim.faults",
}
"""Names imported on first use: importing one part of the simulator (``feeds.sim.faults`` for
``coinm sim``'s help, ``feeds.sim.credentials`` for the demo key) does not load the exchange and
aiohttp with it."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

__all__ = [
    "DEMO_API_KEY",
    "DemoCredentials",
    "FaultRecord",
    "SimExchange",
    "SimHandle",
    "SimUrls",
    "demo_credentials",
    "start_in_thread",
]

T = TypeVar("T")


class SimHandle:
    """A simulator running on its own event loop in a daemon thread.

    Every accessor hops onto the simulator's loop, so it is safe from any thread.
    """

    def __init__(self, sim: SimExchange, loop: asyncio.AbstractEventLoop, thread: threading.Thread,
                 urls: SimUrls) -> None:
        self.sim = sim
        """The simulator itself; touch it only through :meth:`call` from other threads."""
        self.urls = urls
        self._loop = loop
        self._thread = thread

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Run ``fn(*args)`` on the simulator's loop and return its result."""
        import concurrent.futures

        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # handed back to the caller's thread
                fut.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return fut.result(timeout)

    def pause(self) -> None:
        self.call(self.sim.pause)

    def resume(self) -> None:
        self.call(self.sim.resume)

    def true_book(self, symbol: str) -> Any:
        return self.call(self.sim.true_book, symbol)

    @property
    def fault_log(self) -> list[FaultRecord]:
        return self.call(lambda: list(self.sim.fault_log))

    def fault(self, name: str, *args: Any) -> Any:
        """Inject a fault by injector method name, e.g. ``fault("depth_gap", "BTCUSD_PERP")``."""
        return self.call(getattr(self.sim.faults, name), *args)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and end the thread."""
        import asyncio

        if not self._loop.is_running():
            return
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self._loop).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)


def start_in_thread(host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> SimHandle:
    """Start a :class:`SimExchange` (``kwargs`` go to its constructor) in a daemon thread."""
    import asyncio
    import concurrent.futures

    from feeds.sim.exchange import SimExchange

    loop = asyncio.new_event_loop()
    ready: concurrent.futures.Future[tuple[SimExchange, SimUrls]] = concurrent.futures.Future()

    def main() -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            try:
                sim = SimExchange(**kwargs)
                urls = await sim.start(host, port)
                ready.set_result((sim, urls))
            except BaseException as exc:
                ready.set_exception(exc)

        loop.create_task(boot())
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=main, name="coinm-sim", daemon=True)
    thread.start()
    sim, urls = ready.result(30)
    return SimHandle(sim, loop, thread, urls)
