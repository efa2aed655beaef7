"""Type stubs for the compiled core (`mbo_fast._core`). Import from `mbo_fast` instead."""

from collections.abc import Callable
from typing import Any, Literal, final

from numpy.typing import NDArray

__all__ = [
    "MAX_DEPTH",
    "MAX_METADATA_LEN",
    "UNDEF_PRICE",
    "Backtest",
    "Batches",
    "Bbo",
    "BlockBuilder",
    "BlockImport",
    "Book",
    "Consolidated",
    "Conversion",
    "DepthExport",
    "Fill",
    "LiveMarket",
    "Market",
    "MatchingEngine",
    "MboChunks",
    "OrderState",
    "Player",
    "Recording",
    "Replay",
    "Uncross",
    "__version__",
    "arrow_c_array",
    "arrow_c_stream",
    "block_cache_stats",
    "column_role",
    "derived_record_fields",
    "export_depth_jsonl",
    "info",
    "mbo_record_fields",
    "read_bbo_columns",
    "read_depth_columns",
    "read_records",
    "read_snapshot_columns",
    "set_block_cache_budget",
    "simulate_session",
    "write_dbn_columns",
    "write_parquet",
]
__version__: str
UNDEF_PRICE: int
# read_depth's most levels per side (more: ValueError).
MAX_DEPTH: int
# The largest DBN metadata block accepted, in bytes (a longer claimed length: DecodeError).
MAX_METADATA_LEN: int

# A source the core reads directly: a filesystem path (str) or the bytes of a DBN stream
# (plain or zstd). `mbo_fast` normalises os.PathLike, bytes-likes and DBNStore to these.
_RawSource = str | bytes

_SideName = Literal["B", "A", "bid", "ask"]

# Columns: names -> numpy arrays. 1-D for read_bbo; px/sz/ct are 2-D (rows, depth) for read_depth.
_Columns = dict[str, NDArray[Any]]

# Every function reading a source raises DecodeError/SchemaError/SourceError for input it cannot
# read, and OutOfMemoryError (an MboError and a MemoryError) when its output (or what it holds in
# memory) outgrows the memory the process can get: an error, never an abort.
def read_bbo_columns(
    source: _RawSource, instrument_id: int | None = None, publisher_id: int | None = None
) -> _Columns: ...
def read_depth_columns(
    source: _RawSource,
    depth: int,
    instrument_id: int | None = None,
    publisher_id: int | None = None,
) -> _Columns:
    """ValueError unless 1 <= depth <= MAX_DEPTH; OutOfMemoryError when the columns outgrow the
    memory the process can get."""

def read_records(
    source: _RawSource, instrument_id: int | None = None, publisher_id: int | None = None
) -> _Columns:
    """Every MBO record (of the books the ids keep; `index` counts every record) as columns
    (index, ts_recv, ts_event, instrument_id, publisher_id, order_id, price, size, flags,
    action, side, sequence, channel_id); action and side are uint8 ASCII codes."""

# Arrow (the C data interface's PyCapsules) from named numpy columns, C-contiguous, sharing their
# memory: prices int64 1e-9 (null on an empty side) or "float"/"decimal", times uint64 or
# timestamp[ns, UTC] (pretty_ts), 2-D columns as fixed-size lists. ValueError for other arrays.

def arrow_c_array(
    columns: list[tuple[str, NDArray[Any]]], price_type: str = "fixed", pretty_ts: bool = False
) -> tuple[Any, Any]:
    """(schema capsule, array capsule) of one struct array (a record batch)."""

def arrow_c_stream(
    columns: list[tuple[str, NDArray[Any]]], price_type: str = "fixed", pretty_ts: bool = False
) -> Any:
    """An `arrow_array_stream` capsule of one record batch."""

@final
class Batches:
    """A capture ("bbo", "depth", "records") a batch of at most batch_rows rows at a time."""

    def __new__(
        cls,
        source: _RawSource,
        what: str,
        depth: int = 10,
        instrument_id: int | None = None,
        publisher_id: int | None = None,
        batch_rows: int = 65536,
    ) -> Batches: ...
    def next_batch(self) -> _Columns | None:
        """The next batch, or None after the last; a DecodeError after the rows before it."""
    @property
    def records_read(self) -> int: ...

