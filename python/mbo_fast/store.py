"""The block store on SQLite: sessions kept as compressed blocks of raw DBN MBO records with
periodic checkpoints of every book (the core's `Recording` format), so that any size of data is
served with bounded memory and a restart needs no re-import.

Tables (schema version 4; versions 1-3 were the server's row-per-record tables, converted by
`mbo-fast db upgrade PATH`):

- `sources`: one row per stored stream, keyed by the SHA-256 of its file (a live session:
  `live:URL:ns`); `state` is `importing` until every block and book is in, then `complete`;
  a live session is `live` while it grows. Queries only ever see complete and live sources, so
  a `kill -9` mid-import leaves the source absent, and the next import resumes it.
- `blocks`: `(source_id, first_index)` → records, ts_first/ts_last/ts_max, the compressed
  block, and the checkpoint of every book before its first record when one was taken there;
  indexed by `(source_id, ts_max)` for seeks by time.
- `source_books`: per book, its symbol, records, trades and ts_recv range.

The interface another database implements is `BlockStore` (below); `SqliteStore` is the
embedded one. Writes go through one connection under a lock; reads use a connection per thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from . import _core
from .errors import StoreError

log = logging.getLogger("mbo_fast.store")

SCHEMA_VERSION = 4
BLOCK_RECORDS = 4096
CHECKPOINT_EVERY = 32_768
# An import whose owner has not written for this long is taken to be dead and is resumed.
STALE_IMPORT_S = 30.0
# Blocks per write transaction during an import (and at least one commit a second).
_COMMIT_BLOCKS = 64
_COMMIT_S = 1.0

_SCHEMA = """
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('file', 'live')),
    state TEXT NOT NULL CHECK (state IN ('importing', 'complete', 'live')),
    file_bytes INTEGER NOT NULL,
    records INTEGER NOT NULL,
    block_records INTEGER NOT NULL,
    checkpoint_every INTEGER NOT NULL,
    dataset TEXT,
    metadata BLOB,
    ts_first INTEGER,
    ts_last INTEGER,
    created_ns INTEGER NOT NULL,
    completed_ns INTEGER,
    owner TEXT,
    heartbeat_ns INTEGER,
    stored_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE blocks (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    first_index INTEGER NOT NULL,
    records INTEGER NOT NULL,
    ts_first INTEGER NOT NULL,
    ts_last INTEGER NOT NULL,
    ts_max INTEGER NOT NULL,
    has_checkpoint INTEGER NOT NULL,
    data BLOB NOT NULL,
    checkpoint BLOB,
    PRIMARY KEY (source_id, first_index)
);
-- A recording's index in one compact b-tree: opening a source reads it, never the rows (each
-- row spans pages of blob). Seeks by time use the index in memory (ts_max is the running max).
CREATE INDEX blocks_index ON blocks
    (source_id, first_index, records, ts_first, ts_last, ts_max, has_checkpoint);
