"""The matching engine: hand-built scenarios with known records, and the round trip (replaying the
engine's records through the core's book reproduces the engine's own book after every event)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mbo_fast
from mbo_fast import Engine

TICK = 10_000_000
BASE = 6_481 * TICK
IID, PID = 432669, 1


def px(ticks: int) -> int:
    return BASE + ticks * TICK


def shape(cols: mbo_fast.Columns) -> list[tuple[str, str, int, int, int, int]]:
    """(action, side, order_id, price, size, flags) per record."""
    return [
        (chr(a), chr(s), int(o), int(p), int(z), int(f))
        for a, s, o, p, z, f in zip(
            cols["action"],
            cols["side"],
            cols["order_id"],
            cols["price"],
            cols["size"],
            cols["flags"],
        )
    ]


def assert_same_book(engine: Engine, market: mbo_fast.Market) -> None:
    if engine.order_count == 0 and not market.books():
        return
    book = market.book(IID, PID)
    for side in ("B", "A"):
        levels = engine.levels(side)
        assert book.levels(side) == levels
        for price, _, _ in levels:
            assert book.orders(side, price) == engine.orders(side, price)
    assert book.order_count == engine.order_count
    assert all(v == 0 for v in book.anomalies.values()), book.anomalies
    assert book.consistent


def step(engine: Engine, market: mbo_fast.Market) -> None:
    """Feed what the engine emitted since the last step to the market, as a DBN stream."""
    if engine.pending:
        data = engine.take_dbn()
        assert isinstance(data, bytes)
        market.apply(data)
    assert_same_book(engine, market)


# ---- hand-built scenarios ----


def test_sweep_through_three_levels() -> None:
    e = Engine(IID, PID, TICK)
    a1 = e.submit(1, "A", 2, px(1)).order_id
    a2 = e.submit(2, "A", 3, px(1)).order_id
    b1 = e.submit(3, "A", 4, px(2)).order_id
    c1 = e.submit(4, "A", 5, px(3)).order_id
    e.take_records()
    s = e.submit(10, "B", 12, px(3))
    assert (s.filled, s.resting) == (12, 0)
    cols = e.take_records()
    me = s.order_id
    assert shape(cols) == [
        ("T", "B", me, px(1), 5, 0),
        ("F", "A", a1, px(1), 2, 0),
        ("F", "A", a2, px(1), 3, 0),
        ("T", "B", me, px(2), 4, 0),
        ("F", "A", b1, px(2), 4, 0),
        ("T", "B", me, px(3), 3, 0),
        ("F", "A", c1, px(3), 3, 0),
        ("C", "A", a1, px(1), 2, 0),
        ("C", "A", a2, px(1), 3, 0),
        ("C", "A", b1, px(2), 4, 0),
        ("M", "A", c1, px(3), 2, 0x80),
    ]
    seq = cols["sequence"]
    assert (seq[:7] == seq[0]).all() and (seq[7:] == seq[0] + 1).all()
    assert (cols["ts_event"] == 10).all() and (cols["ts_recv"] >= cols["ts_event"]).all()
    assert (np.diff(cols["ts_recv"].astype(np.int64)) >= 0).all()
    assert (cols["publisher_id"] == PID).all() and (cols["instrument_id"] == IID).all()
    assert e.levels("A") == [(px(3), 2, 1)]


def test_partial_fill_rests_the_remainder() -> None:
    e = Engine(IID, PID, TICK)
    a = e.submit(1, "A", 3, px(0)).order_id
    e.take_records()
    s = e.submit(2, "B", 5, px(1))
    assert (s.filled, s.resting) == (3, 2)
    assert shape(e.take_records()) == [
        ("T", "B", s.order_id, px(0), 3, 0),
        ("F", "A", a, px(0), 3, 0),
        ("A", "B", s.order_id, px(1), 2, 0),
        ("C", "A", a, px(0), 3, 0x80),
    ]
    assert e.order(s.order_id) == ("B", px(1), 2, 0)


def test_ioc_remainder_is_cancelled_and_fok_that_cannot_fill_emits_nothing() -> None:
    e = Engine(IID, PID, TICK)
    a = e.submit(1, "A", 3, px(0)).order_id
    e.take_records()
    fok = e.submit(2, "B", 4, px(0), tif="FOK")
    assert (fok.filled, fok.resting) == (0, 0) and e.pending == 0
    ioc = e.submit(3, "B", 4, px(0), tif="IOC")
    assert (ioc.filled, ioc.resting) == (3, 0)
    assert shape(e.take_records()) == [
        ("T", "B", ioc.order_id, px(0), 3, 0),
        ("F", "A", a, px(0), 3, 0),
        ("C", "A", a, px(0), 3, 0x80),
    ]
    assert e.order(ioc.order_id) is None and e.order_count == 0
    assert e.submit(4, "B", 1, None).filled == 0  # market order, empty book: nothing
    assert e.pending == 0


def test_modify_priority() -> None:
    e = Engine(IID, PID, TICK)
    m = mbo_fast.Market()
    ids = [e.submit(i, "B", 5, px(0)).order_id for i in range(3)]
    e.modify(10, ids[0], px(0), 4)
    assert e.orders("B", px(0)) == [(ids[0], 4), (ids[1], 5), (ids[2], 5)]
    e.modify(11, ids[0], px(0), 6)
    assert e.orders("B", px(0)) == [(ids[1], 5), (ids[2], 5), (ids[0], 6)]
    e.modify(12, ids[1], px(-1), 5)
    cols = e.take_records()
    assert shape(cols)[-1] == ("M", "B", ids[1], px(-1), 5, 0x80)
    m.apply(mbo_fast.write_dbn(cols))  # type: ignore[arg-type]
    e.submit(13, "A", 5, px(0))  # trades with ids[2] first, then ids[0]
    step(e, m)
    assert e.orders("B", px(0)) == [(ids[0], 6)]


def test_pre_open_crosses_and_open_uncrosses() -> None:
    e = Engine(IID, PID, TICK, pre_open=True)
    m = mbo_fast.Market()
    e.submit(1, "B", 5, px(2))
    e.submit(2, "B", 5, px(1))
    e.submit(3, "A", 4, px(0))
    e.submit(4, "A", 4, px(1))
    step(e, m)
    assert m.book(IID, PID).crossed
    with pytest.raises(ValueError, match="before the open"):
        e.submit(5, "B", 1, None)
    opened = e.open(10)
    assert opened is not None and opened[1] == 8
    cols = e.take_records()
    assert chr(cols["action"][0]) == "T" and chr(cols["side"][0]) == "N"
    assert cols["order_id"][0] == 0 and cols["size"][0] == 8
    m.apply(mbo_fast.write_dbn(cols))  # columns -> DBN -> book
    assert_same_book(e, m)
    assert not m.book(IID, PID).crossed and not e.pre_open


def test_bad_arguments_raise_and_change_nothing() -> None:
    e = Engine(IID, PID, TICK)
    oid = e.submit(5, "B", 1, px(0)).order_id
    for size in (0, -3):
        with pytest.raises(ValueError, match="size"):
            e.submit(6, "B", size, px(0))
    with pytest.raises(ValueError, match="tick"):
        e.submit(6, "B", 1, px(0) + 1)
    with pytest.raises(ValueError, match="no resting order"):
        e.cancel(6, 999)
    with pytest.raises(ValueError, match="no resting order"):
        e.modify(6, 999, px(0), 1)
    with pytest.raises(ValueError, match="before"):
        e.cancel(4, oid)
    with pytest.raises(ValueError, match="tif"):
        e.submit(6, "B", 1, px(0), tif="GTD")
    with pytest.raises(ValueError, match="tick size"):
        Engine(IID, PID, 0)
    assert e.pending == 1 and e.order_count == 1


def test_written_files_read_back_through_databento(tmp_path: Path) -> None:
    db = pytest.importorskip("databento")
    e = Engine(IID, PID, TICK, channel_id=26)
    e.submit(1_000, "A", 2, px(1))
    e.submit(2_000, "A", 3, px(2))
    e.submit(3_000, "B", 4, px(2), tif="IOC")
    cols = e.take_records()
    for name in ("sim.dbn", "sim.dbn.zst"):
        path = tmp_path / name
        assert mbo_fast.write_dbn(cols, path, symbols=["CLX5"]) == len(cols)
        assert path.read_bytes()[:4] == (
            b"\x28\xb5\x2f\xfd" if name.endswith(".zst") else b"DBN\x03"
        )
        store = db.DBNStore.from_file(path)
        assert store.metadata.dataset == "GLBX.MDP3"
        assert str(store.metadata.schema) in ("mbo", "Schema.MBO")
        raw = store.to_ndarray()
        assert len(raw) == len(cols)
        assert raw["order_id"].tolist() == cols["order_id"].tolist()
        assert raw["sequence"].tolist() == cols["sequence"].tolist()
        assert [a.decode() for a in raw["action"]] == [chr(a) for a in cols["action"]]
        back = mbo_fast.read_records(path)
        for key in ("ts_event", "ts_recv", "price", "size", "flags", "channel_id"):
            assert back[key].tolist() == cols[key].tolist()


def test_real_file_columns_round_trip_through_write_dbn(clx5_path: Path) -> None:
    cols = mbo_fast.read_records(clx5_path)
    again = mbo_fast.read_records(mbo_fast.write_dbn(cols))  # type: ignore[arg-type]
    for key in cols:
        assert np.array_equal(cols[key], again[key]), key


# ---- the round trip over random flows ----

_side = st.sampled_from(["B", "A"])
_ticks = st.integers(-4, 4)
_size = st.integers(1, 9)
_op = st.one_of(
    st.tuples(st.just("submit"), _side, _ticks, _size, st.sampled_from(["GTC", "IOC", "FOK"])),
    st.tuples(st.just("market"), _side, _size),
    st.tuples(st.just("cancel"), st.integers(0, 1_000)),
    st.tuples(st.just("modify"), st.integers(0, 1_000), _ticks, _size),
)


def _run(
    e: Engine, ops: list[tuple[Any, ...]], m: mbo_fast.Market, live: list[int], t0: int = 0
) -> None:
    for i, op in enumerate(ops):
        ts = t0 + 1_000 * (i + 1)
        kind = op[0]
        if kind == "submit":
            s = e.submit(ts, op[1], op[3], px(op[2]), tif=op[4])
            if s.resting:
                live.append(s.order_id)
        elif kind == "market":
            e.submit(ts, op[1], op[2], None, tif="IOC")
        elif live:
            oid = live[op[1] % len(live)]
            if e.order(oid) is None:
                live.remove(oid)
            elif kind == "cancel":
                e.cancel(ts, oid)
                live.remove(oid)
            else:
                e.modify(ts, oid, px(op[2]), op[3])
        step(e, m)
        if not e.pre_open and m.books():
            assert not m.book(IID, PID).crossed


@settings(max_examples=300, deadline=None)
@given(st.lists(_op, max_size=60))
def test_replayed_records_reproduce_the_engine_book(ops: list[tuple[Any, ...]]) -> None:
    e = Engine(IID, PID, TICK)
    _run(e, ops, mbo_fast.Market(), [])


_pre_op = st.tuples(st.just("submit"), _side, _ticks, _size, st.just("GTC"))


@settings(max_examples=120, deadline=None)
@given(
    st.lists(st.one_of(_pre_op, st.tuples(st.just("modify"), st.integers(0, 99), _ticks, _size))),
    st.lists(_op, max_size=30),
)
def test_round_trip_through_pre_open_and_open(
    pre: list[tuple[Any, ...]], after: list[tuple[Any, ...]]
) -> None:
    e = Engine(IID, PID, TICK, pre_open=True)
    m = mbo_fast.Market()
    live: list[int] = []
    _run(e, pre, m, live)
    e.open(10_000_000, reference=px(0))
    step(e, m)
    if m.books():
        assert not m.book(IID, PID).crossed
    # Continuous trading after the open, later.
    _run(e, after, m, live, t0=20_000_000)
