"""Order injection against history: "what would have happened to my order".

>>> bt = Backtest("CLX5_mbo.dbn", latency_ns=50_000)
>>> bt.run(until_index=20_000)
>>> oid = bt.place(432669, 1, "B", bt.bbo(432669, 1).bid_px, 1)   # join the best bid
>>> bt.run()
>>> bt.fills(), bt.order(oid).status

Real MBO records are replayed untouched; each simulated order tracks exactly which historical
orders are ahead of it in its FIFO queue. Rules (README, "Backtest: order injection"): it fills
only once the volume ahead has traded or left and further volume trades at its price, or when a
trade goes through its price (whole remaining size); a marketable order fills on arrival against
the displayed opposite levels. Requests take effect `latency_ns` after they are made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from . import _core
from ._source import Source, to_raw_source

if TYPE_CHECKING:
    from . import Replay

__all__ = ["Backtest", "Fill", "OrderState"]


class Fill(NamedTuple):
    order_id: int
    ts: int
    """ts_recv of the trade record, or the arrival time for `entry` fills."""
    record_index: int | None
    """Index of the trade record that filled the order; None for `entry` fills."""
    price: int
    size: int
    kind: str
    """'entry' (taker, on arrival), 'queue' (maker, at our price), 'through' (traded through)."""
    orders_ahead_at_entry: int
    volume_ahead_at_entry: int


class OrderState(NamedTuple):
    order_id: int
    instrument_id: int
    publisher_id: int
    side: str
    price: int
    size: int
    filled: int
    remaining: int
    status: str
    """'pending' (latency), 'open', 'filled' or 'cancelled'."""
    request_ts: int
    entry_ts: int | None
    """When the order (last) joined its queue; None while pending."""
    orders_ahead_at_entry: int
    volume_ahead_at_entry: int


Callback = Callable[["Backtest"], Any]


class Backtest:
    """Simulated limit orders against a real MBO stream, which is loaded into memory.

    Times are ns (`ts_recv` of the records). Requests take `at_ts=` (after every record with
    ts_recv <= at_ts), `at_index=` (right after that record) or neither (now), and take effect
    `latency_ns` later. The historical books are never changed.
    """

    def __init__(self, source: Source, *, latency_ns: int = 0) -> None:
        if latency_ns < 0:
            raise ValueError("latency_ns must be >= 0")
        self._inner = _core.Backtest(to_raw_source(source), latency_ns)

    @classmethod
    def from_replay(cls, replay: Replay, *, position: int = 0, latency_ns: int = 0) -> Backtest:
        """A backtest over `replay`'s records (shared, not copied or decoded again) that starts
        from its nearest market checkpoint at or before `position` (records applied) instead of
        record 0: `bt.position <= position`, requests can be made at any index from
        `position - 1` on, and they are answered exactly as by a backtest started from record 0
        (an order needs only the historical book at its placement, which the checkpoint gives).
        ValueError when `position` is past the end."""
        if latency_ns < 0:
            raise ValueError("latency_ns must be >= 0")
        if position < 0:
            raise ValueError("position must be >= 0")
        bt = cls.__new__(cls)
        bt._inner = _core.Backtest.from_replay(replay._inner, position, latency_ns)
        return bt

    @classmethod
    def from_recording(
        cls, recording: _core.Recording, *, position: int = 0, latency_ns: int = 0
    ) -> Backtest:
        """`from_replay` over a recording (e.g. a stored source's, `SqliteStore.recording`):
        started from its checkpoint at or before `position`, its blocks read on demand."""
        if latency_ns < 0:
            raise ValueError("latency_ns must be >= 0")
        if position < 0:
            raise ValueError("position must be >= 0")
        bt = cls.__new__(cls)
        bt._inner = _core.Backtest.from_replay(recording.replay(), position, latency_ns)
        return bt

    def __len__(self) -> int:
        return len(self._inner)

    @property
    def position(self) -> int:
        """Records applied so far; the books reflect records [0, position)."""
        return self._inner.position

    @property
    def now(self) -> int:
        """Latest ts_recv applied, or the time `run` paused or stopped at."""
        return self._inner.now

    @property
    def latency_ns(self) -> int:
        return self._inner.latency_ns

    def place(
        self,
        instrument_id: int,
        publisher_id: int,
        side: str,
        price: int,
        size: int,
        *,
        at_ts: int | None = None,
        at_index: int | None = None,
    ) -> int:
        """A simulated limit order (side 'B'/'bid' or 'A'/'ask', price in 1e-9 units); returns
        its id. Raises ValueError for a bad side, size < 1, or a request time in the past."""
        return self._inner.place(instrument_id, publisher_id, side, price, size, at_ts, at_index)

    def cancel(
        self, order_id: int, *, at_ts: int | None = None, at_index: int | None = None
    ) -> bool:
        """Cancel after the latency. False if the order is already filled or cancelled (a cancel
        that arrives after a fill does nothing either). ValueError for an unknown id."""
        return self._inner.cancel(order_id, at_ts, at_index)

    def modify(
        self,
        order_id: int,
        *,
        price: int | None = None,
        size: int | None = None,
        at_ts: int | None = None,
        at_index: int | None = None,
    ) -> bool:
        """New price and/or remaining size after the latency. A smaller size at the same price
        keeps the queue place; a new price or a larger size re-queues at the back."""
        return self._inner.modify(order_id, price, size, at_ts, at_index)

    def run(
        self,
        *,
        until_ts: int | None = None,
        until_index: int | None = None,
        on_boundary: Callback | None = None,
        every: int | None = None,
        book: tuple[int, int] | None = None,
        per_record: bool = False,
    ) -> int:
        """Advance (in Rust, GIL released) to `until_ts`/`until_index` or the end of the data.

        `on_boundary(bt)` is called after each F_LAST record of `book` ((instrument_id,
        publisher_id); every book if None), or, with `every=N`, at every multiple of N ns of
        ts_recv instead, or after every record with `per_record=True`. The callback may place,
        modify and cancel orders ("now"). Returns the number of callbacks made.
        """
        if until_ts is not None and until_index is not None:
            raise ValueError("give at most one of until_ts= or until_index=")
        if on_boundary is None:
            if every is not None or per_record:
                raise ValueError("every= and per_record= need a callback (on_boundary=)")
            self._inner.run(until_ts, until_index, "never", None, None)
            return 0
        if every is not None and every < 1:
            raise ValueError("every must be >= 1 ns")
        if every is not None and per_record:
            raise ValueError("give at most one of every= or per_record=")
        pause = "every" if every is not None else "record" if per_record else "boundary"
        calls = 0
        while True:
            stop, _ = self._inner.run(until_ts, until_index, pause, book, every)
            if stop == "done":
                return calls
            on_boundary(self)
            calls += 1

    def fills(self) -> list[Fill]:
        return [_fill(f) for f in self._inner.fills()]

    def fill_columns(self) -> dict[str, np.ndarray[Any, Any]]:
        """fills() as numpy columns (record_index -1 for entry fills)."""
        fills = self._inner.fills()
        record_index = [-1 if f.record_index is None else f.record_index for f in fills]
        return {
            "order_id": np.array([f.order_id for f in fills], dtype=np.uint64),
            "ts": np.array([f.ts for f in fills], dtype=np.uint64),
            "record_index": np.array(record_index, dtype=np.int64),
            "price": np.array([f.price for f in fills], dtype=np.int64),
            "size": np.array([f.size for f in fills], dtype=np.uint32),
            "kind": np.array([f.kind for f in fills], dtype="U7"),
            "orders_ahead_at_entry": np.array(
                [f.orders_ahead_at_entry for f in fills], dtype=np.uint32
            ),
            "volume_ahead_at_entry": np.array(
                [f.volume_ahead_at_entry for f in fills], dtype=np.uint64
            ),
        }

    def orders(self) -> list[OrderState]:
        return [_state(o) for o in self._inner.orders()]

    def order(self, order_id: int) -> OrderState:
        return _state(self._inner.order(order_id))

    def queue_position(self, order_id: int) -> tuple[int, int] | None:
        """(orders ahead, volume ahead) now; None unless the order is open."""
        return self._inner.queue_position(order_id)

    def ahead(self, order_id: int) -> list[tuple[int, int]]:
        """The historical orders ahead of an open order now, in queue order: (order_id, size).
        They are always the front of the level's queue (`orders_at`)."""
        return self._inner.ahead(order_id)

    def orders_at(
        self, instrument_id: int, publisher_id: int, side: str, price: int
    ) -> list[tuple[int, int]]:
        """(order_id, size) resting at `price` in the historical book now, in queue order."""
        return self._inner.orders_at(instrument_id, publisher_id, side, price)

    def bbo(self, instrument_id: int, publisher_id: int) -> _core.Bbo:
        """Best bid/offer of the historical book now."""
        return self._inner.bbo(instrument_id, publisher_id)

    def levels(
        self, instrument_id: int, publisher_id: int, side: str, depth: int | None = None
    ) -> list[tuple[int, int, int]]:
        """(price, size, count) per level of the historical book now, best first."""
        return self._inner.levels(instrument_id, publisher_id, side, depth)


def _fill(f: _core.Fill) -> Fill:
    return Fill._make(getattr(f, name) for name in Fill._fields)


def _state(o: _core.OrderState) -> OrderState:
    return OrderState._make(getattr(o, name) for name in OrderState._fields)