CREATE TABLE source_books (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    instrument_id INTEGER NOT NULL,
    publisher_id INTEGER NOT NULL,
    symbol TEXT,
    records INTEGER NOT NULL,
    trades INTEGER NOT NULL,
    ts_first INTEGER NOT NULL,
    ts_last INTEGER NOT NULL,
    PRIMARY KEY (source_id, instrument_id, publisher_id)
) WITHOUT ROWID;
"""


@dataclasses.dataclass(frozen=True)
class StoredBook:
    instrument_id: int
    publisher_id: int
    symbol: str | None
    records: int
    trades: int
    ts_first: int
    ts_last: int


@dataclasses.dataclass(frozen=True)
class StoredSource:
    """A stream in the store (complete, or live and growing)."""

    id: int
    sha256: str
    name: str
    kind: str
    state: str
    file_bytes: int
    records: int
    dataset: str | None
    ts_first: int | None
    ts_last: int | None
    created_ns: int
    completed_ns: int | None
    stored_bytes: int
    books: tuple[StoredBook, ...]


@dataclasses.dataclass(frozen=True)
class Imported:
    source_id: int
    stored: bool  # False: the store had it already (or another import stored it meanwhile)
    records: int
    seconds: float
    blocks: int = 0  # blocks written by this import


class BlockStore(Protocol):
    """What the server and the CLI need of a database holding blocks."""

    def sources(self) -> list[StoredSource]: ...
    def source(self, source_id: int) -> StoredSource | None: ...
    def import_file(
        self,
        path: str,
        *,
        name: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Imported: ...
    def recording(self, source_id: int) -> _core.Recording: ...
    def close(self) -> None: ...


def _blob_bytes(rows: list[tuple[Any, ...]]) -> int:
    """Bytes of the stored blobs (data, checkpoint: the rows' last two values)."""
    return sum(len(r[-2]) + (len(r[-1]) if r[-1] is not None else 0) for r in rows)


def default_path() -> str:
    """The database `mbo-fast import` and `mbo-fast serve` use unless told otherwise:
    `$XDG_CACHE_HOME/mbo-fast/mbo-fast.sqlite3` (`~/.cache/...` without the variable)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mbo-fast", "mbo-fast.sqlite3")


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _owner() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


class SqliteStore:
    """The embedded block store: one SQLite file (WAL)."""

    def __init__(self, path: str, *, busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self._busy_ms = int(busy_timeout_s * 1000)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        try:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._conn = conn
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {path}: {exc}") from None

    # ------------------------------------------------------------------------------------------
    # schema

    def _migrate(self) -> None:
        conn = self._conn
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        found = 0 if row is None else int(row[0])
        if found == SCHEMA_VERSION:
            return
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {found} is newer than this mbo-fast "
                f"({SCHEMA_VERSION}): upgrade mbo-fast"
            )
        if found != 0:
            raise StoreError(
                f"{self.path} holds schema version {found} (one SQL row per record); this "
                f"mbo-fast stores blocks (version {SCHEMA_VERSION}). Convert it with "
                f"`mbo-fast db upgrade {self.path}`, or start on a new database."
            )
        with self._write() as conn:
            conn.executescript(
                "BEGIN;" + _SCHEMA + f"DELETE FROM schema_version;"
                f"INSERT INTO schema_version VALUES ({SCHEMA_VERSION}); COMMIT;"
            )

    # ------------------------------------------------------------------------------------------
    # connections

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self._closed:
            raise StoreError(f"the store {self.path} is closed")
        with self._lock:
            yield self._conn

    @contextlib.contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """The writer connection inside `BEGIN IMMEDIATE` … `COMMIT` (rolled back on any
        error; SQLite may have rolled back already, e.g. on a full disk). SQLite errors become
        StoreError naming `what`."""
        try:
            with self._write() as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise StoreError(f"{what} in {self.path}: {exc}") from None

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError(f"the store {self.path} is closed")
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._conn.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------
    # reads

    def sources(self) -> list[StoredSource]:
        """Every complete or live source, oldest first."""
        return self._sources("state != 'importing'", ())

    def source(self, source_id: int) -> StoredSource | None:
        found = self._sources("state != 'importing' AND id = ?", (source_id,))
        return found[0] if found else None

    def find(self, sha256: str) -> StoredSource | None:
        found = self._sources("state != 'importing' AND sha256 = ?", (sha256,))
        return found[0] if found else None

    def _sources(self, where: str, args: tuple[Any, ...]) -> list[StoredSource]:
        try:
            conn = self._reader()
            rows = conn.execute(
                "SELECT id, sha256, name, kind, state, file_bytes, records, dataset, ts_first, "
                "ts_last, created_ns, completed_ns, stored_bytes "
                f"FROM sources WHERE {where} ORDER BY id",
                args,
            ).fetchall()
            books: dict[int, list[StoredBook]] = {}
            ids = [r[0] for r in rows]
            if ids:
                marks = ",".join("?" * len(ids))
                for sid, *b in conn.execute(
                    "SELECT source_id, instrument_id, publisher_id, symbol, records, trades, "
                    f"ts_first, ts_last FROM source_books WHERE source_id IN ({marks}) "
                    "ORDER BY source_id, instrument_id, publisher_id",
                    ids,
                ):
                    books.setdefault(sid, []).append(StoredBook(*b))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store {self.path}: {exc}") from None
        return [
            StoredSource(
                id=r[0],
                sha256=r[1],
                name=r[2],
                kind=r[3],
                state=r[4],
                file_bytes=r[5],
                records=r[6],
                dataset=r[7],
                ts_first=r[8],
                ts_last=r[9],
                created_ns=r[10],
                completed_ns=r[11],
                stored_bytes=int(r[12]),
                books=tuple(books.get(r[0], ())),
            )
            for r in rows
        ]

    def metadata_dbn(self, source_id: int) -> bytes | None:
        """The source's DBN header (a DBN stream without records)."""
        row = (
            self._reader()
            .execute("SELECT metadata FROM sources WHERE id = ?", (source_id,))
            .fetchone()
        )
        return None if row is None else row[0]

    def recording(self, source_id: int) -> _core.Recording:
        """The stored source as a `Recording`: blocks are read from the database on demand,
        through the process's bounded cache of decoded blocks."""
        src = self.source(source_id)
        if src is None:
            raise StoreError(f"no stored source {source_id} in {self.path}")
        try:
            rows = (
                self._reader()
                .execute(
                    "SELECT first_index, records, ts_first, ts_last, ts_max, has_checkpoint "
                    "FROM blocks INDEXED BY blocks_index WHERE source_id = ? "
                    "ORDER BY first_index",
                    (source_id,),
                )
                .fetchall()
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store {self.path}: {exc}") from None
        blocks = [(r[0], r[1], r[2], r[3], r[4]) for r in rows]
        checkpoints = [r[0] for r in rows if r[5]]
        keys = [(b.instrument_id, b.publisher_id) for b in src.books]
        label = f"{src.name} (stored source {source_id})"
        return _core.Recording.stored(
            label,
            blocks,
            checkpoints,
            keys,
            self._fetcher(source_id, "data"),
            self._fetcher(source_id, "checkpoint"),
        )

    def _fetcher(self, source_id: int, column: str) -> Callable[[int], bytes]:
        sql = f"SELECT {column} FROM blocks WHERE source_id = ? AND first_index = ?"

        def fetch(first_index: int) -> bytes:
            try:
                row = self._reader().execute(sql, (source_id, first_index)).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the store {self.path}: {exc}") from None
            if row is None or not isinstance(row[0], bytes):
                raise StoreError(
                    f"stored source {source_id}: no {column} for the block at record {first_index}"
                )
            return row[0]

        return fetch

    # ------------------------------------------------------------------------------------------
    # live sessions

    def begin_live(
        self,
        name: str,
        *,
        block_records: int = BLOCK_RECORDS,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> int:
        """A new live session (state `live`, visible at once and growing): its source id."""
        now = time.time_ns()
        with self._transaction("cannot start a live session") as conn:
            cur = conn.execute(
                "INSERT INTO sources (sha256, name, kind, state, file_bytes, records, "
                "block_records, checkpoint_every, created_ns, owner, heartbeat_ns) "
                "VALUES (?, ?, 'live', 'live', 0, 0, ?, ?, ?, ?, ?)",
                (f"live:{name}:{now}", name, block_records, checkpoint_every, now, _owner(), now),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def append_live(
        self,
        source_id: int,
        blocks: list[tuple[tuple[int, int, int, int, int], bytes, bytes | None]],
        books: list[tuple[int, int, int, int, int, int]],
    ) -> int:
        """Store a live session's next blocks and its books' statistics so far, in one
        transaction. Returns the records stored in all."""
        with self._transaction("cannot store live blocks") as conn:
            rows = [(source_id, *meta, ckpt is not None, data, ckpt) for meta, data, ckpt in blocks]
            conn.executemany(
                "INSERT INTO blocks (source_id, first_index, records, ts_first, ts_last, "
                "ts_max, has_checkpoint, data, checkpoint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.executemany(
                "INSERT INTO source_books (source_id, instrument_id, publisher_id, records, "
                "trades, ts_first, ts_last) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (source_id, instrument_id, publisher_id) DO UPDATE SET "
                "records = excluded.records, trades = excluded.trades, "
                "ts_last = excluded.ts_last",
                [(source_id, *book) for book in books],
            )
            first, last = blocks[0][0], blocks[-1][0]
            conn.execute(
                "UPDATE sources SET records = records + ?, ts_first = coalesce(ts_first, ?), "
                "ts_last = ?, heartbeat_ns = ?, stored_bytes = stored_bytes + ? WHERE id = ?",
                (
                    sum(meta[1] for meta, _, _ in blocks),
                    first[2],
                    last[4],
                    time.time_ns(),
                    _blob_bytes(rows),
                    source_id,
                ),
            )
            row = conn.execute("SELECT records FROM sources WHERE id = ?", (source_id,))
            return int(row.fetchone()[0])

    def finish_live(self, source_id: int) -> None:
        """The session ended: its source is complete (no longer growing)."""
        with self._transaction("cannot end a live session") as conn:
            conn.execute(
                "UPDATE sources SET state = 'complete', completed_ns = ?, owner = NULL "
                "WHERE id = ? AND state = 'live'",
                (time.time_ns(), source_id),
            )

    def end_abandoned_live(self) -> int:
        """Live sessions whose process stopped writing (killed) end where their blocks do."""
        cutoff = time.time_ns() - int(STALE_IMPORT_S * 1e9)
        with self._transaction("cannot end abandoned live sessions") as conn:
            cur = conn.execute(
                "UPDATE sources SET state = 'complete', completed_ns = heartbeat_ns, "
                "owner = NULL WHERE state = 'live' AND heartbeat_ns < ?",
                (cutoff,),
            )
            return int(cur.rowcount)

    # ------------------------------------------------------------------------------------------
    # imports

    def import_file(
        self,
        path: str,
        *,
        name: str | None = None,
        progress: Callable[[int], None] | None = None,
        block_records: int = BLOCK_RECORDS,
        checkpoint_every: int = CHECKPOINT_EVERY,
        sha256: str | None = None,
    ) -> Imported:
        """Store a DBN MBO file unless the store holds its content already. Crash-safe: the
        source is visible only once complete; an import interrupted (killed) is resumed by the
        next import of the same file; two imports of it at once store it once."""
        t0 = time.perf_counter()
        try:
            sha = sha256 or file_sha256(path)
            size = os.path.getsize(path)
        except OSError as exc:
            from .errors import SourceError

            raise SourceError(exc.errno or 0, f"cannot read {path}: {exc.strerror}", path) from None
        claim = self._claim(
            sha, name or os.path.basename(path), size, block_records, checkpoint_every
        )
        if claim is None:
            found = self.find(sha)
            assert found is not None
            return Imported(found.id, False, found.records, time.perf_counter() - t0)
        source_id, skip, block_records, checkpoint_every = claim
        records, blocks = self._fill(
            source_id, path, skip, block_records, checkpoint_every, progress
        )
        return Imported(source_id, True, records, time.perf_counter() - t0, blocks)

    def _claim(
        self,
        sha: str,
        name: str,
        size: int,
        block_records: int,
        checkpoint_every: int,
        kind: str = "file",
    ) -> tuple[int, int, int, int] | None:
        """Take the import of `sha`: (source id, records stored already, layout), or None when
        it is complete (waiting for another live importer to finish first)."""
        while True:
            now = time.time_ns()
            with self._transaction("cannot import") as conn:
                row = conn.execute(
                    "SELECT id, state, heartbeat_ns, records, block_records, "
                    "checkpoint_every FROM sources WHERE sha256 = ?",
                    (sha,),
                ).fetchone()
                if row is None:
                    cur = conn.execute(
                        "INSERT INTO sources (sha256, name, kind, state, file_bytes, records, "
                        "block_records, checkpoint_every, created_ns, owner, heartbeat_ns) "
                        "VALUES (?, ?, ?, 'importing', ?, 0, ?, ?, ?, ?, ?)",
                        (
                            sha,
                            name,
                            kind,
                            size,
                            block_records,
                            checkpoint_every,
                            now,
                            _owner(),
                            now,
                        ),
                    )
                    assert cur.lastrowid is not None
                    return cur.lastrowid, 0, block_records, checkpoint_every
                sid, state, beat, stored, brec, every = row
                if state != "importing":
                    return None
                if now - int(beat or 0) > STALE_IMPORT_S * 1e9:
                    conn.execute(
                        "UPDATE sources SET owner = ?, heartbeat_ns = ? WHERE id = ?",
                        (_owner(), now, sid),
                    )
                    log.info(
                        "resuming an interrupted import",
                        extra={"source_id": sid, "records": stored},
                    )
                    return int(sid), int(stored), int(brec), int(every)
            time.sleep(0.2)  # another process is importing it: wait for its end

    def _fill(
        self,
        source_id: int,
        path: str,
        skip: int,
        block_records: int,
        checkpoint_every: int,
        progress: Callable[[int], None] | None,
    ) -> tuple[int, int]:
        """(records, blocks written)."""
        imp = _core.BlockImport(path, block_records, checkpoint_every, skip)
        blocks = 0

        def counted() -> Iterator[tuple[tuple[int, int, int, int, int], bytes, bytes | None]]:
            nonlocal blocks
            for block in imp:
                blocks += 1
                yield block

        try:
            self._store_blocks(source_id, skip, counted(), progress)
            summary = imp.summary()
        finally:
            imp.close()
        assert summary is not None
        self._complete(source_id, summary)
        return int(summary["records"]), blocks

    def _store_blocks(
        self,
        source_id: int,
        stored: int,
        blocks: Iterable[tuple[tuple[int, int, int, int, int], bytes, bytes | None]],
        progress: Callable[[int], None] | None,
    ) -> int:
        """Store blocks in batched transactions; returns the records stored in all."""
        batch: list[tuple[Any, ...]] = []
        last_commit = time.monotonic()
        for meta, data, checkpoint in blocks:
            batch.append((source_id, *meta, checkpoint is not None, data, checkpoint))
            if len(batch) >= _COMMIT_BLOCKS or time.monotonic() - last_commit > _COMMIT_S:
                stored = self._put(source_id, batch)
                batch = []
                last_commit = time.monotonic()
                if progress is not None:
                    progress(stored)
        if batch:
            stored = self._put(source_id, batch)
        if progress is not None:
            progress(stored)
        return stored

    def _put(self, source_id: int, batch: list[tuple[Any, ...]]) -> int:
        """Store a batch of blocks in one transaction; returns the records stored in all."""
        with self._transaction("cannot store blocks") as conn:
            owner = conn.execute(
                "SELECT owner, records FROM sources WHERE id = ?", (source_id,)
            ).fetchone()
            if owner is None or owner[0] != _owner():
                raise StoreError(
                    f"the import of stored source {source_id} was taken over by "
                    f"{owner[0] if owner else 'nobody'}"
                )
            conn.executemany(
                "INSERT INTO blocks (source_id, first_index, records, ts_first, ts_last, "
                "ts_max, has_checkpoint, data, checkpoint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
            records = int(owner[1]) + sum(int(b[2]) for b in batch)
            conn.execute(
                "UPDATE sources SET records = ?, heartbeat_ns = ?, "
                "stored_bytes = stored_bytes + ? WHERE id = ?",
                (records, time.time_ns(), _blob_bytes(batch), source_id),
            )
            return records

    def _complete(self, source_id: int, summary: dict[str, Any]) -> None:
        symbols: dict[int, str] = summary["symbols"]
        books = summary["books"]
        meta = summary["metadata"]
        only_symbol = (meta.get("symbols") or [None])[0] if len(books) == 1 else None
        rows = [
            (source_id, iid, pid, symbols.get(iid) or only_symbol, n, trades, t0, t1)
            for iid, pid, n, trades, t0, t1 in books
        ]
        with self._transaction("cannot complete an import") as conn:
            conn.executemany(
                "INSERT INTO source_books (source_id, instrument_id, publisher_id, symbol, "
                "records, trades, ts_first, ts_last) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            span = conn.execute(
                "SELECT min(ts_first), max(ts_max) FROM blocks INDEXED BY blocks_index "
                "WHERE source_id = ?",
                (source_id,),
            ).fetchone()
            conn.execute(
                "UPDATE sources SET state = 'complete', records = ?, dataset = ?, metadata = ?, "
                "ts_first = ?, ts_last = ?, completed_ns = ?, owner = NULL WHERE id = ?",
                (
                    summary["records"],
                    meta.get("dataset"),
                    summary["metadata_dbn"],
                    span[0],
                    span[1],
                    time.time_ns(),
                    source_id,
                ),
            )


# ----------------------------------------------------------------------------------------------
# converting a database of schema 1-3 (the server's row-per-record tables)

_OLD_RECORD_COLS = (
    "ts_recv, ts_event, instrument_id, publisher_id, order_id, "
    "coalesce(price, 9223372036854775807), size, flags, unicode(action), unicode(side), "
    "sequence, channel_id"
)
_UPGRADE_BATCH = 200_000


def _old_records(conn: sqlite3.Connection, source_id: int) -> Iterator[bytes]:
    """A schema-3 file source's `records` rows as raw MBO records, in order, a batch at a time
    (its `ts_in_delta` was never stored: 0)."""
    from .records import empty

    cur = conn.execute(
        f"SELECT {_OLD_RECORD_COLS} FROM records WHERE source_id = ? ORDER BY idx", (source_id,)
    )
    names = (
        "ts_recv",
        "ts_event",
        "instrument_id",
        "publisher_id",
        "order_id",
        "price",
        "size",
        "flags",
        "action",
        "side",
        "sequence",
        "channel_id",
    )
    while rows := cur.fetchmany(_UPGRADE_BATCH):
        out = empty(len(rows))
        columns = list(zip(*rows))
        for name, values in zip(names, columns):
            if name == "order_id":  # stored as its two's-complement i64
                out[name] = [v & 0xFFFF_FFFF_FFFF_FFFF for v in values]
            elif name in ("action", "side"):
                out[name] = [v if isinstance(v, int) else ord(v[0]) for v in values]
            else:
                out[name] = values
        yield out.tobytes()


def upgrade(path: str) -> list[tuple[int, int, int]]:
    """Convert a database of schema 1-3 (one SQL row per record) to blocks: every stored source
    is rebuilt as blocks in `PATH.upgrading`, which then replaces PATH; the old file is kept as
    `PATH.schema3`. Returns `(old id, new id, records)` per source."""
    old = sqlite3.connect(path, isolation_level=None)
    try:
        row = old.execute("SELECT version FROM schema_version").fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"{path} is not an mbo-fast database: {exc}") from None
    version = int(row[0]) if row else 0
    if not 1 <= version < SCHEMA_VERSION:
        raise StoreError(f"{path} has schema version {version}: nothing to upgrade")
    old.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file first
    target = path + ".upgrading"
    for leftover in (target, target + "-wal", target + "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(leftover)
    done: list[tuple[int, int, int]] = []
    symbols: dict[tuple[int, int, int], str | None] = {}
    with contextlib.suppress(sqlite3.Error):  # schema 3 has source_books
        for sid, iid, pid, sym in old.execute(
            "SELECT source_id, instrument_id, publisher_id, symbol FROM source_books"
        ):
            symbols[(sid, iid, pid)] = sym
    with SqliteStore(target) as store:
        for sid, sha, name, size in old.execute(
            "SELECT id, sha256, name, bytes FROM sources ORDER BY id"
        ).fetchall():
            live = str(sha).startswith("live:")
            claim = store._claim(
                sha,
                name,
                int(size),
                BLOCK_RECORDS,
                CHECKPOINT_EVERY,
                kind="live" if live else "file",
            )
            assert claim is not None
            new_id = claim[0]
            builder = _core.BlockBuilder(BLOCK_RECORDS, CHECKPOINT_EVERY)
            chunks: Iterable[bytes] = (
                (
                    r[0]
                    for r in old.execute(
                        "SELECT data FROM live_chunks WHERE source_id = ? ORDER BY first_idx",
                        (sid,),
                    )
                )
                if live
                else _old_records(old, sid)
            )

            def blocks(
                chunks: Iterable[bytes] = chunks, builder: _core.BlockBuilder = builder
            ) -> Iterator[tuple[tuple[int, int, int, int, int], bytes, bytes | None]]:
                for chunk in chunks:
                    yield from builder.push(chunk)
                last = builder.flush()
                if last is not None:
                    yield last

            store._store_blocks(new_id, 0, blocks(), None)
            books = builder.books()
            store._complete(
                new_id,
                {
                    "records": builder.records,
                    "books": books,
                    "symbols": {iid: symbols.get((sid, iid, pid)) for iid, pid, *_ in books},
                    "metadata": {},
                    "metadata_dbn": None,
                },
            )
            done.append((int(sid), new_id, builder.records))
    old.close()
    os.replace(path, path + ".schema3")
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)
    os.replace(target, path)
    return done
