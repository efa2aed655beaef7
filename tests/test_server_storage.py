"""Server storage: book checkpoints in SQLite and `/api/v1/stored/*`, which rebuild a book from
the database alone. The stored answer must equal the in-memory Replay's (`/api/v1/book`), at
checkpoints and around them, by index and by time, after restarts without the file, and on a
database migrated from the schema before checkpoints."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from server_helpers import CLX5_IID, client, make_client, make_config, ready  # noqa: F401

mbo_fast = pytest.importorskip("mbo_fast")
from mbo_fast_server import create_app  # noqa: E402
from mbo_fast_server import storage as storage_mod  # noqa: E402
from mbo_fast_server.state import STATE  # noqa: E402

pytestmark = pytest.mark.asyncio

EVERY = 1_024  # the default checkpoint interval
N = 38_212  # CLX5 records
# the parts of a book document both endpoints answer (not: source ids, checkpoint, replayed)
SAME = (
    "instrument_id",
    "publisher_id",
    "symbol",
    "index",
    "position",
    "ts_recv",
    "bids",
    "asks",
    "order_count",
    "crossed",
    "consistent",
    "maybe_bad",
    "uncross",
)


async def get_json(client: Any, url: str, status: int = 200) -> Any:
    resp = await client.get(url)
    body = await resp.json()
    assert resp.status == status, (url, resp.status, body)
    return body


async def db_source_of(client: Any, name: str = "CLX5_mbo.dbn") -> int:
    stored = (await get_json(client, "/api/v1/stored/sources"))["sources"]
    (item,) = [s for s in stored if s["name"] == name]
    return int(item["db_source"])


def whole_book(query: str) -> str:
    """Every level with its L3 queue: the complete book."""
    return f"instrument_id={CLX5_IID}&depth=1000&orders=true&{query}"


async def assert_same_book(client: Any, db: int, query: str) -> dict[str, Any]:
    memory = await get_json(client, "/api/v1/book?" + whole_book(query))
    stored = await get_json(client, f"/api/v1/stored/book?db_source={db}&" + whole_book(query))
    assert {k: stored[k] for k in SAME} == {k: memory[k] for k in SAME}, query
    return stored


async def test_stored_book_equals_replay_at_around_and_between_checkpoints(
    client: Any, clx5_path: Path
) -> None:
    db = await db_source_of(client)
    stored = (await get_json(client, "/api/v1/stored/sources"))["sources"]
    assert stored[0]["checkpoint_every"] == EVERY and stored[0]["checkpoints"] == N // EVERY
    assert stored[0]["source"] == 0 and stored[0]["kind"] == "file"
    assert stored[0]["books"] == [
        {"instrument_id": CLX5_IID, "publisher_id": 1, "symbol": "CLX5", "records": N}
    ]
    loaded = (await get_json(client, "/api/v1/sources"))["sources"]
    assert loaded[0]["db_source"] == db
    indexes = {0, 1, N - 2, N - 1}
    for position in range(EVERY, N + 1, EVERY):
        indexes |= {position - 2, position - 1, position}  # before, at, just after
    rng = random.Random(5)
    indexes |= {rng.randrange(N) for _ in range(60)}
    for index in sorted(i for i in indexes if 0 <= i < N):
        doc = await assert_same_book(client, db, f"index={index}")
        position = index + 1
        assert doc["checkpoint"] == position // EVERY * EVERY
        assert doc["replayed"] == position - doc["checkpoint"]  # one book: all its records
        if position % EVERY == 0:
            assert doc["replayed"] == 0  # right at a checkpoint: the snapshot alone
    # the L3 queues really are there (and equal, above)
    doc = await assert_same_book(client, db, "index=20000")
    assert doc["bids"][0]["orders"] and doc["order_count"] > 100
    # a crossed book (pre-open, at the end) comes with its indicative uncross
    end = await assert_same_book(client, db, "")
    assert end["index"] == N - 1 and end["crossed"] and end["uncross"] is not None


async def test_stored_book_by_time_equals_replay(client: Any, clx5_path: Path) -> None:
    db = await db_source_of(client)
    ts = mbo_fast.read_records(str(clx5_path))["ts_recv"]
    times = {1, int(ts[0]) - 1, int(ts[0]), int(ts[-1]), int(ts[-1]) + 1}
    for position in range(EVERY, N, 3 * EVERY):
        t = int(ts[position - 1])
        times |= {t - 1, t, t + 1, int(ts[position])}
    positions = set()
    for t in sorted(times):
        positions.add((await assert_same_book(client, db, f"ts={t}"))["position"])
    assert 0 in positions and N in positions and len(positions) > 10


async def test_stored_book_after_restart_without_the_file_and_reload_is_a_noop(
    clx5_path: Path, tmp_path: Path, aiohttp_client: Any
) -> None:
    db_path = tmp_path / "shared.sqlite3"
    other = tmp_path / "sim.dbn"
    mbo_fast.simulate(seed=3, records=3_000, path=str(other))

    async def start(files: tuple[str, ...]) -> Any:
        app = create_app(make_config(clx5_path, db_path, files=files))
        client = await aiohttp_client(app)
        await ready(app)
        return client

    def checkpoint_rows() -> list[tuple[int, int, int, int, int, bytes]]:
        with sqlite3.connect(db_path) as conn:
            return conn.execute("SELECT * FROM book_checkpoints ORDER BY 1, 2, 3, 4").fetchall()

    client = await start((str(clx5_path),))
    db = await db_source_of(client)
    answers = {
        i: await get_json(client, f"/api/v1/stored/book?db_source={db}&" + whole_book(f"index={i}"))
        for i in (0, 999, 5_000, 20_479, 20_480, N - 1)
    }
    await client.close()
    rows = checkpoint_rows()
    assert len(rows) == N // EVERY  # one book
    # restart on the same database serving another file only: CLX5 is not in memory any more,
    # its stored books still answer, identically
    client = await start((str(other),))
    assert (await get_json(client, f"/api/v1/book?instrument_id={CLX5_IID}", 404))[
        "parameter"
    ] == "instrument_id"
    stored = (await get_json(client, "/api/v1/stored/sources"))["sources"]
    clx5 = next(s for s in stored if s["db_source"] == db)
    assert clx5["source"] is None and clx5["checkpoints"] == N // EVERY
    assert next(s for s in stored if s["name"] == "sim.dbn")["source"] == 0
    for i, before in answers.items():
        again = await get_json(
            client, f"/api/v1/stored/book?db_source={db}&" + whole_book(f"index={i}")
        )
        assert again == {**before, "source": None}
    await client.close()
    # and back with CLX5: nothing is written again
    rows = checkpoint_rows()
    client = await start((str(clx5_path),))
    assert checkpoint_rows() == rows
    metrics = await (await client.get("/metrics")).text()
    assert 'mbo_storage_rows_written_total{table="book_checkpoints"}' not in metrics
    assert (await db_source_of(client)) == db
    await client.close()


def _downgrade_to_v2(v3: Path, v2: Path) -> None:
    """A database as the version before checkpoints wrote it: schema version 2 (the first two
    migrations, exactly) holding the sources, records, BBO and trades of `v3`."""
    conn = sqlite3.connect(v2)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for migration in storage_mod.MIGRATIONS[:2]:
        conn.executescript(migration)
    conn.execute("INSERT INTO schema_version VALUES (2)")
    conn.execute("ATTACH DATABASE ? AS v3", (str(v3),))
    conn.execute(
        "INSERT INTO sources SELECT id, sha256, name, bytes, records, loaded_at_ns FROM v3.sources"
    )
    for table in ("records", "bbo", "trades"):
        conn.execute(f"INSERT INTO {table} SELECT * FROM v3.{table}")
    conn.commit()
    conn.execute("DETACH DATABASE v3")
    conn.close()


async def test_migration_from_schema_2_keeps_everything_and_adds_checkpoints(
    make_client: Any, clx5_path: Path, tmp_path: Path
) -> None:
    v3 = tmp_path / "v3.sqlite3"
    client = await make_client(db=v3)
    want = await get_json(client, "/api/v1/stored/book?db_source=1&" + whole_book("index=7000"))
    await client.close()
    v2 = tmp_path / "v2.sqlite3"
    _downgrade_to_v2(v3, v2)

    # migrated while the file is not loaded: the books come from the migration, and with no
    # checkpoint the stored book is rebuilt from the first record, still exactly
    sim = tmp_path / "sim.dbn"
    mbo_fast.simulate(seed=2, records=2_000, path=str(sim))
    client = await make_client(db=v2, files=(str(sim),))
    with sqlite3.connect(v2) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (3,)
    (clx5,) = [
        s
        for s in (await get_json(client, "/api/v1/stored/sources"))["sources"]
        if s["db_source"] == 1
    ]
    assert clx5["checkpoint_every"] is None and clx5["checkpoints"] == 0
    assert clx5["books"] == [
        {"instrument_id": CLX5_IID, "publisher_id": 1, "symbol": None, "records": N}
    ]
    doc = await get_json(client, "/api/v1/stored/book?db_source=1&" + whole_book("index=7000"))
    assert doc["checkpoint"] == 0 and doc["replayed"] == 7_001
    assert {k: doc[k] for k in SAME if k != "symbol"} == {k: want[k] for k in SAME if k != "symbol"}
    await client.close()

    # the file loaded again: its checkpoints (and symbols) are added, its rows are not rewritten
    client = await make_client(db=v2)
    for table in ("records", "bbo", "trades"):
        sql = f"SELECT count(*) FROM {table} WHERE source_id = 1"
        with sqlite3.connect(v2) as now, sqlite3.connect(v3) as before:
            assert now.execute(sql).fetchone() == before.execute(sql).fetchone(), table
    (clx5,) = [
        s
        for s in (await get_json(client, "/api/v1/stored/sources"))["sources"]
        if s["db_source"] == 1
    ]
    assert clx5["checkpoints"] == N // EVERY and clx5["books"][0]["symbol"] == "CLX5"
    doc = await get_json(client, "/api/v1/stored/book?db_source=1&" + whole_book("index=7000"))
    assert doc["checkpoint"] == 6_144 and {k: doc[k] for k in SAME} == {k: want[k] for k in SAME}
    metrics = await (await client.get("/metrics")).text()
    assert 'mbo_storage_rows_written_total{table="records"}' not in metrics
    await client.close()


@pytest.mark.parametrize(
    ("query", "status", "parameter"),
    [
        (f"instrument_id={CLX5_IID}", 400, "db_source"),
        (f"db_source=x&instrument_id={CLX5_IID}", 400, "db_source"),
        (f"db_source=99&instrument_id={CLX5_IID}", 404, "db_source"),
        ("db_source=1", 400, "instrument_id"),
        ("db_source=1&instrument_id=7", 404, "instrument_id"),
        (f"db_source=1&instrument_id={CLX5_IID}&publisher_id=9", 404, "publisher_id"),
        (f"db_source=1&instrument_id={CLX5_IID}&index={N}", 400, "index"),
        (f"db_source=1&instrument_id={CLX5_IID}&index=1&ts=5", 400, "ts"),
        (f"db_source=1&instrument_id={CLX5_IID}&ts=soon", 400, "ts"),
        (f"db_source=1&instrument_id={CLX5_IID}&depth=0", 400, "depth"),
        (f"db_source=1&instrument_id={CLX5_IID}&orders=maybe", 400, "orders"),
        (f"db_source=1&instrument_id={CLX5_IID}&source=0", 400, "source"),
    ],
)
async def test_stored_book_bad_input(client: Any, query: str, status: int, parameter: str) -> None:
    body = await get_json(client, f"/api/v1/stored/book?{query}", status)
    assert body["parameter"] == parameter and body["error"]


async def test_stored_live_session_has_no_books(client: Any) -> None:
    storage = client.server.app[STATE].storage
    sid = storage.submit(lambda: storage.live_source("tcp://127.0.0.1:1")).result()
    stored = (await get_json(client, "/api/v1/stored/sources"))["sources"]
    assert next(s for s in stored if s["db_source"] == sid)["kind"] == "live"
    body = await get_json(
        client, f"/api/v1/stored/book?db_source={sid}&instrument_id={CLX5_IID}", 400
    )
    assert body["parameter"] == "db_source" and "live session" in body["error"]
