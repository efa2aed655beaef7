"""The simulator's matching engine: price-time priority for one instrument, recording the MBO
records a Databento GLBX.MDP3 file would contain for the same activity.

>>> from mbo_fast import Engine, write_dbn
>>> e = Engine(instrument_id=1, publisher_id=1, tick=10_000_000)
>>> ask = e.submit(1_000, "A", 5, price=64_810_000_000).order_id
>>> e.submit(2_000, "B", 3, price=64_810_000_000, tif="IOC")   # T, F, then M of the ask
Submitted(order_id=2, filled=3, resting=0)
>>> write_dbn(e, "session.dbn.zst")                              # any DBN reader reads it
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Union

import numpy as np
from numpy.typing import ArrayLike

from . import _core

if TYPE_CHECKING:
    from . import Columns

__all__ = ["Engine", "Submitted", "write_dbn"]

PathLike = Union[str, "os.PathLike[str]"]

# dtype of each column of an MBO record, as read_records gives them.
_RECORD_DTYPES: dict[str, Any] = {
    "ts_event": np.uint64,
    "ts_recv": np.uint64,
    "instrument_id": np.uint32,
    "publisher_id": np.uint16,
    "order_id": np.uint64,
    "price": np.int64,
    "size": np.uint32,
    "flags": np.uint8,
    "action": np.uint8,
    "side": np.uint8,
    "sequence": np.uint32,
    "channel_id": np.uint8,
}


class Submitted(NamedTuple):
    """The outcome of a submit or modify: the order's id, the size traded at once and the size
    left resting (0 for IOC, FOK and market orders)."""

    order_id: int
    filled: int
    resting: int


def _columns(raw: dict[str, Any]) -> Columns:
    from . import Columns  # deferred: the package imports this module

    return Columns(raw)


class Engine:
    """Price-time priority matching for one instrument (limit GTC/IOC/FOK, market, cancel,
    modify), with the core's priority rules: a new price or a larger size loses the order's
    place, a smaller size keeps it.

    Every operation appends MBO records (rtype MBO, `publisher_id`, F_LAST on the last record of
    each event, increasing `sequence`, `ts_recv` >= `ts_event`): take them with
    `take_records()` (numpy columns) or `take_dbn()` / `write_dbn(engine, path)` (a DBN stream).
    Times are ns since the epoch and must not go back. Prices are int64 in 1e-9 units on the
    `tick` grid. Bad arguments (size <= 0, a price off the grid, an unknown order id, time going
    back) raise ValueError and change nothing.

    With `pre_open=True` limit orders rest without matching (the book may cross) until
    `open()` runs the opening uncross.
    """

    def __init__(
        self,
        instrument_id: int = 1,
        publisher_id: int = 1,
        tick: int = 10_000_000,
        *,
        channel_id: int = 0,
        first_order_id: int = 1,
        first_sequence: int = 1,
        recv_latency_ns: int | None = None,
        pre_open: bool = False,
    ) -> None:
        self._inner = _core.MatchingEngine(
            instrument_id,
            publisher_id,
            tick,
            channel_id,
            first_order_id,
            first_sequence,
            recv_latency_ns,
            pre_open,
        )

    def __repr__(self) -> str:
        return repr(self._inner)

    @property
    def instrument_id(self) -> int:
        return self._inner.instrument_id

    @property
    def publisher_id(self) -> int:
        return self._inner.publisher_id

    @property
    def tick(self) -> int:
        return self._inner.tick

    @property
    def pre_open(self) -> bool:
        """Orders rest without matching until `open()`."""
        return self._inner.pre_open

    @pre_open.setter
    def pre_open(self, value: bool) -> None:
        self._inner.set_pre_open(value)

    def submit(
        self, ts: int, side: str, size: int, price: int | None = None, tif: str = "GTC"
    ) -> Submitted:
        """A new order: a limit order at `price`, or a market order when `price` is None (it
        never rests). `tif`: "GTC" (the remainder rests), "IOC" (the remainder is dropped) or
        "FOK" (all at once or nothing; nothing is recorded when it cannot fill)."""
        return Submitted(*self._inner.submit(ts, side, size, price, tif))

    def cancel(self, ts: int, order_id: int) -> int:
        """Cancel a resting order; returns the size it had."""
        return self._inner.cancel(ts, order_id)

    def modify(self, ts: int, order_id: int, price: int, size: int) -> Submitted:
        """New price and total size for a resting order. A price that crosses the other side
        trades at once (outside the pre-open)."""
        return Submitted(*self._inner.modify(ts, order_id, price, size))

    def open(self, ts: int, reference: int | None = None) -> tuple[int, int] | None:
        """End the pre-open at the book's indicative uncross price (max volume, then min
        imbalance, then nearest `reference`): records a `T` (side N) and the fills. Returns
        (price, volume), or None when the book does not cross."""
        return self._inner.open(ts, reference)

    def open_at(self, ts: int, price: int) -> int:
        """End the pre-open with an uncross at `price`; returns the volume traded."""
        return self._inner.open_at(ts, price)

    def levels(self, side: str, depth: int | None = None) -> list[tuple[int, int, int]]:
        """(price, size, count) per level, best first."""
        return self._inner.levels(side, depth)

    def orders(self, side: str, price: int) -> list[tuple[int, int]]:
        """(order_id, size) resting at `price`, in queue order."""
        return self._inner.orders(side, price)

    def order(self, order_id: int) -> tuple[str, int, int, int] | None:
        """(side, price, size, queue_position) of a resting order, or None."""
        return self._inner.order(order_id)

    @property
    def order_count(self) -> int:
        return self._inner.order_count

    @property
    def pending(self) -> int:
        """Records emitted and not yet taken."""
        return self._inner.pending

    def take_records(self) -> Columns:
        """The records emitted since the last take, as numpy columns (like `read_records`)."""
        return _columns(self._inner.take_records())

    def take_dbn(
        self, path: PathLike | None = None, *, symbols: Iterable[str] = (), zstd: bool = False
    ) -> bytes | int:
        """Take the pending records as a DBN stream: written to `path` (zstd when it ends in
        `.zst`; returns the record count) or returned as bytes."""
        out = None if path is None else os.fspath(path)
        return self._inner.take_dbn(out, list(symbols), zstd)


def write_dbn(
    records: Engine | Mapping[str, ArrayLike],
    path: PathLike | None = None,
    *,
    symbols: Iterable[str] = (),
    zstd: bool = False,
) -> bytes | int:
    """Write MBO records as a standard DBN stream (GLBX.MDP3, schema MBO, stype_out
    instrument_id): an Engine's pending records (taken), or columns as `read_records` /
    `Engine.take_records` give them. Written to `path` (zstd when it ends in `.zst` or with
    `zstd=True`; returns the record count) or returned as bytes."""
    if isinstance(records, Engine):
        return records.take_dbn(path, symbols=symbols, zstd=zstd)
    columns = {
        name: np.ascontiguousarray(records[name], dtype=dtype)
        for name, dtype in _RECORD_DTYPES.items()
    }
    out = None if path is None else os.fspath(path)
    return _core.write_dbn_columns(columns, out, list(symbols), zstd)
