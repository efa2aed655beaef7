"""Converting a database of schema 1-3 (the server's row-per-record SQLite tables) to blocks:
`mbo-fast db upgrade PATH`."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator

from .. import _core
from ..errors import StoreError
from .sql import BLOCK_RECORDS, CHECKPOINT_EVERY, SCHEMA_VERSION
from .sqlite import SqliteStore

_OLD_RECORD_COLS = (
    "ts_recv, ts_event, instrument_id, publisher_id, order_id, "
    "coalesce(price, 9223372036854775807), size, flags, unicode(action), unicode(side), "
    "sequence, channel_id"
)
_UPGRADE_BATCH = 200_000


def _old_records(conn: sqlite3.Connection, source_id: int) -> Iterator[bytes]:
    """A schema-3 file source's `records` rows as raw MBO records, in order, a batch at a time
    (its `ts_in_delta` was never stored: 0)."""
    from ..records import empty

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
