"""Model-based tests: random MBO streams, encoded to DBN, through every mbo_fast entry point,
compared with the pure-Python reference model at every F_LAST boundary.

The streams cover several books (instruments x publishers) on a small price grid with a small
order-id pool, so duplicates, unknown ids, side changes, TOB adds, clears, N sides, fills, trades,
unknown actions, F_MAYBE_BAD_BOOK and size 0 all happen often.
"""

from __future__ import annotations

import bisect

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from core import require_core
from dbn_builder import build_dbn
from reference_book import (
    ANOMALY_NAMES,
    BBO_COLUMNS,
    F_LAST,
    F_MAYBE_BAD_BOOK,
    F_TOB,
    UNDEF_PRICE,
    Rec,
    RefMarket,
    ref_read_bbo,
    ref_read_depth,
)

mbo_fast = require_core()

INSTRUMENTS = (5, 6, 7)  # 7 is rare
PUBLISHERS = (1, 2)
TICK = 250_000_000
PRICES = [100_000_000_000 + k * TICK for k in range(5)] + [-TICK]  # a negative price too
ORDER_IDS = [1, 2, 3, 4, 5, 6, 0, 2**64 - 1]
UNKNOWN_ACTIONS = ["X", "\x00", "a"]

actions = st.sampled_from(list("AAAAAACCCCMMMMRTFN") + UNKNOWN_ACTIONS)
sides = st.sampled_from(list("BBBBAAAAN~"))
flag_bits = st.tuples(
    st.sampled_from([F_LAST, F_LAST, 0]),
    st.sampled_from([0] * 9 + [F_TOB]),
    st.sampled_from([0] * 9 + [F_MAYBE_BAD_BOOK]),
    st.sampled_from([0, 0, 0, 0x20, 0x10, 0x08, 0x02]),
).map(sum)
# 2**32 - 1: level sums beyond u32 (exact in Book/Bbo, saturated in the uint32 columns)
sizes = st.sampled_from([0, 1, 1, 1, 2, 2, 3, 5, 10] * 3 + [2**32 - 1])
tob_prices = st.sampled_from([*PRICES[:5], UNDEF_PRICE])


@st.composite
def record_lists(draw, min_size=0, max_size=60):
    n = draw(st.integers(min_size, max_size))
    records = []
    ts = 1_700_000_000_000_000_000
    for i in range(n):
        ts += draw(st.sampled_from([0, 0, 1, 5]))
        action = draw(actions)
        flags = draw(flag_bits)
        price = draw(st.sampled_from(PRICES))
        if action == "A" and flags & F_TOB:
            price = draw(tob_prices)
        records.append(
            Rec(
                ts_recv=ts,
                ts_event=ts - draw(st.sampled_from([0, 3])),
                instrument_id=draw(st.sampled_from(INSTRUMENTS[:2] * 4 + INSTRUMENTS[2:])),
                publisher_id=draw(st.sampled_from(PUBLISHERS)),
                order_id=draw(st.sampled_from(ORDER_IDS)),
                price=price,
                size=draw(sizes),
                flags=flags,
                action=action,
                side=draw(sides),
                sequence=i,
                channel_id=draw(st.sampled_from([0, 7])),
            )
        )
    return records


encodings = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 2, 3]), "zstd": st.booleans(), "ts_out": st.booleans()}
)


def encode(records, enc):
    note(f"records = {records!r}")
    note(f"encoding = {enc!r}")
    return build_dbn(records, **enc)


# ---- comparison helpers ---------------------------------------------------------------------


def bbo_tuple(bbo):
    return (bbo.bid_px, bbo.bid_sz, bbo.bid_ct, bbo.ask_px, bbo.ask_sz, bbo.ask_ct)