def write_parquet(
    source: _RawSource,
    path: str,
    what: str,
    depth: int = 10,
    instrument_id: int | None = None,
    publisher_id: int | None = None,
    price_type: str = "fixed",
    pretty_ts: bool = False,
    batch_rows: int = 65536,
    row_group_rows: int = 1048576,
) -> int:
    """A capture streamed into a Parquet file (written beside `path`, renamed when complete)."""

def column_role(name: str) -> Literal["price", "time", "plain"]:
    """How a column of this name is typed: price (1e-9 fixed point), time (ns), plain."""

def read_snapshot_columns(
    source: _RawSource, depth: int, every: int, only_changed: bool = True
) -> _Columns:
    """Every book's top depth levels at every multiple of `every` ns of ts_recv: ts (the grid
    time), the boundary record's keys, and (rows, depth) px/sz/ct columns a side. ValueError
    unless 1 <= depth <= MAX_DEPTH and every >= 1, or for more than 10,000,000 grid times
    without only_changed."""

def info(source: _RawSource) -> dict[str, Any]:
    """Metadata, record counts by action, time range, instruments (with symbols), books."""

def export_depth_jsonl(
    source: _RawSource,
    depth: int,
    path: str | None = None,
    instrument_id: int | None = None,
    publisher_id: int | None = None,
) -> bytes | int:
    """One JSON line per F_LAST boundary: written to `path` (returns the line count) or returned."""

@final
class MboChunks:
    """A stream's MBO records as raw bytes a chunk at a time: iterate for (chunk, record_len),
    whole records exactly as framed (records of other types left out), all record_len bytes
    long, about chunk_bytes a chunk. The source is kept for the object's lifetime."""

    def __new__(cls, source: _RawSource, chunk_bytes: int = 1048576) -> MboChunks: ...
    @property
    def metadata(self) -> bytes:
        """The stream's prelude and metadata as it holds them (decompressed)."""
    def __iter__(self) -> MboChunks: ...
    def __next__(self) -> tuple[bytes, int]: ...

@final
class DepthExport:
    """`export_depth_jsonl`'s lines a chunk at a time (the core's resumable capture pass); the
    source (a path, or the bytes object) is kept for the object's lifetime."""

    def __new__(
        cls,
        source: _RawSource,
        depth: int,
        instrument_id: int | None = None,
        publisher_id: int | None = None,
        chunk_bytes: int = 262144,
    ) -> DepthExport: ...
    def next_chunk(self) -> bytes:
        """The next whole lines, about `chunk_bytes` (b"" at the end), made with the GIL
        released; DecodeError after the lines before a corrupt record."""
    @property
    def lines(self) -> int:
        """Lines produced so far."""

@final
class Bbo:
    bid_px: int | None
    bid_sz: int
    bid_ct: int
    ask_px: int | None
    ask_sz: int
    ask_ct: int
    def __eq__(self, other: object, /) -> bool: ...

@final
class Book:
    """A live view of one (instrument_id, publisher_id) book owned by a Market or Replay."""

    @property
    def instrument_id(self) -> int: ...
    @property
    def publisher_id(self) -> int: ...
    def bbo(self) -> Bbo: ...
    def levels(self, side: _SideName, depth: int | None = None) -> list[tuple[int, int, int]]:
        """(price, size, count) per level, best first."""
    def orders(self, side: _SideName, price: int) -> list[tuple[int, int]]:
        """(order_id, size) resting at `price`, in queue (priority) order."""
    def order(self, order_id: int) -> tuple[str, int, int, int] | None:
        """(side, price, size, queue_position) of a resting order, or None."""
    @property
    def order_count(self) -> int: ...
    @property
    def crossed(self) -> bool:
        """Both sides present and best bid >= best ask (crossed or locked)."""
    @property
    def maybe_bad(self) -> bool:
        """A record with F_MAYBE_BAD_BOOK was applied since the last clear."""
    @property
    def consistent(self) -> bool:
        """The last record applied to this book carried F_LAST."""
    @property
    def anomalies(self) -> dict[str, int]: ...
    def indicative_uncross(self, reference: int | None = None) -> Uncross | None:
        """The price maximising executable volume (then minimising |imbalance|, then nearest
        `reference`, default the mid of best bid and ask, then the lower); None if not crossed."""
    def to_dict(self) -> dict[str, Any]:
        """The `mbo-fast book` JSON shape of this book."""
    def state_json(self, depth: int | None = None, orders: bool = False) -> bytes:
        """The state part of the `/api/v1/book` document: {"bids", "asks", "order_count",
        "crossed", "consistent", "maybe_bad", "uncross"}, the top `depth` levels (all: None) as
        {"price", "size", "count"} objects, with "orders": [[order_id, size], ...] when `orders`."""

