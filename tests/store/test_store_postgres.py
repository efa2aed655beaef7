"""The block store on PostgreSQL (mbo_fast.store.PostgresStore), against a real server on
loopback (tests/support/postgres_server.py; skipped when PostgreSQL or psycopg is missing):
the same blocks as SQLite, crash-safe and concurrent imports across processes, live sessions,
an outage that is an error and then recovers, and a password that never reaches a message."""

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
from typing import Any

import pytest

from core import require_core

mbo_fast = require_core()
from mbo_fast.errors import StoreError  # noqa: E402
from mbo_fast.store import PostgresStore, SqliteStore, open_store, store_label  # noqa: E402

BLOCKS = "SELECT first_index, records, ts_first, ts_last, ts_max, has_checkpoint, data, checkpoint "
BLOCKS += "FROM blocks ORDER BY first_index"
BOOKS = "SELECT instrument_id, publisher_id, symbol, records, trades, ts_first, ts_last "
BOOKS += "FROM source_books ORDER BY 1, 2"


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated 3-instrument session of 120 k records (30 blocks, 4 checkpoints)."""
    path = tmp_path_factory.mktemp("pgstore") / "s.dbn.zst"
    mbo_fast.simulate(seed=11, records=120_000, instruments=3, path=str(path))
    return path


def pg_rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return [
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
            for r in conn.execute(sql).fetchall()
        ]


def _state(book: Any) -> tuple[Any, ...]:
    return (
        book.levels("B"),
        book.levels("A"),
        [book.orders("B", px) for px, _, _ in book.levels("B", 3)],
        book.crossed,
        book.consistent,
    )


def test_postgres_stores_what_sqlite_stores_and_answers_like_the_file(
    pg_dsn: str, session: Path, tmp_path: Path
) -> None:
    with open_store(pg_dsn) as store:
        assert isinstance(store, PostgresStore)
        imported = store.import_file(str(session))
        assert imported.stored and imported.records == 120_000
        (src,) = store.sources()
        assert (src.state, src.dataset, [b.symbol for b in src.books]) == (
            "complete",
            "GLBX.MDP3",
            ["SIM1", "SIM2", "SIM3"],
        )
        stored = store.recording(src.id).replay()
        memory = mbo_fast.Replay(str(session))
        rng = random.Random(2)
        for index in [0, 4095, 4096, 32_768, 119_999] + [rng.randrange(120_000) for _ in range(15)]:
            stored.seek(index=index)
            memory.seek(index=index)
            for iid in (1, 2, 3):
                assert _state(stored.book(iid, 1)) == _state(memory.book(iid, 1)), index
        assert store.metadata_dbn(src.id) is not None
        again = store.import_file(str(session))
        assert (again.stored, again.source_id) == (False, src.id)
    with SqliteStore(str(tmp_path / "db.sqlite")) as lite:
        lite.import_file(str(session))
        (lsrc,) = lite.sources()
    assert what_stores_agree_on(src) == what_stores_agree_on(lsrc)
    db = sqlite3.connect(tmp_path / "db.sqlite")
    assert pg_rows(pg_dsn, BLOCKS) == db.execute(BLOCKS).fetchall(), (
        "the same blocks, byte for byte"
    )
    assert pg_rows(pg_dsn, BOOKS) == db.execute(BOOKS).fetchall()


def what_stores_agree_on(src: Any) -> tuple[Any, ...]:
    """What two stores agree on (not ids or times of day)."""
    return (
        src.sha256,
        src.name,
        src.records,
        src.ts_first,
        src.ts_last,
        src.stored_bytes,
        src.books,
    )


def test_two_processes_importing_at_once_store_it_once(pg_dsn: str, session: Path) -> None:
    PostgresStore(pg_dsn).close()  # the schema first, so both race on the import itself
    script = textwrap.dedent(
        f"""
        import json
        from mbo_fast.store import PostgresStore
        r = PostgresStore({pg_dsn!r}).import_file({str(session)!r})
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
    assert pg_rows(
        pg_dsn, "SELECT count(*), count(*) FILTER (WHERE state = 'complete') FROM sources"
    ) == [(1, 1)]


