"""The consolidated book endpoint and simulated orders (mbo_fast.Backtest) for the web UI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server_helpers import CLX5_IID, client, make_client  # noqa: F401

mbo_fast = pytest.importorskip("mbo_fast")
from mbo_fast_server.consolidated import merge_levels  # noqa: E402


async def call(client: Any, method: str, url: str, status: int, **kw: Any) -> Any:
    resp = await client.request(method, url, **kw)
    body = await resp.json()
    assert resp.status == status, (url, resp.status, body)
    return body


def test_merge_levels_sums_per_price() -> None:
    a = [(100, 5, 2), (99, 1, 1)]
    b = [(101, 3, 1), (100, 2, 1), (98, 7, 3)]
    assert merge_levels([a, b], "B", 3) == [
        {"price": 101, "size": 3, "count": 1},
        {"price": 100, "size": 7, "count": 3},
        {"price": 99, "size": 1, "count": 1},
    ]
    assert [lv["price"] for lv in merge_levels([a, b], "A", 2)] == [98, 99]
    assert merge_levels([], "B", 5) == []


async def test_consolidated_equals_the_single_publisher_book(client: Any) -> None:
    url = f"/api/v1/consolidated?instrument_id={CLX5_IID}&index=20000&depth=5"
    doc = await call(client, "GET", url, 200)
    book = await call(
        client, "GET", f"/api/v1/book?instrument_id={CLX5_IID}&index=20000&depth=5", 200
    )
    assert doc["consolidated"] is True and doc["publishers"] == [1]
    assert doc["index"] == 20000 and doc["ts_recv"] == book["ts_recv"]
    assert doc["bids"] == book["bids"] and doc["asks"] == book["asks"]
    assert doc["crossed"] == book["crossed"]
    end = await call(client, "GET", f"/api/v1/consolidated?instrument_id={CLX5_IID}", 200)
    assert end["index"] == 38_211


@pytest.mark.parametrize(
    ("query", "status", "parameter"),
    [
        ("", 400, "instrument_id"),
        ("instrument_id=1", 404, "instrument_id"),
        (f"instrument_id={CLX5_IID}&source=3", 404, "source"),
        (f"instrument_id={CLX5_IID}&index=99999999", 400, "index"),
        (f"instrument_id={CLX5_IID}&index=5&ts=5", 400, "ts"),
        (f"instrument_id={CLX5_IID}&depth=0", 400, "depth"),
        (f"instrument_id={CLX5_IID}&publisher_id=1", 400, "publisher_id"),
    ],
)
async def test_consolidated_errors(client: Any, query: str, status: int, parameter: str) -> None:
    doc = await call(client, "GET", f"/api/v1/consolidated?{query}", status)
    assert doc["parameter"] == parameter


async def test_sim_order_joins_the_back_of_the_queue_and_fills(
    client: Any, clx5_path: Path
) -> None:
    book = await call(
        client, "GET", f"/api/v1/book?instrument_id={CLX5_IID}&index=20000&depth=1&orders=true", 200
    )
    bid = book["bids"][0]
    body = {
        "instrument_id": CLX5_IID,
        "side": "B",
        "price": bid["price"],
        "size": 2,
        "index": 20000,
    }
    placed = await call(client, "POST", "/api/v1/sim/orders", 201, json=body)
    order = placed["order"]
    assert order["status"] == "open" and order["orders_ahead"] == bid["count"]
    assert order["volume_ahead"] == bid["size"]
    assert order["ahead"] == [oid for oid, _ in bid["orders"]]  # everyone resting is ahead
    # the same answer as mbo_fast.Backtest driven directly
    bt = mbo_fast.Backtest(str(clx5_path))
    bt.run(until_index=20000)
    oid = bt.place(CLX5_IID, 1, "B", bid["price"], 2, at_index=20000)
    bt.run(until_index=20500)
    later = await call(
        client, "GET", f"/api/v1/sim/orders?instrument_id={CLX5_IID}&index=20500", 200
    )
    assert [o["id"] for o in later["orders"]] == [order["id"]]
    got = later["orders"][0]
    qp = bt.queue_position(oid)
    assert (got["orders_ahead"], got["volume_ahead"]) == (qp if qp else (None, None))
    assert got["status"] == bt.order(oid).status
    # after the end: filled, with its fills (going back rebuilds the backtest from the start)
    bt.run()
    done = await call(client, "GET", "/api/v1/sim/orders", 200)
    assert done["orders"][0]["status"] == bt.order(oid).status == "filled"
    assert [f["index"] for f in done["orders"][0]["fills"]] == [f.record_index for f in bt.fills()]
    before = await call(client, "GET", "/api/v1/sim/orders?index=100", 200)
    assert before["orders"][0]["status"] == "scheduled"
    again = await call(
        client, "GET", f"/api/v1/sim/orders?instrument_id={CLX5_IID}&index=20500", 200
    )
    assert again["orders"] == later["orders"]
    assert (await call(client, "DELETE", "/api/v1/sim/orders", 200))["deleted"] == 1
    assert (await call(client, "GET", "/api/v1/sim/orders", 200))["orders"] == []


@pytest.mark.parametrize(
    ("body", "status", "parameter"),
    [
        ({"side": "B", "price": 1, "size": 1, "index": 0}, 400, "instrument_id"),
        (
            {"instrument_id": 1, "side": "B", "price": 1, "size": 1, "index": 0},
            404,
            "instrument_id",
        ),
        ({"instrument_id": CLX5_IID, "side": "X", "price": 1, "size": 1, "index": 0}, 400, "side"),
        ({"instrument_id": CLX5_IID, "side": "B", "price": 1, "size": 0, "index": 0}, 400, "size"),
        (
            {"instrument_id": CLX5_IID, "side": "B", "price": "1", "size": 1, "index": 0},
            400,
            "price",
        ),
        ({"instrument_id": CLX5_IID, "side": "B", "price": 1, "size": 1}, 400, "index"),
        (
            {"instrument_id": CLX5_IID, "side": "B", "price": 1, "size": 1, "index": 10**9},
            400,
            "index",
        ),
        (
            {"instrument_id": CLX5_IID, "side": "B", "price": 1, "size": 1, "index": 0, "x": 1},
            400,
            "x",
        ),
        ([1, 2], 400, None),
    ],
)
async def test_sim_order_errors(client: Any, body: Any, status: int, parameter: str | None) -> None:
    doc = await call(client, "POST", "/api/v1/sim/orders", status, json=body)
    assert doc["parameter"] == parameter
    bad = await call(client, "GET", "/api/v1/sim/orders?instrument_id=1", 404)
    assert bad["parameter"] == "instrument_id"
    assert (await call(client, "GET", "/api/v1/sim/orders?index=-1", 400))["parameter"] == "index"
