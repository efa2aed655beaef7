"""`GET /api/v1/first_book`: where the web UI opens a book, and whether that book is complete.

A file rarely starts with a state worth looking at: ESH4 starts with 8,725 snapshot records (a
state that never existed until the last of them), CLX5 starts mid-session with one order. The
first view is the book's first event boundary (an `F_LAST` record of the book) with both sides
present, else its first boundary, else its first record (`first_boundary` in the answer tells
which).

Whether the book can be complete there: it is when the book's first record is a snapshot record
(`F_SNAPSHOT`) or a clear (`R`), i.e. the data says what rested before. Otherwise nothing says
what rested before the first record (`start: "records"`), and the records that name orders never
seen (cancels, modifies and fills of unknown orders: the book's anomaly counters) over the first
`HORIZON` records of the source after the first view are the evidence that orders are missing
(`unknown_orders`): the UI says "book incomplete: the data starts mid-session" when there are
some, and only that the data has no snapshot or clear when there are none (a session recorded
from its very start, as the simulator's).

Derived from the stored blocks on demand (the core's BBO pages, one replay of the book);
bounded: at most `MAX_SCAN` boundaries are looked at."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .data import Source
from .routes import _book, _check_known, _json, _run

routes = web.RouteTableDef()

F_SNAPSHOT = 0x20
PAGE = 5000
MAX_SCAN = 200_000  # boundaries looked at for a two-sided one
HORIZON = 50_000  # records after the first view over which unknown orders count
UNKNOWN = ("cancel_unknown", "modify_unknown_as_add", "fill_unknown")


def first_book(src: Source, iid: int, pid: int) -> dict[str, Any]:
    """The first view of a book (blocking: run in an executor)."""
    rec = src.recording
    raw, rows, _ = rec.page("records", iid, pid, limit=1)
    first = json.loads(raw)[0] if rows else None
    if first is None:
        start = "empty"
    elif first["flags"] & F_SNAPSHOT:
        start = "snapshot"
    elif first["action"] == "R":
        start = "clear"
    else:
        start = "records"
    view: dict[str, Any] | None = None
    boundary: dict[str, Any] | None = None
    after: int | None = None
    scanned = 0
    while view is None and scanned < MAX_SCAN:
        raw, rows, last = rec.page("bbo", iid, pid, after=after, limit=PAGE)
        if not rows:
            break
        for item in json.loads(raw):
            boundary = boundary or item
            if item["bid_px"] is not None and item["ask_px"] is not None:
                view = item
                break
        scanned += rows
        after = last
    chosen = view or boundary or first
    index = chosen["index"] if chosen is not None else None
    unknown = 0
    if start == "records" and index is not None:
        replay = rec.replay(iid, pid)
        replay.seek(index=min(len(rec) - 1, index + HORIZON))
        anomalies = replay.book(iid, pid).anomalies
        unknown = sum(anomalies[k] for k in UNKNOWN)
    return {
        "source": src.id,
        "instrument_id": iid,
        "publisher_id": pid,
        "index": index,
        "ts_recv": chosen["ts_recv"] if chosen is not None else None,
        "two_sided": view is not None,
        "first_boundary": view is None and boundary is not None,
        "start": start,
        "unknown_orders": unknown,
        "complete": start in ("snapshot", "clear"),
    }


@routes.get("/api/v1/first_book")
async def first_book_route(request: web.Request) -> web.Response:
    _check_known(request, {"instrument_id", "publisher_id", "source"})
    src, iid, pid = _book(request)
    return _json(await _run(request, lambda: first_book(src, iid, pid)))


def add_routes(app: web.Application) -> None:
    app.add_routes(routes)
