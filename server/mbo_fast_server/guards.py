"""Browser-facing guards: the `Host` allow-list, JSON-only request bodies, no versions in `Server`.

- **Host** (DNS rebinding): a page on `evil.example` whose name is made to resolve to 127.0.0.1
  can have the victim's browser call this server "same-origin", but the request then carries
  `Host: evil.example`. A request is served only when its `Host` names this server: `localhost`,
  an IP address (IPv4, or IPv6 in brackets; an address cannot be rebound, and it is what
  Kubernetes probes and scrapers send: the pod IP), the configured `host` when it is a name, or
  a name in `allowed_hosts` (`.example.com` also allows its subdomains; `*` turns the check off,
  e.g. behind a proxy that checks it). Any port. Anything else: 421 with a JSON error. An
  HTTP/1.1 request without `Host` gets aiohttp's own 400; HTTP/1.0 may omit it (no name, nothing
  to rebind).
- **Bodies**: a cross-site `<form>` or `fetch` without a CORS preflight can only send
  `text/plain`, `application/x-www-form-urlencoded` or `multipart/form-data`; a POST (PUT,
  PATCH) must be `Content-Type: application/json` (charset utf-8 or none), else 415, before its
  handler reads a byte.
- **Server**: `Server: mbo-fast` on every response, not aiohttp's `Python/x aiohttp/y`.
"""

from __future__ import annotations

import ipaddress
import re

from aiohttp import web, web_response
from aiohttp.typedefs import Middleware

from .config import Config
from .logs import Handler
from .routes import ParamError

SERVER_NAME = "mbo-fast"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# host[:port]: a name (letters, digits, '-', '.') or an IPv6 address in brackets, port digits
_HOST_RE = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?")


def _name_of(host: str) -> str | None:
    """The name or address of a `Host` value (lower case, no port, no brackets), or None when
    it is not a well-formed host[:port]."""
    m = _HOST_RE.fullmatch(host)
    if m is None:
        return None
    return m.group("name").lower().strip("[]").rstrip(".")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """Which `Host` names are served (see the module docs)."""

    def __init__(self, config: Config) -> None:
        names = {h.strip().lower().rstrip(".") for h in config.allowed_hosts if h.strip()}
        self.any = "*" in names
        bound = config.host.lower().rstrip(".")
        if bound and not _is_address(bound.strip("[]")):
            names.add(bound)
        names.add("localhost")
        self.exact = frozenset(n for n in names if not n.startswith("."))
        self.suffixes = tuple(n for n in names if n.startswith(".") and len(n) > 1)

    def allows(self, host: str) -> bool:
        if self.any:
            return True
        name = _name_of(host)
        if name is None or name == "":
            return False
        if name in self.exact or _is_address(name):
            return True
        return any(name.endswith(s) or name == s[1:] for s in self.suffixes)


def host_check(policy: HostPolicy) -> Middleware:
    @web.middleware
    async def check_host(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host")
        if host is not None and not policy.allows(host):
            raise ParamError(
                "Host",
                f"this server does not answer for host {host[:80]!r}: use localhost or an IP "
                "address, or add the name to the server's allowed_hosts (MBO_ALLOWED_HOSTS)",
                status=421,
            )
        return await handler(request)

    return check_host


@web.middleware
async def json_bodies_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in _BODY_METHODS and request.match_info.http_exception is None:
        charset = (request.charset or "utf-8").lower()
        if request.content_type != "application/json" or charset != "utf-8":
            raise ParamError(
                "Content-Type",
                "the body must be JSON sent as Content-Type: application/json (UTF-8), "
                f"not {request.headers.get('Content-Type', 'none')[:80]!r}",
                status=415,
            )
    return await handler(request)


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER_NAME


def middlewares(config: Config) -> list[Middleware]:
    """In this order, inside the error middleware (so refusals are JSON errors)."""
    return [host_check(HostPolicy(config)), json_bodies_only]


def install(app: web.Application) -> None:
    """`Server: mbo-fast` on every response: the app's through `on_response_prepare`; the ones
    aiohttp's protocol layer writes itself (a malformed request's 400, before any app sees it)
    take the module default, which is set here too."""
    app.on_response_prepare.append(_server_header)
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]
