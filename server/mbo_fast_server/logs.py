"""JSON structured logs with a request id; secrets (DBN_KEY, …) are scrubbed from every line."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

SECRET_ENV = ("DBN_KEY", "DATABENTO_API_KEY")
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()) | {
    "message",
    "asctime",
    "taskName",
}


def _secrets() -> list[str]:
    return [v for k in SECRET_ENV if (v := os.environ.get(k)) and len(v) >= 4]


def scrub(text: str) -> str:
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            out["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return scrub(json.dumps(out, default=str))


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class ClientHttpErrors(logging.Filter):
    """aiohttp logs a request its HTTP parser refuses (a request line or header over 8,190
    bytes, malformed HTTP: the client's fault, answered 400) as an error with a traceback, so
    any client could fill the log: such a record becomes one debug line without traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError) or not 400 <= (exc.code or 400) < 500:
            return True
        record.msg = "refused a malformed HTTP request: %s"
        record.args = (str(exc.message or exc)[:120],)
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger("mbo_fast_server").isEnabledFor(logging.DEBUG)


def setup_logging(level: str = "info", as_json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if as_json else PlainFormatter("%(asctime)s %(levelname)s %(message)s")
    )
    root = logging.getLogger("mbo_fast_server")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # aiohttp's server errors through the same handler (JSON, secrets scrubbed)
    server = logging.getLogger("aiohttp.server")
    server.handlers[:] = [handler]
    server.propagate = False
    server.filters[:] = [ClientHttpErrors()]


class LogThrottle:
    """At most one log line per `every_s` for one recurring event (a dropped client, a refused
    accept, a failing live feed): the first occurrence is logged, later ones in the interval are
    only counted and reported (`suppressed`) with the next line. Count the events themselves in
    a metric."""

    def __init__(self, logger: logging.Logger, every_s: float, level: int = logging.WARNING):
        self.logger = logger
        self.every_s = every_s
        self.level = level
        self._next = 0.0
        self.suppressed = 0

    def note(self, msg: str, *args: Any, **extra: Any) -> bool:
        """Log `msg % args` unless a line went out less than `every_s` ago; True if logged."""
        now = time.monotonic()
        if now < self._next:
            self.suppressed += 1
            return False
        if self.suppressed:
            extra["suppressed"] = self.suppressed
        self.logger.log(self.level, msg, *args, extra=extra)
        self._next = now + self.every_s
        self.suppressed = 0
        return True


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Takes a well-formed `X-Request-Id` from the client or makes one; echoed in the response."""
    given = request.headers.get("X-Request-Id", "")
    rid = given if _REQUEST_ID_OK.match(given) else uuid.uuid4().hex
    token = request_id.set(rid)
    try:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers["X-Request-Id"] = rid
            raise
        if not response.prepared:
            response.headers["X-Request-Id"] = rid
        return response
    finally:
        request_id.reset(token)
