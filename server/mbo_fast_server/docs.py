"""The OpenAPI 3.1 document (hand-written, built from the configuration's limits) and a docs page
rendered from it, served locally.

The document is exact, and tests/server/test_server_schema.py holds the server to it with
schemathesis: every route and method, every parameter with its type, bounds and whether it is
required (an empty value is a 400, never "not given"), request bodies, and the JSON Schema of every
response body (200/201 and each error status) with its headers. Limits that depend on the data
(a record index below the source's record count, a known instrument) are in the descriptions:
breaking them is a 400 or 404 with `{"error", "parameter"}`."""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web

from .config import Config

U16 = 2**16 - 1
U32 = 2**32 - 1
I64 = 2**63 - 1
U64 = 2**64 - 1
MAX_STREAM_DEPTH = 100  # playback, live and export frames: at most this many levels

Schema = dict[str, Any]


def _int(lo: int = 0, hi: int = I64) -> Schema:
    return {"type": "integer", "minimum": lo, "maximum": hi}


def _null(schema: Schema) -> Schema:
    return {**schema, "type": [schema["type"], "null"]}


def _obj(props: dict[str, Schema], optional: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "properties": props,
        "required": [k for k in props if k not in optional],
        "additionalProperties": False,
    }


def _array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


_TS = _int(0, U64)
_PRICE = _int(-(2**63), I64)
_COUNT = _int(0, U64)
_CHAR = {"type": "string", "minLength": 1, "maxLength": 1}
_SOURCE_ID = {**_int(), "description": "the source's id in the block store"}

# times as query parameters: ns since the epoch, or ISO 8601 (UTC unless an offset is given)
_TIME_PARAM: Schema = {
    "type": "string",
    "pattern": r"^(?:[0-9]{1,19}|[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}(?::[0-9]{2}"
    r"(?::[0-9]{2}(?:\.[0-9]{1,9})?)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?)$",
}

_ERROR = _obj(
    {
        "error": {"type": "string", "description": "what is wrong, for a person"},
        "parameter": {
            "type": ["string", "null"],
            "description": "the query parameter, body field or header at fault (null: none)",
        },
    }
)
_REQUEST_ID = {
    "X-Request-Id": {
        "description": "the request's id (the client's X-Request-Id when well-formed), also in "
        "the server's logs",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
    }
}

