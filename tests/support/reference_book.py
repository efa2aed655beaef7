"""A small pure-Python model of the mbo-fast book semantics (the contract in the spec).

Readability first; it is also the "pure Python" baseline in benchmarks, so the apply loop avoids
needless work. One `RefBook` per (instrument_id, publisher_id):

    queues: side -> price -> {order_id: size}, insertion order = FIFO (priority) order
    prices: side -> ascending list of the prices that have a level
    index:  order_id -> (side, price) of every resting order
    tob:    side -> (price, size) | None, the order-less level an F_TOB add leaves

A TOB level behaves as a level with size > 0 and count 0. If ordinary orders later rest at the
TOB price, the level's size is the TOB size plus their sizes and its count is their number.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

UNDEF_PRICE = 2**63 - 1

F_LAST = 0x80
F_TOB = 0x40
F_SNAPSHOT = 0x20
F_MBP = 0x10
F_BAD_TS_RECV = 0x08
F_MAYBE_BAD_BOOK = 0x04

ANOMALY_NAMES = (
    "cancel_unknown",
    "cancel_oversize",
    "add_duplicate",
    "modify_unknown_as_add",
    "modify_to_zero",
    "modify_side_change",
    "side_n_book_action",
    "fill_unknown",
    "unknown_action",
)

U32_MAX = 2**32 - 1

# The column dtypes of read_bbo (read_depth: the same, px/sz/ct 2-D). A level size above
# 2**32 - 1 saturates in the columns (uint32, like Databento's MBP sizes); Bbo objects and
# Book.levels keep exact sizes.
BBO_DTYPES = ("u8", "u8", "u8", "u4", "u2", "i8", "u4", "u4", "i8", "u4", "u4")

BBO_COLUMNS = (
    "index",
    "ts_recv",
    "ts_event",
    "instrument_id",
    "publisher_id",
    "bid_px",
    "bid_sz",
    "bid_ct",
    "ask_px",
    "ask_sz",
    "ask_ct",
)


class Rec(NamedTuple):
    """One MBO record. `action` and `side` are 1-character strings ('A', 'B', ...)."""

    ts_recv: int
    ts_event: int
    instrument_id: int
    publisher_id: int
    order_id: int
    price: int
    size: int
    flags: int
    action: str
    side: str
    sequence: int = 0
    channel_id: int = 0
    ts_in_delta: int = 0


def _side_key(side: str) -> str:
    if side in ("B", "bid"):
        return "B"
    if side in ("A", "ask"):
        return "A"
    raise ValueError(f"bad side {side!r}")


class RefBook:
    """One (instrument_id, publisher_id) book."""

    __slots__ = ("key", "queues", "prices", "index", "tob", "anomalies", "maybe_bad", "consistent")

    def __init__(self, key: tuple[int, int]) -> None:
        self.key = key
        # side -> price -> {order_id: size}; a dict keeps insertion (= queue) order.
        self.queues: dict[str, dict[int, dict[int, int]]] = {"B": {}, "A": {}}
        # side -> ascending list of the prices that have a level (queue and/or TOB level).
        self.prices: dict[str, list[int]] = {"B": [], "A": []}
        self.index: dict[int, tuple[str, int]] = {}  # order_id -> (side, price)
        self.tob: dict[str, tuple[int, int] | None] = {"B": None, "A": None}
        self.anomalies = dict.fromkeys(ANOMALY_NAMES, 0)
        self.maybe_bad = False
        self.consistent = False

    # ---- mutation helpers -------------------------------------------------------------------

    def _rest(self, order_id: int, side: str, price: int, size: int) -> None:
        """Append an order at the back of its level (size 0: nothing rests)."""
        if size <= 0:
            return
        levels = self.queues[side]
        queue = levels.get(price)
        if queue is None:
            queue = levels[price] = {}
            tob = self.tob[side]
            if tob is None or tob[0] != price:
                bisect.insort(self.prices[side], price)
        queue[order_id] = size
        self.index[order_id] = (side, price)

    def _remove(self, order_id: int) -> None:
        side, price = self.index.pop(order_id)
        levels = self.queues[side]
        queue = levels[price]
        del queue[order_id]
        if not queue:
            del levels[price]
            tob = self.tob[side]
            if tob is None or tob[0] != price:
                prices = self.prices[side]
                del prices[bisect.bisect_left(prices, price)]

    def _clear_side(self, side: str) -> None:
        for queue in self.queues[side].values():
            for order_id in queue:
                del self.index[order_id]
        self.queues[side] = {}
        self.prices[side] = []
        self.tob[side] = None

    # ---- apply ----------------------------------------------------------------------------

    def apply(self, rec: Rec) -> None:
        action = rec.action
        flags = rec.flags
        if action in ("A", "C", "M") and rec.side not in ("A", "B"):
            self.anomalies["side_n_book_action"] += 1
        elif action == "A":
            side = rec.side
            if flags & F_TOB:
                self._clear_side(side)
                if rec.price != UNDEF_PRICE and rec.size > 0:
                    self.tob[side] = (rec.price, rec.size)
                    self.prices[side] = [rec.price]
            else:
                if rec.order_id in self.index:
                    self.anomalies["add_duplicate"] += 1
                    self._remove(rec.order_id)
                self._rest(rec.order_id, side, rec.price, rec.size)
        elif action == "C":
            order_id = rec.order_id
            if order_id not in self.index:
                self.anomalies["cancel_unknown"] += 1
            else:
                side, price = self.index[order_id]  # the stored side/price, never the record's
                queue = self.queues[side][price]
                resting = queue[order_id]
                if rec.size > resting:
                    self.anomalies["cancel_oversize"] += 1
                    self._remove(order_id)
                elif rec.size == resting:
                    self._remove(order_id)
                else:
                    queue[order_id] = resting - rec.size  # keeps its queue position
        elif action == "M":
            order_id = rec.order_id
            if order_id not in self.index:
                self.anomalies["modify_unknown_as_add"] += 1
                self._rest(order_id, rec.side, rec.price, rec.size)
            elif rec.size == 0:
                self.anomalies["modify_to_zero"] += 1
                self._remove(order_id)
            else:
                side, price = self.index[order_id]
                queue = self.queues[side][price]
                if rec.side != side:
                    self.anomalies["modify_side_change"] += 1
                    self._remove(order_id)
                    self._rest(order_id, rec.side, rec.price, rec.size)
                elif rec.price != price or rec.size > queue[order_id]:
                    self._remove(order_id)  # loses priority: back of the (new) level
                    self._rest(order_id, side, rec.price, rec.size)
                else:
                    queue[order_id] = rec.size  # same price, size <= stored: keeps position
        elif action == "R":
            self._clear_side("B")
            self._clear_side("A")
            self.maybe_bad = False
        elif action == "F":
            if rec.order_id not in self.index:
                self.anomalies["fill_unknown"] += 1
        elif action in ("T", "N"):
            pass
        else:
            self.anomalies["unknown_action"] += 1
        if flags & F_MAYBE_BAD_BOOK:
            self.maybe_bad = True
        self.consistent = bool(flags & F_LAST)

    # ---- queries ----------------------------------------------------------------------------

    def level(self, side: str, price: int) -> tuple[int, int, int]:
        """(price, size, count) of the level at `price` (which must exist)."""
        queue = self.queues[side].get(price, {})
        size = sum(queue.values())
        tob = self.tob[side]
        if tob is not None and tob[0] == price:
            size += tob[1]
        return (price, size, len(queue))

    def levels(self, side: str, depth: int | None = None) -> list[tuple[int, int, int]]:
        """(price, size, count) per level, best first."""
        side = _side_key(side)
        prices = self.prices[side]
        if side == "B":
            prices = prices[::-1] if depth is None else prices[: -depth - 1 : -1]
        elif depth is not None:
            prices = prices[:depth]
        return [self.level(side, p) for p in prices]

    def orders(self, side: str, price: int) -> list[tuple[int, int]]:
        """(order_id, size) at `price` in queue order."""
        return list(self.queues[_side_key(side)].get(price, {}).items())

    def order(self, order_id: int) -> tuple[str, int, int, int] | None:
        """(side, price, size, queue_position) or None; queue_position is 0-based."""
        if order_id not in self.index:
            return None
        side, price = self.index[order_id]
        queue = self.queues[side][price]
        return (side, price, queue[order_id], list(queue).index(order_id))

    @property
    def order_count(self) -> int:
        return len(self.index)

    def best(self, side: str) -> tuple[int, int, int] | None:
        """(price, size, count) of the best level of `side`, or None when empty."""
        prices = self.prices[side]
        if not prices:
            return None
        return self.level(side, prices[-1] if side == "B" else prices[0])

    def bbo(self) -> tuple[int | None, int, int, int | None, int, int]:
        """(bid_px, bid_sz, bid_ct, ask_px, ask_sz, ask_ct); an empty side gives (None, 0, 0)."""
        bid = self.best("B") or (None, 0, 0)
        ask = self.best("A") or (None, 0, 0)
        return (*bid, *ask)

    def crossed_with(self, strict: bool = False) -> bool:
        bids, asks = self.prices["B"], self.prices["A"]
        if not bids or not asks:
            return False
        return bids[-1] > asks[0] if strict else bids[-1] >= asks[0]

    @property
    def crossed(self) -> bool:
        """Both sides present and best bid >= best ask (crossed or locked)."""
        return self.crossed_with(strict=False)

    def check_invariants(self) -> None:
        """Sizes > 0, no empty levels, the order index and price lists match the queues."""
        seen = 0
        for side, levels in self.queues.items():
            for price, queue in levels.items():
                assert queue, (self.key, side, price, "empty level kept")
                for order_id, size in queue.items():
                    assert size > 0, (self.key, order_id, size)
                    assert self.index[order_id] == (side, price)
                    seen += 1
            tob = self.tob[side]
            assert tob is None or (tob[1] > 0 and tob[0] != UNDEF_PRICE)
            want = set(levels) | ({tob[0]} if tob else set())
            assert self.prices[side] == sorted(want), (self.key, side)
            for _price, size, count in self.levels(side):
                assert size > 0 and count >= 0
        assert seen == len(self.index)


class RefMarket:
    """Every book of a stream. `apply(rec)` returns the record's book."""

    def __init__(self) -> None:
        self.books: dict[tuple[int, int], RefBook] = {}
        self.record_count = 0

    def apply(self, rec: Rec) -> RefBook:
        key = (rec.instrument_id, rec.publisher_id)
        book = self.books.get(key)
        if book is None:
            book = self.books[key] = RefBook(key)
        book.apply(rec)
        self.record_count += 1
        return book

    def apply_all(self, records: Iterable[Rec]) -> RefMarket:
        for rec in records:
            self.apply(rec)
        return self

    def book(self, key: tuple[int, int]) -> RefBook:
        return self.books[key]

    def sorted_keys(self) -> list[tuple[int, int]]:
        return sorted(self.books)

    # Convenience wrappers keyed by (instrument_id, publisher_id).
    def levels(self, key: tuple[int, int], side: str, depth: int | None = None):
        return self.books[key].levels(side, depth)

    def orders(self, key: tuple[int, int], side: str, price: int):
        return self.books[key].orders(side, price)

    def bbo(self, key: tuple[int, int]):
        return self.books[key].bbo()

    def crossed(self, key: tuple[int, int]) -> bool:
        return self.books[key].crossed

    def anomalies(self, key: tuple[int, int]) -> dict[str, int]:
        return dict(self.books[key].anomalies)

    def consolidated_bbo(self, instrument_id: int):
        """(bid_px, bid_sz, bid_ct, ask_px, ask_sz, ask_ct) across the instrument's publishers."""
        bests = {"B": [], "A": []}
        for (iid, _), book in self.books.items():
            if iid != instrument_id:
                continue
            for side in ("B", "A"):
                best = book.best(side)
                if best is not None:
                    bests[side].append(best)
        out: list[int | None] = []
        for side in ("B", "A"):
            if not bests[side]:
                out.extend((None, 0, 0))
                continue
            pick = max if side == "B" else min
            px = pick(b[0] for b in bests[side])
            at = [b for b in bests[side] if b[0] == px]
            out.extend((px, sum(b[1] for b in at), sum(b[2] for b in at)))
        return tuple(out)


