"""Connection limits aiohttp does not enforce by itself: total connections, body time, and a
bounded log of refused accepts.

- Header and idle time: aiohttp's `keepalive_timeout` (= `idle_timeout_s`, set in `create_app`)
  is armed when a connection opens and after each response, and closes a connection still
  without a complete request when it fires: it bounds the time to send a request's headers
  (slowloris) and the idle time between keep-alive requests.
- Body time: `request_limits` reads a request's body (at most `max_request_bytes`) before the
  handler runs, within `body_timeout_s`; a client that withholds it gets a 408 and is closed.
- Total: `ConnectionGuard` wraps each accepted connection. At `max_connections` a new connection
  closes the oldest idle one (no request in progress: idle keep-alives and half-sent headers),
  so a flood of idle connections cannot lock anyone out; when every connection is busy the new
  one gets a 503 and is closed. The limit is kept below the process's open-file limit (raised
  to its hard limit when needed), so accepting never runs out of descriptors.
- Refused accepts: asyncio logs each failed `accept()` with a traceback (Python 3.11 retries up
  to the backlog in one go, then again every second: megabytes of log a second). `quiet_accept_
  errors` counts them in `mbo_accept_errors` and logs one line a minute.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .logs import Handler, LogThrottle
from .metrics import Metrics
from .stream import within

log = logging.getLogger("mbo_fast_server")

# Descriptors kept free beyond the connections: two accept bursts (asyncio accepts up to the
# backlog before the guard sees the first of them, and a connection it closes releases its
# descriptor only on the next loop iteration, after the next burst) plus files, SQLite, pipes
# and exports.
FD_MARGIN = 64
MIN_CONNECTIONS = 8
LINGER_S = 2.0  # after a 408/413, the unread rest of a body is read (and dropped) this long
_REFUSED_BODY = b'{"error": "too many connections: try again later", "parameter": null}'
_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%b"
    % (len(_REFUSED_BODY), _REFUSED_BODY)
)


class ConnectionGuard:
    """The open connections of one server, oldest first, and which of them are in a request."""

    def __init__(self, limit: int, metrics: Metrics) -> None:
        self.limit = limit
        self.metrics = metrics
        self.open: dict[RequestHandler, None] = {}  # insertion order: oldest first
        self.busy: set[Any] = set()  # handlers (request.protocol) inside a request

    def fit_to_fd_limit(self, backlog: int) -> int:
        """Lower the limit to what the open-file limit allows (raising the soft limit towards
        the hard one first); returns the limit in force."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        used = _open_fds()
        want = used + 4 * backlog + FD_MARGIN + self.limit
        if soft != resource.RLIM_INFINITY and soft < want:
            target = want if hard == resource.RLIM_INFINITY else min(want, hard)
            if target > soft:
                try:
                    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                    soft = target
                except (ValueError, OSError):
                    pass
        if soft != resource.RLIM_INFINITY:
            room = max(soft - used - 4 * backlog - FD_MARGIN, MIN_CONNECTIONS)
            if room < self.limit:
                log.warning(
                    "max_connections lowered to fit the open-file limit",
                    extra={"max_connections": room, "configured": self.limit, "nofile": soft},
                )
                self.limit = room
        return self.limit

    def protocol_factory(self, make_handler: Callable[[], RequestHandler]) -> Callable[[], Any]:
        """What the listening socket creates per accepted connection."""
        return lambda: _Connection(self, make_handler())

    def admit(self, handler: RequestHandler) -> bool:
        if len(self.open) >= self.limit:
            victim = next((h for h in self.open if h not in self.busy), None)
            if victim is None:
                self.metrics.connections_closed.labels("refused").inc()
                return False
            del self.open[victim]
            self.metrics.connections_closed.labels("evicted").inc()
            victim.force_close()
        self.open[handler] = None
        self.metrics.connections.set(len(self.open))
        return True

    def forget(self, handler: RequestHandler) -> None:
        if self.open.pop(handler, 0) is None:
            self.metrics.connections.set(len(self.open))


class _Connection(asyncio.Protocol):
    """One accepted connection: aiohttp's handler for it, admitted (or refused) by the guard."""

    def __init__(self, guard: ConnectionGuard, handler: RequestHandler) -> None:
        self.guard = guard
        self.handler = handler
        self.refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self.guard.admit(self.handler):
            self.refused = True
            assert isinstance(transport, asyncio.Transport)
            transport.write(_REFUSED)
            transport.close()
            return
        self.handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self.refused:
            self.handler.data_received(data)

    def eof_received(self) -> None:  # None: the transport closes (aiohttp's answer too)
        if not self.refused:
            self.handler.eof_received()

    def pause_writing(self) -> None:
        if not self.refused:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        if not self.refused:
            self.handler.resume_writing()

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.refused:
            self.guard.forget(self.handler)
            self.handler.connection_lost(exc)


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # not Linux
        return 32


def quiet_accept_errors(loop: asyncio.AbstractEventLoop, metrics: Metrics) -> None:
    """Count accepts refused for lack of descriptors or memory; log one line a minute."""
    throttle = LogThrottle(log, 60.0)
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == "socket.accept() out of system resource":
            metrics.accept_errors.inc()
            throttle.note("cannot accept connections: %s", context.get("exception"))
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def request_limits(guard: ConnectionGuard, body_timeout_s: float) -> Any:
    """Middleware: marks the connection busy for the request (the guard never closes it), and
    reads the body within `body_timeout_s` (408 and close otherwise)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        protocol = request.protocol
        guard.busy.add(protocol)
        try:
            if request.body_exists and request.can_read_body:
                try:
                    await within(request.read(), body_timeout_s)  # kept for json()/read()
                except (asyncio.TimeoutError, TimeoutError):
                    guard.metrics.connections_closed.labels("body_timeout").inc()
                    return web.json_response(
                        {
                            "error": f"request body not received within {body_timeout_s:g} s",
                            "parameter": None,
                        },
                        status=408,
                        headers={"Connection": "close"},
                    )
            return await handler(request)
        finally:
            guard.busy.discard(protocol)

    return middleware