_LEVEL = _obj(
    {
        "price": _PRICE,
        "size": _COUNT,
        "count": _int(0, U32),
        "orders": {
            **_array({**_array(_int(0, U64)), "minItems": 2, "maxItems": 2}),
            "description": "with orders=true: [order_id, size] in queue order",
        },
    },
    optional=("orders",),
)
_UNCROSS = _obj(
    {
        "price": _PRICE,
        "volume": _COUNT,
        "bid_volume": _COUNT,
        "ask_volume": _COUNT,
        "imbalance": _PRICE,
    }
)
_BOOK_STATE = {
    "bids": _array(_LEVEL),
    "asks": _array(_LEVEL),
    "order_count": _COUNT,
    "crossed": {"type": "boolean"},
    "consistent": {"type": "boolean"},
    "maybe_bad": {"type": "boolean"},
    "uncross": {"oneOf": [_UNCROSS, {"type": "null"}]},
}
_POSITION = {
    "index": _null(_int()),
    "position": _int(),
    "ts_recv": _null(_TS),
}
_BOOK = _obj(
    {
        "source": _SOURCE_ID,
        "instrument_id": _int(0, U32),
        "publisher_id": _int(0, U16),
        "symbol": {"type": ["string", "null"]},
        **_POSITION,
        **_BOOK_STATE,
    }
)
_SUMMED_LEVEL = _obj({"price": _PRICE, "size": _COUNT, "count": _int(0, U64)})
_CONSOLIDATED = _obj(
    {
        "source": _SOURCE_ID,
        "instrument_id": _int(0, U32),
        "symbol": {"type": ["string", "null"]},
        "consolidated": {"const": True},
        "publishers": _array(_int(0, U16)),
        "publishers_present": _array(_int(0, U16)),
        **_POSITION,
        "bids": _array(_SUMMED_LEVEL),
        "asks": _array(_SUMMED_LEVEL),
        "crossed": {"type": "boolean"},
        "uncross": {"type": "null"},
    }
)
_SOURCES = _obj(
    {
        "sources": _array(
            _obj(
                {
                    "source": _SOURCE_ID,
                    "name": {"type": "string"},
                    "kind": {"enum": ["file", "live"]},
                    "sha256": {
                        "type": "string",
                        "description": "the file's SHA-256 (hex); a live session: live:URL:ns",
                    },
                    "bytes": {**_int(), "description": "the file's size (0: live)"},
                    "stored_bytes": {**_int(), "description": "its blocks in the store"},
                    "records": _int(),
                    "dataset": {"type": ["string", "null"]},
                    "ts_recv_first": _null(_TS),
                    "ts_recv_last": _null(_TS),
                    "books": _int(),
                }
            )
        )
    }
)
_RANGE = {"records": _int(), "trades": _int(), "ts_recv_first": _TS, "ts_recv_last": _TS}
_INSTRUMENTS = _obj(
    {
        "instruments": _array(
            _obj(
                {
                    "instrument_id": _int(0, U32),
                    "symbol": {"type": ["string", "null"]},
                    **_RANGE,
                    "publishers": _array(
                        _obj({"publisher_id": _int(0, U16), "source": _SOURCE_ID, **_RANGE})
                    ),
                }
            )
        )
    }
)
_ROW = {
    "index": _int(),
    "ts_recv": _TS,
    "ts_event": _TS,
    "instrument_id": _int(0, U32),
    "publisher_id": _int(0, U16),
}
_ITEMS = {
    "bbo": _obj(
        {
            **_ROW,
            "bid_px": _null(_PRICE),
            "bid_sz": _COUNT,
            "bid_ct": _int(0, U32),
            "ask_px": _null(_PRICE),
            "ask_sz": _COUNT,
            "ask_ct": _int(0, U32),
        }
    ),
    "trades": _obj({**_ROW, "price": _null(_PRICE), "size": _int(0, U32), "side": _CHAR}),
    "records": _obj(
        {
            **_ROW,
            "order_id": _int(0, U64),
            "price": _null(_PRICE),
            "size": _int(0, U32),
            "flags": _int(0, 255),
            "action": _CHAR,
            "side": _CHAR,
            "sequence": _int(0, U32),
            "channel_id": _int(0, 255),
            "ts_in_delta": _int(-(2**31), 2**31 - 1),
        }
    ),
}


def _page_of(kind: str) -> Schema:
    return _obj(
        {
            "source": _SOURCE_ID,
            "items": _array(_ITEMS[kind]),
            "limit": _int(1),
            "next_after": {
                **_null(_int()),
                "description": "the `after` of the next page; null: this was the last",
            },
        }
    )


_SIM_ORDER = _obj(
    {
        "id": _int(),
        "instrument_id": _int(0, U32),
        "publisher_id": _int(0, U16),
        "side": {"enum": ["B", "A"]},
        "price": _int(1, I64 - 1),
        "size": _int(1, U32),
        "index": _int(),
        "status": {
            "enum": ["scheduled", "pending", "open", "filled", "cancelled"],
            "description": "scheduled: placed at a later index than asked about",
        },
        "filled": _int(0, U32),
        "remaining": _int(0, U32),
        "orders_ahead_at_entry": _null(_int(0, U32)),
        "volume_ahead_at_entry": _null(_COUNT),
        "orders_ahead": _null(_int(0, U32)),
        "volume_ahead": _null(_COUNT),
        "ahead": {**_array(_int(0, U64)), "description": "ids of the orders ahead, in order"},
        "fills": _array(
            _obj(
                {
                    "ts": _TS,
                    "index": _null(_int()),
                    "price": _PRICE,
                    "size": _int(1, U32),
                    "kind": {"enum": ["entry", "queue", "through"]},
                }
            )
        ),
    }
)
_LIVE_STATUS = {
    "oneOf": [
        _obj({"configured": {"const": False}}),
        {
            "type": "object",
            "description": "with --live: the ingest's counters (the core may add more)",
            "properties": {
                "configured": {"const": True},
                "url": {"type": "string"},
                "connection": {"type": "string"},
                "connections": _int(),
                "reconnects": _int(),
                "last_error": {"type": ["string", "null"]},
                "index": _int(),
                "rate": {"type": "number", "minimum": 0},
                "books_followed": _int(),
                "clients": _int(),
                "persisted": _int(),
            },
            "required": ["configured", "connection", "records"],
        },
    ]
}
_READY = _obj(
    {
        "ready": {"type": "boolean"},
        "checks": _obj({"data": {"type": "boolean"}, "storage": {"type": "boolean"}}),
        "error": {"type": "string", "description": "why loading failed"},
    },
    optional=("error",),
)