def _wanted(rec: Rec, instrument_id: int | None, publisher_id: int | None) -> bool:
    return (instrument_id is None or rec.instrument_id == instrument_id) and (
        publisher_id is None or rec.publisher_id == publisher_id
    )


def ref_read_bbo(
    records: Iterable[Rec], instrument_id: int | None = None, publisher_id: int | None = None
) -> dict[str, np.ndarray]:
    """The read_bbo columns: one row per F_LAST record, after applying it, for its book.
    Sizes saturate at 2**32 - 1 (uint32 columns)."""
    market = RefMarket()
    rows = []
    for i, rec in enumerate(records):
        book = market.apply(rec)
        if rec.flags & F_LAST and _wanted(rec, instrument_id, publisher_id):
            bid = book.best("B") or (UNDEF_PRICE, 0, 0)
            ask = book.best("A") or (UNDEF_PRICE, 0, 0)
            rows.append(
                (i, rec.ts_recv, rec.ts_event, rec.instrument_id, rec.publisher_id, *bid, *ask)
            )
    cols = list(zip(*rows)) if rows else [()] * len(BBO_COLUMNS)
    out = {}
    for name, col, dtype in zip(BBO_COLUMNS, cols, BBO_DTYPES):
        if name in ("bid_sz", "ask_sz"):
            col = np.minimum(np.array(col, dtype="u8"), U32_MAX)
        out[name] = np.array(col, dtype=dtype)
    return out


