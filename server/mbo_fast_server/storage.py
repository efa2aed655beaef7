"""SQLite persistence: WAL, a versioned schema with migrations, one row per source (its SHA-256 is
UNIQUE: loading the same data twice is a no-op), the MBO records, the BBO after every F_LAST
record, the trades, and periodic book checkpoints. Writes run in batches on one writer thread;
reads on their own threads with their own connections (WAL lets them run while a source is being
written).

Book checkpoints: every `checkpoint_every` records of a file source, each book as the DBN
snapshot records of `Replay.snapshot_dbn` (Rust). `stored_book` answers "the book after record i"
from the database alone: the nearest checkpoint at or before i, plus that book's stored records
after it, applied by `mbo_fast.Market` (Rust) in one pass: no book logic in Python."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

import mbo_fast

from .data import UNDEF_PRICE, LookupFailed, Source, describe_book
from .metrics import Metrics

log = logging.getLogger("mbo_fast_server.storage")
_T = TypeVar("_T")

# Each entry migrates the schema from version i to i + 1; never edit one that has shipped.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE sources (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        records INTEGER NOT NULL,
        loaded_at_ns INTEGER NOT NULL
    );
    CREATE TABLE records (
        source_id INTEGER NOT NULL REFERENCES sources(id),
        idx INTEGER NOT NULL,
        ts_recv INTEGER NOT NULL,
        ts_event INTEGER NOT NULL,
        instrument_id INTEGER NOT NULL,
        publisher_id INTEGER NOT NULL,
        order_id INTEGER NOT NULL,  -- u64 stored as its two's-complement i64
        price INTEGER,              -- NULL: UNDEF_PRICE
        size INTEGER NOT NULL,
        flags INTEGER NOT NULL,
        action TEXT NOT NULL,
        side TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        channel_id INTEGER NOT NULL,
        PRIMARY KEY (source_id, idx)
    ) WITHOUT ROWID;
    CREATE TABLE bbo (
        source_id INTEGER NOT NULL REFERENCES sources(id),
        idx INTEGER NOT NULL,
        ts_recv INTEGER NOT NULL,
        ts_event INTEGER NOT NULL,
        instrument_id INTEGER NOT NULL,
        publisher_id INTEGER NOT NULL,
        bid_px INTEGER, bid_sz INTEGER NOT NULL, bid_ct INTEGER NOT NULL,
        ask_px INTEGER, ask_sz INTEGER NOT NULL, ask_ct INTEGER NOT NULL,
        PRIMARY KEY (source_id, idx)
    ) WITHOUT ROWID;
    CREATE INDEX bbo_book ON bbo (source_id, instrument_id, publisher_id, idx);
    CREATE TABLE trades (
        source_id INTEGER NOT NULL REFERENCES sources(id),
        idx INTEGER NOT NULL,
        ts_recv INTEGER NOT NULL,
        ts_event INTEGER NOT NULL,
        instrument_id INTEGER NOT NULL,
        publisher_id INTEGER NOT NULL,
        price INTEGER,
        size INTEGER NOT NULL,
        side TEXT NOT NULL,
        PRIMARY KEY (source_id, idx)
    ) WITHOUT ROWID;
    CREATE INDEX trades_book ON trades (source_id, instrument_id, publisher_id, idx);
    """,
    """
    CREATE TABLE live_chunks (
        source_id INTEGER NOT NULL REFERENCES sources(id),
        first_idx INTEGER NOT NULL,  -- live record index of the first record
        records INTEGER NOT NULL,
        ts_recv_first INTEGER NOT NULL,
        ts_recv_last INTEGER NOT NULL,
        data BLOB NOT NULL,          -- whole DBN MBO records as received (56 bytes, 64 ts_out)
        PRIMARY KEY (source_id, first_idx)
    );
    """,
    # 3: book checkpoints, and the books of each source (so that a stored source can be
    # queried without its file). Sources stored before this version have checkpoint_every NULL
    # and get their checkpoints when their file is loaded again; their books are filled here.
    """
    ALTER TABLE sources ADD COLUMN checkpoint_every INTEGER;  -- NULL: no checkpoints (yet)
    CREATE TABLE source_books (
        source_id INTEGER NOT NULL REFERENCES sources(id),
        instrument_id INTEGER NOT NULL,
        publisher_id INTEGER NOT NULL,
        symbol TEXT,
        records INTEGER NOT NULL,
        PRIMARY KEY (source_id, instrument_id, publisher_id)
    ) WITHOUT ROWID;
    INSERT INTO source_books (source_id, instrument_id, publisher_id, symbol, records)
        SELECT source_id, instrument_id, publisher_id, NULL, count(*) FROM records
        GROUP BY source_id, instrument_id, publisher_id;
    CREATE TABLE book_checkpoints (
        source_id INTEGER NOT NULL REFERENCES sources(id),
        position INTEGER NOT NULL,       -- the book after records [0, position)
        instrument_id INTEGER NOT NULL,
        publisher_id INTEGER NOT NULL,
        ts_recv_max INTEGER NOT NULL,    -- max ts_recv of records [0, position): seeks by time
        data BLOB NOT NULL,              -- the book as DBN snapshot records (Replay.snapshot_dbn)
        PRIMARY KEY (source_id, position, instrument_id, publisher_id)
    );
    CREATE INDEX book_checkpoints_ts ON book_checkpoints (source_id, ts_recv_max, position);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

_RECORD_COLS = (
    "idx, ts_recv, ts_event, instrument_id, publisher_id, order_id, price, size, flags, action, "
    "side, sequence, channel_id"
)
_BBO_COLS = (
    "idx, ts_recv, ts_event, instrument_id, publisher_id, bid_px, bid_sz, bid_ct, ask_px, ask_sz, "
    "ask_ct"
)
_TRADE_COLS = "idx, ts_recv, ts_event, instrument_id, publisher_id, price, size, side"

# dbn::MboMsg as laid out in memory (56 bytes, little-endian): stored rows rebuilt as records
MBO_DTYPE = np.dtype(
    [
        ("length", "u1"),
        ("rtype", "u1"),
        ("publisher_id", "<u2"),
        ("instrument_id", "<u4"),
        ("ts_event", "<u8"),
        ("order_id", "<u8"),
        ("price", "<i8"),
        ("size", "<u4"),
        ("flags", "u1"),
        ("channel_id", "u1"),
        ("action", "u1"),
        ("side", "u1"),
        ("ts_recv", "<u8"),
        ("ts_in_delta", "<i4"),
        ("sequence", "<u4"),
    ]
)
assert MBO_DTYPE.itemsize == 56
MBO_RTYPE = 0xA0
MBO_LENGTH = MBO_DTYPE.itemsize // 4  # DBN record lengths count 4-byte words

# Records per book checkpoint. A stored-book query applies at most this many records of the
# source after its checkpoint (read back as rows: 1-2 µs each), and each checkpoint costs one
# snapshot per book (a few kB to tens of kB for CLX5): see README "Storage" for the measurements
# behind the choice.
DEFAULT_CHECKPOINT_EVERY = 1_024

# A DBN stream with metadata and no records: what stored records are appended to when there is
# no checkpoint to start from (the book did not exist yet at the checkpoint, or none was taken).
_EMPTY_DBN = mbo_fast.Market().snapshot_dbn()
# Stored record rows as the fields of MBO_DTYPE, in this order (see _mbo_bytes).
_MBO_SELECT = (
    "ts_event, order_id, coalesce(price, 9223372036854775807), size, flags, unicode(action), "
    "unicode(side), ts_recv, sequence, channel_id"
)
_MBO_FIELDS = (
    "ts_event",
    "order_id",
    "price",
    "size",
    "flags",
    "action",
    "side",
    "ts_recv",
    "sequence",
    "channel_id",
)


class StorageError(Exception):
    pass


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    found = 0 if row is None else int(row[0])
    if found > SCHEMA_VERSION:
        raise StorageError(
            f"database schema version {found} is newer than this server ({SCHEMA_VERSION})"
        )
    for version in range(found, SCHEMA_VERSION):
        with conn:
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version VALUES (?)", (version + 1,))
        log.info("schema migrated", extra={"schema_version": version + 1})
    return found


def _nullable_px(px: np.ndarray[Any, Any]) -> list[Any]:
    values: list[Any] = px.tolist()
    if (px == UNDEF_PRICE).any():
        return [None if v == UNDEF_PRICE else v for v in values]
    return values


def _chars(codes: np.ndarray[Any, Any]) -> list[str]:
    return [chr(c) for c in codes.tolist()]


def _mbo_bytes(instrument_id: int, publisher_id: int, rows: list[tuple[int, ...]]) -> bytes:
    """Stored record rows (selected with _MBO_SELECT) of one book as raw 56-byte DBN MBO
    records, ready to append to a DBN stream. ts_in_delta is not stored (it does not affect
    books) and comes back as 0."""
    out = np.zeros(len(rows), dtype=MBO_DTYPE)
    if rows:
        cols = np.array(rows, dtype=np.int64)
        for k, name in enumerate(_MBO_FIELDS):
            # order_id is stored as its two's-complement i64: the cast wraps it back to u64
            out[name] = cols[:, k].astype(out.dtype[name], copy=False)
    out["length"] = MBO_LENGTH
    out["rtype"] = MBO_RTYPE
    out["publisher_id"] = publisher_id
    out["instrument_id"] = instrument_id
    return out.tobytes()


class Storage:
    def __init__(
        self,
        path: str,
        metrics: Metrics,
        batch_rows: int = 20_000,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be >= 1")
        self.path = path
        self.metrics = metrics
        self.batch_rows = batch_rows
        self.checkpoint_every = checkpoint_every
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="mbo-storage-w")
        self._readers = ThreadPoolExecutor(2, thread_name_prefix="mbo-storage-r")
        self._conn: sqlite3.Connection | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self.is_open = False
        self.db_ids: dict[str, int] = {}  # sha256 -> sources.id

    async def _write(self, fn: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        def run() -> _T:
            conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
            if conn is None:
                conn = sqlite3.connect(self.path, check_same_thread=False)
                conn.execute("PRAGMA query_only = ON")
                self._local.conn = conn
                with self._reader_lock:
                    self._reader_conns.append(conn)
            return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    async def open(self) -> None:
        def run() -> None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.isolation_level = "DEFERRED"  # implicit transactions again, for `with conn:`
            migrate(conn)
            self._conn = conn

        await self._write(run)
        self.is_open = True

    async def close(self) -> None:
        """Finish pending writes (the writer queue is FIFO), checkpoint the WAL, close."""
        if not self.is_open:
            return
        self.is_open = False

        def run() -> None:
            if self._conn is not None:
                self._conn.commit()
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self._conn.close()
                self._conn = None

        await self._write(run)
        self._writer.shutdown(wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()  # check_same_thread=False: safe once the readers are idle
            self._reader_conns.clear()
        self._readers.shutdown(wait=False)

    # ----------------------------------------------------------------------------------------
    # writes

    def _insert(self, conn: sqlite3.Connection, table: str, cols: str, rows: list[Any]) -> None:
        marks = ", ".join("?" * (cols.count(",") + 2))
        sql = f"INSERT INTO {table} (source_id, {cols}) VALUES ({marks})"
        for lo in range(0, len(rows), self.batch_rows):
            batch = rows[lo : lo + self.batch_rows]
            t0 = time.perf_counter()
            conn.executemany(sql, batch)
            self.metrics.storage_seconds.labels(table).observe(time.perf_counter() - t0)
            self.metrics.storage_rows.labels(table).inc(len(batch))

    async def persist(self, src: Source) -> tuple[int, bool]:
        """Store a source unless its SHA-256 is already there. Returns (sources.id, written)."""

        def run() -> tuple[int, bool]:
            conn = self._conn
            if conn is None:
                raise StorageError("storage is closed")
            row = conn.execute(
                "SELECT id, checkpoint_every FROM sources WHERE sha256 = ?", (src.sha256,)
            ).fetchone()
            if row is not None:
                if row[1] is None:  # stored by a version without checkpoints: add them now
                    with conn:
                        self._write_books(conn, int(row[0]), src)
                        n = self._write_checkpoints(conn, int(row[0]), src)
                    log.info(
                        "book checkpoints added to a stored source",
                        extra={"db_id": int(row[0]), "checkpoints": n},
                    )
                return int(row[0]), False
            rec = src.records
            bbo = mbo_fast.read_bbo(src.path)
            with conn:  # one transaction: a source is stored whole or not at all
                cur = conn.execute(
                    "INSERT INTO sources (sha256, name, bytes, records, loaded_at_ns) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (src.sha256, src.name, src.size, len(src), time.time_ns()),
                )
                sid = cur.lastrowid
                assert sid is not None
                n = len(rec["index"])
                self._insert(
                    conn,
                    "records",
                    _RECORD_COLS,
                    list(
                        zip(
                            [sid] * n,
                            rec["index"].tolist(),
                            rec["ts_recv"].tolist(),
                            rec["ts_event"].tolist(),
                            rec["instrument_id"].tolist(),
                            rec["publisher_id"].tolist(),
                            rec["order_id"].view(np.int64).tolist(),
                            _nullable_px(rec["price"]),
                            rec["size"].tolist(),
                            rec["flags"].tolist(),
                            _chars(rec["action"]),
                            _chars(rec["side"]),
                            rec["sequence"].tolist(),
                            rec["channel_id"].tolist(),
                        )
                    ),
                )
                m = len(bbo["index"])
                self._insert(
                    conn,
                    "bbo",
                    _BBO_COLS,
                    list(
                        zip(
                            [sid] * m,
                            bbo["index"].tolist(),
                            bbo["ts_recv"].tolist(),
                            bbo["ts_event"].tolist(),
                            bbo["instrument_id"].tolist(),
                            bbo["publisher_id"].tolist(),
                            _nullable_px(bbo["bid_px"]),
                            bbo["bid_sz"].tolist(),
                            bbo["bid_ct"].tolist(),
                            _nullable_px(bbo["ask_px"]),
                            bbo["ask_sz"].tolist(),
                            bbo["ask_ct"].tolist(),
                        )
                    ),
                )
                t = np.flatnonzero(rec["action"] == ord("T"))
                self._insert(
                    conn,
                    "trades",
                    _TRADE_COLS,
                    list(
                        zip(
                            [sid] * len(t),
                            rec["index"][t].tolist(),
                            rec["ts_recv"][t].tolist(),
                            rec["ts_event"][t].tolist(),
                            rec["instrument_id"][t].tolist(),
                            rec["publisher_id"][t].tolist(),
                            _nullable_px(rec["price"][t]),
                            rec["size"][t].tolist(),
                            _chars(rec["side"][t]),
                        )
                    ),
                )
                self._write_books(conn, sid, src)
                self._write_checkpoints(conn, sid, src)
            return int(sid), True

        sid, written = await self._write(run)
        self.db_ids[src.sha256] = sid
        return sid, written

    def _write_books(self, conn: sqlite3.Connection, sid: int, src: Source) -> None:
        """The source's books (ids, symbol, record count); replaces rows a migration filled."""
        conn.execute("DELETE FROM source_books WHERE source_id = ?", (sid,))
        conn.executemany(
            "INSERT INTO source_books (source_id, instrument_id, publisher_id, symbol, records) "
            "VALUES (?, ?, ?, ?, ?)",
            [(sid, iid, pid, b.symbol, b.records) for (iid, pid), b in sorted(src.books.items())],
        )

    def _write_checkpoints(self, conn: sqlite3.Connection, sid: int, src: Source) -> int:
        """A snapshot of every book after each `checkpoint_every` records (writer thread, inside
        the caller's transaction). The snapshots come from the source's in-memory `Replay`,
        seeked forward one checkpoint at a time (in Rust: from the previous one, or from the
        Replay's own nearest in-memory checkpoint if a book query moved the cursor meanwhile);
        its lock is held per checkpoint only, so book queries interleave. Returns the number
        of checkpoints."""
        every = self.checkpoint_every
        n = len(src)
        ts_max = np.maximum.accumulate(src.records["ts_recv"]) if n else src.records["ts_recv"]
        rows: list[tuple[int, int, int, int, int, bytes]] = []
        positions = range(every, n + 1, every)
        for position in positions:
            with src.lock:
                replay = src.replay
                replay.seek(index=position - 1)
                keys = [(b.instrument_id, b.publisher_id) for b in replay.books()]
                blobs = [replay.snapshot_dbn(iid, pid) for iid, pid in keys]
            ts = int(ts_max[position - 1])
            rows.extend(
                (sid, position, iid, pid, ts, blob) for (iid, pid), blob in zip(keys, blobs)
            )
        self._insert(
            conn,
            "book_checkpoints",
            "position, instrument_id, publisher_id, ts_recv_max, data",
            rows,
        )
        conn.execute("UPDATE sources SET checkpoint_every = ? WHERE id = ?", (every, sid))
        return len(positions)

    # ----------------------------------------------------------------------------------------
    # live records (called from the live persister thread, run on the writer thread)

    def submit(self, fn: Callable[[], _T]) -> Future[_T]:
        """Run `fn` on the writer thread from any thread (no event loop needed)."""
        return self._writer.submit(fn)

    def live_source(self, name: str) -> int:
        """A `sources` row for one live session (sha256 `live:<name>:<start ns>`); writer only."""
        conn = self._conn
        if conn is None:
            raise StorageError("storage is closed")
        now = time.time_ns()
        with conn:
            cur = conn.execute(
                "INSERT INTO sources (sha256, name, bytes, records, loaded_at_ns) "
                "VALUES (?, ?, 0, 0, ?)",
                (f"live:{name}:{now}", name, now),
            )
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def persist_live(
        self, sid: int, first_idx: int, raw: bytes, n: int, ts_recv_first: int, ts_recv_last: int
    ) -> int:
        """Append one chunk of live records (`LiveMarket.take_records`: `n` whole DBN MBO records
        as received, live indexes from `first_idx`, `ts_recv` from `ts_recv_first` to
        `ts_recv_last`) as a BLOB row, in one transaction; writer only. Returns the records
        written. A chunk is one row (not one row per record) so that persistence keeps up at
        1 M records/s; the bytes are stored as they are, never parsed here."""
        conn = self._conn
        if conn is None:
            raise StorageError("storage is closed")
        if n == 0:
            return 0
        t0 = time.perf_counter()
        with conn:
            conn.execute(
                "INSERT INTO live_chunks (source_id, first_idx, records, ts_recv_first, "
                "ts_recv_last, data) VALUES (?, ?, ?, ?, ?, ?)",
                (sid, first_idx, n, ts_recv_first, ts_recv_last, raw),
            )
            conn.execute("UPDATE sources SET records = records + ? WHERE id = ?", (n, sid))
        self.metrics.storage_seconds.labels("live_chunks").observe(time.perf_counter() - t0)
        self.metrics.storage_rows.labels("live_chunks").inc(n)
        return n

    async def live_records(self, source_id: int) -> mbo_fast.Columns:
        """Every persisted live record of a live source, in order, as `mbo_fast.read_records`
        columns: the stored chunks are a DBN stream's records (whatever their length: 64 bytes
        on a ts_out feed), so the core reads them behind an empty stream's metadata."""

        def run(conn: sqlite3.Connection) -> mbo_fast.Columns:
            rows = conn.execute(
                "SELECT data FROM live_chunks WHERE source_id = ? ORDER BY first_idx",
                (source_id,),
            ).fetchall()
            return mbo_fast.read_records(_EMPTY_DBN + b"".join(r[0] for r in rows))

        return await self._read(run)

    # ----------------------------------------------------------------------------------------
    # reads

    async def counts(self) -> dict[str, int]:
        def run(conn: sqlite3.Connection) -> dict[str, int]:
            return {
                t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                for t in ("sources", "records", "bbo", "trades")
            }

        return await self._read(run)

    async def _page(
        self,
        table: str,
        cols: str,
        source_id: int,
        book: tuple[int, int] | None,
        start: int | None,
        end: int | None,
        after: int | None,
        limit: int,
    ) -> list[tuple[Any, ...]]:
        where = ["source_id = ?"]
        args: list[Any] = [source_id]
        if book is not None:
            where += ["instrument_id = ?", "publisher_id = ?"]
            args += list(book)
        if after is not None:
            where.append("idx > ?")
            args.append(after)
        if start is not None:
            where.append("ts_recv >= ?")
            args.append(start)
        if end is not None:
            where.append("ts_recv <= ?")
            args.append(end)
        sql = f"SELECT {cols} FROM {table} WHERE {' AND '.join(where)} ORDER BY idx LIMIT ?"
        args.append(limit)

        def run(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return list(conn.execute(sql, args).fetchall())

        return await self._read(run)

    async def bbo(
        self,
        source_id: int,
        book: tuple[int, int] | None,
        start: int | None,
        end: int | None,
        after: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        rows = await self._page("bbo", _BBO_COLS, source_id, book, start, end, after, limit)
        return _dicts(_BBO_COLS, rows, index_col="idx")

    async def trades(
        self,
        source_id: int,
        book: tuple[int, int] | None,
        start: int | None,
        end: int | None,
        after: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        rows = await self._page("trades", _TRADE_COLS, source_id, book, start, end, after, limit)
        return _dicts(_TRADE_COLS, rows, index_col="idx")

    async def records(
        self,
        source_id: int,
        book: tuple[int, int] | None,
        start: int | None,
        end: int | None,
        after: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        rows = await self._page("records", _RECORD_COLS, source_id, book, start, end, after, limit)
        out = _dicts(_RECORD_COLS, rows, index_col="idx")
        for r in out:
            if r["order_id"] < 0:
                r["order_id"] += 1 << 64
        return out

    # ----------------------------------------------------------------------------------------
    # stored sources and books (from the database alone: the source's file need not be loaded)

    async def stored_sources(self) -> list[dict[str, Any]]:
        """Every source in the database, oldest first, with its books and checkpoint count."""

        def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            books: dict[int, list[dict[str, Any]]] = {}
            for sid, iid, pid, symbol, records in conn.execute(
                "SELECT source_id, instrument_id, publisher_id, symbol, records FROM source_books "
                "ORDER BY source_id, instrument_id, publisher_id"
            ):
                books.setdefault(sid, []).append(
                    {
                        "instrument_id": iid,
                        "publisher_id": pid,
                        "symbol": symbol,
                        "records": records,
                    }
                )
            out = []
            for sid, sha, name, size, records, loaded, every in conn.execute(
                "SELECT id, sha256, name, bytes, records, loaded_at_ns, checkpoint_every "
                "FROM sources ORDER BY id"
            ).fetchall():
                count = conn.execute(
                    "SELECT count(DISTINCT position) FROM book_checkpoints WHERE source_id = ?",
                    (sid,),
                ).fetchone()[0]
                out.append(
                    {
                        "db_source": sid,
                        "kind": "live" if sha.startswith("live:") else "file",
                        "name": name,
                        "sha256": sha,
                        "bytes": size,
                        "records": records,
                        "loaded_at_ns": loaded,
                        "checkpoint_every": every,
                        "checkpoints": int(count),
                        "books": books.get(sid, []),
                    }
                )
            return out

        return await self._read(run)

    async def stored_book(
        self,
        db_source: int,
        instrument_id: int,
        publisher_id: int | None,
        *,
        index: int | None,
        ts: int | None,
        depth: int,
        orders: bool,
    ) -> dict[str, Any]:
        """The book after record `index` (or after every record with ts_recv <= `ts`; default:
        the last record) of a stored file source, rebuilt from the database alone: the nearest
        book checkpoint at or before it, then the book's stored records after the checkpoint,
        applied in Rust (`mbo_fast.Market`). The same document as `data.book_at`, plus
        `checkpoint` (its position; 0: none, the book was rebuilt from the first record) and
        `replayed` (records applied after it). Unknown ids raise LookupFailed (404), bad or
        ambiguous ones LookupFailed(400)."""

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            t0 = time.perf_counter()
            src = conn.execute(
                "SELECT sha256, name, records FROM sources WHERE id = ?", (db_source,)
            ).fetchone()
            if src is None:
                raise LookupFailed(404, "db_source", f"no stored source {db_source}")
            sha, name, total = src[0], src[1], int(src[2])
            if sha.startswith("live:"):
                raise LookupFailed(
                    400,
                    "db_source",
                    f"stored source {db_source} is a live session: its records are kept as raw "
                    "chunks without book checkpoints, so it has no stored books",
                )
            pid, symbol = self._stored_book_key(conn, db_source, instrument_id, publisher_id)
            if index is not None:
                if not 0 <= index < total:
                    raise LookupFailed(400, "index", f"must be in 0..{total - 1}, got {index}")
                position = index + 1
            elif ts is not None:
                position = self._position_at_ts(conn, db_source, ts, total)
            else:
                position = total
            row = conn.execute(
                "SELECT max(position) FROM book_checkpoints WHERE source_id = ? AND position <= ?",
                (db_source, position),
            ).fetchone()
            checkpoint = int(row[0]) if row is not None and row[0] is not None else 0
            blob = None
            if checkpoint:
                found = conn.execute(
                    "SELECT data FROM book_checkpoints WHERE source_id = ? AND position = ? "
                    "AND instrument_id = ? AND publisher_id = ?",
                    (db_source, checkpoint, instrument_id, pid),
                ).fetchone()
                blob = found[0] if found is not None else None  # None: no such book yet
            rows = conn.execute(
                f"SELECT {_MBO_SELECT} FROM records WHERE source_id = ? AND idx >= ? AND idx < ? "
                "AND instrument_id = ? AND publisher_id = ? ORDER BY idx",
                (db_source, checkpoint, position, instrument_id, pid),
            ).fetchall()
            market = mbo_fast.Market()
            market.apply((blob or _EMPTY_DBN) + _mbo_bytes(instrument_id, pid, rows))
            try:
                book: mbo_fast.Book | None = market.book(instrument_id, pid)
            except KeyError:  # no record of this book before `position`
                book = None
            last = None
            if position:
                last = conn.execute(
                    "SELECT ts_recv FROM records WHERE source_id = ? AND idx = ?",
                    (db_source, position - 1),
                ).fetchone()
            out: dict[str, Any] = {
                "db_source": db_source,
                "name": name,
                "instrument_id": instrument_id,
                "publisher_id": pid,
                "symbol": symbol,
                "index": position - 1 if position else None,
                "position": position,
                "ts_recv": int(last[0]) if last is not None else None,
                "checkpoint": checkpoint,
                "replayed": len(rows),
            }
            out.update(describe_book(book, depth, orders))
            self.metrics.stored_book_seconds.observe(time.perf_counter() - t0)
            return out

        return await self._read(run)

    @staticmethod
    def _stored_book_key(
        conn: sqlite3.Connection, db_source: int, instrument_id: int, publisher_id: int | None
    ) -> tuple[int, str | None]:
        """(publisher_id, symbol) of a stored book; the publisher may be omitted when only one
        publishes the instrument in that source."""
        found = conn.execute(
            "SELECT publisher_id, symbol FROM source_books WHERE source_id = ? "
            "AND instrument_id = ? ORDER BY publisher_id",
            (db_source, instrument_id),
        ).fetchall()
        if not found:
            raise LookupFailed(
                404, "instrument_id", f"no instrument {instrument_id} in stored source {db_source}"
            )
        if publisher_id is not None:
            found = [r for r in found if r[0] == publisher_id]
            if not found:
                raise LookupFailed(
                    404,
                    "publisher_id",
                    f"no book for instrument {instrument_id} with that publisher",
                )
        if len(found) > 1:
            raise LookupFailed(
                400, "publisher_id", f"instrument {instrument_id} has several publishers: name one"
            )
        return int(found[0][0]), found[0][1]

    @staticmethod
    def _position_at_ts(conn: sqlite3.Connection, db_source: int, ts: int, total: int) -> int:
        """Records with ts_recv <= ts under the running maximum, as `Replay.seek(ts=)` counts
        them: the first record whose ts_recv exceeds ts ends them. The last checkpoint whose
        running maximum is <= ts is a safe start, and the next one's exceeds ts, so the scan
        reads at most checkpoint_every records."""
        row = conn.execute(
            "SELECT position FROM book_checkpoints WHERE source_id = ? AND ts_recv_max <= ? "
            "ORDER BY ts_recv_max DESC, position DESC LIMIT 1",
            (db_source, ts),
        ).fetchone()
        start = int(row[0]) if row is not None else 0
        row = conn.execute(
            "SELECT idx FROM records WHERE source_id = ? AND idx >= ? AND ts_recv > ? "
            "ORDER BY idx LIMIT 1",
            (db_source, start, ts),
        ).fetchone()
        return int(row[0]) if row is not None else total


def _dicts(cols: str, rows: Iterable[Sequence[Any]], index_col: str) -> list[dict[str, Any]]:
    names = [("index" if c.strip() == index_col else c.strip()) for c in cols.split(",")]
    return [dict(zip(names, row)) for row in rows]
