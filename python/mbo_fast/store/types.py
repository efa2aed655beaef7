"""What the block store holds and hands out, whatever the database: stored sources and their
books, an import's outcome, and `BlockStore`, the interface the server and the CLI use."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from typing import Protocol

from .. import _core


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

    label: str

    @property
    def closed(self) -> bool: ...
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
    def metadata_dbn(self, source_id: int) -> bytes | None: ...
    def begin_live(self, name: str, *, checkpoint_every: int = ...) -> int: ...
    def append_live(
        self,
        source_id: int,
        blocks: list[tuple[tuple[int, int, int, int, int], bytes, bytes | None]],
        books: list[tuple[int, int, int, int, int, int]],
    ) -> int: ...
    def finish_live(self, source_id: int) -> None: ...
    def end_abandoned_live(self) -> int: ...
    def close(self) -> None: ...


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
