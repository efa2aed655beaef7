"""The OpenAPI document (hand-written) and a docs page rendered from it, served locally."""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web

_INT = {"type": "integer"}
_TIME = {"type": "string", "description": "ns since the epoch, or ISO 8601 (UTC by default)"}


def _p(
    name: str,
    desc: str,
    schema: dict[str, Any] | None = None,
    required: bool = False,
    where: str = "query",
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": desc,
        "schema": schema or _INT,
    }


_BOOK = [
    _p("instrument_id", "instrument id", required=True),
    _p("publisher_id", "publisher id (needed when the instrument has several)"),
    _p("source", "source number (needed when several sources hold the instrument)"),
]
_PAGE = [
    _p("start", "first ts_recv (inclusive)", _TIME),
    _p("end", "last ts_recv (inclusive)", _TIME),
    _p("after", "page cursor: only records with a larger index (the previous next_after)"),
    _p("limit", "page size (default 1000, at most max_page)"),
]
_ERR = {"description": "bad parameter (400) or unknown id (404): {error, parameter}"}


def _get(
    summary: str, params: list[dict[str, Any]], content: str = "application/json"
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": {content: {}}},
                "400": _ERR,
                "404": _ERR,
            },
        }
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "mbo-fast server", "version": "1"},
    "paths": {
        "/api/v1/sources": _get("loaded sources (files): name, sha256, records, time range", []),
        "/api/v1/instruments": _get(
            "instruments: symbol, publishers, record and trade counts, ts_recv range", []
        ),
        "/api/v1/book": _get(
            "the book after record `index` (or after every record with ts_recv <= `ts`; default "
            "the end): levels [price,size,count] best first, optional L3 orders per level, "
            "crossed flag, indicative uncross when crossed",
            [
                *_BOOK,
                _p("index", "record index"),
                _p("ts", "time", _TIME),
                _p("depth", "levels per side (default 10)"),
                _p(
                    "orders",
                    "include each level's orders [order_id, size] in queue order",
                    {"type": "boolean"},
                ),
            ],
        ),
        "/api/v1/bbo": _get(
            "BBO after every F_LAST record of the book (from storage), paged", [*_BOOK, *_PAGE]
        ),
        "/api/v1/trades": _get(
            "trades (T records) of the book (from storage), paged", [*_BOOK, *_PAGE]
        ),
        "/api/v1/records": _get(
            "raw MBO records (from storage), paged; optionally one book's only",
            [
                _p("source", "source number (default 0)"),
                _p("instrument_id", "only this instrument"),
                _p("publisher_id", "only this publisher (with instrument_id)"),
                *_PAGE,
            ],
        ),
        "/api/v1/stored/sources": _get(
            "every source in the SQLite database (`db_source` = its id), including files this "
            "run does not load and live sessions (`kind`): sha256, records, books, "
            "`checkpoint_every` and `checkpoints` (book checkpoints stored), `source` (the "
            "loaded source number, or null)",
            [],
        ),
        "/api/v1/stored/book": _get(
            "the book after record `index` (or after every record with ts_recv <= `ts`; default "
            "the end) of a stored file, rebuilt from SQLite alone: the nearest book checkpoint "
            "at or before it plus the book's stored records after it, applied in Rust. Same "
            "document as /api/v1/book, plus `db_source`, `checkpoint` (the checkpoint's "
            "position, 0: none) and `replayed` (records applied after it). The answer for "
            "stored files this run does not load; for loaded ones /api/v1/book is faster. "
            "Live sessions have no stored books (400)",
            [
                _p("db_source", "stored source id (from /api/v1/stored/sources)", required=True),
                _p("instrument_id", "instrument id", required=True),
                _p("publisher_id", "publisher id (needed when the instrument has several)"),
                _p("index", "record index"),
                _p("ts", "time", _TIME),
                _p("depth", "levels per side (default 10)"),
                _p(
                    "orders",
                    "include each level's orders [order_id, size] in queue order",
                    {"type": "boolean"},
                ),
            ],
        ),
        "/api/v1/export": _get(
            "MBP-N depth as JSON lines, one per F_LAST record (the core's export), streamed",
            [
                _p("source", "source number"),
                _p("instrument_id", "only this instrument"),
                _p("publisher_id", "only this publisher"),
                _p("depth", "levels (default 10)"),
            ],
            "application/x-ndjson",
        ),
        "/api/v1/stream": _get(
            "SSE playback: `snapshot`, then `trade`, `book`, `status`, `end` (and `shutdown`) "
            "events; id = record index; reconnect with Last-Event-ID to resume exactly",
            [
                *_BOOK,
                _p("depth", "levels per side (default 10)"),
                _p("from", "record index, or a time (ns >= 1e15 or ISO 8601)", _TIME),
                _p(
                    "speed",
                    "0.1 .. max_speed times real time, or `max` (default 1)",
                    {"type": "string"},
                ),
                _p("Last-Event-ID", "resume after this record index", where="header"),
            ],
            "text/event-stream",
        ),
        "/api/v1/live": _get(
            "SSE live broadcast of one book from the --live feed (404 without one): `snapshot` "
            "on join, then `trade`, `book` and `status` (connection, stale, gaps); id = live "
            "record index; frames are built once per tick and shared by every client of the book",
            [
                _p("instrument_id", "instrument id", required=True),
                _p(
                    "publisher_id",
                    "publisher id (default: the instrument's only publisher so far; 1 before "
                    "its first record; a 400 when it has several)",
                ),
                _p("depth", "levels per side (default 10)"),
            ],
            "text/event-stream",
        ),
        "/api/v1/live/status": _get(
            "live ingest state (`configured` false without --live): connection, reconnects, "
            "records, "
            "rate, gaps, stale books",
            [],
        ),
        "/api/v1/consolidated": _get(
            "one instrument's book summed over all its publishers (same source) after record "
            "`index` (or at `ts`): bids/asks {price, size, count} best first, `publishers`",
            [
                _p("instrument_id", "instrument id", required=True),
                _p("source", "source number (needed when several sources hold the instrument)"),
                _p("index", "record index (default: the last record)"),
                _p("ts", "instead of index: after every record with ts_recv <= ts", _TIME),
                _p("depth", "levels per side (default 10)"),
            ],
        ),
        "/api/v1/sim/orders": _get(
            "simulated limit orders (mbo_fast.Backtest, zero latency) as they stand after record "
            "`index`: status, filled, orders_ahead/volume_ahead (queue position), the ids ahead, "
            "fills. POST a JSON {instrument_id, publisher_id, source, side: B|A, price, size, "
            "index} to place one (201 {order}); DELETE (?source=) forgets them all",
            [
                _p("instrument_id", "only this instrument's orders"),
                *_BOOK[1:],
                _p("index", "record index (default: the last record)"),
            ],
        ),
        "/healthz": _get("liveness", []),
        "/readyz": _get("readiness: data loaded and storage open (503 otherwise)", []),
        "/metrics": _get("Prometheus metrics", [], "text/plain"),
    },
}


def _page() -> str:
    rows = []
    for path, item in OPENAPI["paths"].items():
        op = item["get"]
        params = "".join(
            f"<li><code>{html.escape(p['name'])}</code> ({p['in']}"
            f"{', required' if p['required'] else ''}): {html.escape(p['description'])}</li>"
            for p in op["parameters"]
        )
        rows.append(
            f"<section><h2><code>GET {html.escape(path)}</code></h2>"
            f"<p>{html.escape(op['summary'])}</p><ul>{params}</ul></section>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>mbo-fast server</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem}code{background:#f3f3f3;padding:0 .2em}h2{font-size:1.1rem}</style>"
        "</head><body><h1>mbo-fast server API</h1><p>Machine-readable: "
        "<a href='/api/v1/openapi.json'>/api/v1/openapi.json</a>. Prices are integers in "
        '1e-9 units; times are ns since the epoch. Errors: <code>{"error", "parameter"}'
        "</code>.</p>" + "".join(rows) + "</body></html>"
    )


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


async def docs_page(request: web.Request) -> web.Response:
    return web.Response(text=_page(), content_type="text/html")


async def index(request: web.Request) -> web.Response:
    raise web.HTTPFound("/docs")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/docs", docs_page)
    app.router.add_get("/", index)
