"""`GET /api/v1/heatmap`: the binary raster equals the book replayed to each bucket's end and the
trades counted per bucket; strict parameters; bounded concurrency."""

from __future__ import annotations

import json
import struct
from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from server_helpers import CLX5_IID, client, make_client  # noqa: F401

pytestmark = pytest.mark.asyncio

mbo_fast = pytest.importorskip("mbo_fast")
TICK = 10_000_000
UNDEF = 2**63 - 1


def decode(body: bytes) -> dict[str, Any]:
    """The documented layout, read independently of the web UI's decoder."""
    assert body[:4] == b"MBOR"
    (n,) = struct.unpack_from("<I", body, 4)
    assert (8 + n) % 8 == 0
    header = json.loads(body[8 : 8 + n])
    b, r, t = header["buckets"], header["rows"], header["trades"]
    at = 8 + n

    def take(dtype: str, count: int) -> np.ndarray:
        nonlocal at
        arr = np.frombuffer(body, dtype=dtype, count=count, offset=at)
        at += arr.nbytes
        return arr

    out = {
        "header": header,
        "bid": take("<i8", b),
        "ask": take("<i8", b),
        "trade_price": take("<i8", t),
        "sizes": take("<u4", b * r).reshape(b, r),
        "trade_bucket": take("<u4", t),
        "trade_size": take("<u4", t),
        "trade_count": take("<u4", t),
        "trade_side": take("u1", t),
    }
    assert at == len(body)
    return out


async def get_raster(client: Any, query: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/heatmap?instrument_id={CLX5_IID}&{query}")
    body = await resp.read()
    assert resp.status == 200, body[:300]
    assert resp.headers["Content-Type"] == "application/octet-stream"
    return decode(body)


async def test_raster_is_the_book_at_each_bucket_end(client: Any, clx5_path: Any) -> None:
    recs = mbo_fast.read_records(str(clx5_path))
    ts = recs["ts_recv"].astype(np.int64)
    start, end = int(ts[5_000]), int(ts[30_000])
    buckets, rows = 40, 120
    mid = int(recs["price"][20_000])
    lo = mid - rows // 2 * TICK
    q = f"start={start}&end={end}&buckets={buckets}&rows={rows}&price_lo={lo}&price_step={TICK}"
    r = await get_raster(client, q)
    h = r["header"]
    assert (h["buckets"], h["rows"], h["price_lo"], h["price_step"]) == (buckets, rows, lo, TICK)
    assert (h["start"], h["end"], h["source"], h["publisher_id"]) == (start, end, 1, 1)
    running = np.maximum.accumulate(ts)
    assert h["position_start"] == int(np.searchsorted(running, start, side="right"))
    replay = mbo_fast.Replay(str(clx5_path))
    trades: dict[tuple[int, int, int], int] = defaultdict(int)
    for b in range(buckets):
        edge = start + (end - start) * (b + 1) // buckets
        replay.seek(ts=edge)
        book = replay.book(CLX5_IID, 1)
        want = np.zeros(rows, dtype=np.int64)
        for side in "BA":
            for px, size, _ in book.levels(side):
                if lo <= px < lo + rows * TICK:
                    want[(px - lo) // TICK] += size
        assert r["sizes"][b].tolist() == want.tolist(), b
        bbo = book.bbo()
        assert r["bid"][b] == (UNDEF if bbo.bid_px is None else bbo.bid_px)
        assert r["ask"][b] == (UNDEF if bbo.ask_px is None else bbo.ask_px)
        prev = start + (end - start) * b // buckets
        sel = (running > prev) & (running <= edge) & (recs["action"] == ord("T"))
        for px, size, side in zip(recs["price"][sel], recs["size"][sel], recs["side"][sel]):
            trades[(b, int(px), int(side))] += int(size)
    got = {
        (int(b), int(p), int(s)): int(z)
        for b, p, s, z in zip(r["trade_bucket"], r["trade_price"], r["trade_side"], r["trade_size"])
    }
    assert got == dict(trades) and len(got) > 5
    assert h["max_size"] == int(r["sizes"].max()) > 0
    assert r["sizes"].any(axis=1).all()  # every bucket has resting orders in the window


async def test_trades_only_and_iso_times(client: Any) -> None:
    r = await get_raster(client, "start=2025-09-24T19:00:00Z&end=2025-09-25T00:00:00Z&buckets=1")
    assert r["header"]["rows"] == 0 and r["sizes"].size == 0
    assert r["trade_count"].sum() == 1_599  # every trade of the file, in one bucket
    assert set(r["trade_side"].tolist()) <= {ord("A"), ord("B"), ord("N")}


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("end=2&buckets=1", "start"),
        ("start=1&buckets=1", "end"),
        ("start=5&end=5&buckets=1", "end"),
        ("start=1&end=2&buckets=0", "buckets"),
        ("start=1&end=2&buckets=4001", "buckets"),
        ("start=1&end=2", "buckets"),
        ("start=1&end=2&buckets=4000&rows=600&price_lo=1&price_step=1", "rows"),
        ("start=1&end=2&buckets=10&rows=5&price_step=1", "price_lo"),
        ("start=1&end=2&buckets=10&rows=5&price_lo=1", "price_step"),
        ("start=1&end=2&buckets=10&rows=5&price_lo=1&price_step=0", "price_step"),
        (f"start=1&end=2&buckets=10&rows=5&price_lo={2**63 - 3}&price_step=1", "price_step"),
        ("start=1&end=2&buckets=1&rows=", "rows"),
        ("start=1&end=2&buckets=1&zoom=3", "zoom"),
    ],
)
async def test_bad_parameters(client: Any, query: str, parameter: str) -> None:
    resp = await client.get(f"/api/v1/heatmap?instrument_id={CLX5_IID}&{query}")
    body = await resp.json()
    assert resp.status == 400 and body["parameter"] == parameter, body


async def test_unknown_book_and_busy(client: Any) -> None:
    resp = await client.get("/api/v1/heatmap?instrument_id=7&start=1&end=2&buckets=1")
    assert resp.status == 404
    from mbo_fast_server import heatmap

    slots = client.app[heatmap.SLOTS]
    taken = 0
    while slots.take():
        taken += 1
    try:
        resp = await client.get(f"/api/v1/heatmap?instrument_id={CLX5_IID}&start=1&end=2&buckets=1")
        assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    finally:
        for _ in range(taken):
            slots.release()
    resp = await client.get(f"/api/v1/heatmap?instrument_id={CLX5_IID}&start=1&end=2&buckets=1")
    assert resp.status == 200
