"""`GET /api/v1/first_book`: each sample opens at its first two-sided boundary, and says whether
the data tells what rested before it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from server_helpers import CLX5_IID, make_client  # noqa: F401

pytestmark = pytest.mark.asyncio

mbo_fast = pytest.importorskip("mbo_fast")
ESH4_IID = 17077


async def get_json(client: Any, url: str, status: int = 200) -> Any:
    resp = await client.get(url)
    body = await resp.json()
    assert resp.status == status, body
    return body


def first_two_sided(path: Path, iid: int) -> int:
    bbo = mbo_fast.read_bbo(str(path))
    both = (
        (bbo.instrument_id == iid)
        & (bbo.bid_px != mbo_fast.UNDEF_PRICE)
        & (bbo.ask_px != mbo_fast.UNDEF_PRICE)
    )
    return int(bbo.index[int(np.argmax(both))])


async def test_first_books_of_the_samples(
    make_client: Any, clx5_path: Path, esh4_path: Path
) -> None:
    client = await make_client(files=(str(clx5_path), str(esh4_path)))
    sources = {
        s["name"]: s["source"] for s in (await get_json(client, "/api/v1/sources"))["sources"]
    }
    clx5 = await get_json(client, f"/api/v1/first_book?instrument_id={CLX5_IID}")
    assert clx5["index"] == first_two_sided(clx5_path, CLX5_IID) and clx5["two_sided"]
    # mid-session: no snapshot or clear, and records naming orders never seen
    assert clx5["start"] == "records" and not clx5["complete"]
    assert clx5["unknown_orders"] > 1000
    esh4 = await get_json(client, f"/api/v1/first_book?instrument_id={ESH4_IID}")
    # after the 8,725 snapshot records: the first state that existed
    assert esh4["index"] == first_two_sided(esh4_path, ESH4_IID) == 8725
    assert esh4["start"] == "snapshot" and esh4["complete"] and esh4["unknown_orders"] == 0
    assert esh4["source"] == sources[esh4_path.name]
    book = await get_json(client, f"/api/v1/book?instrument_id={ESH4_IID}&index={esh4['index']}")
    assert book["bids"] and book["asks"] and book["ts_recv"] == esh4["ts_recv"]


async def test_a_session_recorded_from_its_start(make_client: Any, tmp_path: Path) -> None:
    path = tmp_path / "sim.dbn"
    mbo_fast.simulate(seed=4, records=20_000, instruments=1, path=str(path))
    client = await make_client(files=(str(path),))
    doc = await get_json(client, "/api/v1/first_book?instrument_id=1")
    assert doc["start"] == "records" and doc["unknown_orders"] == 0 and doc["two_sided"]
    assert doc["index"] == first_two_sided(path, 1)


async def test_first_book_errors(make_client: Any) -> None:
    client = await make_client()
    assert (await get_json(client, "/api/v1/first_book", 400))["parameter"] == "instrument_id"
    assert (await get_json(client, "/api/v1/first_book?instrument_id=5", 404))["parameter"]
    bad = await get_json(client, f"/api/v1/first_book?instrument_id={CLX5_IID}&x=1", 400)
    assert bad["parameter"] == "x"