@final
class Consolidated:
    """One instrument's top levels per side summed over its publishers."""

    @property
    def bids(self) -> list[tuple[int, int, int, list[int]]]:
        """(price, size, count, publishers) per level, best first."""
    @property
    def asks(self) -> list[tuple[int, int, int, list[int]]]: ...
    @property
    def crossed(self) -> bool: ...
    def to_json(self) -> bytes:
        """{"bids": [...], "asks": [...], "crossed": ...}, levels as {"price", "size", "count"}."""

@final
class Market:
    """Every book of a stream. apply() decodes and applies with the GIL released."""

    def __new__(cls) -> Market: ...
    def apply(self, source: _RawSource) -> int:
        """Apply all records of a DBN file or bytes; returns the number of records read."""
    @property
    def record_count(self) -> int: ...
    def book(self, instrument_id: int, publisher_id: int) -> Book: ...
    def books(self) -> list[Book]:
        """All books, sorted by (instrument_id, publisher_id)."""
    def consolidated_bbo(self, instrument_id: int) -> Bbo: ...
    def consolidated(self, instrument_id: int, depth: int) -> Consolidated:
        """The top `depth` levels per side summed over the instrument's publishers."""
    def book_state_json(
        self, instrument_id: int, publisher_id: int, depth: int | None = None, orders: bool = False
    ) -> bytes:
        """Book.state_json of one book; an empty book's when it has no record."""
    def to_json(self) -> str:
        """The `mbo-fast book` JSON document for every book."""
    def snapshot_dbn(
        self, instrument_id: int | None = None, publisher_id: int | None = None, ts_recv: int = 0
    ) -> bytes:
        """Snapshot records (R, F_TOB/A adds flagged F_SNAPSHOT) of one book or every book as
        a DBN stream; applied to an empty Market they rebuild the same books."""

@final
class Replay:
    """A cursor over a source held as compressed blocks; checkpoints make any seek fast."""

    def __new__(cls, source: _RawSource, checkpoint_every: int | None = None) -> Replay:
        """A checkpoint every checkpoint_every records (default 32,768), never taking more room
        than the records."""
    def __len__(self) -> int: ...
    @property
    def checkpoint_every(self) -> int | None:
        """Records between checkpoints as asked, rounded to whole blocks (None: stored)."""
    @property
    def checkpoints(self) -> tuple[int, int]:
        """(count, stored bytes) of the checkpoints (bytes 0 when a database holds them)."""
    @property
    def position(self) -> int:
        """Records applied so far (0..=len). The book reflects records [0, position)."""
    @property
    def ts_recv(self) -> int | None:
        """ts_recv of the last applied record."""
    def seek(self, index: int | None = None, ts: int | None = None) -> int:
        """index=i: state after record i (position = i + 1). ts=t: after every record with
        ts_recv <= t. Returns the new position."""
    def step(self, n: int = 1) -> int:
        """Apply up to n more records; returns how many were applied."""
    def rewind(self) -> None: ...
    def book(self, instrument_id: int, publisher_id: int) -> Book: ...
    def books(self) -> list[Book]: ...
    def consolidated_bbo(self, instrument_id: int) -> Bbo: ...
    def consolidated(self, instrument_id: int, depth: int) -> Consolidated: ...
    def record(self, index: int) -> dict[str, Any]: ...
    def player(self, instrument_id: int, publisher_id: int, depth: int = 10) -> Player: ...
    def snapshot_dbn(
        self, instrument_id: int | None = None, publisher_id: int | None = None
    ) -> bytes:
        """Snapshot records of one book or every book at the current position, as a DBN
        stream stamped with the last applied record's times."""
    def timings(self) -> dict[str, dict[str, Any]]:
        """Latency histograms (apply_load, apply_seek, apply_stream, advance, frame) of every
        cursor over these records: {"bounds_ns", "buckets", "count", "sum_ns"} each."""