_PLAYBACK_EVENTS = ["snapshot", "trade", "book", "status", "end", "shutdown"]
_LIVE_EVENTS = ["snapshot", "trade", "book", "status", "shutdown"]


def _sse(events: list[str]) -> Schema:
    """One server-sent event: its name, JSON data and id (a record index)."""
    return _obj(
        {
            "event": {"enum": events},
            "data": {"type": "string", "contentMediaType": "application/json"},
            "id": {"type": "string", "pattern": "^-?[0-9]+$"},
            "retry": _int(),
        },
        optional=("id", "retry"),
    )


_STATUS_TEXT = {
    400: "a bad parameter, body field or header",
    404: "an unknown id (instrument, publisher, source)",
    413: "the body is larger than max_request_bytes",
    415: "the body is not Content-Type: application/json (UTF-8)",
    421: "the Host header names no host this server answers for (allowed_hosts)",
    503: "not ready yet (data loading, storage opening), or a limit reached: try again later",
}


def _error(status: int, why: str | None = None) -> dict[str, Any]:
    return {
        "description": why or _STATUS_TEXT[status],
        "headers": _REQUEST_ID,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(schema: Schema | None, media: str = "application/json", why: str = "OK") -> Any:
    content: dict[str, Any] = {media: {"schema": schema} if schema is not None else {}}
    return {"description": why, "headers": _REQUEST_ID, "content": content}


def _param(
    name: str,
    desc: str,
    schema: Schema,
    *,
    required: bool = False,
    where: str = "query",
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "name": name,
        "in": where,
        "required": required,
        "description": desc,
        "schema": schema,
    }
    if where == "query":
        p["allowEmptyValue"] = False
    return p


def _op(
    summary: str,
    params: list[dict[str, Any]],
    ok: dict[str, Any],
    errors: tuple[int, ...] = (400, 404, 503),
    *,
    ok_status: str = "200",
    body: Schema | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    responses: dict[str, Any] = {ok_status: ok}
    for status in (*errors, 421):
        responses[str(status)] = _error(status)
    responses.update(extra or {})
    op: dict[str, Any] = {"summary": summary, "parameters": params, "responses": responses}
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
        responses["413"] = _error(413)
        responses["415"] = _error(415)
    return op


def build(cfg: Config) -> dict[str, Any]:
    """The document for a server with this configuration (its depth, page and speed limits)."""
    depth = _int(1, cfg.max_depth)
    stream_depth = _int(1, min(cfg.max_depth, MAX_STREAM_DEPTH))
    iid = _param("instrument_id", "instrument id", _int(0, U32), required=True)
    pid = _param(
        "publisher_id", "publisher id (needed when the instrument has several)", _int(0, U16)
    )
    source = _param(
        "source", "source id (needed when several sources hold the instrument)", _SOURCE_ID
    )
    book = [iid, pid, source]
    index = _param("index", "record index, below the source's record count", _int())
    ts = _param("ts", "instead of index: after every record with ts_recv <= ts", _TIME_PARAM)
    orders = _param(
        "orders", "include each level's orders [order_id, size] in queue order", {"type": "boolean"}
    )
    page = [
        _param("start", "first ts_recv (inclusive)", _TIME_PARAM),
        _param("end", "last ts_recv (inclusive), not before start", _TIME_PARAM),
        _param(
            "after",
            "page cursor: only records with a larger index (the previous next_after)",
            _int(-1),
        ),
        _param("limit", f"page size (default {cfg.default_page})", _int(1, cfg.max_page)),
    ]
    only_book = [
        _param("instrument_id", "only this instrument", _int(0, U32)),
        _param("publisher_id", "only this publisher (needs instrument_id)", _int(0, U16)),
    ]
    paths: dict[str, dict[str, Any]] = {
        "/api/v1/sources": {
            "get": _op(
                "the sources served: every file and live session in the block store (id, name, "
                "kind, sha256, file and stored bytes, records, dataset, time range, books)",
                [],
                _ok(_SOURCES),
                (400, 503),
            )
        },
        "/api/v1/instruments": {
            "get": _op(
                "instruments: symbol, publishers, record and trade counts, ts_recv range",
                [],
                _ok(_INSTRUMENTS),
                (400, 503),
            )
        },
        "/api/v1/book": {
            "get": _op(
                "the book after record `index` (or after every record with ts_recv <= `ts`; "
                "default the end): levels {price, size, count} best first, optional L3 orders "
                "per level, crossed flag, indicative uncross when crossed",
                [
                    *book,
                    index,
                    ts,
                    _param("depth", "levels per side (default 10)", depth),
                    orders,
                ],
                _ok(_BOOK),
            )
        },
        "/api/v1/bbo": {
            "get": _op(
                "BBO after every F_LAST record of the book (derived from the stored blocks), paged",
                [*book, *page],
                _ok(_page_of("bbo")),
            )
        },
        "/api/v1/trades": {
            "get": _op(
                "trades (T records) of the book (from the stored blocks), paged",
                [*book, *page],
                _ok(_page_of("trades")),
            )
        },
        "/api/v1/records": {
            "get": _op(
                "raw MBO records (from the stored blocks), paged; optionally one book's only",
                [
                    _param("source", "source id (needed when several are served)", _SOURCE_ID),
                    *only_book,
                    *page,
                ],
                _ok(_page_of("records")),
            )
        },
        "/api/v1/export": {
            "get": _op(
                "MBP-N depth as JSON lines, one per F_LAST record (the core's export), streamed",
                [
                    _param("source", "source id (needed when several are served)", _SOURCE_ID),
                    *only_book,
                    _param("depth", "levels (default 10)", stream_depth),
                ],
                _ok({"type": "string"}, "application/x-ndjson"),
            )
        },
        "/api/v1/stream": {
            "get": _op(
                "SSE playback: `snapshot`, then `trade`, `book`, `status`, `end` (and "
                "`shutdown`) events; id = record index; reconnect with Last-Event-ID to resume "
                "exactly. 503 when max_streams streams are open",
                [
                    *book,
                    _param("depth", "levels per side (default 10)", stream_depth),
                    _param(
                        "from",
                        "a record index (below the record count), or a time: ns >= 1e15 or "
                        "ISO 8601",
                        _TIME_PARAM,
                    ),
                    _param(
                        "speed",
                        f"times real time, 0.1 .. {cfg.max_speed:g}, or `max` (default 1)",
                        {
                            "oneOf": [
                                {"type": "number", "minimum": 0.1, "maximum": cfg.max_speed},
                                {"const": "max"},
                            ]
                        },
                    ),
                    _param(
                        "Last-Event-ID",
                        "resume after this record index (-1 .. record count - 1)",
                        _int(-1),
                        where="header",
                    ),
                ],
                _ok(_sse(_PLAYBACK_EVENTS), "text/event-stream"),
            )
        },
        "/api/v1/live": {
            "get": _op(
                "SSE live broadcast of one book from the --live feed (404 without one): "
                "`snapshot` on join, then `trade`, `book` and `status` (connection, stale, "
                "gaps); id = live record index; frames are built once per tick and shared by "
                "every client of the book. 503 when max_streams clients follow",
                [
                    iid,
                    _param(
                        "publisher_id",
                        "publisher id (default: the instrument's only publisher so far; 1 "
                        "before its first record; a 400 when it has several)",
                        _int(0, U16),
                    ),
                    _param("depth", "levels per side (default 10)", stream_depth),
                ],
                _ok(_sse(_LIVE_EVENTS), "text/event-stream"),
                (400, 404, 503),
            )
        },
        "/api/v1/live/status": {
            "get": _op(
                "live ingest state (`configured` false without --live): connection, "
                "reconnects, records, rate, gaps, stale books",
                [],
                _ok(_LIVE_STATUS),
                (400,),
            )
        },
        "/api/v1/consolidated": {
            "get": _op(
                "one instrument's book summed over all its publishers (same source) after "
                "record `index` (or at `ts`): bids/asks {price, size, count} best first, "
                "`publishers`",
                [
                    iid,
                    source,
                    _param("index", "record index (default: the last record)", _int()),
                    ts,
                    _param("depth", "levels per side (default 10)", depth),
                ],
                _ok(_CONSOLIDATED),
            )
        },
        "/api/v1/sim/orders": {
            "get": _op(
                "simulated limit orders (mbo_fast.Backtest, zero latency) as they stand after "
                "record `index`: status, filled, orders_ahead/volume_ahead (queue position), "
                "the ids ahead, fills. 503 when the simulator is busy",
                [
                    _param("instrument_id", "only this instrument's orders", _int(0, U32)),
                    pid,
                    source,
                    _param("index", "record index (default: the last record)", _int()),
                ],
                _ok(_obj({"source": _SOURCE_ID, "index": _int(), "orders": _array(_SIM_ORDER)})),
            ),
            "post": _op(
                "place a simulated limit order at record `index` (it joins the back of its "
                "queue right after that record); at most 200 per source (then 400: DELETE "
                "them). Answers the order as it stands after `index`",
                [],
                _ok(
                    _obj({"source": _SOURCE_ID, "index": _int(), "order": _SIM_ORDER}),
                    why="Created",
                ),
                ok_status="201",
                body=_obj(
                    {
                        "instrument_id": _int(0, U32),
                        "publisher_id": _int(0, U16),
                        "source": _SOURCE_ID,
                        "side": {"enum": ["B", "A"]},
                        "price": {**_int(1, I64 - 1), "description": "1e-9 units"},
                        "size": _int(1, 1_000_000),
                        "index": {**_int(), "description": "below the record count"},
                    },
                    optional=("publisher_id", "source"),
                ),
            ),
            "delete": _op(
                "forget every simulated order of a source",
                [_param("source", "source id (needed when several are served)", _SOURCE_ID)],
                _ok(_obj({"source": _SOURCE_ID, "deleted": _int()})),
            ),
        },
        "/healthz": {"get": _op("liveness", [], _ok(_obj({"status": {"const": "ok"}})), ())},
        "/readyz": {
            "get": _op(
                "readiness: data loaded and storage open",
                [],
                _ok(_READY),
                (),
                extra={"503": _ok(_READY, why="not ready (yet), or shutting down")},
            )
        },
        "/metrics": {
            "get": _op("Prometheus metrics (text format 0.0.4)", [], _ok(None, "text/plain"), ())
        },
        "/api/v1/openapi.json": {"get": _op("this document", [], _ok({"type": "object"}), ())},
        "/docs": {"get": _op("this document as a page", [], _ok(None, "text/html"), ())},
        "/": {"get": _op("the web UI", [], _ok(None, "text/html"), ())},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mbo-fast server",
            "version": "1",
            "description": "Prices are integers in 1e-9 units; times are ns since the epoch. "
            "Integers in parameters are ASCII digits (a leading '-' only where negative values "
            'exist); an empty value is a 400. Errors: {"error", "parameter"}. A request the '
            "HTTP layer refuses before any route (a request line or header over 8,190 bytes, "
            "malformed HTTP) gets a plain-text 400 without X-Request-Id.",
        },
        "paths": paths,
        "components": {"schemas": {"Error": _ERROR}},
    }


def _page(doc: dict[str, Any]) -> str:
    rows = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            params = "".join(
                f"<li><code>{html.escape(p['name'])}</code> ({p['in']}"
                f"{', required' if p['required'] else ''}): {html.escape(p['description'])}</li>"
                for p in op["parameters"]
            )
            if "requestBody" in op:
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                fields = ", ".join(html.escape(k) for k in schema["properties"])
                params += f"<li>JSON body: <code>{{{fields}}}</code></li>"
            rows.append(
                f"<section><h2><code>{method.upper()} {html.escape(path)}</code></h2>"
                f"<p>{html.escape(op['summary'])}</p><ul>{params}</ul></section>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>mbo-fast server</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem}code{background:#f3f3f3;padding:0 .2em}h2{font-size:1.1rem}</style>"
        "</head><body><h1>mbo-fast server API</h1><p>Machine-readable: "
        "<a href='/api/v1/openapi.json'>/api/v1/openapi.json</a>. "
        f"{html.escape(doc['info']['description'])}</p>" + "".join(rows) + "</body></html>"
    )


OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi", dict)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def docs_page(request: web.Request) -> web.Response:
    return web.Response(text=_page(request.app[OPENAPI]), content_type="text/html")


async def index(request: web.Request) -> web.Response:
    raise web.HTTPFound("/docs")


def add_routes(app: web.Application, cfg: Config) -> None:
    app[OPENAPI] = build(cfg)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/docs", docs_page)
    app.router.add_get("/", index)
