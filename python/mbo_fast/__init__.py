"""mbo-fast: exact limit order books from Databento MBO data, rebuilt in Rust.

>>> import mbo_fast
>>> bbo = mbo_fast.read_bbo("CLX5_mbo.dbn")          # numpy columns, one row per F_LAST
>>> market = mbo_fast.Market(); market.apply("CLX5_mbo.dbn")
>>> market.books()[0].levels("B", 5)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any, Literal

from . import _core
from ._core import MAX_DEPTH, UNDEF_PRICE, Bbo, Book, Consolidated, Player, Uncross
from ._source import Source, to_raw_source
from .backtest import Backtest, Fill, OrderState
from .columns import ArrowColumns, Columns, PriceType
from .convert import convert
from .engine import Engine, Submitted, write_dbn
from .errors import DecodeError, MboError, OutOfMemoryError, SchemaError, SourceError
from .simulate import simulate

__version__: str = _core.__version__

__all__ = [
    "MAX_DEPTH",
    "UNDEF_PRICE",
    "ArrowColumns",
    "Backtest",
    "Bbo",
    "Book",
    "Columns",
    "Consolidated",
    "DecodeError",
    "DepthExport",
    "Engine",
    "Fill",
    "Market",
    "MboError",
    "OrderState",
    "OutOfMemoryError",
    "Player",
    "PriceType",
    "Replay",
    "SchemaError",
    "Source",
    "SourceError",
    "Submitted",
    "Uncross",
    "convert",
    "export_depth",
    "info",
    "iter_bbo",
    "iter_depth",
    "iter_records",
    "read_bbo",
    "read_depth",
    "read_records",
    "read_snapshots",
    "simulate",
    "write_dbn",
    "write_parquet",
]


def read_bbo(
    source: Source, *, instrument_id: int | None = None, publisher_id: int | None = None
) -> Columns:
    """Best bid/offer after every record carrying F_LAST, one row per such record.

    Columns: index, ts_recv, ts_event, instrument_id, publisher_id, bid_px, bid_sz, bid_ct,
    ask_px, ask_sz, ask_ct. Prices are int64 in 1e-9 units; an empty side has
    px == UNDEF_PRICE, size 0 and count 0. Filters select the rows' book, not the records applied.
    """
    raw = to_raw_source(source)
    return Columns(_core.read_bbo_columns(raw, instrument_id, publisher_id))


def read_depth(
    source: Source,
    depth: int = 10,
    *,
    instrument_id: int | None = None,
    publisher_id: int | None = None,
) -> Columns:
    """MBP-N style levels after every F_LAST record: like read_bbo, but bid_px/bid_sz/bid_ct/
    ask_px/ask_sz/ask_ct are 2-D arrays of shape (rows, depth), best level first.

    `depth` is 1 to `MAX_DEPTH` (10,000; ValueError beyond). Every row holds `depth` levels a side,
    padded when the book has fewer: OutOfMemoryError (a MemoryError) when the columns outgrow
    the memory the process can get."""
    if not 1 <= depth <= MAX_DEPTH:  # the core checks too; this also catches ints beyond u64
        raise ValueError(f"depth must be between 1 and {MAX_DEPTH} levels, got {depth}")
    raw = to_raw_source(source)
    return Columns(_core.read_depth_columns(raw, depth, instrument_id, publisher_id))


def read_records(
    source: Source, *, instrument_id: int | None = None, publisher_id: int | None = None
) -> Columns:
    """Every MBO record of the source as numpy columns (no book work); with `instrument_id` /
    `publisher_id`, only those books' records (the others are skipped; `index` still counts
    every record of the source, so a row can be traced back)."""
    raw = to_raw_source(source)
    return Columns(_core.read_records(raw, instrument_id, publisher_id))


BATCH_ROWS = 65_536
"""The default rows per batch of the iter_* readers (a batch is held whole in memory)."""


def iter_bbo(
    source: Source,
    *,
    batch_rows: int = BATCH_ROWS,
    instrument_id: int | None = None,
    publisher_id: int | None = None,
) -> Iterator[Columns]:
    """`read_bbo`'s columns a batch of at most `batch_rows` rows at a time: memory is one batch
    and the books, whatever the source's size; the batches concatenated equal `read_bbo`. The
    source is opened here (bad paths raise at once); a DecodeError comes after the batch of
    the rows before the corrupt record."""
    raw = to_raw_source(source)
    return _drain(
        _core.Batches(
            raw,
            "bbo",
            batch_rows=batch_rows,
            instrument_id=instrument_id,
            publisher_id=publisher_id,
        )
    )


def iter_depth(
    source: Source,
    depth: int = 10,
    *,
    batch_rows: int = BATCH_ROWS,
    instrument_id: int | None = None,
    publisher_id: int | None = None,
) -> Iterator[Columns]:
    """`read_depth`'s columns a batch at a time (see `iter_bbo`)."""
    if not 1 <= depth <= MAX_DEPTH:  # as read_depth: also catches ints beyond u64
        raise ValueError(f"depth must be between 1 and {MAX_DEPTH} levels, got {depth}")
    raw = to_raw_source(source)
    batches = _core.Batches(
        raw,
        "depth",
        depth=depth,
        batch_rows=batch_rows,
        instrument_id=instrument_id,
        publisher_id=publisher_id,
    )
    return _drain(batches)


