"""The block store (mbo_fast.store.SqliteStore): imports, crash safety, concurrency, corruption,
bounded memory, and stored answers equal to the in-memory ones."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from core import require_core

mbo_fast = require_core()
from mbo_fast.errors import DecodeError, StoreError  # noqa: E402
from mbo_fast.store import SqliteStore  # noqa: E402


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated 3-instrument session of 300 k records (about 73 blocks)."""
    path = tmp_path_factory.mktemp("store") / "s.dbn.zst"
    mbo_fast.simulate(seed=3, records=300_000, instruments=3, path=str(path))
    return path


def _state(book) -> tuple:
    return (
        book.levels("B"),
        book.levels("A"),
        [book.orders("B", px) for px, _, _ in book.levels("B", 3)],
        book.crossed,
        book.consistent,
        book.maybe_bad,
        book.anomalies,
    )


def test_a_stored_source_answers_like_the_file(tmp_path: Path, session: Path) -> None:
    with SqliteStore(str(tmp_path / "db.sqlite")) as store:
        imported = store.import_file(str(session))
        assert imported.stored and imported.records == len(mbo_fast.Replay(str(session)))
        (src,) = store.sources()
        assert (src.name, src.state, src.records) == ("s.dbn.zst", "complete", imported.records)
        assert src.dataset == "GLBX.MDP3"
        assert [b.symbol for b in src.books] == ["SIM1", "SIM2", "SIM3"]
        assert sum(b.records for b in src.books) == src.records
        assert src.stored_bytes < session.stat().st_size * 1.3
        stored = store.recording(src.id).replay()
        memory = mbo_fast.Replay(str(session))
        rng = random.Random(5)
        for index in [0, 4095, 4096, 32_767, 32_768, src.records - 1] + [
            rng.randrange(src.records) for _ in range(30)
        ]:
            stored.seek(index=index)
            memory.seek(index=index)
            assert stored.ts_recv == memory.ts_recv
            for iid in (1, 2, 3):
                assert _state(stored.book(iid, 1)) == _state(memory.book(iid, 1)), index
        again = store.import_file(str(session))
        assert (again.stored, again.source_id) == (False, src.id)
        assert len(store.sources()) == 1


