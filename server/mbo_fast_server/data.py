"""What the server serves: every stream in its block store (`mbo_fast.store`), each a
`Recording` whose blocks are read from the database on demand through the process's bounded
cache, with its books (symbol, record and trade counts, time range) from the store. Nothing is
held per record, so a source of any size costs the same memory; a restart serves what the
database holds at once.

Configured files (and the simulator's default session) are imported into the store first
(`mbo_fast.store.SqliteStore.import_file`: skipped when the same content is stored already).
Requests name sources by their store id; only paths from the configuration are ever opened."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any

import mbo_fast
from mbo_fast import _core
from mbo_fast.store import SqliteStore, StoredSource

from .config import Config

log = logging.getLogger("mbo_fast_server.data")

F_LAST = 0x80
UNDEF_PRICE = int(mbo_fast.UNDEF_PRICE)


@dataclasses.dataclass
class BookInfo:
    instrument_id: int
    publisher_id: int
    symbol: str | None
    records: int
    trades: int
    ts_first: int
    ts_last: int


@dataclasses.dataclass
class Source:
    id: int  # the store's source id: what requests name
    name: str
    sha256: str
    kind: str  # "file" or "live"
    dataset: str | None
    file_bytes: int
    stored_bytes: int
    recording: _core.Recording
    books: dict[tuple[int, int], BookInfo]
    ts_first: int | None = None
    ts_last: int | None = None

    def __len__(self) -> int:
        return len(self.recording)

    @property
    def ts_range(self) -> tuple[int, int] | None:
        if self.ts_first is None or self.ts_last is None:
            return None
        return (self.ts_first, self.ts_last)

    def summary(self) -> dict[str, Any]:
        rng = self.ts_range
        return {
            "source": self.id,
            "name": self.name,
            "kind": self.kind,
            "sha256": self.sha256,
            "bytes": self.file_bytes,
            "stored_bytes": self.stored_bytes,
            "records": len(self),
            "dataset": self.dataset,
            "ts_recv_first": rng[0] if rng else None,
            "ts_recv_last": rng[1] if rng else None,
            "books": len(self.books),
        }

    def update_books(self, books: list[tuple[int, int, int, int, int, int]]) -> None:
        """A growing (live) source's books so far: (iid, pid, records, trades, ts_first,
        ts_last) each."""
        for iid, pid, n, trades, t0, t1 in books:
            info = self.books.get((iid, pid))
            symbol = info.symbol if info is not None else None
            self.books[(iid, pid)] = BookInfo(iid, pid, symbol, n, trades, t0, t1)
            self.ts_first = t0 if self.ts_first is None else min(self.ts_first, t0)
            self.ts_last = t1 if self.ts_last is None else max(self.ts_last, t1)


def source_of(store: SqliteStore, stored: StoredSource) -> Source:
    """A stored source as the server serves it (its blocks are read on demand)."""
    return Source(
        id=stored.id,
        name=stored.name,
        sha256=stored.sha256,
        kind=stored.kind,
        dataset=stored.dataset,
        file_bytes=stored.file_bytes,
        stored_bytes=stored.stored_bytes,
        recording=store.recording(stored.id),
        books={
            (b.instrument_id, b.publisher_id): BookInfo(**dataclasses.asdict(b))
            for b in stored.books
        },
        ts_first=stored.ts_first,
        ts_last=stored.ts_last,
    )


class LookupFailed(Exception):
    """A request named something that does not exist (404) or is ambiguous (400)."""

    def __init__(self, status: int, parameter: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.parameter = parameter


class Catalog:
    """The sources served, by store id (stored ones at start; imports and live sessions join
    while the server runs)."""

    def __init__(self, sources: list[Source] | None = None) -> None:
        self.by_id: dict[int, Source] = {}
        for src in sources or []:
            self.add(src)

    @property
    def sources(self) -> list[Source]:
        return [self.by_id[k] for k in sorted(self.by_id)]

    def add(self, src: Source) -> None:
        self.by_id[src.id] = src

    def get(self, source_id: int) -> Source:
        src = self.by_id.get(source_id)
        if src is None:
            raise LookupFailed(404, "source", f"no source {source_id}")
        return src

    def instruments(self) -> list[dict[str, Any]]:
        by_iid: dict[int, dict[str, Any]] = {}
        for src in self.sources:
            for (iid, pid), b in sorted(src.books.items()):
                entry = by_iid.setdefault(
                    iid,
                    {
                        "instrument_id": iid,
                        "symbol": b.symbol,
                        "records": 0,
                        "trades": 0,
                        "ts_recv_first": b.ts_first,
                        "ts_recv_last": b.ts_last,
                        "publishers": [],
                    },
                )
                entry["symbol"] = entry["symbol"] or b.symbol
                entry["records"] += b.records
                entry["trades"] += b.trades
                entry["ts_recv_first"] = min(entry["ts_recv_first"], b.ts_first)
                entry["ts_recv_last"] = max(entry["ts_recv_last"], b.ts_last)
                entry["publishers"].append(
                    {
                        "publisher_id": pid,
                        "source": src.id,
                        "records": b.records,
                        "trades": b.trades,
                        "ts_recv_first": b.ts_first,
                        "ts_recv_last": b.ts_last,
                    }
                )
        return [by_iid[k] for k in sorted(by_iid)]

    def find(
        self, instrument_id: int, publisher_id: int | None, source: int | None
    ) -> tuple[Source, int]:
        """The source and publisher of a book named by a request."""
        if source is not None:
            self.get(source)
        candidates = [
            (src, pid)
            for src in self.sources
            if source is None or src.id == source
            for (iid, pid) in src.books
            if iid == instrument_id and (publisher_id is None or pid == publisher_id)
        ]
        if not candidates:
            if not any(iid == instrument_id for s in self.sources for (iid, _) in s.books):
                raise LookupFailed(404, "instrument_id", f"no instrument {instrument_id}")
            what = "publisher_id" if publisher_id is not None else "source"
            raise LookupFailed(
                404, what, f"no book for instrument {instrument_id} with that {what}"
            )
        if len({pid for _, pid in candidates}) > 1:
            raise LookupFailed(
                400, "publisher_id", f"instrument {instrument_id} has several publishers: name one"
            )
        if len({src.id for src, _ in candidates}) > 1:
            raise LookupFailed(
                400, "source", f"instrument {instrument_id} is in several sources: name one"
            )
        return candidates[0]


def seek(replay: _core.Replay, index: int | None, ts: int | None) -> None:
    """After record `index`, or every record with ts_recv <= `ts`, or (neither) the end."""
    if index is not None:
        replay.seek(index=index)
    elif ts is not None:
        replay.seek(ts=ts)
    elif len(replay):
        replay.seek(index=len(replay) - 1)


def book_at(
    src: Source,
    instrument_id: int,
    publisher_id: int,
    *,
    index: int | None,
    ts: int | None,
    depth: int,
    orders: bool,
) -> bytes:
    """The `/api/v1/book` document (JSON) of the book after record `index` (or after every
    record with ts_recv <= ts; the end of the data when neither is given), from the source's
    blocks: a cursor of its own that follows this book only (the checkpoint before the target,
    then the book's records up to it). The book's state (levels, queues, flags, uncross) is
    written by the core (`Book.state_json`); a book with no record applied yet reads as an
    empty book. Blocking: call it in an executor."""
    replay = src.recording.replay(instrument_id, publisher_id)
    seek(replay, index, ts)
    position = replay.position
    head = {
        "source": src.id,
        "instrument_id": instrument_id,
        "publisher_id": publisher_id,
        "symbol": src.books[(instrument_id, publisher_id)].symbol,
        "index": position - 1 if position else None,
        "position": position,
        "ts_recv": replay.ts_recv,
    }
    state = replay.book(instrument_id, publisher_id).state_json(depth, orders)
    return join_json(head, state)


def join_json(head: dict[str, Any], state: bytes) -> bytes:
    """`head`'s fields followed by those of the core's JSON object `state`, as one object."""
    return json.dumps(head, separators=(",", ":")).encode()[:-1] + b"," + state[1:]


def default_data_path(config: Config) -> str:
    """The simulator's deterministic session, generated once into the data directory."""
    name = f"sim-seed{config.sim_seed}-{config.sim_records}.dbn"
    path = os.path.join(config.data_dir, name)
    if os.path.exists(path):
        return path
    os.makedirs(config.data_dir, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    log.info(
        "generating the default session",
        extra={"seed": config.sim_seed, "records": config.sim_records, "path": path},
    )
    mbo_fast.simulate(seed=config.sim_seed, records=config.sim_records, path=tmp)
    os.replace(tmp, path)
    return path


def configured_paths(config: Config, store: SqliteStore) -> list[str]:
    """The files to import before the server is ready: `files`, the Databento download, and
    the simulator's default session when neither is given and the store holds nothing yet."""
    paths = list(dict.fromkeys(config.files))
    if config.databento:
        from .databento_source import databento_path

        paths.append(databento_path(config))
    if not paths and not store.sources():
        paths.append(default_data_path(config))
    return paths
