"""The block store's logic over any SQL database: what is stored, how an import claims, fills
and completes a source, how live sessions grow, how a `Recording` reads its blocks back. The
dialects (`sqlite.py`, `postgres.py`) supply connections, the DDL and a few spellings; every
statement here is written once, with `?` placeholders (translated by a dialect that needs it).

Writes are serialised per database (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a transaction-level
advisory lock), which is what makes `_claim` safe between processes and machines: two imports
of the same content store it once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .. import _core
from ..errors import SourceError, StoreError
from .types import Imported, StoredBook, StoredSource, file_sha256

log = logging.getLogger("mbo_fast.store")

SCHEMA_VERSION = 4
BLOCK_RECORDS = 4096
CHECKPOINT_EVERY = 32_768

BlockRow = tuple[tuple[int, int, int, int, int], bytes, "bytes | None"]


def _blob_bytes(rows: list[tuple[Any, ...]]) -> int:
    """Bytes of the stored blobs (data, checkpoint: the rows' last two values)."""
    return sum(len(r[-2]) + (len(r[-1]) if r[-1] is not None else 0) for r in rows)


def _owner() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


class SqlStore:
    """The block store over a DB-API database; subclasses are the dialects."""

    # An import whose owner has not written for this long is taken to be dead and is resumed.
    stale_import_s: float = 30.0
    # Blocks per write transaction during an import (and at least one commit a second).
    commit_blocks: int = 64
    commit_s: float = 1.0

    # What names the database in messages and logs (a path; a DSN without its password).
    label: str
    # The driver's error class: every one of them becomes a StoreError.
    _errors: type[BaseException] | tuple[type[BaseException], ...]
    # How a query asks for the blocks' compact index (SQLite needs telling; PostgreSQL does not).
    _blocks_index = ""
    _closed = False

    # ------------------------------------------------------------------------------------------
    # what a dialect supplies

    def _write_transaction(self) -> contextlib.AbstractContextManager[Any]:
        """A cursor in a write transaction that holds the database's write lock; committed
        when the block ends, rolled back on any error."""
        raise NotImplementedError

    def _read_cursor(self) -> contextlib.AbstractContextManager[Any]:
        """A cursor for reads (a connection per thread)."""
        raise NotImplementedError

    def _sql(self, statement: str) -> str:
        """`statement` in the driver's placeholder style."""
        return statement

    def close(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------
    # shared plumbing

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self, what: str) -> Iterator[Any]:
        """A write transaction; driver errors become StoreError naming `what`."""
        if self._closed:
            raise StoreError(f"the store {self.label} is closed")
        try:
            with self._write_transaction() as cur:
                yield _Cursor(cur, self._sql)
        except self._errors as exc:
            raise StoreError(f"{what} in {self.label}: {exc}") from None

    @contextlib.contextmanager
    def _read(self) -> Iterator[Any]:
        if self._closed:
            raise StoreError(f"the store {self.label} is closed")
        try:
            with self._read_cursor() as cur:
                yield _Cursor(cur, self._sql)
        except self._errors as exc:
            raise StoreError(f"cannot read the store {self.label}: {exc}") from None

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
        with self._read() as cur:
            rows = cur.execute(
                "SELECT id, sha256, name, kind, state, file_bytes, records, dataset, ts_first, "
                "ts_last, created_ns, completed_ns, stored_bytes "
                f"FROM sources WHERE {where} ORDER BY id",
                args,
            ).fetchall()
            books: dict[int, list[StoredBook]] = {}
            ids = [r[0] for r in rows]
            if ids:
                marks = ",".join("?" * len(ids))
                for sid, *b in cur.execute(
                    "SELECT source_id, instrument_id, publisher_id, symbol, records, trades, "
                    f"ts_first, ts_last FROM source_books WHERE source_id IN ({marks}) "
                    "ORDER BY source_id, instrument_id, publisher_id",
                    ids,
                ).fetchall():
                    books.setdefault(sid, []).append(StoredBook(*b))
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
        with self._read() as cur:
            row = cur.execute("SELECT metadata FROM sources WHERE id = ?", (source_id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def recording(self, source_id: int) -> _core.Recording:
        """The stored source as a `Recording`: blocks are read from the database on demand,
        through the process's bounded cache of decoded blocks."""
        src = self.source(source_id)
        if src is None:
            raise StoreError(f"no stored source {source_id} in {self.label}")
        with self._read() as cur:
            rows = cur.execute(
                "SELECT first_index, records, ts_first, ts_last, ts_max, has_checkpoint "
                f"FROM blocks {self._blocks_index} WHERE source_id = ? ORDER BY first_index",
                (source_id,),
            ).fetchall()
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
            with self._read() as cur:
                row = cur.execute(sql, (source_id, first_index)).fetchone()
            if row is None or row[0] is None:
                raise StoreError(
                    f"stored source {source_id}: no {column} for the block at record {first_index}"
                )
            return bytes(row[0])

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
        with self._transaction("cannot start a live session") as cur:
            row = cur.execute(
                "INSERT INTO sources (sha256, name, kind, state, file_bytes, records, "
                "block_records, checkpoint_every, created_ns, owner, heartbeat_ns) "
                "VALUES (?, ?, 'live', 'live', 0, 0, ?, ?, ?, ?, ?) RETURNING id",
                (f"live:{name}:{now}", name, block_records, checkpoint_every, now, _owner(), now),
            ).fetchone()
            return int(row[0])

    def append_live(
        self,
        source_id: int,
        blocks: list[BlockRow],
        books: list[tuple[int, int, int, int, int, int]],
    ) -> int:
        """Store a live session's next blocks and its books' statistics so far, in one
        transaction. Returns the records stored in all. Idempotent: blocks stored already (a
        retry after a commit whose answer was lost) are skipped, and the session's record count
        is where its last block ends."""
        with self._transaction("cannot store live blocks") as cur:
            rows = [
                (source_id, *meta, int(ckpt is not None), data, ckpt) for meta, data, ckpt in blocks
            ]
            cur.executemany(
                "INSERT INTO blocks (source_id, first_index, records, ts_first, ts_last, "
                "ts_max, has_checkpoint, data, checkpoint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (source_id, first_index) DO NOTHING",
                rows,
            )
            cur.executemany(
                "INSERT INTO source_books (source_id, instrument_id, publisher_id, records, "
                "trades, ts_first, ts_last) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (source_id, instrument_id, publisher_id) DO UPDATE SET "
                "records = excluded.records, trades = excluded.trades, "
                "ts_last = excluded.ts_last",
                [(source_id, *book) for book in books],
            )
            first, last = blocks[0][0], blocks[-1][0]
            cur.execute(
                "UPDATE sources SET records = ?, ts_first = coalesce(ts_first, ?), "
                "ts_last = ?, heartbeat_ns = ?, stored_bytes = stored_bytes + ? WHERE id = ?",
                (
                    last[0] + last[1],
                    first[2],
                    last[4],
                    time.time_ns(),
                    _blob_bytes(rows),
                    source_id,
                ),
            )
            row = cur.execute("SELECT records FROM sources WHERE id = ?", (source_id,))
            return int(row.fetchone()[0])

    def finish_live(self, source_id: int) -> None:
        """The session ended: its source is complete (no longer growing)."""
        with self._transaction("cannot end a live session") as cur:
            cur.execute(
                "UPDATE sources SET state = 'complete', completed_ns = ?, owner = NULL "
                "WHERE id = ? AND state = 'live'",
                (time.time_ns(), source_id),
            )

    def end_abandoned_live(self) -> int:
        """Live sessions whose process stopped writing (killed) end where their blocks do."""
        cutoff = time.time_ns() - int(self.stale_import_s * 1e9)
        with self._transaction("cannot end abandoned live sessions") as cur:
            done = cur.execute(
                "UPDATE sources SET state = 'complete', completed_ns = heartbeat_ns, "
                "owner = NULL WHERE state = 'live' AND heartbeat_ns < ?",
                (cutoff,),
            )
            return int(done.rowcount)

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
            with self._transaction("cannot import") as cur:
                row = cur.execute(
                    "SELECT id, state, heartbeat_ns, records, block_records, "
                    "checkpoint_every FROM sources WHERE sha256 = ?",
                    (sha,),
                ).fetchone()
                if row is None:
                    new = cur.execute(
                        "INSERT INTO sources (sha256, name, kind, state, file_bytes, records, "
                        "block_records, checkpoint_every, created_ns, owner, heartbeat_ns) "
                        "VALUES (?, ?, ?, 'importing', ?, 0, ?, ?, ?, ?, ?) RETURNING id",
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
                    ).fetchone()
                    return int(new[0]), 0, block_records, checkpoint_every
                sid, state, beat, stored, brec, every = row
                if state != "importing":
                    return None
                if now - int(beat or 0) > self.stale_import_s * 1e9:
                    cur.execute(
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

        def counted() -> Iterator[BlockRow]:
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
        blocks: Iterable[BlockRow],
        progress: Callable[[int], None] | None,
    ) -> int:
        """Store blocks in batched transactions; returns the records stored in all."""
        batch: list[tuple[Any, ...]] = []
        last_commit = time.monotonic()
        for meta, data, checkpoint in blocks:
            batch.append((source_id, *meta, int(checkpoint is not None), data, checkpoint))
            if len(batch) >= self.commit_blocks or time.monotonic() - last_commit > self.commit_s:
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
        with self._transaction("cannot store blocks") as cur:
            owner = cur.execute(
                "SELECT owner, records FROM sources WHERE id = ?", (source_id,)
            ).fetchone()
            if owner is None or owner[0] != _owner():
                raise StoreError(
                    f"the import of stored source {source_id} was taken over by "
                    f"{owner[0] if owner else 'nobody'}"
                )
            cur.executemany(
                "INSERT INTO blocks (source_id, first_index, records, ts_first, ts_last, "
                "ts_max, has_checkpoint, data, checkpoint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
            records = int(owner[1]) + sum(int(b[2]) for b in batch)
            cur.execute(
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
        with self._transaction("cannot complete an import") as cur:
            cur.executemany(
                "INSERT INTO source_books (source_id, instrument_id, publisher_id, symbol, "
                "records, trades, ts_first, ts_last) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            span = cur.execute(
                f"SELECT min(ts_first), max(ts_max) FROM blocks {self._blocks_index} "
                "WHERE source_id = ?",
                (source_id,),
            ).fetchone()
            cur.execute(
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


class _Cursor:
    """A driver cursor whose statements are translated to the driver's placeholders."""

    __slots__ = ("_cur", "_sql")

    def __init__(self, cur: Any, sql: Callable[[str], str]) -> None:
        self._cur = cur
        self._sql = sql

    def execute(self, statement: str, args: Iterable[Any] = ()) -> Any:
        self._cur.execute(self._sql(statement), tuple(args))
        return self._cur

    def executemany(self, statement: str, rows: Iterable[Iterable[Any]]) -> None:
        rows = list(rows)
        if rows:
            self._cur.executemany(self._sql(statement), rows)
