"""The web UI: `static/` served at `/` (index.html) and `/static/...`, read-only and offline.

Only regular files inside the static directory with a known extension are served; any path
with an empty, hidden (`.x`) or `..` segment, a backslash or a NUL is a 404, and the resolved
path must stay inside the directory (symlinks pointing out are refused too)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent / "static"

_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": _CSP,
    "Referrer-Policy": "no-referrer",
}


def resolve_static(root: Path, rel: str) -> Path | None:
    """The file `rel` names under `root`, or None when it is not one we serve."""
    if not rel or "\\" in rel or "\x00" in rel or rel.startswith("/"):
        return None
    parts = rel.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    base = root.resolve()
    try:
        path = base.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if not path.is_relative_to(base) or not path.is_file():
        return None
    if path.suffix.lower() not in _TYPES:
        return None
    return path


def _file(path: Path) -> web.FileResponse:
    resp = web.FileResponse(path, headers=_HEADERS)
    resp.content_type = _TYPES[path.suffix.lower()]
    return resp


async def index(request: web.Request) -> web.StreamResponse:
    path = resolve_static(STATIC_DIR, "index.html")
    if path is None:  # pragma: no cover - a broken install
        raise web.HTTPNotFound()
    return _file(path)


async def static(request: web.Request) -> web.StreamResponse:
    path = resolve_static(STATIC_DIR, request.match_info["path"])
    if path is None:
        raise web.HTTPNotFound()
    return _file(path)


def available() -> bool:
    return (STATIC_DIR / "index.html").is_file()


def add_routes(app: web.Application) -> None:
    """Register `/` and `/static/{path}`; call before docs.add_routes so `/` is the UI (when the
    UI files are missing nothing is registered and `/` keeps redirecting to /docs)."""
    if not available():
        return
    app.router.add_get("/", index)
    app.router.add_get("/static/{path:.+}", static)