def iter_records(
    source: Source,
    *,
    batch_rows: int = BATCH_ROWS,
    instrument_id: int | None = None,
    publisher_id: int | None = None,
) -> Iterator[Columns]:
    """`read_records`' columns a batch at a time (see `iter_bbo`): a file too big for memory
    split by book with `instrument_id=`."""
    raw = to_raw_source(source)
    batches = _core.Batches(
        raw,
        "records",
        batch_rows=batch_rows,
        instrument_id=instrument_id,
        publisher_id=publisher_id,
    )
    return _drain(batches)


def _drain(batches: _core.Batches) -> Iterator[Columns]:
    while (batch := batches.next_batch()) is not None:
        yield Columns(batch)


def write_parquet(
    source: Source,
    path: str | os.PathLike[str],
    what: Literal["bbo", "depth", "records"] = "bbo",
    *,
    depth: int = 10,
    instrument_id: int | None = None,
    publisher_id: int | None = None,
    price_type: PriceType = "fixed",
    pretty_ts: bool = False,
    batch_rows: int = BATCH_ROWS,
    row_group_rows: int = 1 << 20,
) -> int:
    """Stream `read_bbo`/`read_depth`/`read_records`' columns into a Parquet file (zstd, row
    groups of `row_group_rows`, the Arrow types of `Columns.arrow`: exact int64 prices by
    default, depth levels as fixed-size lists), with the source's DBN metadata as JSON under
    the key-value metadata key `databento:metadata`. Memory is one batch and one row group
    whatever the source's size; the file appears only when complete. Returns the rows."""
    return _core.write_parquet(
        to_raw_source(source),
        os.fspath(path),
        what,
        depth,
        instrument_id,
        publisher_id,
        price_type,
        pretty_ts,
        batch_rows,
        row_group_rows,
    )


_INTERVAL = re.compile(r"\s*(\d+)\s*(ns|us|µs|ms|s|m|min|h)?\s*")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
            "m": 60_000_000_000, "min": 60_000_000_000, "h": 3_600_000_000_000}  # fmt: skip


def parse_interval(every: str | int) -> int:
    """An interval in ns: an int (ns) or "250ns", "10us", "100ms", "1s", "5m"/"5min", "1h"."""
    if isinstance(every, bool):
        raise ValueError(f"not an interval: {every!r}")
    if isinstance(every, int):
        value = every
    else:
        match = _INTERVAL.fullmatch(every) if isinstance(every, str) else None
        if match is None:
            raise ValueError(
                f"not an interval: {every!r} (a number of ns, or with a unit: ns, us, ms, s, m, h)"
            )
        value = int(match.group(1)) * _UNIT_NS[match.group(2) or "ns"]
    if not 1 <= value < 2**64:
        raise ValueError(f"the interval must be between 1 ns and 2**64 - 1 ns, got {every!r}")
    return value


