"""`GET /api/v1/consolidated`: one instrument's book summed over all its publishers.

Each publisher's book comes from a cursor over the source's blocks at the same index (or ts);
the top `depth` levels of every publisher are enough for the consolidated top `depth` (a price
among the consolidated best `depth` is among the best `depth` of each publisher quoting it)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .data import LookupFailed, Source, seek
from .routes import I64, U32, ParamError, _catalog, _check_known, _int, _json, _run, _state, _ts

routes = web.RouteTableDef()

Level = tuple[int, int, int]


def merge_levels(books: list[list[Level]], side: str, depth: int) -> list[dict[str, int]]:
    """Sum (price, size, count) levels of several books per price; best first (bids: highest)."""
    acc: dict[int, list[int]] = {}
    for levels in books:
        for price, size, count in levels:
            cur = acc.setdefault(price, [0, 0])
            cur[0] += size
            cur[1] += count
    prices = sorted(acc, reverse=side == "B")[:depth]
    return [{"price": p, "size": acc[p][0], "count": acc[p][1]} for p in prices]


def consolidated_at(
    src: Source, instrument_id: int, *, index: int | None, ts: int | None, depth: int
) -> dict[str, Any]:
    """Blocking (call it in an executor)."""
    pids = sorted(pid for (iid, pid) in src.books if iid == instrument_id)
    replay = src.recording.replay()
    seek(replay, index, ts)
    position = replay.position
    seen = {(b.instrument_id, b.publisher_id) for b in replay.books()}
    bids: list[list[Level]] = []
    asks: list[list[Level]] = []
    present: list[int] = []
    for pid in pids:
        if (instrument_id, pid) not in seen:  # no record of this book applied yet
            continue
        book = replay.book(instrument_id, pid)
        present.append(pid)
        bids.append([tuple(x) for x in book.levels("B", depth)])  # type: ignore[misc]
        asks.append([tuple(x) for x in book.levels("A", depth)])  # type: ignore[misc]
    ts_recv = replay.ts_recv
    out_bids = merge_levels(bids, "B", depth)
    out_asks = merge_levels(asks, "A", depth)
    symbol = src.books[(instrument_id, pids[0])].symbol if pids else None
    return {
        "source": src.id,
        "instrument_id": instrument_id,
        "symbol": symbol,
        "consolidated": True,
        "publishers": pids,
        "publishers_present": present,
        "index": position - 1 if position else None,
        "position": position,
        "ts_recv": ts_recv,
        "bids": out_bids,
        "asks": out_asks,
        "crossed": bool(out_bids and out_asks and out_bids[0]["price"] >= out_asks[0]["price"]),
        "uncross": None,
    }


def _source_of(request: web.Request, iid: int) -> Source:
    cat = _catalog(request)
    sid = _int(request, "source", hi=I64)
    holders = [
        s
        for s in ([cat.get(sid)] if sid is not None else cat.sources)
        if any(i == iid for (i, _) in s.books)
    ]
    if not holders:
        raise LookupFailed(404, "instrument_id", f"no instrument {iid}")
    if len(holders) > 1:
        raise ParamError("source", f"instrument {iid} is in several sources: name one")
    return holders[0]


@routes.get("/api/v1/consolidated")
async def consolidated(request: web.Request) -> web.Response:
    _check_known(request, {"instrument_id", "source", "index", "ts", "depth"})
    cfg = _state(request).config
    iid = _int(request, "instrument_id", hi=U32, required=True)
    assert iid is not None
    src = _source_of(request, iid)
    index = _int(request, "index", hi=max(len(src) - 1, 0))
    ts = _ts(request, "ts")
    if index is not None and ts is not None:
        raise ParamError("ts", "give index or ts, not both")
    depth = _int(request, "depth", lo=1, hi=cfg.max_depth, default=10)
    assert depth is not None
    t0 = time.perf_counter()
    doc = await _run(request, lambda: consolidated_at(src, iid, index=index, ts=ts, depth=depth))
    _state(request).metrics.book_seconds.observe(time.perf_counter() - t0)
    return _json(doc)