def test_a_killed_import_is_invisible_then_resumed_exactly(
    pg_dsn: str, postgres: Any, session: Path
) -> None:
    script = textwrap.dedent(
        f"""
        from mbo_fast.store import PostgresStore
        st = PostgresStore({pg_dsn!r})
        st.commit_blocks = 2
        st.import_file({str(session)!r}, progress=lambda n: print("stored", n, flush=True))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for _ in range(3):
        assert proc.stdout.readline().startswith("stored")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with PostgresStore(pg_dsn) as store:
        assert store.sources() == [], "a half-imported source is never visible"
        ((state, records),) = pg_rows(pg_dsn, "SELECT state, records FROM sources")
        assert state == "importing" and 0 < records < 120_000
        store.stale_import_s = 0.0  # the killed owner is gone: take over at once
        resumed = store.import_file(str(session))
    assert resumed.stored and resumed.records == 120_000
    fresh = postgres.create_database(f"fresh_{os.getpid()}")
    with PostgresStore(fresh) as store:
        expected = store.import_file(str(session))
    assert expected.records == resumed.records
    assert pg_rows(pg_dsn, BLOCKS) == pg_rows(fresh, BLOCKS), (
        "the resumed import stored exactly what a fresh one does"
    )


def test_a_live_session_grows_then_completes(pg_dsn: str, session: Path) -> None:
    builder = mbo_fast._core.BlockBuilder(4096, 32_768)
    with PostgresStore(pg_dsn) as store:
        sid = store.begin_live("tcp://127.0.0.1:9000")
        assert store.source(sid).state == "live"
        stored = 0
        for chunk, _ in mbo_fast._core.MboChunks(str(session), 20_000 * 56):
            if builder.records >= 60_000:
                break
            blocks = builder.push(chunk)
            if blocks:
                stored = store.append_live(sid, blocks, builder.books())
                assert store.source(sid).records == stored  # visible as it grows
        last = builder.flush()
        if last is not None:
            stored = store.append_live(sid, [last], builder.books())
        total = builder.records
        assert stored == total == store.source(sid).records
        store.finish_live(sid)
        src = store.source(sid)
        assert src.state == "complete" and sum(b.records for b in src.books) == total
        replay = store.recording(sid).replay()
        memory = mbo_fast.Replay(str(session))
        replay.seek(index=total - 1)
        memory.seek(index=total - 1)
        for iid in (1, 2, 3):
            assert _state(replay.book(iid, 1)) == _state(memory.book(iid, 1))


def test_an_outage_is_a_store_error_and_the_store_recovers(session: Path) -> None:
    pytest.importorskip("psycopg")
    from postgres_server import PASSWORD, PostgresServer

    try:
        server = PostgresServer()  # its own cluster: stopping it disturbs no other test
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    os.environ.setdefault("PGPASSWORD", PASSWORD)
    try:
        server.start()
        dsn = server.create_database("outage")
        store = PostgresStore(dsn, timeout_s=5)
        store.import_file(str(session))
        (src,) = store.sources()
        server.stop()
        with pytest.raises(StoreError) as info:
            store.sources()
        assert "cannot read the store" in str(info.value) and PASSWORD not in str(info.value)
        with pytest.raises(StoreError):
            store.recording(src.id)
        server.start()
        assert [s.id for s in store.sources()] == [src.id], "reconnected on the next call"
        store.recording(src.id).replay().seek(index=100_000)
        store.close()
    finally:
        server.close()


def test_the_password_never_reaches_a_label_or_a_message(pg_dsn: str) -> None:
    from postgres_server import PASSWORD

    with_password = pg_dsn.replace("mbo@", f"mbo:{PASSWORD}@")
    assert PASSWORD not in store_label(with_password)
    assert store_label(with_password) == store_label(pg_dsn)
    with PostgresStore(with_password) as store:
        assert PASSWORD not in store.label
    wrong = pg_dsn.replace("mbo@", "mbo:not-the-password@")
    with pytest.raises(StoreError) as info:
        PostgresStore(wrong)
    assert "not-the-password" not in str(info.value)
    bad_host = "postgresql://mbo:sekrit@127.0.0.1:1/x"
    with pytest.raises(StoreError) as info:
        PostgresStore(bad_host, timeout_s=2)
    assert "sekrit" not in str(info.value) and "127.0.0.1:1" in str(info.value)
