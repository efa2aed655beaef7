"""`GET /api/v1/heatmap`: one book's liquidity heatmap over any time and price range of a stored
source, as a compact binary raster the web UI draws at once after a seek, pan or zoom.

The core computes it from the source's blocks with the GIL released
(`mbo_fast._core.Recording.raster`, `rust/core/src/store/raster.rs`): the resting size (bid +
ask) of `rows` price rows from `price_lo` by `price_step` at the end of each of `buckets` equal
time buckets over `(start, end]`, the best bid and ask at each bucket's end, and the trades per
bucket, price and aggressor.

Body (`application/octet-stream`, little-endian): the 4 bytes `MBOR`; a u32 `n`; `n` bytes of
a JSON header padded with spaces so that the arrays start at a multiple of 8; then the arrays
`bid_px i64[buckets]`, `ask_px i64[buckets]` (9223372036854775807: that side is empty),
`trade_price i64[trades]`, `sizes u32[buckets × rows]` (bucket-major: `sizes[b·rows + r]`,
saturating), `trade_bucket u32[trades]`, `trade_size u32[trades]`, `trade_count u32[trades]`,
`trade_side u8[trades]` (ASCII `B` buy aggressor, `A` sell aggressor, `N`). The header names
the query (`source`, `instrument_id`, `publisher_id`, `start`, `end`, `buckets`, `rows`,
`price_lo`, `price_step`) and the result (`trades`, `max_size`, `records` of the book applied,
`position_start`/`position_end`: the records `[start, end)` read, `truncated`: more than
`MAX_TRADES` trade cells, the rest dropped).

Bounded: at most `MAX_BUCKETS` buckets, `MAX_ROWS` rows and `MAX_CELLS` cells; the work is
proportional to the records in the range, and at most `MAX_RUNNING` rasters are computed at once
(more: 503 with Retry-After)."""

from __future__ import annotations

import json
import struct
import time
from typing import Any

from aiohttp import web

from .routes import (
    I64,
    ParamError,
    _book,
    _check_known,
    _int,
    _run,
    _state,
    _ts,
    take_slot,
)
from .state import Slots

routes = web.RouteTableDef()

MAGIC = b"MBOR"
VERSION = 1
MAX_BUCKETS = 4000
MAX_ROWS = 2000
MAX_CELLS = 2_000_000
MAX_TRADES = 200_000
MAX_RUNNING = 4
CONTENT_TYPE = "application/octet-stream"
PARAMETERS = {
    "instrument_id",
    "publisher_id",
    "source",
    "start",
    "end",
    "buckets",
    "rows",
    "price_lo",
    "price_step",
}

SLOTS: web.AppKey[Slots] = web.AppKey("heatmap_slots", Slots)


def encode(header: dict[str, Any], arrays: bytes) -> bytes:
    """The body: magic, header length, the header padded to 8 bytes, the arrays."""
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return MAGIC + struct.pack("<I", len(text)) + text + arrays


@routes.get("/api/v1/heatmap")
async def heatmap(request: web.Request) -> web.Response:
    _check_known(request, PARAMETERS)
    src, iid, pid = _book(request)
    start, end = _ts(request, "start"), _ts(request, "end")
    if start is None:
        raise ParamError("start", "required")
    if end is None:
        raise ParamError("end", "required")
    if end <= start:
        raise ParamError("end", "must be after start")
    buckets = _int(request, "buckets", lo=1, hi=MAX_BUCKETS, required=True)
    rows = _int(request, "rows", lo=0, hi=MAX_ROWS, default=0)
    assert buckets is not None and rows is not None
    if buckets * max(rows, 1) > MAX_CELLS:
        raise ParamError("rows", f"buckets × rows must be at most {MAX_CELLS:,}")
    price_lo = _int(request, "price_lo", lo=-I64, hi=I64, default=None)
    price_step = _int(request, "price_step", lo=1, hi=I64, default=None)
    if rows > 0:
        if price_lo is None:
            raise ParamError("price_lo", "required when rows > 0")
        if price_step is None:
            raise ParamError("price_step", "required when rows > 0")
        if price_lo + rows * price_step > I64:
            raise ParamError("price_step", "the price rows run past the largest price")
    lo = price_lo if price_lo is not None else 0
    step = price_step if price_step is not None else 1
    state = _state(request)
    slots = request.app[SLOTS]
    take_slot(state, slots, "heatmaps being computed")  # before the first await: see Slots
    t0 = time.perf_counter()
    try:
        rec = src.recording
        scalars, arrays = await _run(
            request,
            lambda: rec.raster(iid, pid, start, end, buckets, lo, step, rows, MAX_TRADES),
        )
    finally:
        slots.release()
    header: dict[str, Any] = {
        "format": "mbo-fast heatmap raster",
        "version": VERSION,
        "source": src.id,
        "instrument_id": iid,
        "publisher_id": pid,
        "start": start,
        "end": end,
        "price_lo": lo,
        "price_step": step,
        **scalars,
    }
    body = encode(header, arrays)
    headers = {"Server-Timing": f"raster;dur={(time.perf_counter() - t0) * 1e3:.1f}"}
    return web.Response(body=body, content_type=CONTENT_TYPE, headers=headers)


def add_routes(app: web.Application) -> None:
    app[SLOTS] = Slots(MAX_RUNNING)
    app.add_routes(routes)