def assert_book_equal(book, ref, where=""):
    key = ref.key
    assert (book.instrument_id, book.publisher_id) == key, where
    for side, name in (("B", "bid"), ("A", "ask")):
        want = ref.levels(side)
        assert book.levels(side) == want, (where, key, side)
        assert book.levels(name, 2) == want[:2], (where, key, name)
        for price, _, _ in want:
            assert book.orders(side, price) == ref.orders(side, price), (where, key, side, price)
    for order_id in set(ORDER_IDS) | set(ref.index):
        assert book.order(order_id) == ref.order(order_id), (where, key, order_id)
    assert book.order_count == ref.order_count, (where, key)
    assert bbo_tuple(book.bbo()) == ref.bbo(), (where, key)
    assert book.crossed == ref.crossed, (where, key)
    assert book.maybe_bad == ref.maybe_bad, (where, key)
    assert book.consistent == ref.consistent, (where, key)
    assert book.anomalies == ref.anomalies, (where, key)


def assert_market_equal(market, ref, where=""):
    assert [(b.instrument_id, b.publisher_id) for b in market.books()] == ref.sorted_keys(), where
    for key in ref.sorted_keys():
        assert_book_equal(market.book(*key), ref.book(key), where)
    for iid in {k[0] for k in ref.sorted_keys()}:
        assert bbo_tuple(market.consolidated_bbo(iid)) == ref.consolidated_bbo(iid), (where, iid)


def model_after(records, n):
    return RefMarket().apply_all(records[:n])


def assert_columns_equal(got, want):
    assert set(got) == set(want), sorted(set(got) ^ set(want))
    for name, col in want.items():
        arr = np.asarray(got[name])
        assert arr.shape == col.shape, (name, arr.shape, col.shape)
        assert arr.tolist() == col.tolist(), name
        assert arr.dtype == col.dtype, (name, arr.dtype, col.dtype)


# ---- Market ---------------------------------------------------------------------------------


@given(record_lists(), encodings)
def test_market_matches_model(records, enc):
    data = encode(records, enc)
    market = mbo_fast.Market()
    assert market.apply(data) == len(records)
    assert market.record_count == len(records)
    ref = model_after(records, len(records))
    assert_market_equal(market, ref)


@given(record_lists(), st.data())
def test_market_apply_in_pieces(records, data):
    cut = data.draw(st.integers(0, len(records)))
    note(f"records = {records!r}, cut = {cut}")
    market = mbo_fast.Market()
    assert market.apply(build_dbn(records[:cut])) == cut
    assert market.apply(build_dbn(records[cut:], zstd=True)) == len(records) - cut
    assert market.record_count == len(records)
    assert_market_equal(market, model_after(records, len(records)))


# ---- read_bbo / read_depth / read_records ---------------------------------------------------


@given(record_lists(), encodings)
def test_read_bbo_matches_model(records, enc):
    data = encode(records, enc)
    cols = mbo_fast.read_bbo(data)
    assert list(cols) == list(BBO_COLUMNS)
    assert_columns_equal(cols, ref_read_bbo(records))
    assert len(cols) == sum(1 for r in records if r.flags & F_LAST)


@given(record_lists(), st.sampled_from((*INSTRUMENTS, None)), st.sampled_from((*PUBLISHERS, None)))
def test_read_bbo_filters(records, iid, pid):
    note(f"records = {records!r}")
    cols = mbo_fast.read_bbo(build_dbn(records), instrument_id=iid, publisher_id=pid)
    assert_columns_equal(cols, ref_read_bbo(records, iid, pid))


@given(record_lists(), encodings, st.sampled_from([1, 2, 3, 7]))
def test_read_depth_matches_model(records, enc, depth):
    data = encode(records, enc)
    cols = mbo_fast.read_depth(data, depth)
    assert_columns_equal(cols, ref_read_depth(records, depth))
    if depth == 1:  # depth 1 is the BBO
        bbo = ref_read_bbo(records)
        for name in ("bid_px", "bid_sz", "bid_ct", "ask_px", "ask_sz", "ask_ct"):
            assert np.asarray(cols[name])[:, 0].tolist() == bbo[name].tolist()