def ref_read_depth(
    records: Iterable[Rec],
    depth: int,
    instrument_id: int | None = None,
    publisher_id: int | None = None,
) -> dict[str, np.ndarray]:
    """The read_depth columns: like ref_read_bbo, px/sz/ct are (rows, depth) arrays."""
    market = RefMarket()
    head: list[tuple[int, ...]] = []
    sides: dict[str, list[list[tuple[int, int, int]]]] = {"B": [], "A": []}
    pad = [(UNDEF_PRICE, 0, 0)] * depth
    for i, rec in enumerate(records):
        book = market.apply(rec)
        if rec.flags & F_LAST and _wanted(rec, instrument_id, publisher_id):
            head.append((i, rec.ts_recv, rec.ts_event, rec.instrument_id, rec.publisher_id))
            for side in ("B", "A"):
                lv = book.levels(side, depth)
                sides[side].append(lv + pad[len(lv) :])
    out: dict[str, np.ndarray] = {}
    head_cols = list(zip(*head)) if head else [()] * 5
    for name, col, dt in zip(BBO_COLUMNS[:5], head_cols, BBO_DTYPES[:5]):
        out[name] = np.array(col, dtype=dt)
    for side, prefix in (("B", "bid"), ("A", "ask")):
        arr = np.array(sides[side], dtype=object).reshape(len(head), depth, 3)
        out[f"{prefix}_px"] = arr[:, :, 0].astype("i8")
        out[f"{prefix}_sz"] = np.minimum(arr[:, :, 1].astype("u8"), U32_MAX).astype("u4")
        out[f"{prefix}_ct"] = arr[:, :, 2].astype("u4")
    return out