# (first_index, records, ts_first, ts_last, ts_max) of a stored block
_BlockMeta = tuple[int, int, int, int, int]

@final
class Recording:
    """A stream held as stored blocks (compressed records + periodic checkpoints of every
    book), in memory or in a database, shared by its cursors; blocks are decoded on demand
    through the process's bounded cache."""

    @staticmethod
    def open(
        source: _RawSource, block_records: int = 4096, checkpoint_every: int = 32768
    ) -> Recording: ...
    @staticmethod
    def stored(
        label: str,
        blocks: list[_BlockMeta],
        checkpoints: list[int],
        keys: list[tuple[int, int]],
        fetch_block: Callable[[int], bytes],
        fetch_checkpoint: Callable[[int], bytes],
    ) -> Recording:
        """Blocks a database holds: fetch_block(first_index) and fetch_checkpoint(position)
        return their stored bytes."""
    def __len__(self) -> int: ...
    @property
    def label(self) -> str: ...
    @property
    def block_count(self) -> int: ...
    def block(self, n: int) -> _BlockMeta | None: ...
    def keys(self) -> list[tuple[int, int]]: ...
    def append(self, meta: _BlockMeta, checkpoint: bool, keys: list[tuple[int, int]]) -> None: ...
    def position_at_ts(self, ts: int) -> int: ...
    def timings(self) -> dict[str, dict[str, Any]]:
        """Latency histograms of every cursor and player over this recording."""
    def replay(self, instrument_id: int | None = None, publisher_id: int | None = None) -> Replay:
        """A cursor at position 0 over every book, or over one book only (faster)."""
    def page(
        self,
        kind: Literal["bbo", "trades", "records"],
        instrument_id: int | None = None,
        publisher_id: int | None = None,
        after: int | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 1000,
    ) -> tuple[bytes, int, int | None]:
        """(JSON items, rows, index of the last row) of one page of history."""
    def raster(
        self,
        instrument_id: int,
        publisher_id: int,
        start: int,
        end: int,
        buckets: int,
        price_lo: int = 0,
        price_step: int = 1,
        rows: int = 0,
        max_trades: int = 100_000,
    ) -> tuple[dict[str, Any], bytes]:
        """One book's heatmap over (start, end]: (header scalars, little-endian arrays: bid,
        ask, trade price i64; sizes [bucket][row], trade bucket, size, count u32; side u8)."""
    def player(self, instrument_id: int, publisher_id: int, depth: int = 10) -> Player: ...
    def export_depth(
        self,
        depth: int,
        instrument_id: int | None = None,
        publisher_id: int | None = None,
        start: int = 0,
        end: int | None = None,
        chunk_bytes: int = 262144,
    ) -> DepthExport:
        """The JSON-lines depth export of records [start, end), a chunk at a time."""

@final
class BlockImport:
    """A stream cut into stored blocks on background threads: iterate for (meta, data,
    checkpoint or None), then summary()."""

    def __new__(
        cls,
        source: _RawSource,
        block_records: int = 4096,
        checkpoint_every: int = 32768,
        skip: int = 0,
        queue: int = 16,
    ) -> BlockImport: ...
    def __iter__(self) -> BlockImport: ...
    def __next__(self) -> tuple[_BlockMeta, bytes, bytes | None]: ...
    def summary(self) -> dict[str, Any] | None: ...
    def close(self) -> None: ...