@given(record_lists(), st.sampled_from(INSTRUMENTS), st.sampled_from(PUBLISHERS))
def test_read_depth_filters(records, iid, pid):
    note(f"records = {records!r}")
    cols = mbo_fast.read_depth(build_dbn(records), 2, instrument_id=iid, publisher_id=pid)
    assert_columns_equal(cols, ref_read_depth(records, 2, iid, pid))


@given(record_lists(), encodings)
def test_read_records(records, enc):
    cols = mbo_fast.read_records(encode(records, enc))
    assert np.asarray(cols["index"]).tolist() == list(range(len(records)))
    for field in (
        "ts_recv",
        "ts_event",
        "instrument_id",
        "publisher_id",
        "order_id",
        "price",
        "size",
        "flags",
        "sequence",
        "channel_id",
    ):
        assert np.asarray(cols[field]).tolist() == [getattr(r, field) for r in records], field
    for field in ("action", "side"):
        assert np.asarray(cols[field]).tolist() == [ord(getattr(r, field)) for r in records]


# ---- Replay ---------------------------------------------------------------------------------

checkpoints = st.sampled_from([None, 1, 3, 7, 1000])


@given(record_lists(min_size=1), checkpoints, st.data())
def test_replay_seek_index_matches_model(records, checkpoint_every, data):
    """seek(index=i) == the model after i + 1 records, at every boundary and random i, in a
    random order (forwards and backwards)."""
    note(f"records = {records!r}, checkpoint_every = {checkpoint_every}")
    replay = mbo_fast.Replay(build_dbn(records), checkpoint_every=checkpoint_every)
    assert len(replay) == len(records)
    assert replay.position == 0 and replay.ts_recv is None
    boundaries = [i for i, r in enumerate(records) if r.flags & F_LAST]
    extra = data.draw(st.lists(st.integers(0, len(records) - 1), max_size=5))
    order = data.draw(st.permutations(boundaries + extra))
    for i in order:
        assert replay.seek(index=i) == i + 1
        assert replay.position == i + 1
        assert replay.ts_recv == records[i].ts_recv
        assert_market_equal(replay, model_after(records, i + 1), where=f"seek(index={i})")


@given(record_lists(min_size=1), checkpoints, st.data())
def test_replay_seek_ts_matches_model(records, checkpoint_every, data):
    note(f"records = {records!r}, checkpoint_every = {checkpoint_every}")
    replay = mbo_fast.Replay(build_dbn(records), checkpoint_every=checkpoint_every)
    ts_all = [r.ts_recv for r in records]  # non-decreasing
    candidates = sorted({t + d for t in ts_all for d in (-1, 0)} | {ts_all[-1] + 10})
    for t in data.draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=6)):
        want = bisect.bisect_right(ts_all, t)
        assert replay.seek(ts=t) == want, t
        assert replay.position == want
        assert replay.ts_recv == (ts_all[want - 1] if want else None)
        assert_market_equal(replay, model_after(records, want), where=f"seek(ts={t})")


@given(record_lists(), checkpoints, st.lists(st.integers(0, 9), min_size=1, max_size=12))
def test_replay_step_and_rewind(records, checkpoint_every, steps):
    note(f"records = {records!r}, checkpoint_every = {checkpoint_every}")
    replay = mbo_fast.Replay(build_dbn(records), checkpoint_every=checkpoint_every)
    if records:
        replay.seek(index=len(records) - 1)
        replay.rewind()
    assert replay.position == 0 and replay.ts_recv is None and replay.books() == []
    pos = 0
    for n in steps:
        applied = replay.step(n)
        assert applied == min(n, len(records) - pos)
        pos += applied
        assert replay.position == pos
        assert_market_equal(replay, model_after(records, pos), where=f"step -> {pos}")
    rest = replay.step(len(records) + 1)
    assert rest == len(records) - pos and replay.position == len(records)
    assert replay.step() == 0
    assert_market_equal(replay, model_after(records, len(records)), where="end")
    assert replay.step() == 0  # default n=1 at the end


