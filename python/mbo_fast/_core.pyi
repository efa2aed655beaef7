"""Type stubs for the compiled core (`mbo_fast._core`). Import from `mbo_fast` instead."""

from typing import Any, Literal, final

from numpy.typing import NDArray

__version__: str
UNDEF_PRICE: int

# A source the core reads directly: a filesystem path (str) or the bytes of a DBN stream
# (plain or zstd). `mbo_fast` normalises os.PathLike, bytes-likes and DBNStore to these.
_RawSource = str | bytes

SideName = Literal["B", "A", "bid", "ask"]

# Columns: names -> numpy arrays. 1-D for read_bbo; px/sz/ct are 2-D (rows, depth) for read_depth.
_Columns = dict[str, NDArray[Any]]

def read_bbo_columns(
    source: _RawSource, instrument_id: int | None, publisher_id: int | None
) -> _Columns: ...
def read_depth_columns(
    source: _RawSource, depth: int, instrument_id: int | None, publisher_id: int | None
) -> _Columns: ...
def read_records(source: _RawSource) -> _Columns:
    """Every MBO record as columns (index, ts_recv, ts_event, instrument_id, publisher_id,
    order_id, price, size, flags, action, side, sequence, channel_id); action and side are
    uint8 ASCII codes."""

def info(source: _RawSource) -> dict[str, Any]:
    """Metadata, record counts by action, time range, instruments (with symbols), books."""

def export_depth_jsonl(
    source: _RawSource,
    depth: int,
    path: str | None,
    instrument_id: int | None,
    publisher_id: int | None,
) -> bytes | int:
    """One JSON line per F_LAST boundary: written to `path` (returns the line count) or returned."""

@final
class Bbo:
    bid_px: int | None
    bid_sz: int
    bid_ct: int
    ask_px: int | None
    ask_sz: int
    ask_ct: int
    def __eq__(self, other: object) -> bool: ...

@final
class Book:
    """A live view of one (instrument_id, publisher_id) book owned by a Market or Replay."""

    @property
    def instrument_id(self) -> int: ...
    @property
    def publisher_id(self) -> int: ...
    def bbo(self) -> Bbo: ...
    def levels(self, side: SideName, depth: int | None = None) -> list[tuple[int, int, int]]:
        """(price, size, count) per level, best first."""
    def orders(self, side: SideName, price: int) -> list[tuple[int, int]]:
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
    def to_dict(self) -> dict[str, Any]:
        """The `mbo-fast book` JSON shape of this book."""

@final
class Market:
    """Every book of a stream. apply() decodes and applies with the GIL released."""

    def __init__(self) -> None: ...
    def apply(self, source: _RawSource) -> int:
        """Apply all records of a DBN file or bytes; returns the number of records read."""
    @property
    def record_count(self) -> int: ...
    def book(self, instrument_id: int, publisher_id: int) -> Book: ...
    def books(self) -> list[Book]:
        """All books, sorted by (instrument_id, publisher_id)."""
    def consolidated_bbo(self, instrument_id: int) -> Bbo: ...
    def to_json(self) -> str:
        """The `mbo-fast book` JSON document for every book."""

@final
class Replay:
    """A cursor over a source held in memory; checkpoints make any seek fast."""

    def __init__(self, source: _RawSource, checkpoint_every: int | None = None) -> None: ...
    def __len__(self) -> int: ...
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
    def record(self, index: int) -> dict[str, Any]: ...
