"""The consolidated book endpoint and simulated orders (mbo_fast.Backtest) for the web UI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server_helpers import CLX5_IID, client, make_client  # noqa: F401

mbo_fast = pytest.importorskip("mbo_fast")


async def call(client: Any, method: str, url: str, status: int, **kw: Any) -> Any:
    resp = await client.request(method, url, **kw)
    body = await resp.json()
    assert resp.status == status, (url, resp.status, body)
    return body


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


# --------------------------------------------------------------------------------------------
# sim orders are rebuilt from a checkpoint, on the simulator's own threads


def _reference(path: str, placed: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    """What each order is after record `index`, by a backtest from record 0 (the oracle)."""
    bt = mbo_fast.Backtest(path)
    ids: dict[int, int] = {}
    for o in sorted(placed, key=lambda o: (o["index"], o["id"])):
        if o["index"] > index:
            continue
        if bt.position <= o["index"]:
            bt.run(until_index=o["index"])
        ids[o["id"]] = bt.place(
            o["instrument_id"],
            o["publisher_id"],
            o["side"],
            o["price"],
            o["size"],
            at_index=o["index"],
        )
    if bt.position <= index:
        bt.run(until_index=index)
    out = []
    for o in placed:
        oid = ids.get(o["id"])
        if oid is None:
            out.append({"id": o["id"], "status": "scheduled"})
            continue
        st = bt.order(oid)
        qp = bt.queue_position(oid)
        out.append(
            {
                "id": o["id"],
                "status": st.status,
                "filled": st.filled,
                "remaining": st.remaining,
                "orders_ahead": qp[0] if qp else None,
                "volume_ahead": qp[1] if qp else None,
                "ahead": [a for a, _ in bt.ahead(oid)] if qp else [],
                "fills": [
                    (f.record_index, f.price, f.size, f.kind)
                    for f in bt.fills()
                    if f.order_id == oid
                ],
            }
        )
    return out


def _answer(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["status"] == "scheduled":
        return {"id": doc["id"], "status": "scheduled"}
    return {
        "id": doc["id"],
        **{k: doc[k] for k in ("status", "filled", "remaining", "orders_ahead", "volume_ahead")},
        "ahead": doc["ahead"],
        "fills": [(f["index"], f["price"], f["size"], f["kind"]) for f in doc["fills"]],
    }


async def _random_sim_session_matches(client: Any, path: str, iid: int, seed: int) -> None:
    import random

    rng = random.Random(seed)
    n = (await call(client, "GET", "/api/v1/sources", 200))["sources"][0]["records"]
    placed: list[dict[str, Any]] = []
    for _ in range(10):
        index = rng.randrange(n)
        book = await call(
            client, "GET", f"/api/v1/book?instrument_id={iid}&index={index}&depth=3", 200
        )
        side = rng.choice("BA")
        levels = book["bids" if side == "B" else "asks"]
        price = levels[rng.randrange(len(levels))]["price"] if levels else 64_810_000_000
        body = {
            "instrument_id": iid,
            "side": side,
            "price": price,
            "size": rng.randint(1, 9),
            "index": index,
        }
        placed.append((await call(client, "POST", "/api/v1/sim/orders", 201, json=body))["order"])
        for q in (rng.randrange(n), index, rng.randrange(index, n), n - 1):  # back and forth
            got = await call(client, "GET", f"/api/v1/sim/orders?index={q}", 200)
            assert [_answer(d) for d in got["orders"]] == _reference(path, placed, q), q
    assert any(_answer(d).get("fills") for d in got["orders"]) or n < 10_000


async def test_sim_answers_equal_a_backtest_from_record_zero_clx5(
    client: Any, clx5_path: Path
) -> None:
    await _random_sim_session_matches(client, str(clx5_path), CLX5_IID, seed=3)


@pytest.fixture
async def sim_client(aiohttp_client: Any, tmp_path: Path) -> Any:
    from mbo_fast_server import Config, create_app
    from server_helpers import ready

    app = create_app(Config(data_dir=str(tmp_path), sim_records=30_000, port=0))
    test_client = await aiohttp_client(app)
    await ready(app)
    return test_client


async def test_sim_answers_equal_a_backtest_from_record_zero_simulated(
    sim_client: Any, tmp_path: Path
) -> None:
    (path,) = [str(p) for p in tmp_path.glob("sim-seed*.dbn")]
    await _random_sim_session_matches(sim_client, path, 1, seed=4)


async def test_book_queries_are_not_held_up_by_sim_rebuilds(sim_client: Any) -> None:
    """Sim work waits on its own threads: with every simulator thread blocked (its SimBook's
    lock held by the test) and more sim requests queued behind them, a book query completes,
    and the sim requests complete once unblocked. Before: they shared the book executor and
    the book query waited for them."""
    import asyncio

    from mbo_fast_server.sim import SIM, SIM_POOL, SIM_THREADS

    app = sim_client.server.app
    body = {"instrument_id": 1, "side": "B", "price": 64_800_000_000, "size": 1, "index": 10}
    await call(sim_client, "POST", "/api/v1/sim/orders", 201, json=body)
    (sim_book,) = app[SIM].values()
    pool = app[SIM_POOL]
    sim_book.lock.acquire()
    try:
        waiting = [
            asyncio.create_task(sim_client.get(f"/api/v1/sim/orders?index={20_000 - i}"))
            for i in range(SIM_THREADS + 4)
        ]
        for _ in range(1000):  # until every sim request is in the simulator's hands
            if pool.pending == len(waiting):
                break
            await asyncio.sleep(0.01)
        assert pool.pending == len(waiting)
        book = await asyncio.wait_for(
            sim_client.get("/api/v1/book?instrument_id=1&index=25000&depth=5"), 60
        )
        assert book.status == 200 and (await book.json())["index"] == 25_000
        assert not any(t.done() for t in waiting)  # still blocked: the book did not wait
    finally:
        sim_book.lock.release()
    for resp in await asyncio.gather(*waiting):
        assert resp.status == 200
        assert (await resp.json())["orders"][0]["status"] != "scheduled"


async def test_a_burst_of_sim_requests_beyond_the_bound_gets_503(sim_client: Any) -> None:
    import asyncio

    from mbo_fast_server.sim import MAX_PENDING, SIM, SIM_POOL

    app = sim_client.server.app
    body = {"instrument_id": 1, "side": "A", "price": 64_900_000_000, "size": 1, "index": 5}
    await call(sim_client, "POST", "/api/v1/sim/orders", 201, json=body)
    (sim_book,) = app[SIM].values()
    sim_book.lock.acquire()
    try:
        waiting = [
            asyncio.create_task(sim_client.get(f"/api/v1/sim/orders?index={100 + i}"))
            for i in range(MAX_PENDING)
        ]
        for _ in range(1000):
            if app[SIM_POOL].pending == MAX_PENDING:
                break
            await asyncio.sleep(0.01)
        busy = await call(sim_client, "GET", "/api/v1/sim/orders?index=7", 503)
        assert "busy" in busy["error"]
        refused = await call(sim_client, "POST", "/api/v1/sim/orders", 503, json=body)
        assert "busy" in refused["error"]
    finally:
        sim_book.lock.release()
    assert [r.status for r in await asyncio.gather(*waiting)] == [200] * MAX_PENDING
    orders = (await call(sim_client, "GET", "/api/v1/sim/orders", 200))["orders"]
    assert len(orders) == 1  # the refused POST placed nothing
    assert orders[0]["orders_ahead_at_entry"] is not None
    scheduled = (await call(sim_client, "GET", "/api/v1/sim/orders?index=1", 200))["orders"]
    assert scheduled[0]["status"] == "scheduled"
    assert scheduled[0]["orders_ahead_at_entry"] is None  # same fields, whatever the status
