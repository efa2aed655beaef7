"""The embedded block store: one SQLite file (WAL), the default for one machine.

Tables (schema version 4; versions 1-3 were the server's row-per-record tables, converted by
`mbo-fast db upgrade PATH`, see `upgrade.py`):

- `sources`: one row per stored stream, keyed by the SHA-256 of its file (a live session:
  `live:URL:ns`); `state` is `importing` until every block and book is in, then `complete`;
  a live session is `live` while it grows. Queries only ever see complete and live sources, so
  a `kill -9` mid-import leaves the source absent, and the next import resumes it.
- `blocks`: `(source_id, first_index)` → records, ts_first/ts_last/ts_max, the compressed
  block, and the checkpoint of every book before its first record when one was taken there;
  indexed by `(source_id, ts_max)` for seeks by time.
- `source_books`: per book, its symbol, records, trades and ts_recv range.

Writes go through one connection under a lock (`BEGIN IMMEDIATE`: one writer per file across
processes); reads use a connection per thread.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

from ..errors import StoreError
from .sql import SCHEMA_VERSION, SqlStore

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


class SqliteStore(SqlStore):
    """The embedded block store: one SQLite file (WAL)."""

    _errors = sqlite3.Error
    _blocks_index = "INDEXED BY blocks_index"

    def __init__(self, path: str, *, busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self.label = path
        self._busy_ms = int(busy_timeout_s * 1000)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
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
        with self._lock:
            conn.executescript(
                "BEGIN;" + _SCHEMA + f"DELETE FROM schema_version;"
                f"INSERT INTO schema_version VALUES ({SCHEMA_VERSION}); COMMIT;"
            )

    @contextlib.contextmanager
    def _write_transaction(self) -> Iterator[Any]:
        """The writer connection inside `BEGIN IMMEDIATE` … `COMMIT` (rolled back on any
        error; SQLite may have rolled back already, e.g. on a full disk)."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn.cursor()
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def _read_cursor(self) -> Iterator[Any]:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        yield conn.cursor()

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
