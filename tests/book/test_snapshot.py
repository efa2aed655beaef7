"""`Market.snapshot_dbn` / `Replay.snapshot_dbn`: books as DBN snapshot records that rebuild them
(levels, L3 queues, flags) on an empty Market, and continue like the original when the records
after the snapshot are appended."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import require_core

mbo_fast = require_core()

F_SNAPSHOT, F_LAST = 0x20, 0x80
CLX5_IID = 432669


def _state(book: mbo_fast.Book) -> tuple[object, ...]:
    sides = []
    for side in ("B", "A"):
        levels = book.levels(side)  # type: ignore[arg-type]
        sides.append([(lv, book.orders(side, lv[0])) for lv in levels])  # type: ignore[arg-type]
    return (*sides, book.order_count, book.crossed, book.consistent, book.maybe_bad)


def test_replay_snapshots_rebuild_clx5_and_continue_like_the_original(clx5_path: Path) -> None:
    replay = mbo_fast.Replay(str(clx5_path))
    data = clx5_path.read_bytes()
    raw = mbo_fast.Market().snapshot_dbn()  # metadata only: where the records start in `data`
    offset = len(data) - 56 * len(replay)  # CLX5 holds MBO records only after its metadata
    assert len(raw) > 0 and offset > 0
    for index in (0, 999, 12_345, 30_000, len(replay) - 1):
        replay.seek(index=index)
        snap = replay.snapshot_dbn(CLX5_IID, 1)
        records = mbo_fast.read_records(snap)
        assert (records["flags"] & F_SNAPSHOT != 0).all()
        assert chr(records["action"][0]) == "R"
        assert (records["ts_recv"] == replay.ts_recv).all()
        rebuilt = mbo_fast.Market()
        rebuilt.apply(snap)
        assert _state(rebuilt.book(CLX5_IID, 1)) == _state(replay.book(CLX5_IID, 1))
        assert rebuilt.book(CLX5_IID, 1).anomalies == dict.fromkeys(
            rebuilt.book(CLX5_IID, 1).anomalies, 0
        )
        # the snapshot + every record after it == the whole file
        tail = data[offset + 56 * (index + 1) :]
        resumed = mbo_fast.Market()
        resumed.apply(snap + tail)
        full = mbo_fast.Market()
        full.apply(data)
        assert _state(resumed.book(CLX5_IID, 1)) == _state(full.book(CLX5_IID, 1))
    # every book at once equals the one book here (CLX5 has one)
    assert replay.snapshot_dbn() == replay.snapshot_dbn(CLX5_IID, 1)


def test_market_snapshot_and_errors(clx5_path: Path) -> None:
    market = mbo_fast.Market()
    market.apply(str(clx5_path))
    snap = market.snapshot_dbn(ts_recv=123)
    records = mbo_fast.read_records(snap)
    assert (records["ts_recv"] == 123).all()
    assert len(records) == 1 + market.book(CLX5_IID, 1).order_count  # R + one add per order
    assert records["flags"][-1] & F_LAST  # the book ended at an event boundary
    with pytest.raises(KeyError):
        market.snapshot_dbn(7, 1)
    with pytest.raises(ValueError, match="both"):
        market.snapshot_dbn(CLX5_IID)
    replay = mbo_fast.Replay(str(clx5_path))
    with pytest.raises(KeyError):
        replay.snapshot_dbn(7, 1)
    # a book of the stream not seen yet at this position: no records
    assert len(mbo_fast.read_records(replay.snapshot_dbn(CLX5_IID, 1))["index"]) == 0