def test_a_killed_import_is_invisible_then_resumed(tmp_path: Path, session: Path) -> None:
    db = tmp_path / "db.sqlite"
    script = textwrap.dedent(
        f"""
        import mbo_fast.store as s
        s._COMMIT_BLOCKS = 4
        st = s.SqliteStore({str(db)!r})
        st.import_file({str(session)!r}, progress=lambda n: print("stored", n, flush=True))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for _ in range(3):  # a few batches in, the import is killed
        assert proc.stdout.readline().startswith("stored")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with SqliteStore(str(db)) as store:
        assert store.sources() == [], "a half-imported source is never visible"
        partial = sqlite3.connect(db).execute("SELECT state, records FROM sources").fetchone()
        assert partial[0] == "importing" and partial[1] > 0
    import mbo_fast.store as store_module

    old = store_module.STALE_IMPORT_S
    store_module.STALE_IMPORT_S = 0.0  # the killed owner is gone: take over at once
    try:
        with SqliteStore(str(db)) as store:
            resumed = store.import_file(str(session))
            fresh_db = tmp_path / "fresh.sqlite"
            with SqliteStore(str(fresh_db)) as fresh:
                expected = fresh.import_file(str(session))
    finally:
        store_module.STALE_IMPORT_S = old
    assert resumed.stored and resumed.records == expected.records
    blocks = "SELECT first_index, records, ts_max, data, checkpoint FROM blocks ORDER BY 1"
    assert (
        sqlite3.connect(db).execute(blocks).fetchall()
        == sqlite3.connect(fresh_db).execute(blocks).fetchall()
    ), "the resumed import stored exactly what a fresh one does"


def test_two_imports_at_once_store_it_once(tmp_path: Path, session: Path) -> None:
    db = tmp_path / "db.sqlite"
    SqliteStore(str(db)).close()
    script = textwrap.dedent(
        f"""
        import json, mbo_fast.store as s
        r = s.SqliteStore({str(db)!r}).import_file({str(session)!r})
        print(json.dumps([r.source_id, r.stored]))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert sorted(stored for _, stored in results) == [False, True]
    assert results[0][0] == results[1][0]
    rows = sqlite3.connect(db).execute("SELECT count(*), sum(state = 'complete') FROM sources")
    assert rows.fetchone() == (1, 1)


def test_a_corrupt_block_is_a_typed_error_and_the_rest_is_served(
    tmp_path: Path, session: Path
) -> None:
    db = tmp_path / "db.sqlite"
    with SqliteStore(str(db)) as store:
        sid = store.import_file(str(session)).source_id
    conn = sqlite3.connect(db)
    data = bytearray(conn.execute("SELECT data FROM blocks WHERE first_index = 8192").fetchone()[0])
    data[len(data) // 2] ^= 0x04  # one bit flipped
    conn.execute("UPDATE blocks SET data = ? WHERE first_index = 8192", (bytes(data),))
    conn.commit()
    with SqliteStore(str(db)) as store:
        replay = store.recording(sid).replay()
        with pytest.raises(DecodeError, match=r"stored source 1\) block 2 \(records 8192"):
            replay.seek(index=9000)
        replay.seek(index=40_000)  # other blocks are fine
        replay.seek(index=100)


def test_old_and_unwritable_databases_get_clear_errors(tmp_path: Path, session: Path) -> None:
    old = tmp_path / "old.sqlite"
    conn = sqlite3.connect(old)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (3)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="mbo-fast db upgrade"):
        SqliteStore(str(old))
    db = tmp_path / "db.sqlite"
    with SqliteStore(str(db)) as store:
        store.import_file(str(session))
    before = db.read_bytes()
    other = tmp_path / "other.dbn"
    mbo_fast.simulate(seed=4, records=50_000, path=str(other))
    # a read-only database (root ignores file modes: the immutable attribute binds it too)
    as_root = os.geteuid() == 0
    lock = ["chattr", "+i", str(db)] if as_root else ["chmod", "444", str(db)]
    unlock = ["chattr", "-i", str(db)] if as_root else ["chmod", "644", str(db)]
    subprocess.run(lock, check=True)
    try:
        readonly = pytest.raises(StoreError, match=r"readonly|read-only|cannot")
        with readonly, SqliteStore(str(db)) as store:
            store.import_file(str(other))
    finally:
        subprocess.run(unlock, check=True)
    assert db.read_bytes() == before
    # a full disk: SQLite's page limit fails the write as a full disk does ("database or disk
    # is full"); what was stored stays, and the half import stays invisible
    with SqliteStore(str(db)) as store:
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        with pytest.raises(StoreError, match="full"):
            store.import_file(str(other))
        assert [s.name for s in store.sources()] == ["s.dbn.zst"]
        replay = store.recording(store.sources()[0].id).replay()
        replay.seek(index=len(replay) - 1)


def test_memory_is_bounded_by_the_cache_budget(tmp_path: Path, session: Path) -> None:
    db = tmp_path / "db.sqlite"
    with SqliteStore(str(db)) as store:
        sid = store.import_file(str(session)).source_id
    script = textwrap.dedent(
        f"""
        import json, mbo_fast, mbo_fast._core as c
        from mbo_fast.store import SqliteStore
        assert c.set_block_cache_budget(2 << 20)
        rec = SqliteStore({str(db)!r}).recording({sid})
        r = rec.replay()
        for i in range(0, len(rec), 997):
            r.seek(index=i)
        print(json.dumps(c.block_cache_stats()))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    stats = json.loads(out.stdout)
    assert stats["budget"] == 2 << 20
    assert 0 < stats["bytes"] <= stats["budget"]
    assert stats["evictions"] > 0


# The schema-3 tables of the server before the block store (storage.py's MIGRATIONS 1-3).
_SCHEMA3 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (3);
CREATE TABLE sources (id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    bytes INTEGER NOT NULL, records INTEGER NOT NULL, loaded_at_ns INTEGER NOT NULL,
    checkpoint_every INTEGER);
CREATE TABLE records (source_id INTEGER NOT NULL, idx INTEGER NOT NULL, ts_recv INTEGER NOT NULL,
    ts_event INTEGER NOT NULL, instrument_id INTEGER NOT NULL, publisher_id INTEGER NOT NULL,
    order_id INTEGER NOT NULL, price INTEGER, size INTEGER NOT NULL, flags INTEGER NOT NULL,
    action TEXT NOT NULL, side TEXT NOT NULL, sequence INTEGER NOT NULL,
    channel_id INTEGER NOT NULL, PRIMARY KEY (source_id, idx)) WITHOUT ROWID;
CREATE TABLE live_chunks (source_id INTEGER NOT NULL, first_idx INTEGER NOT NULL,
    records INTEGER NOT NULL, ts_recv_first INTEGER NOT NULL, ts_recv_last INTEGER NOT NULL,
    data BLOB NOT NULL, PRIMARY KEY (source_id, first_idx));
CREATE TABLE source_books (source_id INTEGER NOT NULL, instrument_id INTEGER NOT NULL,
    publisher_id INTEGER NOT NULL, symbol TEXT, records INTEGER NOT NULL,
    PRIMARY KEY (source_id, instrument_id, publisher_id)) WITHOUT ROWID;
"""


def test_a_schema3_database_is_upgraded_to_blocks(tmp_path: Path) -> None:
    from mbo_fast.records import MBO_DTYPE
    from mbo_fast.store import upgrade

    data = mbo_fast.simulate(seed=8, records=50_000, instruments=2)
    meta_len = 8 + int.from_bytes(data[4:8], "little")
    raw = data[meta_len:]
    rec = np.frombuffer(raw, dtype=MBO_DTYPE)
    db = tmp_path / "old.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(_SCHEMA3)
    conn.execute("INSERT INTO sources VALUES (1, 'abc', 'f.dbn', 1, ?, 0, 1024)", (len(rec),))
    conn.execute(
        "INSERT INTO sources VALUES (2, 'live:tcp://x:1:5', 'tcp://x:1', 0, ?, 0, NULL)",
        (len(rec),),
    )
    rows = [
        (
            1,
            i,
            int(r["ts_recv"]),
            int(r["ts_event"]),
            int(r["instrument_id"]),
            int(r["publisher_id"]),
            int(r["order_id"]) - (1 << 64) * (int(r["order_id"]) >> 63),
            None if int(r["price"]) == mbo_fast.UNDEF_PRICE else int(r["price"]),
            int(r["size"]),
            int(r["flags"]),
            chr(r["action"]),
            chr(r["side"]),
            int(r["sequence"]),
            int(r["channel_id"]),
        )
        for i, r in enumerate(rec)
    ]
    conn.executemany("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.execute(
        "INSERT INTO live_chunks VALUES (2, 0, ?, 0, 0, ?)", (len(rec), raw[: 56 * 30_000])
    )
    conn.execute(
        "INSERT INTO live_chunks VALUES (2, 30000, ?, 0, 0, ?)", (len(rec), raw[56 * 30_000 :])
    )
    conn.execute("INSERT INTO source_books VALUES (1, 1, 1, 'SIM1', 1)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="db upgrade"):
        SqliteStore(str(db))
    done = upgrade(str(db))
    assert [(old, n) for old, _, n in done] == [(1, len(rec)), (2, len(rec))]
    assert (tmp_path / "old.sqlite.schema3").is_file()
    expected = mbo_fast.Replay(data)
    with SqliteStore(str(db)) as store:
        file_src, live_src = store.sources()
        assert (file_src.kind, live_src.kind) == ("file", "live")
        assert file_src.books[0].symbol == "SIM1"
        for src in (file_src, live_src):
            replay = store.recording(src.id).replay()
            for index in (0, 4096, 33_000, len(rec) - 1):
                replay.seek(index=index)
                expected.seek(index=index)
                for iid in (1, 2):
                    assert _state(replay.book(iid, 1)) == _state(expected.book(iid, 1))


_RSS_CHILD = """
import json, resource, sys
import mbo_fast._core as c
from mbo_fast.store import SqliteStore
c.set_block_cache_budget(16 << 20)
path, db = sys.argv[1], sys.argv[2]
store = SqliteStore(db)
sid = store.import_file(path).source_id
imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rec = store.recording(sid)
r = rec.replay()
for i in range(0, len(rec), max(len(rec) // 200, 1)):  # seeks across the whole session
    r.seek(index=i)
p = rec.player(1, 1, 10)
p.seek(index=0)
while not p.done:  # a playback of the whole session, as the server's ticks at speed=max do
    p.advance(until_index=min(p.index + 20_000, len(rec) - 1))
rec.page("bbo", 1, 1, limit=10000)
print(json.dumps({"import_kb": imported,
                  "serve_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB is Linux's")
def test_memory_does_not_grow_with_the_data(tmp_path: Path) -> None:
    """Importing, seeking across, playing and paging a session take the same memory at 10x the
    size: it follows the cache budget (16 MiB here) and the block size, not the records.
    (Measured: 47-49 MB after importing and 68-69 MB after serving, from 0.5 M to 6 M records.)"""
    peaks = []
    for records in (400_000, 4_000_000):
        path = tmp_path / f"s{records}.dbn.zst"
        mbo_fast.simulate(seed=5, records=records, instruments=2, path=str(path))
        out = subprocess.run(
            [sys.executable, "-c", _RSS_CHILD, str(path), str(tmp_path / f"{records}.sqlite")],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        peaks.append(json.loads(out.stdout))
    small, big = peaks
    # 10x the records (+200 MB raw): within a few MB, where holding them would take 200+ MB
    assert big["import_kb"] - small["import_kb"] < 8_000, peaks
    assert big["serve_kb"] - small["serve_kb"] < 8_000, peaks