def read_snapshots(
    source: Source, depth: int = 10, every: str | int = "1s", *, only_changed: bool = True
) -> Columns:
    """Every book's consistent state on a time grid (Tardis/OneTick-style book snapshots).

    The grid is the multiples of `every` (ns, or a string: "100ms", "1s", "5m", ...) of
    `ts_recv` from the stream's first record to its last. A book's row at grid time `ts` shows
    it after its last F_LAST record with ts_recv <= ts (a book inside an event shows the state
    before it); books get rows from their first boundary on, by (instrument_id, publisher_id).
    With `only_changed` (the default) a row is written only when the book's top `depth` levels
    differ from its previous row; without it every book has a row at every grid time (more than
    10,000,000 grid times: ValueError).

    Columns: ts (the grid time), index / ts_recv / ts_event / instrument_id / publisher_id of the
    boundary record shown, and bid_px, bid_sz, ... as (rows, depth) arrays like read_depth.
    """
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be between 1 and {MAX_DEPTH} levels, got {depth}")
    interval = parse_interval(every)
    raw = to_raw_source(source)
    return Columns(_core.read_snapshot_columns(raw, depth, interval, only_changed))


def export_depth(
    source: Source,
    depth: int = 10,
    path: str | os.PathLike[str] | None = None,
    *,
    instrument_id: int | None = None,
    publisher_id: int | None = None,
) -> bytes | int:
    """MBP-N depth as JSON lines, one per F_LAST record, prices as decimal strings: written to
    `path` (returns the number of lines) or returned as bytes."""
    if depth < 1:
        raise ValueError("depth must be >= 1")
    out = None if path is None else os.fspath(path)
    raw = to_raw_source(source)
    return _core.export_depth_jsonl(raw, depth, out, instrument_id, publisher_id)


class DepthExport:
    """`export_depth`'s JSON lines a chunk at a time, for a consumer that cannot hold the whole
    export (a server streaming it to a client): each `next_chunk()` decodes and applies until
    about `chunk_bytes` of whole lines are ready, with the GIL released, and returns them (b""
    at the end). Memory is one chunk and the books, whatever the source's size. Iterating gives
    every chunk; a `DecodeError` comes after the lines before the corrupt record.

    >>> b"".join(DepthExport("CLX5_mbo.dbn", 10)) == export_depth("CLX5_mbo.dbn", 10)
    True
    """

    def __init__(
        self,
        source: Source,
        depth: int = 10,
        *,
        instrument_id: int | None = None,
        publisher_id: int | None = None,
        chunk_bytes: int = 1 << 18,
    ) -> None:
        if depth < 1:
            raise ValueError("depth must be >= 1")
        if chunk_bytes < 1:
            raise ValueError("chunk_bytes must be >= 1")
        raw = to_raw_source(source)
        self._inner = _core.DepthExport(raw, depth, instrument_id, publisher_id, chunk_bytes)

    def next_chunk(self) -> bytes:
        return self._inner.next_chunk()

    @property
    def lines(self) -> int:
        """Lines produced so far."""
        return self._inner.lines

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._inner.next_chunk():
            yield chunk


def info(source: Source) -> dict[str, Any]:
    """Metadata, counts by action, time range and instruments of a source."""
    return _core.info(to_raw_source(source))


class Market:
    """All books of one or more streams, applied in order with the GIL released.

    >>> m = Market(); m.apply("CLX5_mbo.dbn"); m.book(m.books()[0].instrument_id, 1).bbo()
    """

    def __init__(self) -> None:
        self._inner = _core.Market()

    def apply(self, source: Source) -> int:
        """Apply every record of `source`; returns the number of records read."""
        return self._inner.apply(to_raw_source(source))

    @property
    def record_count(self) -> int:
        return self._inner.record_count

    def book(self, instrument_id: int, publisher_id: int) -> Book:
        return self._inner.book(instrument_id, publisher_id)

    def books(self) -> list[Book]:
        return self._inner.books()

    def consolidated_bbo(self, instrument_id: int) -> Bbo:
        """Best bid/ask across every publisher of an instrument, sizes and counts summed over the
        publishers quoting the best price."""
        return self._inner.consolidated_bbo(instrument_id)

    def consolidated(self, instrument_id: int, depth: int = 10) -> Consolidated:
        """The top `depth` levels per side of one instrument summed over its publishers: sizes
        and counts added per price, with the publishers quoting it."""
        return self._inner.consolidated(instrument_id, depth)

    def book_state_json(
        self, instrument_id: int, publisher_id: int, depth: int | None = None, orders: bool = False
    ) -> bytes:
        """`Book.state_json` of one book; an empty book's when it has no record (no KeyError)."""
        return self._inner.book_state_json(instrument_id, publisher_id, depth, orders)

    def to_json(self) -> str:
        return self._inner.to_json()

    def snapshot_dbn(
        self, instrument_id: int | None = None, publisher_id: int | None = None, ts_recv: int = 0
    ) -> bytes:
        """One book (both ids) or every book as DBN snapshot records stamped `ts_recv`: an `R`,
        then an `F_TOB` add for a level set by one, then an `A` per resting order in queue order,
        all flagged `F_SNAPSHOT`, `F_LAST` on a book's last record when it is at an event
        boundary. `Market().apply(...)` of these bytes rebuilds the same levels, queues and
        flags (anomaly counters start at zero); raw MBO records appended to them continue it."""
        return self._inner.snapshot_dbn(instrument_id, publisher_id, ts_recv)


