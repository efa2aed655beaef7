"""The playback contract in Python: a small, obviously-correct model of the Rust `Player` (the
same methods and frames, computed from whole-file columns and a `Replay` cursor), used as the
oracle the server's player is compared with. Moved here from the server, which streams with the
Rust player only."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

import mbo_fast

F_LAST = 0x80
Frame = tuple[str, int, bytes]


class PlayerModel:
    """The model of the Rust Player: same methods, same frames."""

    def __init__(self, path: str, instrument_id: int, publisher_id: int, depth: int) -> None:
        rec = dict(mbo_fast.read_records(path))
        self._iid, self._pid, self._depth = instrument_id, publisher_id, depth
        self._replay = mbo_fast.Replay(path)  # a cursor of its own
        self._rec = rec
        self._n = len(rec["index"])
        mask = (rec["instrument_id"] == instrument_id) & (rec["publisher_id"] == publisher_id)
        self._book_idx = np.flatnonzero(mask)
        self._boundaries = np.flatnonzero(mask & ((rec["flags"] & F_LAST) != 0))
        self._trades = np.flatnonzero(mask & (rec["action"] == ord("T")))
        self._index = -1
        self._last_levels: Any = None

    # the contract ---------------------------------------------------------------------------
    @property
    def position(self) -> int:
        return self._index + 1

    @property
    def index(self) -> int:
        return self._index

    @property
    def ts_recv(self) -> int | None:
        return int(self._rec["ts_recv"][self._index]) if self._index >= 0 else None

    @property
    def done(self) -> bool:
        return self._index >= self._n - 1

    def seek(self, index: int | None = None, ts: int | None = None) -> list[Frame]:
        raw = self._raw_target(index, ts)
        target = self._complete(raw)
        if target < 0:
            self._replay.rewind()
        else:
            self._replay.seek(index=target)
        self._index = target
        self._last_levels = self._levels()
        lo = np.searchsorted(self._trades, raw, "right")
        hi = np.searchsorted(self._trades, target, "right")
        return [trade_frame(self._rec, int(i)) for i in self._trades[lo:hi]]

    def snapshot(self) -> tuple[int, bytes]:
        self._last_levels = levels = self._levels()
        return self._index, self._frame(levels)

    def advance(self, until_index: int | None = None, until_ts: int | None = None) -> list[Frame]:
        target = self._target(until_index, until_ts)
        if target <= self._index:
            return []
        lo = np.searchsorted(self._trades, self._index, "right")
        hi = np.searchsorted(self._trades, target, "right")
        frames: list[Frame] = [trade_frame(self._rec, int(i)) for i in self._trades[lo:hi]]
        self._replay.step(target - self._index)
        self._index = target
        levels = self._levels()
        if levels != self._last_levels:
            self._last_levels = levels
            frames.append(("book", target, self._frame(levels)))
        return frames

    # helpers --------------------------------------------------------------------------------
    def _target(self, index: int | None, ts: int | None) -> int:
        return self._complete(self._raw_target(index, ts))

    def _raw_target(self, index: int | None, ts: int | None) -> int:
        if index is not None:
            return min(int(index), self._n - 1)
        if ts is not None:
            return int(np.searchsorted(self._rec["ts_recv"], ts, "right")) - 1
        raise ValueError("give index or ts")

    def _complete(self, target: int) -> int:
        if target < 0:
            return -1
        # complete the book's event: up to its next F_LAST record if the last one seen has none
        k = int(np.searchsorted(self._book_idx, target, "right")) - 1
        if k >= 0 and not self._rec["flags"][self._book_idx[k]] & F_LAST:
            m = int(np.searchsorted(self._boundaries, self._book_idx[k], "left"))
            target = int(self._boundaries[m]) if m < len(self._boundaries) else self._n - 1
        return target

    def _levels(self) -> tuple[Any, Any, bool, Any]:
        try:
            book = self._replay.book(self._iid, self._pid)
        except KeyError:
            return ([], [], False, None)
        unc = book.indicative_uncross() if book.crossed else None
        uncross = None
        if unc is not None:
            uncross = {
                "price": unc.price,
                "volume": unc.volume,
                "bid_volume": unc.bid_volume,
                "ask_volume": unc.ask_volume,
                "imbalance": unc.imbalance,
            }
        return (
            [list(x) for x in book.levels("B", self._depth)],
            [list(x) for x in book.levels("A", self._depth)],
            book.crossed,
            uncross,
        )

    def _frame(self, levels: tuple[Any, Any, bool, Any]) -> bytes:
        i = self._index
        doc = {
            "index": i if i >= 0 else None,
            "ts_recv": int(self._rec["ts_recv"][i]) if i >= 0 else None,
            "ts_event": int(self._rec["ts_event"][i]) if i >= 0 else None,
            "instrument_id": self._iid,
            "publisher_id": self._pid,
            "bids": levels[0],
            "asks": levels[1],
            "crossed": levels[2],
            "uncross": levels[3],
        }
        return json.dumps(doc, separators=(",", ":")).encode()


def trade_frame(rec: dict[str, Any], i: int) -> Frame:
    doc = {
        "index": i,
        "ts_recv": int(rec["ts_recv"][i]),
        "ts_event": int(rec["ts_event"][i]),
        "price": int(rec["price"][i]),
        "size": int(rec["size"][i]),
        "side": chr(int(rec["side"][i])),
    }
    return ("trade", i, json.dumps(doc, separators=(",", ":")).encode())