@given(record_lists(min_size=1), st.data())
def test_replay_record(records, data):
    replay = mbo_fast.Replay(build_dbn(records))
    i = data.draw(st.integers(0, len(records) - 1))
    got = replay.record(i)
    r = records[i]
    for field in Rec._fields:
        if field == "ts_in_delta" or field not in got:
            continue
        value = got[field]
        if field in ("action", "side") and isinstance(value, int):
            value = chr(value)
        assert value == getattr(r, field), (i, field, got)
    assert {"ts_recv", "order_id", "price", "size", "flags", "action", "side"} <= set(got)


# ---- small fixed cases (readable regressions) ---------------------------------------------------


def _r(action, side="B", price=PRICES[0], size=1, order_id=1, flags=F_LAST, iid=5, pid=1, ts=1):
    return Rec(ts, ts, iid, pid, order_id, price, size, flags, action, side)


FIXED_CASES = {
    "modify_bigger_loses_priority": [
        _r("A", order_id=1, flags=0),
        _r("A", order_id=2, flags=0),
        _r("M", order_id=1, size=2),
    ],
    "partial_cancel_keeps_priority": [
        _r("A", order_id=1, size=3, flags=0),
        _r("A", order_id=2, flags=0),
        _r("C", order_id=1, size=2),
    ],
    "tob_then_orders_same_price": [
        _r("A", order_id=0, size=7, flags=F_TOB | F_LAST),
        _r("A", order_id=5, size=2),
        _r("C", order_id=5, size=2),
    ],
    "tob_undef_price_empties_side": [
        _r("A", order_id=1),
        _r("A", order_id=0, price=UNDEF_PRICE, size=3, flags=F_TOB | F_LAST),
    ],
    "locked_book_is_crossed": [
        _r("A", order_id=1, flags=0),
        _r("A", order_id=2, side="A"),
    ],
    "clear_resets_maybe_bad": [
        _r("A", order_id=1, flags=F_MAYBE_BAD_BOOK | F_LAST),
        _r("R", side="N"),
    ],
    "side_n_and_unknown_actions": [
        _r("A", side="N"),
        _r("C", side="N"),
        _r("M", side="N"),
        _r("X"),
        _r("F", order_id=9),
    ],
    "same_order_id_in_two_books": [
        _r("A", order_id=1, pid=1),
        _r("A", order_id=1, pid=2, size=4),
        _r("C", order_id=1, pid=2),
    ],
    "huge_sizes_do_not_overflow": [
        _r("A", order_id=1, size=2**32 - 1, flags=0),
        _r("A", order_id=2, size=2**32 - 1),
    ],
}


@pytest.mark.parametrize("name", sorted(FIXED_CASES))
def test_fixed_case(name):
    records = FIXED_CASES[name]
    data = build_dbn(records)
    market = mbo_fast.Market()
    market.apply(data)
    assert_market_equal(market, model_after(records, len(records)), where=name)
    assert_columns_equal(mbo_fast.read_bbo(data), ref_read_bbo(records))
    assert_columns_equal(mbo_fast.read_depth(data, 3), ref_read_depth(records, 3))


def test_empty_stream():
    data = build_dbn([])
    cols = mbo_fast.read_bbo(data)
    assert list(cols) == list(BBO_COLUMNS) and len(cols) == 0
    assert len(mbo_fast.read_depth(data, 4)) == 0
    market = mbo_fast.Market()
    assert market.apply(data) == 0 and market.books() == []
    replay = mbo_fast.Replay(data)
    assert len(replay) == 0 and replay.step(3) == 0


def test_anomaly_names_are_all_exposed():
    market = mbo_fast.Market()
    market.apply(build_dbn([_r("N", side="N")]))
    assert set(market.book(5, 1).anomalies) == set(ANOMALY_NAMES)
    assert all(v == 0 for v in market.book(5, 1).anomalies.values())