@final
class BlockBuilder:
    """Blocks built from records arriving in pieces (a live session)."""

    def __new__(cls, block_records: int = 4096, checkpoint_every: int = 32768) -> BlockBuilder: ...
    def push(self, records: bytes) -> list[tuple[_BlockMeta, bytes, bytes | None]]: ...
    def flush(self) -> tuple[_BlockMeta, bytes, bytes | None] | None: ...
    @property
    def records(self) -> int: ...
    def keys(self) -> list[tuple[int, int]]: ...
    def books(self) -> list[tuple[int, int, int, int, int, int]]:
        """(instrument_id, publisher_id, records, trades, ts_first, ts_last) per book."""

def derived_record_fields(schema: str) -> tuple[list[tuple[str, str, int]], int]:
    """((name, numpy format, offset) of each field, record size) of a derived schema's DBN
    records (ValueError for an unknown schema name)."""

@final
class Conversion:
    """MBO sources to a derived schema (mbp-10, mbp-1, tbbo, bbo-1s, bbo-1m, cmbp-1, tcbbo,
    cbbo-1s, cbbo-1m), a step at a time. With `path`: a DBN file written under a temporary name
    and renamed when complete (removed on an error or `abort`); without: records in memory."""

    def __new__(
        cls,
        sources: list[_RawSource],
        schema: str,
        path: str | None = None,
        zstd: bool = False,
        policy: str | None = None,
    ) -> Conversion: ...
    @property
    def schema(self) -> str: ...
    def step(self, max_records: int) -> bool:
        """Read up to max_records more MBO records; True once every input is read."""
    @property
    def records_read(self) -> int: ...
    @property
    def estimated_records(self) -> int | None: ...
    def finish(self) -> tuple[NDArray[Any], NDArray[Any]]:
        """Complete the output; (record bytes as uint8, MBO index of each record)."""
    def abort(self) -> None:
        """Stop without completing the output (the file is removed)."""

def mbo_record_fields() -> list[tuple[str, str, int]]:
    """(name, numpy format, offset) of each field of a 56-byte DBN MBO record."""

def block_cache_stats() -> dict[str, int]: ...
def set_block_cache_budget(bytes: int) -> bool: ...

# (event name, id = index of the last record applied, JSON body)
_Frame = tuple[str, int, bytes]

@final
class Player:
    """One streaming client's cursor over a replay's shared records, for one book. It only stops
    at that book's event boundaries, so every frame is a consistent state and every id a safe
    resume point."""

    def seek(self, index: int | None = None, ts: int | None = None) -> list[_Frame]:
        """State after record `index` (or every record with ts_recv <= ts), then to the end of
        the book's event; returns the trade frames met finishing it."""
    def rewind(self) -> None: ...
    def snapshot(self) -> tuple[int, bytes]:
        """(index, JSON) of the full state: index, ts_recv, ts_event, instrument_id,
        publisher_id, bids/asks [[px, size, count], …], crossed, uncross (null or an object)."""
    def advance(self, until_index: int | None = None, until_ts: int | None = None) -> list[_Frame]:
        """Apply records through `until_index` (or ts_recv <= until_ts), then to the end of the
        event: a "trade" frame per trade of this book, then one "book" frame if the top changed."""
    @property
    def position(self) -> int: ...
    @property
    def index(self) -> int: ...
    @property
    def ts_recv(self) -> int | None: ...
    @property
    def next_ts_recv(self) -> int | None: ...
    @property
    def done(self) -> bool: ...

@final
class Uncross:
    """Indicative uncross of a crossed or locked book (prices in 1e-9 units)."""

    price: int
    volume: int
    bid_volume: int
    """Cumulative bid size at prices >= price."""
    ask_volume: int
    """Cumulative ask size at prices <= price."""
    imbalance: int
    """bid_volume - ask_volume."""
    def __eq__(self, other: object, /) -> bool: ...

