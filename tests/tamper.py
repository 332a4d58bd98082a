"""Tampering proxies on loopback, for tests of what coinm does when the venue misbehaves.

* :class:`StallProxy`: a TCP proxy that can hold every byte in both directions (a connection
  that stays open but carries nothing: no frames, no pongs), as a stalled venue does.
* :class:`RestTamper`: an HTTP proxy in front of the simulator's REST API whose
  ``exchangeInfo`` answer a test may rewrite.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

__all__ = ["RestTamper", "StallProxy", "set_filter"]


class StallProxy:
    """Forwards TCP connections from ``127.0.0.1:port`` to ``upstream_port``; :meth:`stall`
    holds all traffic of the connections open now (new ones flow) until :meth:`release`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stalled: list[asyncio.Event] = []
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> StallProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stall(self) -> None:
        for flowing in self._stalled:
            flowing.clear()

    def release(self) -> None:
        for flowing in self._stalled:
            flowing.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        flowing = asyncio.Event()
        flowing.set()
        self._stalled.append(flowing)
        self._writers += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    await flowing.wait()
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        for task in (asyncio.create_task(pump(reader, up_writer)), asyncio.create_task(pump(up_reader, writer))):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in self._writers:
            with contextlib.suppress(Exception):
                w.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task


def set_filter(symbols: list[dict[str, Any]], symbol: str, filter_type: str, key: str, value: Any) -> None:
    """Change one filter field of ``symbol`` in an exchangeInfo ``symbols`` list (in place)."""
    for rec in symbols:
        if rec.get("symbol") == symbol:
            for f in rec["filters"]:
                if f["filterType"] == filter_type:
                    f[key] = value


class RestTamper:
    """An HTTP proxy in front of ``upstream`` (the sim's REST base URL); ``tamper(payload)``
    may rewrite every exchangeInfo answer (a deep copy) before the client sees it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.tamper: Callable[[dict[str, Any]], None] | None = None
        self.exchange_info_served = 0
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    async def start(self) -> RestTamper:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._client = aiohttp.ClientSession()
        return self

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._client is not None
        headers = {k: v for k, v in request.headers.items() if k.upper().startswith("X-MBX")}
        body = await request.read()
        async with self._client.request(request.method, self.upstream + request.path_qs, headers=headers,
                                        data=body or None, allow_redirects=False) as resp:
            data = await resp.read()
            out_headers = {k: v for k, v in resp.headers.items()
                           if k.upper().startswith("X-MBX") or k == "Retry-After"}
            status, ctype = resp.status, resp.content_type
        if request.path.endswith("/exchangeInfo") and status == 200:
            self.exchange_info_served += 1
            if self.tamper is not None:
                import orjson

                payload = copy.deepcopy(orjson.loads(data))
                self.tamper(payload)
                data = orjson.dumps(payload)
        return web.Response(body=data, status=status, headers=out_headers, content_type=ctype)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()
