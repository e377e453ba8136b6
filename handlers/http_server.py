"""The one HTTP server of `gatebot run` (Telegram webhook, Slack events, GET /healthz), safe from
slow and idle clients.

- A connection must deliver a complete request's headers within GATEBOT_HTTP_TIMEOUT seconds of
  opening (or of its previous response): aiohttp's keep-alive timer closes it otherwise, so a
  half-sent request cannot hold a file descriptor for long.
- A handler gets the request body within the same time, or the client gets 408.
- At most GATEBOT_HTTP_MAX_CONNECTIONS connections are open, and never more than about half the
  file descriptors the process may use. At the cap, the connection that has waited longest without a
  request in progress is closed to make room (a flood of half-open connections pushes out only
  its own kind); when every connection is busy with a request, the new one gets 503.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("gatebot.http")

BODY_LIMIT = 1024 * 1024  # Telegram updates and Slack payloads are far smaller
# asyncio accepts up to `backlog` connections in one pass of the loop, builds their protocols on
# the next pass, and releases a closed connection's descriptor on the pass after: the cap leaves
# room for a few such batches in flight. The kernel's queue of connections waiting to be accepted
# is set longer afterwards, so a burst is queued rather than refused.
BACKLOG = 16
LISTEN_QUEUE = 1024
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
         b"Connection: close\r\n\r\nbusy\n")


def connection_cap(configured: int) -> int:
    """The configured cap, lowered to half the soft file-descriptor limit less one accept batch
    (the rest is for the platform clients, link fetches and the database)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(8, min(configured, soft // 2 - 4 * BACKLOG))


def body_deadline(seconds: float) -> Callable[..., Any]:
    @web.middleware
    async def middleware(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if request.can_read_body:
            try:
                async with asyncio.timeout(seconds):
                    await request.read()  # kept by the request: the handler's read() returns it
            except TimeoutError:
                return web.Response(status=408, text="request body too slow")
            except ConnectionError:  # the client went away mid-body: nobody to answer
                return web.Response(status=400, text="incomplete request")
        return await handler(request)

    return middleware


class _Busy(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(_BUSY)  # type: ignore[attr-defined]
        transport.close()


class _CappedFactory:
    """Protocol factory in front of aiohttp's Server that keeps the number of connections capped."""

    def __init__(self, server: web.Server, limit: int):
        self.server = server
        self.limit = limit
        self.evicted = 0
        self.refused = 0

    def __call__(self) -> asyncio.BaseProtocol:
        # in the order they were opened; one closed already stays listed until its task ends
        connections = [c for c in self.server.connections if c.transport is not None]
        if len(connections) >= self.limit:
            idle = next((c for c in connections if getattr(c, "_current_request", None) is None), None)
            if idle is None:
                self.refused += 1
                return _Busy()
            self.evicted += 1
            idle.force_close()
        return self.server()


class HttpServer:
    def __init__(self, app: web.Application, host: str, port: int, timeout: float, max_connections: int):
        self.app = app
        self.host = host
        self.port = port
        self.timeout = timeout
        self.limit = connection_cap(max_connections)
        self.runner: web.AppRunner | None = None
        self.factory: _CappedFactory | None = None
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        """Listen; raises OSError when the address cannot be bound."""
        self.runner = web.AppRunner(self.app, handle_signals=False, keepalive_timeout=self.timeout,
                                    shutdown_timeout=1.0)
        await self.runner.setup()
        assert self.runner.server is not None
        self.factory = _CappedFactory(self.runner.server, self.limit)
        try:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            listening = socket.create_server((self.host, self.port), family=family, backlog=LISTEN_QUEUE)
            self._server = await asyncio.get_running_loop().create_server(self.factory, sock=listening,
                                                                          backlog=BACKLOG)
            listening.listen(LISTEN_QUEUE)  # asyncio set the kernel queue to BACKLOG; lengthen it again
        except OSError:
            await self.runner.cleanup()
            self.runner = None
            raise
        log.info("http listening on %s:%s (at most %d connections)", self.host, self.port, self.limit)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


def build_app(health_report: Callable[[], tuple[int, dict[str, Any]]], timeout: float) -> web.Application:
    """The shared aiohttp app with GET /healthz (and /); adapters add their routes to it."""

    async def healthz(request: web.Request) -> web.Response:
        status, body = health_report()
        return web.json_response(body, status=status)

    app = web.Application(client_max_size=BODY_LIMIT, middlewares=[body_deadline(timeout)])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", healthz)
    return app