@final
class MatchingEngine:
    """Price-time priority matching engine for one instrument; records GLBX.MDP3-shaped MBO."""

    def __new__(
        cls,
        instrument_id: int,
        publisher_id: int,
        tick: int,
        channel_id: int = 0,
        first_order_id: int = 1,
        first_sequence: int = 1,
        recv_latency_ns: int | None = None,
        pre_open: bool = False,
    ) -> MatchingEngine: ...
    @property
    def instrument_id(self) -> int: ...
    @property
    def publisher_id(self) -> int: ...
    @property
    def tick(self) -> int: ...
    @property
    def pre_open(self) -> bool: ...
    def set_pre_open(self, pre_open: bool) -> None: ...
    def submit(
        self, ts: int, side: str, size: int, price: int | None = None, tif: str = "GTC"
    ) -> tuple[int, int, int]:
        """(order_id, filled, resting); price None is a market order."""
    def cancel(self, ts: int, order_id: int) -> int: ...
    def modify(self, ts: int, order_id: int, price: int, size: int) -> tuple[int, int, int]: ...
    def open(self, ts: int, reference: int | None = None) -> tuple[int, int] | None: ...
    def open_at(self, ts: int, price: int) -> int: ...
    def levels(self, side: str, depth: int | None = None) -> list[tuple[int, int, int]]: ...
    def orders(self, side: str, price: int) -> list[tuple[int, int]]: ...
    def order(self, order_id: int) -> tuple[str, int, int, int] | None: ...
    @property
    def order_count(self) -> int: ...
    @property
    def pending(self) -> int: ...
    def take_records(self) -> _Columns: ...
    def take_dbn(
        self, path: str | None = None, symbols: list[str] = ..., zstd: bool = False
    ) -> bytes | int: ...

def write_dbn_columns(
    columns: _Columns, path: str | None = None, symbols: list[str] = ..., zstd: bool = False
) -> bytes | int:
    """MBO columns (read_records' names and dtypes) as a DBN stream, to `path` or as bytes."""

# Backtest (order injection against history); mbo_fast.backtest builds its Fill and OrderState
# from these by name.
@final
class Fill:
    order_id: int
    ts: int
    record_index: int | None
    price: int
    size: int
    kind: str
    orders_ahead_at_entry: int
    volume_ahead_at_entry: int

@final
class OrderState:
    order_id: int
    instrument_id: int
    publisher_id: int
    side: str
    price: int
    size: int
    filled: int
    remaining: int
    status: str
    request_ts: int
    entry_ts: int | None
    orders_ahead_at_entry: int
    volume_ahead_at_entry: int

@final
class Backtest:
    """Simulated limit orders against real MBO history; the historical books are untouched."""

    def __new__(cls, source: _RawSource, latency_ns: int = 0) -> Backtest: ...
    @staticmethod
    def from_replay(replay: Replay, position: int = 0, latency_ns: int = 0) -> Backtest:
        """Over the replay's records (shared), from its nearest checkpoint at or before
        `position`."""
    def __len__(self) -> int: ...
    @property
    def position(self) -> int: ...
    @property
    def now(self) -> int: ...
    @property
    def latency_ns(self) -> int: ...
    def place(
        self,
        instrument_id: int,
        publisher_id: int,
        side: str,
        price: int,
        size: int,
        at_ts: int | None = None,
        at_index: int | None = None,
    ) -> int: ...
    def cancel(
        self, order_id: int, at_ts: int | None = None, at_index: int | None = None
    ) -> bool: ...
    def modify(
        self,
        order_id: int,
        price: int | None = None,
        size: int | None = None,
        at_ts: int | None = None,
        at_index: int | None = None,
    ) -> bool: ...
    def run(
        self,
        until_ts: int | None = None,
        until_index: int | None = None,
        pause: str = "never",
        book: tuple[int, int] | None = None,
        every: int | None = None,
    ) -> tuple[str, int | None]:
        """Advance to the target or the next pause: ("done"|"boundary"|"scheduled"|"record", n)."""
    def fills(self) -> list[Fill]: ...
    def orders(self) -> list[OrderState]: ...
    def order(self, order_id: int) -> OrderState: ...
    def queue_position(self, order_id: int) -> tuple[int, int] | None: ...
    def ahead(self, order_id: int) -> list[tuple[int, int]]: ...
    def orders_at(
        self, instrument_id: int, publisher_id: int, side: str, price: int
    ) -> list[tuple[int, int]]: ...
    def bbo(self, instrument_id: int, publisher_id: int) -> Bbo: ...
    def levels(
        self, instrument_id: int, publisher_id: int, side: str, depth: int | None = None
    ) -> list[tuple[int, int, int]]: ...

