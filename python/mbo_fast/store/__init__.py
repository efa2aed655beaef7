"""The block store: sessions kept as compressed blocks of raw DBN MBO records with periodic
checkpoints of every book (the core's `Recording` format), so that any size of data is served
with bounded memory and a restart needs no re-import.

One concept, one file per part:

- `types.py`: what is stored (`StoredSource`, `StoredBook`, `Imported`) and `BlockStore`, the
  interface the server and the CLI use;
- `sql.py`: the store's logic over any SQL database, written once (`SqlStore`);
- `sqlite.py`: `SqliteStore`, the embedded default (one file);
- `postgres.py`: `PostgresStore`, the same tables on PostgreSQL, shared by several servers;
- `upgrade.py`: converting the earlier row-per-record SQLite schema.

`open_store(target)` picks the dialect: a `postgresql://` URL or a SQLite path.
"""

from __future__ import annotations

import os

from .postgres import PostgresStore, is_postgres_url, safe_label
from .sql import BLOCK_RECORDS, CHECKPOINT_EVERY, SCHEMA_VERSION, SqlStore
from .sqlite import SqliteStore
from .types import BlockStore, Imported, StoredBook, StoredSource, default_path, file_sha256
from .upgrade import upgrade

__all__ = [
    "BLOCK_RECORDS",
    "CHECKPOINT_EVERY",
    "SCHEMA_VERSION",
    "BlockStore",
    "Imported",
    "PostgresStore",
    "SqlStore",
    "SqliteStore",
    "StoredBook",
    "StoredSource",
    "default_path",
    "file_sha256",
    "is_postgres_url",
    "open_store",
    "store_label",
    "upgrade",
]


def store_label(target: str) -> str:
    """What messages and logs call the store at `target` (a DSN loses its password)."""
    return safe_label(target) if is_postgres_url(target) else target


def open_store(target: str) -> SqlStore:
    """The block store at `target`: a `postgresql://` URL (psycopg 3; the password from the
    environment), or a SQLite file path (its directory is created)."""
    if is_postgres_url(target):
        return PostgresStore(target)
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    return SqliteStore(target)
