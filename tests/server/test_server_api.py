"""Server REST API: every endpoint's success and bad input (400/404 JSON), health, metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server_helpers import CLX5_IID, client, make_client, read_events  # noqa: F401

pytestmark = pytest.mark.asyncio

mbo_fast = pytest.importorskip("mbo_fast")


async def get_json(client: Any, url: str, status: int = 200) -> Any:
    resp = await client.get(url)
    body = await resp.json()
    assert resp.status == status, (url, resp.status, body)
    return body


async def test_health_ready_and_instruments(client: Any) -> None:
    assert (await get_json(client, "/healthz")) == {"status": "ok"}
    ready = await get_json(client, "/readyz")
    assert ready["ready"] and ready["checks"] == {"data": True, "storage": True}
    inst = (await get_json(client, "/api/v1/instruments"))["instruments"]
    assert [i["instrument_id"] for i in inst] == [CLX5_IID]
    assert inst[0]["symbol"] == "CLX5" and inst[0]["records"] == 38_212
    assert inst[0]["trades"] == 1_599 and inst[0]["publishers"][0]["publisher_id"] == 1
    src = (await get_json(client, "/api/v1/sources"))["sources"]
    assert src[0]["records"] == 38_212 and src[0]["name"] == "CLX5_mbo.dbn"
    assert "path" not in src[0]


async def test_book_matches_replay(client: Any, clx5_path: Any) -> None:
    url = f"/api/v1/book?instrument_id={CLX5_IID}&index=20000&depth=3&orders=true"
    doc = await get_json(client, url)
    replay = mbo_fast.Replay(str(clx5_path))
    replay.seek(index=20_000)
    book = replay.book(CLX5_IID, 1)
    assert doc["index"] == 20_000 and doc["publisher_id"] == 1
    assert [(lv["price"], lv["size"], lv["count"]) for lv in doc["bids"]] == book.levels("B", 3)
    assert [(lv["price"], lv["size"], lv["count"]) for lv in doc["asks"]] == book.levels("A", 3)
    best = doc["bids"][0]
    assert [tuple(o) for o in best["orders"]] == book.orders("B", best["price"])
    assert doc["crossed"] is False and doc["uncross"] is None
    # by time: the same state as Replay.seek(ts=...)
    ts = doc["ts_recv"]
    by_ts = await get_json(client, f"/api/v1/book?instrument_id={CLX5_IID}&ts={ts}&depth=3")
    assert by_ts["bids"] == [{k: v for k, v in lv.items() if k != "orders"} for lv in doc["bids"]]
    assert "orders" not in by_ts["bids"][0]
    # default: the end of the data, which is crossed (pre-open) with an indicative uncross
    end = await get_json(client, f"/api/v1/book?instrument_id={CLX5_IID}")
    assert end["index"] == 38_211 and end["crossed"] is True
    assert end["uncross"]["volume"] == min(
        end["uncross"]["bid_volume"], end["uncross"]["ask_volume"]
    )
    # before the first record: an empty book, not an error
    empty = await get_json(client, f"/api/v1/book?instrument_id={CLX5_IID}&ts=1")
    assert empty["position"] == 0 and empty["bids"] == [] and empty["asks"] == []


@pytest.mark.parametrize(
    ("query", "status", "parameter"),
    [
        ("", 400, "instrument_id"),
        ("instrument_id=abc", 400, "instrument_id"),
        ("instrument_id=-1", 400, "instrument_id"),
        ("instrument_id=99999999999", 400, "instrument_id"),
        ("instrument_id=7", 404, "instrument_id"),
        (f"instrument_id={CLX5_IID}&publisher_id=9", 404, "publisher_id"),
        (f"instrument_id={CLX5_IID}&source=3", 404, "source"),
        (f"instrument_id={CLX5_IID}&index=38212", 400, "index"),
        (f"instrument_id={CLX5_IID}&index=1&ts=5", 400, "ts"),
        (f"instrument_id={CLX5_IID}&ts=yesterday", 400, "ts"),
        (f"instrument_id={CLX5_IID}&depth=0", 400, "depth"),
        (f"instrument_id={CLX5_IID}&depth=100000", 400, "depth"),
        (f"instrument_id={CLX5_IID}&orders=maybe", 400, "orders"),
        (f"instrument_id={CLX5_IID}&path=/etc/passwd", 400, "path"),
        (f"instrument_id={CLX5_IID}&depth=1&depth=2", 400, "depth"),
    ],
)
async def test_book_bad_input(client: Any, query: str, status: int, parameter: str) -> None:
    body = await get_json(client, f"/api/v1/book?{query}", status)
    assert body["parameter"] == parameter and body["error"]


async def test_bbo_trades_records_paging(client: Any, clx5_path: Any) -> None:
    bbo_cols = mbo_fast.read_bbo(str(clx5_path))
    first = await get_json(client, f"/api/v1/bbo?instrument_id={CLX5_IID}&limit=500")
    assert len(first["items"]) == 500 and first["next_after"] == first["items"][-1]["index"]
    second = await get_json(
        client, f"/api/v1/bbo?instrument_id={CLX5_IID}&limit=500&after={first['next_after']}"
    )
    got = [r["index"] for r in first["items"] + second["items"]]
    assert got == bbo_cols.index[:1000].tolist()
    row = second["items"][0]
    k = 500
    assert row["ask_px"] == int(bbo_cols.ask_px[k]) and row["bid_sz"] == int(bbo_cols.bid_sz[k])
    # a time range
    lo, hi = int(bbo_cols.ts_recv[100]), int(bbo_cols.ts_recv[199])
    ranged = await get_json(
        client, f"/api/v1/bbo?instrument_id={CLX5_IID}&start={lo}&end={hi}&limit=1000"
    )
    assert len(ranged["items"]) == 100 and ranged["next_after"] is None
    trades = await get_json(client, f"/api/v1/trades?instrument_id={CLX5_IID}&limit=10000")
    assert len(trades["items"]) == 1_599 and {t["side"] for t in trades["items"]} <= set("ABN")
    recs = await get_json(client, "/api/v1/records?limit=3&after=9")
    assert [r["index"] for r in recs["items"]] == [10, 11, 12]
    assert recs["items"][0]["action"] == "T"
    iso = await get_json(client, "/api/v1/records?start=2025-09-24T19:30:00Z&limit=1")
    assert iso["items"][0]["index"] == 0


@pytest.mark.parametrize(
    ("url", "status", "parameter"),
    [
        ("/api/v1/bbo", 400, "instrument_id"),
        (f"/api/v1/bbo?instrument_id={CLX5_IID}&limit=0", 400, "limit"),
        (f"/api/v1/bbo?instrument_id={CLX5_IID}&limit=10001", 400, "limit"),
        (f"/api/v1/bbo?instrument_id={CLX5_IID}&start=5&end=4", 400, "end"),
        (f"/api/v1/trades?instrument_id={CLX5_IID}&after=x", 400, "after"),
        ("/api/v1/trades?instrument_id=1", 404, "instrument_id"),
        ("/api/v1/records?source=4", 404, "source"),
        ("/api/v1/records?publisher_id=1", 400, "publisher_id"),
        ("/api/v1/records?file=CLX5_mbo.dbn", 400, "file"),
        ("/api/v1/export?depth=0", 400, "depth"),
        ("/api/v1/export?instrument_id=3", 404, "instrument_id"),
        ("/api/v1/stream?instrument_id=3", 404, "instrument_id"),
        (f"/api/v1/stream?instrument_id={CLX5_IID}&speed=0", 400, "speed"),
        (f"/api/v1/stream?instrument_id={CLX5_IID}&speed=nan", 400, "speed"),
        (f"/api/v1/stream?instrument_id={CLX5_IID}&from=99999", 400, "from"),
        (f"/api/v1/stream?instrument_id={CLX5_IID}&from=soon", 400, "from"),
        ("/api/v1/instruments?x=1", 400, "x"),
    ],
)
async def test_history_bad_input(client: Any, url: str, status: int, parameter: str) -> None:
    body = await get_json(client, url, status)
    assert body["parameter"] == parameter


async def test_unknown_route_and_method_are_json(client: Any) -> None:
    body = await get_json(client, "/api/v1/nope", 404)
    assert body["error"]
    resp = await client.post("/api/v1/book", data=b"x" * 10)
    assert resp.status == 405 and (await resp.json())["error"]
    resp = await client.post("/api/v1/book", data=b"x" * (1 << 20))
    assert resp.status in (405, 413)


async def test_export_streams_the_core_export(client: Any, clx5_path: Any) -> None:
    resp = await client.get(f"/api/v1/export?instrument_id={CLX5_IID}&depth=2")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("application/x-ndjson")
    body = await resp.read()
    assert body == mbo_fast.export_depth(str(clx5_path), 2, instrument_id=CLX5_IID, publisher_id=1)
    lines = body.splitlines()
    assert len(lines) == 32_053 and json.loads(lines[0])


async def test_openapi_and_docs(client: Any) -> None:
    spec = await get_json(client, "/api/v1/openapi.json")
    assert "/api/v1/book" in spec["paths"] and "/api/v1/stream" in spec["paths"]
    resp = await client.get("/docs")
    text = await resp.text()
    assert resp.status == 200 and "/api/v1/book" in text and "http" not in text.split("<h1>")[0]


async def test_metrics_move(client: Any) -> None:
    def value(text: str, prefix: str) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
        )

    before = await (await client.get("/metrics")).text()
    assert value(before, 'mbo_records_processed_total{stage="import"}') == 38_212
    assert value(before, 'mbo_storage_rows_written_total{table="import"}') == 10  # blocks
    assert value(before, 'mbo_storage_write_seconds_count{table="import"}') == 1
    assert value(before, "mbo_sources_loaded") == 1
    await client.get(f"/api/v1/book?instrument_id={CLX5_IID}&index=5")
    await client.get("/api/v1/book?instrument_id=zz")
    await client.get("/api/v1/book?instrument_id=7")
    resp = await client.get(f"/api/v1/stream?instrument_id={CLX5_IID}&speed=max&depth=1")
    events = await read_events(resp, lambda e: e.get("event") == "end")
    assert events[-1]["event"] == "end"
    resp.close()
    after = await (await client.get("/metrics")).text()
    assert (
        value(
            after,
            'mbo_http_request_duration_seconds_count{method="GET",'
            'route="/api/v1/book",status="200"}',
        )
        == 1
    )
    assert value(after, 'mbo_errors_total{kind="bad_request"}') >= 1
    assert value(after, 'mbo_errors_total{kind="not_found"}') >= 1
    assert value(after, "mbo_book_query_seconds_count") == 1
    assert value(after, 'mbo_records_processed_total{stage="stream"}') > 38_000
    assert value(after, 'mbo_sse_frames_sent_total{event="trade"}') == 1_599
    assert value(after, 'mbo_sse_frames_sent_total{event="snapshot"}') == 1
    assert value(after, "mbo_sse_clients") == 0
