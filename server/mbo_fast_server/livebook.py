"""What the live feed carries, and one live book as it is now, for the web UI in live mode:

- `GET /api/v1/live/books`: the books the feed has sent so far (with the symbol a stored source
  knows them by, and whether each is stale), the live record index, and the store id of the
  session's own growing source (its history: heatmap rasters, books at past indexes). The UI
  lists them in its selector, so a live instrument is selectable without `--file`.
- `GET /api/v1/live/book?instrument_id=&publisher_id=&depth=&orders=`: the live book now, as
  `GET /api/v1/book` shapes a stored one (the core's book state: levels best first, optionally
  each level's L3 queue, flags, uncross), with the index of the last record applied, read
  together in one step of the core (the L3 queue in live mode: the stored book at a live index
  may not be stored yet).

Both answer 200 with `configured: false` without `--live` (the UI probes them)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .live import LiveIngest, _only_publisher
from .routes import U16, U32, _bool, _catalog, _check_known, _int, _json, _run, _state

routes = web.RouteTableDef()


def _ingest(request: web.Request) -> LiveIngest | None:
    ingest = getattr(_state(request), "live", None)
    return ingest if isinstance(ingest, LiveIngest) else None


def _symbols(request: web.Request) -> dict[int, str]:
    state = _state(request)
    out: dict[int, str] = {}
    if state.catalog is None:
        return out
    for src in state.catalog.sources:
        for (iid, _), info in src.books.items():
            if info.symbol and iid not in out:
                out[iid] = info.symbol
    return out


@routes.get("/api/v1/live/books")
async def live_books(request: web.Request) -> web.Response:
    _check_known(request, set())
    ingest = _ingest(request)
    if ingest is None:
        return _json({"configured": False, "source": None, "index": None, "books": []})
    symbols = _symbols(request)
    market = ingest.market
    books = [
        {
            "instrument_id": iid,
            "publisher_id": pid,
            "symbol": symbols.get(iid),
            "stale": market.is_stale(iid, pid),
        }
        for iid, pid in market.book_keys()
    ]
    return _json(
        {
            "configured": True,
            "source": ingest.db_source_id,
            "index": market.index,
            "books": books,
        }
    )


@routes.get("/api/v1/live/book")
async def live_book(request: web.Request) -> web.Response:
    _check_known(request, {"instrument_id", "publisher_id", "depth", "orders"})
    cfg = _state(request).config
    iid = _int(request, "instrument_id", hi=U32, required=True)
    pid = _int(request, "publisher_id", hi=U16)
    depth = _int(request, "depth", lo=1, hi=cfg.max_depth, default=10)
    orders = _bool(request, "orders")
    assert iid is not None and depth is not None
    ingest = _ingest(request)
    if ingest is None:
        return _json({"configured": False})
    if pid is None:
        pid = _only_publisher(ingest, iid)
    _catalog(request)  # 503 while the data loads, as every book endpoint
    index, state = await _run(
        request, lambda: ingest.market.book_state(iid, pid, depth=depth, orders=orders)
    )
    doc: dict[str, Any] = {
        "configured": True,
        "instrument_id": iid,
        "publisher_id": pid,
        "index": index if index >= 0 else None,
        "stale": ingest.market.is_stale(iid, pid),
    }
    doc.update(json.loads(state))  # the core's book state: levels, flags, uncross
    return _json(doc)


def add_routes(app: web.Application) -> None:
    app.add_routes(routes)
