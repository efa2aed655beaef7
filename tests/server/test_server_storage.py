"""Server over the block store: every answer comes from stored blocks, and must equal what the
core computes from the file itself (books with their L3 queues, by index and by time; BBO,
trade and record pages); a restart serves the database at once without importing again; a
corrupt block is an error naming it while the rest is served; a store that fails is a 503."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from server_helpers import CLX5_IID, client, make_client, make_config, ready  # noqa: F401

mbo_fast = pytest.importorskip("mbo_fast")
from mbo_fast_server import create_app  # noqa: E402
from mbo_fast_server.state import STATE  # noqa: E402

N = 38_212  # CLX5 records


async def get_json(client: Any, url: str, status: int = 200) -> Any:
    resp = await client.get(url)
    body = await resp.json()
    assert resp.status == status, (url, resp.status, body)
    return body


def levels(book: mbo_fast.Book, side: str) -> list[dict[str, Any]]:
    return [
        {"price": px, "size": sz, "count": ct, "orders": [list(o) for o in book.orders(side, px)]}
        for px, sz, ct in book.levels(side)  # type: ignore[arg-type]
    ]


async def test_books_from_blocks_equal_the_core_on_the_file(client: Any, clx5_path: Path) -> None:
    replay = mbo_fast.Replay(clx5_path)
    rng = random.Random(3)
    indexes = [0, 4095, 4096, 32_767, 32_768, N - 1] + [rng.randrange(N) for _ in range(25)]
    for index in indexes:
        doc = await get_json(
            client, f"/api/v1/book?instrument_id={CLX5_IID}&index={index}&depth=1000&orders=true"
        )
        replay.seek(index=index)
        book = replay.book(CLX5_IID, 1)
        assert (doc["index"], doc["ts_recv"]) == (index, replay.ts_recv)
        assert doc["bids"] == levels(book, "B") and doc["asks"] == levels(book, "A"), index
        assert (doc["crossed"], doc["consistent"], doc["order_count"]) == (
            book.crossed,
            book.consistent,
            book.order_count,
        )
    ts = replay.ts_recv
    assert ts is not None
    by_time = await get_json(client, f"/api/v1/book?instrument_id={CLX5_IID}&ts={ts}")
    replay.seek(ts=ts)
    assert by_time["position"] == replay.position


async def test_pages_equal_the_core_readers(client: Any, clx5_path: Path) -> None:
    bbo = mbo_fast.read_bbo(clx5_path)
    items: list[dict[str, Any]] = []
    after: int | None = -1
    while after is not None:
        page = await get_json(
            client, f"/api/v1/bbo?instrument_id={CLX5_IID}&limit=9000&after={after}"
        )
        items += page["items"]
        after = page["next_after"]
    assert [i["index"] for i in items] == bbo.index.tolist()
    undef = mbo_fast.UNDEF_PRICE
    assert [i["bid_px"] for i in items] == [None if p == undef else p for p in bbo.bid_px.tolist()]
    assert [i["ask_ct"] for i in items] == bbo.ask_ct.tolist()
    rec = mbo_fast.read_records(clx5_path)
    trades = await get_json(client, f"/api/v1/trades?instrument_id={CLX5_IID}&limit=10000")
    assert [t["index"] for t in trades["items"]] == rec["index"][rec["action"] == 84].tolist()
    start, end = int(rec["ts_recv"][1000]), int(rec["ts_recv"][1500])
    page = await get_json(client, f"/api/v1/records?start={start}&end={end}&limit=10000")
    inside = (rec["ts_recv"] >= start) & (rec["ts_recv"] <= end)
    assert [r["index"] for r in page["items"]] == rec["index"][inside].tolist()
    assert [r["order_id"] for r in page["items"]] == rec["order_id"][inside].tolist()


async def test_a_restart_serves_the_store_at_once_without_importing(
    aiohttp_client: Any, clx5_path: Path, tmp_path: Path
) -> None:
    db = tmp_path / "db.sqlite3"
    # the same file twice: stored once
    app = create_app(make_config(clx5_path, db, files=(str(clx5_path), str(clx5_path))))
    client = await aiohttp_client(app)
    await ready(app)
    first = await get_json(client, f"/api/v1/book?instrument_id={CLX5_IID}&index=20000")
    (src,) = (await get_json(client, "/api/v1/sources"))["sources"]
    assert (src["name"], src["records"], src["kind"]) == ("CLX5_mbo.dbn", N, "file")
    assert src["stored_bytes"] < src["bytes"]
    await client.close()
    # again, without the file: what the database holds is served, nothing is imported
    app = create_app(make_config(clx5_path, db, files=()))
    client = await aiohttp_client(app)
    await ready(app)
    assert (await get_json(client, "/readyz"))["ready"]
    assert (await get_json(client, "/api/v1/sources"))["sources"] == [src]
    again = await get_json(client, f"/api/v1/book?instrument_id={CLX5_IID}&index=20000")
    assert again == first
    metrics = await (await client.get("/metrics")).text()
    assert 'mbo_records_processed_total{stage="import"}' not in metrics
    assert "mbo_block_cache_bytes" in metrics
    await client.close()


async def test_a_corrupt_block_names_itself_and_the_rest_is_served(
    aiohttp_client: Any, clx5_path: Path, tmp_path: Path
) -> None:
    db = tmp_path / "db.sqlite3"
    app = create_app(make_config(clx5_path, db))
    client = await aiohttp_client(app)
    await ready(app)
    await client.close()
    conn = sqlite3.connect(db)
    (blob,) = conn.execute("SELECT data FROM blocks WHERE first_index = 12288").fetchone()
    data = bytearray(blob)
    data[len(data) // 3] ^= 0x01
    conn.execute("UPDATE blocks SET data = ? WHERE first_index = 12288", (bytes(data),))
    conn.commit()
    conn.close()
    app = create_app(make_config(clx5_path, db, files=()))
    client = await aiohttp_client(app)
    await ready(app)
    resp = await client.get(f"/api/v1/book?instrument_id={CLX5_IID}&index=13000")
    body = await resp.json()
    assert resp.status == 500
    assert "corrupt stored data" in body["error"] and "block 3 (records 12288" in body["error"]
    await get_json(client, f"/api/v1/book?instrument_id={CLX5_IID}&index=5000")
    await get_json(client, f"/api/v1/book?instrument_id={CLX5_IID}&index=37000")
    metrics = await (await client.get("/metrics")).text()
    assert 'mbo_errors_total{kind="corrupt"} 1.0' in metrics
    await client.close()


async def test_a_failing_store_is_a_503_and_the_rest_goes_on(client: Any) -> None:
    state = client.server.app[STATE]
    await get_json(client, f"/api/v1/bbo?instrument_id={CLX5_IID}&after=30000&limit=10")
    state.store.close()  # the database is gone (for a server: unreachable, locked, …)
    # blocks this server has not read yet (a recording's cache entries are its own)
    resp = await client.get("/api/v1/records?after=37000&limit=50")
    body = await resp.json()
    assert resp.status == 503, body
    assert "block store is unavailable" in body["error"] and resp.headers["Retry-After"] == "5"
    # what is decoded already still answers; health and metrics go on
    await get_json(client, f"/api/v1/bbo?instrument_id={CLX5_IID}&after=30000&limit=10")
    assert await get_json(client, "/healthz") == {"status": "ok"}
    assert 'mbo_errors_total{kind="store"} 1.0' in await (await client.get("/metrics")).text()


@pytest.mark.parametrize(
    ("query", "status", "parameter"),
    [
        ("/api/v1/book?instrument_id=432669&source=99", 404, "source"),
        ("/api/v1/records?source=99", 404, "source"),
        ("/api/v1/records?source=x", 400, "source"),
        ("/api/v1/bbo?instrument_id=432669&start=5&end=4", 400, "end"),
    ],
)
async def test_bad_input(client: Any, query: str, status: int, parameter: str) -> None:
    resp = await client.get(query)
    body = json.loads(await resp.text())
    assert resp.status == status and body["parameter"] == parameter, body


def test_serving_a_database_of_the_old_schema_names_the_upgrade(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (3)")
    conn.commit()
    conn.close()
    exe = Path(sys.executable).with_name("mbo-fast")
    proc = subprocess.run(
        [str(exe), "serve", "--db", str(db), "--port", "0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"mbo-fast db upgrade {db}" in proc.stderr
    assert "Traceback" not in proc.stderr
