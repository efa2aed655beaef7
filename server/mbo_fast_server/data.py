"""Loaded data sources: for each file a `mbo_fast.Replay` (records in memory, fast seeks), its
`mbo_fast.info`, and per book (instrument_id, publisher_id) the symbol, record count and time
range. Only paths from the configuration are ever opened; requests name sources by number."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

import mbo_fast

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
    id: int  # position in the configuration's list: what requests name
    path: str
    name: str
    sha256: str
    size: int
    info: dict[str, Any]
    replay: mbo_fast.Replay
    records: dict[str, NDArray[Any]]
    books: dict[tuple[int, int], BookInfo]
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self.replay)

    @property
    def ts_range(self) -> tuple[int, int] | None:
        ts = self.records["ts_recv"]
        return (int(ts[0]), int(ts[-1])) if len(ts) else None

    def summary(self) -> dict[str, Any]:
        rng = self.ts_range
        meta = self.info.get("metadata") or {}
        return {
            "source": self.id,
            "name": self.name,
            "sha256": self.sha256,
            "bytes": self.size,
            "records": len(self),
            "dataset": meta.get("dataset"),
            "ts_recv_first": rng[0] if rng else None,
            "ts_recv_last": rng[1] if rng else None,
            "books": len(self.books),
        }


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _symbols(info: dict[str, Any], instrument_ids: list[int]) -> dict[int, str | None]:
    mapped = {int(k): str(v) for k, v in (info.get("instruments") or {}).items()}
    meta_symbols = (info.get("metadata") or {}).get("symbols") or []
    out: dict[int, str | None] = {}
    for iid in instrument_ids:
        sym = mapped.get(iid)
        if sym is None and len(instrument_ids) == 1 and len(meta_symbols) == 1:
            sym = str(meta_symbols[0])  # e.g. the simulator's single instrument
        out[iid] = sym
    return out


def load_source(source_id: int, path: str) -> Source:
    """Open one DBN file (blocking: call it in an executor)."""
    info = mbo_fast.info(path)
    replay = mbo_fast.Replay(path)
    records = dict(mbo_fast.read_records(path))
    iid = records["instrument_id"].astype(np.uint64)
    pid = records["publisher_id"].astype(np.uint64)
    key = (iid << np.uint64(16)) | pid
    books: dict[tuple[int, int], BookInfo] = {}
    if len(key):
        uniq, counts = np.unique(key, return_counts=True)
        is_trade = records["action"] == ord("T")
        ts = records["ts_recv"]
        symbols = _symbols(info, sorted({int(k) >> 16 for k in uniq}))
        for k, cnt in zip(uniq.tolist(), counts.tolist()):
            mask = key == k
            idx = np.flatnonzero(mask)
            b = (int(k) >> 16, int(k) & 0xFFFF)
            books[b] = BookInfo(
                instrument_id=b[0],
                publisher_id=b[1],
                symbol=symbols.get(b[0]),
                records=int(cnt),
                trades=int(np.count_nonzero(is_trade & mask)),
                ts_first=int(ts[idx[0]]),
                ts_last=int(ts[idx[-1]]),
            )
    return Source(
        id=source_id,
        path=path,
        name=os.path.basename(path),
        sha256=file_sha256(path),
        size=os.path.getsize(path),
        info=info,
        replay=replay,
        records=records,
        books=books,
    )


class LookupFailed(Exception):
    """A request named something that does not exist (404) or is ambiguous (400)."""

    def __init__(self, status: int, parameter: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.parameter = parameter


class Catalog:
    def __init__(self, sources: list[Source]) -> None:
        self.sources = sources

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
        if source is not None and not 0 <= source < len(self.sources):
            raise LookupFailed(404, "source", f"no source {source}")
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


def _levels(book: mbo_fast.Book, side: str, depth: int, orders: bool) -> list[dict[str, Any]]:
    out = []
    for px, sz, ct in book.levels(side, depth):  # type: ignore[arg-type]
        level: dict[str, Any] = {"price": px, "size": sz, "count": ct}
        if orders:
            level["orders"] = [[oid, osz] for oid, osz in book.orders(side, px)]  # type: ignore[arg-type]
        out.append(level)
    return out


def describe_book(book: mbo_fast.Book | None, depth: int, orders: bool) -> dict[str, Any]:
    """The state part of a book document (`GET /api/v1/book`, `/api/v1/stored/book`): top
    `depth` levels per side (with their L3 queues when `orders`), flags and the indicative
    uncross when crossed. `book` None: the book has no record applied yet (an empty book)."""
    if book is None:
        return {
            "bids": [],
            "asks": [],
            "order_count": 0,
            "crossed": False,
            "consistent": False,
            "maybe_bad": False,
            "uncross": None,
        }
    uncross = book.indicative_uncross() if book.crossed else None
    return {
        "bids": _levels(book, "B", depth, orders),
        "asks": _levels(book, "A", depth, orders),
        "order_count": book.order_count,
        "crossed": book.crossed,
        "consistent": book.consistent,
        "maybe_bad": book.maybe_bad,
        "uncross": None
        if uncross is None
        else {
            "price": uncross.price,
            "volume": uncross.volume,
            "bid_volume": uncross.bid_volume,
            "ask_volume": uncross.ask_volume,
            "imbalance": uncross.imbalance,
        },
    }


def book_at(
    src: Source,
    instrument_id: int,
    publisher_id: int,
    *,
    index: int | None,
    ts: int | None,
    depth: int,
    orders: bool,
) -> dict[str, Any]:
    """The book after record `index` (or after every record with ts_recv <= ts; the end of the
    data when neither is given). Blocking: call it in an executor."""
    with src.lock:
        replay = src.replay
        if index is not None:
            replay.seek(index=index)
        elif ts is not None:
            replay.seek(ts=ts)
        else:
            replay.seek(index=len(replay) - 1)
        position = replay.position
        out: dict[str, Any] = {
            "source": src.id,
            "instrument_id": instrument_id,
            "publisher_id": publisher_id,
            "symbol": src.books[(instrument_id, publisher_id)].symbol,
            "index": position - 1 if position else None,
            "position": position,
            "ts_recv": replay.ts_recv,
        }
        try:
            book: mbo_fast.Book | None = replay.book(instrument_id, publisher_id)
        except KeyError:  # no record of this book applied yet
            book = None
        out.update(describe_book(book, depth, orders))
        return out


def default_data_path(config: Config) -> str:
    """The simulator's deterministic session, generated once into the data directory."""
    name = f"sim-seed{config.sim_seed}-{config.sim_records}.dbn"
    path = os.path.join(config.data_dir, name)
    if os.path.exists(path):
        return path
    if not hasattr(mbo_fast, "simulate"):
        raise RuntimeError(
            "no --file given and this mbo_fast has no simulate(): pass --file PATH (a DBN file)"
        )
    os.makedirs(config.data_dir, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    log.info(
        "generating the default session",
        extra={"seed": config.sim_seed, "records": config.sim_records, "path": path},
    )
    mbo_fast.simulate(seed=config.sim_seed, records=config.sim_records, path=tmp)
    os.replace(tmp, path)
    return path


def load_all(config: Config) -> Catalog:
    """Every configured source (blocking). Duplicate paths are loaded once."""
    paths = list(dict.fromkeys(config.files))
    if config.databento:
        from .databento_source import databento_path

        paths.append(databento_path(config))
    paths = paths or [default_data_path(config)]
    sources: list[Source] = []
    for path in paths:
        src = load_source(len(sources), path)
        if any(s.sha256 == src.sha256 for s in sources):
            log.info("skipping a file with the same content", extra={"file": src.name})
            continue
        sources.append(src)
    return Catalog(sources)