class Replay:
    """A seekable cursor over a source: `seek(index=…)`, `seek(ts=…)`, `step(n)`, current books.

    The records are held in memory as compressed blocks (4,096 records each, about a fifth of
    their 56 bytes), with a checkpoint of every book every `checkpoint_every` records (default
    32,768) so that a seek restores one and applies at most that many records; blocks are
    decoded on demand through a bounded cache shared by the process. Checkpoints never take
    more room than the records do (a due one is skipped when it would), so even
    `checkpoint_every=1` stays bounded. `Recording.replay()` gives cursors over a database's.
    """

    def __init__(self, source: Source, *, checkpoint_every: int | None = None) -> None:
        self._inner = _core.Replay(to_raw_source(source), checkpoint_every)

    @classmethod
    def _wrap(cls, inner: _core.Replay) -> Replay:
        replay = cls.__new__(cls)
        replay._inner = inner
        return replay

    def __len__(self) -> int:
        return len(self._inner)

    @property
    def checkpoint_every(self) -> int | None:
        """Records between checkpoints as asked (rounded up to whole blocks)."""
        return self._inner.checkpoint_every

    @property
    def checkpoints(self) -> tuple[int, int]:
        """(count, stored bytes) of the checkpoints."""
        return self._inner.checkpoints

    @property
    def position(self) -> int:
        """Number of records applied; the books reflect records [0, position)."""
        return self._inner.position

    @property
    def ts_recv(self) -> int | None:
        return self._inner.ts_recv

    def seek(self, index: int | None = None, *, ts: int | None = None) -> int:
        """index=i: the state after record i. ts=t: after every record with ts_recv <= t."""
        if (index is None) == (ts is None):
            raise ValueError("give exactly one of index= or ts=")
        return self._inner.seek(index, ts)

    def step(self, n: int = 1) -> int:
        return self._inner.step(n)

    def rewind(self) -> None:
        self._inner.rewind()

    def book(self, instrument_id: int, publisher_id: int) -> Book:
        return self._inner.book(instrument_id, publisher_id)

    def books(self) -> list[Book]:
        return self._inner.books()

    def consolidated_bbo(self, instrument_id: int) -> Bbo:
        return self._inner.consolidated_bbo(instrument_id)

    def consolidated(self, instrument_id: int, depth: int = 10) -> Consolidated:
        """`Market.consolidated` at the current position."""
        return self._inner.consolidated(instrument_id, depth)

    def record(self, index: int) -> dict[str, Any]:
        return self._inner.record(index)

    def player(self, instrument_id: int, publisher_id: int, depth: int = 10) -> Player:
        """A streaming cursor over one book that shares this replay's records (cheap per client).
        Its frames are JSON bytes built in Rust; it only stops at the book's event boundaries."""
        return self._inner.player(instrument_id, publisher_id, depth)

    def snapshot_dbn(
        self, instrument_id: int | None = None, publisher_id: int | None = None
    ) -> bytes:
        """`Market.snapshot_dbn` of the books at the current position, stamped with the last
        applied record's times (a book not seen yet at this position: no records)."""
        return self._inner.snapshot_dbn(instrument_id, publisher_id)

    def timings(self) -> dict[str, dict[str, Any]]:
        """Latency histograms kept by the core for every cursor and player over these records:
        per-record apply time (`apply_load` building checkpoints, `apply_seek`, `apply_stream`;
        batch means weighted by record count), one `Player.advance` call (`advance`) and its
        frame building (`frame`). Each is `{"bounds_ns": [...], "buckets": [...], "count": n,
        "sum_ns": s}`: log-linear upper bounds in ns (four per power of two), non-cumulative
        counts (the last is +Inf)."""
        return self._inner.timings()