# Synthetic sessions (mbo_fast.simulate wraps this).
def simulate_session(
    seed: int,
    records: int,
    instruments: int,
    path: str | None = None,
    zstd: bool = False,
    tick: int | None = None,
    start_price: int | None = None,
    start: int | None = None,
    publisher_id: int = 1,
    pre_open_events: int | None = None,
) -> bytes | int:
    """A generated session written to `path` (returns the record count) or as DBN bytes."""

@final
class LiveMarket:
    """A market fed by live DBN bytes in any split (metadata first, then records), with
    sequence-gap detection per channel (a jump > max_seq_jump; 0 disables), stale books (after a
    gap or reconnect, until an R or snapshot record) and per-(book, depth) subscriptions."""

    def __new__(cls, max_seq_jump: int = 1) -> LiveMarket: ...
    def feed(self, data: bytes | bytearray | memoryview) -> int:
        """Decode and apply (GIL released); returns records applied. DecodeError on garbage."""
    def read_fd(self, fd: int, wake_fd: int) -> None:
        """Unix only. Read the blocking socket `fd` to its end, decoding and applying each read
        with the GIL released; after a read that applied records, write one byte to `wake_fd`
        unless a wake is pending (`woken()` clears it). DecodeError on garbage, SourceError on a
        read error; returns when the stream ends or the socket is shut down."""
    def woken(self) -> None:
        """Acknowledge the wake byte `read_fd` sent: the next applied read sends another."""
    def reconnect(self) -> None:
        """A new connection: expect metadata again; mark every book stale."""
    def subscribe(self, instrument_id: int, publisher_id: int, depth: int) -> int: ...
    def unsubscribe(self, id: int) -> None: ...
    def snapshot(self, id: int) -> tuple[int, bytes]: ...
    def tick(self) -> list[tuple[int, list[_Frame]]]:
        """Frames since the last tick per subscription: trades, then a book frame if changed."""
    def publish(self, min_interval_s: float) -> tuple[list[tuple[int, list[_Frame]]], float | None]:
        """Publish on apply: frames of changed subscriptions whose last frames are at least
        min_interval_s old, and the seconds until the earliest held-back one is due."""
    def publish_sse(
        self, min_interval_s: float
    ) -> tuple[list[tuple[int, bytes, tuple[int, bytes] | None]], float | None]:
        """publish() with each subscription's frames as one SSE payload, and its last book."""
    def published(self) -> None:
        """The last publish's frames are with the clients: record receipt -> published."""
    def set_persist(self, on: bool) -> None: ...
    def take_records(self) -> tuple[bytes, int, int, int] | None:
        """The oldest chunk of applied records not taken yet: `(data, records, ts_recv_first,
        ts_recv_last)`, `data` being whole DBN MBO records exactly as received (56 bytes each,
        64 on a ts_out stream), at most ~1 MiB. Call until None to take them all, in order
        (None unless persisting)."""
    @property
    def index(self) -> int: ...
    def publishers(self, instrument_id: int) -> list[int]:
        """The publishers with a book for `instrument_id` so far, ascending."""
    def book_keys(self) -> list[tuple[int, int]]:
        """Every (instrument_id, publisher_id) with a book so far, sorted."""
    def book_state(
        self,
        instrument_id: int,
        publisher_id: int,
        depth: int | None = None,
        orders: bool = False,
    ) -> tuple[int, bytes]:
        """(index of the last record applied, the state part of the book's /api/v1/book
        document: top `depth` levels, with their queues when `orders`), read together."""
    def is_stale(self, instrument_id: int, publisher_id: int) -> bool: ...
    def stats(self) -> dict[str, int | bool]:
        """records, bytes, gaps, missed, stale_books, connections, metadata."""
    def timings(self) -> dict[str, dict[str, Any]]:
        """live_apply, live_receipt_to_applied, live_receipt_to_published, live_tick."""
    def to_json(self) -> str: ...
