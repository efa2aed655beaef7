"""`GET /api/v1/consolidated`: one instrument's book summed over all its publishers, by the
core (`Replay.consolidated`: the top `depth` levels per side summed per price over the books of
the instrument, at the same index or ts), with the request's head fields around it."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .data import LookupFailed, Source, join_json, seek
from .routes import I64, U32, ParamError, _catalog, _check_known, _int, _run, _state, _ts

routes = web.RouteTableDef()


def consolidated_at(
    src: Source, instrument_id: int, *, index: int | None, ts: int | None, depth: int
) -> bytes:
    """The document as JSON. Blocking (call it in an executor)."""
    pids = sorted(pid for (iid, pid) in src.books if iid == instrument_id)
    replay = src.recording.replay()
    seek(replay, index, ts)
    position = replay.position
    present = {b.publisher_id for b in replay.books() if b.instrument_id == instrument_id}
    head: dict[str, Any] = {
        "source": src.id,
        "instrument_id": instrument_id,
        "symbol": src.books[(instrument_id, pids[0])].symbol if pids else None,
        "consolidated": True,
        "publishers": pids,
        "publishers_present": sorted(present),
        "index": position - 1 if position else None,
        "position": position,
        "ts_recv": replay.ts_recv,
        "uncross": None,
    }
    return join_json(head, replay.consolidated(instrument_id, depth).to_json())


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
    body = await _run(request, lambda: consolidated_at(src, iid, index=index, ts=ts, depth=depth))
    _state(request).metrics.book_seconds.observe(time.perf_counter() - t0)
    return web.Response(body=body, content_type="application/json")
