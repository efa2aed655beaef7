"""The two sample files through the Rust API, compared with the reference model."""

from __future__ import annotations

import bisect
import collections
import gc
import random
from pathlib import Path

import numpy as np
import pytest

from core import require_core
from reference_book import (
    ANOMALY_NAMES,
    BBO_COLUMNS,
    F_LAST,
    F_SNAPSHOT,
    UNDEF_PRICE,
    RefMarket,
    ref_read_bbo,
    ref_read_depth,
)

mbo_fast = require_core()

FACTS = {
    "CLX5_mbo.dbn": {
        "records": 38_212,
        "f_last": 32_053,
        "crossed": 172,
        "snapshot": 0,
        "books": [(432669, 1)],
    },
    "esh4-glbx-mdp3-20231225.mbo.dbn.zst": {
        "records": 68_792,
        "f_last": 47_022,
        "crossed": 891,
        "snapshot": 8_725,
        "books": [(17077, 1)],
    },
}


def bbo_tuple(bbo):
    return (bbo.bid_px, bbo.bid_sz, bbo.bid_ct, bbo.ask_px, bbo.ask_sz, bbo.ask_ct)


def snapshot_ref(market: RefMarket):
    """Everything observable about every book of the model, as plain data."""
    out = {}
    for key in market.sorted_keys():
        book = market.book(key)
        out[key] = {
            "levels": {s: book.levels(s) for s in "BA"},
            "orders": {s: {p: book.orders(s, p) for p, _, _ in book.levels(s)} for s in "BA"},
            "bbo": book.bbo(),
            "crossed": book.crossed,
            "maybe_bad": book.maybe_bad,
            "consistent": book.consistent,
            "order_count": book.order_count,
            "anomalies": dict(book.anomalies),
        }
    return out


def snapshot_rust(market):
    """The same shape as snapshot_ref, read from a mbo_fast Market or Replay."""
    out = {}
    for book in market.books():
        key = (book.instrument_id, book.publisher_id)
        levels = {s: book.levels(s) for s in "BA"}
        out[key] = {
            "levels": levels,
            "orders": {s: {p: book.orders(s, p) for p, _, _ in levels[s]} for s in "BA"},
            "bbo": bbo_tuple(book.bbo()),
            "crossed": book.crossed,
            "maybe_bad": book.maybe_bad,
            "consistent": book.consistent,
            "order_count": book.order_count,
            "anomalies": dict(book.anomalies),
        }
    return out


def assert_snapshots_equal(got, want, where=""):
    assert list(got) == list(want), where
    for key in want:
        for field in want[key]:
            assert got[key][field] == want[key][field], (where, key, field)


def assert_columns_equal(got, want, where=""):
    assert set(got) == set(want), (where, sorted(set(got) ^ set(want)))
    for name, col in want.items():
        arr = np.asarray(got[name])
        assert arr.shape == col.shape, (where, name, arr.shape, col.shape)
        assert arr.dtype == col.dtype, (where, name, arr.dtype, col.dtype)
        if not np.array_equal(arr, col):
            bad = tuple(np.argwhere(arr != col)[0])
            pytest.fail(
                f"{where} {name}: first difference at row/level {bad}: "
                f"got {arr[bad]}, want {col[bad]}"
            )


@pytest.fixture(scope="module")
def ref_bbo(real_path, real_records):
    return ref_read_bbo(real_records)


@pytest.fixture(scope="module")
def ref_final(real_path, real_records):
    return RefMarket().apply_all(real_records)


# ---- read_bbo / read_depth / read_records -------------------------------------------------------


def test_read_bbo_equals_model(real_path, ref_bbo):
    cols = mbo_fast.read_bbo(str(real_path))
    assert list(cols) == list(BBO_COLUMNS)
    assert_columns_equal(cols, ref_bbo)


def test_read_bbo_file_facts(real_path, real_records):
    facts = FACTS[real_path.name]
    cols = mbo_fast.read_bbo(real_path)
    assert len(cols) == facts["f_last"]
    both = (cols["bid_px"] != UNDEF_PRICE) & (cols["ask_px"] != UNDEF_PRICE)
    assert int((both & (cols["bid_px"] >= cols["ask_px"])).sum()) == facts["crossed"]
    idx = np.asarray(cols["index"])
    assert all(real_records[i].flags & F_LAST for i in idx[:: max(1, len(idx) // 500)])


def test_read_bbo_filters(real_path, ref_bbo):
    (iid, pid) = FACTS[real_path.name]["books"][0]
    assert_columns_equal(mbo_fast.read_bbo(real_path, instrument_id=iid), ref_bbo)
    assert_columns_equal(mbo_fast.read_bbo(real_path, instrument_id=iid, publisher_id=pid), ref_bbo)
    assert len(mbo_fast.read_bbo(real_path, instrument_id=iid + 1)) == 0
    assert len(mbo_fast.read_bbo(real_path, publisher_id=pid + 1)) == 0


@pytest.mark.parametrize("depth", [1, 10])
def test_read_depth_equals_model(real_path, real_records, depth):
    cols = mbo_fast.read_depth(real_path, depth)
    assert_columns_equal(cols, ref_read_depth(real_records, depth))


def test_read_records_equal_the_file(real_path, real_records):
    cols = mbo_fast.read_records(real_path)
    assert len(cols) == len(real_records)
    assert np.asarray(cols["index"]).tolist() == list(range(len(real_records)))
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
        assert np.asarray(cols[field]).tolist() == [getattr(r, field) for r in real_records], field
    for field in ("action", "side"):
        want = [ord(getattr(r, field)) for r in real_records]
        assert np.asarray(cols[field]).tolist() == want, field


# ---- sources ------------------------------------------------------------------------------------


def test_every_source_kind_gives_the_same_bbo(real_path, ref_bbo):
    import databento

    raw = real_path.read_bytes()
    sources = {
        "str": str(real_path),
        "Path": Path(real_path),
        "bytes": raw,
        "bytearray": bytearray(raw),
        "memoryview": memoryview(raw),
        "DBNStore.from_file": databento.DBNStore.from_file(real_path),
        "DBNStore.from_bytes": databento.DBNStore.from_bytes(raw),
    }
    for name, source in sources.items():
        assert_columns_equal(mbo_fast.read_bbo(source), ref_bbo, where=name)


def test_market_from_every_source_kind(real_path, ref_final):
    import databento

    want = snapshot_ref(ref_final)
    raw = real_path.read_bytes()
    for source in (str(real_path), real_path, raw, databento.DBNStore.from_file(real_path)):
        market = mbo_fast.Market()
        assert market.apply(source) == FACTS[real_path.name]["records"]
        assert_snapshots_equal(snapshot_rust(market), want, where=type(source).__name__)


# ---- Market: final books, L3 ------------------------------------------------------------------


def test_market_final_books_equal_model(real_path, real_records, ref_final):
    market = mbo_fast.Market()
    assert market.apply(real_path) == len(real_records)
    assert market.record_count == len(real_records)
    assert [(b.instrument_id, b.publisher_id) for b in market.books()] == FACTS[real_path.name][
        "books"
    ]
    assert_snapshots_equal(snapshot_rust(market), snapshot_ref(ref_final))
    for key in ref_final.sorted_keys():
        book, ref = market.book(*key), ref_final.book(key)
        assert set(book.anomalies) == set(ANOMALY_NAMES)
        assert book.anomalies == ref.anomalies
        for order_id in ref.index:
            assert book.order(order_id) == ref.order(order_id), order_id
        assert book.levels("bid", 5) == ref.levels("B", 5)
        assert book.levels("ask", 5) == ref.levels("A", 5)
        assert bbo_tuple(market.consolidated_bbo(key[0])) == ref_final.consolidated_bbo(key[0])


def test_clx5_anomalies(clx5_path):
    market = mbo_fast.Market()
    market.apply(clx5_path)
    anomalies = market.book(432669, 1).anomalies
    assert anomalies["cancel_unknown"] == 1_224
    assert anomalies["modify_unknown_as_add"] == 216


def test_both_files_into_one_market(clx5_path, esh4_path, clx5_records, esh4_records):
    market = mbo_fast.Market()
    market.apply(clx5_path)
    market.apply(esh4_path)
    assert market.record_count == len(clx5_records) + len(esh4_records)
    ref = RefMarket().apply_all(clx5_records).apply_all(esh4_records)
    assert_snapshots_equal(snapshot_rust(market), snapshot_ref(ref))


# ---- info ---------------------------------------------------------------------------------------


def test_info_facts(real_path, real_records):
    facts = FACTS[real_path.name]
    info = mbo_fast.info(real_path)
    assert info["records"] == facts["records"]
    assert info["f_last"] == facts["f_last"]
    assert info["crossed_boundaries"] == facts["crossed"]
    assert info["snapshot_records"] == facts["snapshot"]
    assert info["snapshot_records"] == sum(1 for r in real_records if r.flags & F_SNAPSHOT)
    assert info["by_action"] == dict(collections.Counter(r.action for r in real_records))
    assert info["metadata"]["schema"] == "mbo"
    assert [(b["instrument_id"], b["publisher_id"]) for b in info["books"]] == facts["books"]
    ts = [r.ts_recv for r in real_records]
    assert tuple(info["ts_recv_range"]) == (min(ts), max(ts))
    assert info == mbo_fast.info(real_path.read_bytes())


def test_info_anomalies(clx5_path):
    (book,) = mbo_fast.info(clx5_path)["books"]
    assert book["anomalies"]["cancel_unknown"] == 1_224
    assert book["anomalies"]["modify_unknown_as_add"] == 216


# ---- Replay -------------------------------------------------------------------------------------


def test_replay_seeks_equal_model(real_path, real_records):
    """Seek forwards and backwards to fixed pseudo-random indices; L3 equals the model."""
    n = len(real_records)
    rng = random.Random(20240101)
    points = sorted({0, 1, n - 1, *(rng.randrange(n) for _ in range(8))})
    ref = RefMarket()
    want = {}
    for i in points:  # the model, in increasing order
        ref.apply_all(real_records[ref.record_count : i + 1])
        want[i] = snapshot_ref(ref)
    replay = mbo_fast.Replay(real_path, checkpoint_every=4096)
    assert len(replay) == n
    order = points[:]
    rng.shuffle(order)
    for i in order:
        assert replay.seek(index=i) == i + 1
        assert replay.position == i + 1
        assert replay.ts_recv == real_records[i].ts_recv
        assert_snapshots_equal(snapshot_rust(replay), want[i], where=f"seek(index={i})")


def test_replay_seek_ts_and_step(real_path, real_records):
    ts = [r.ts_recv for r in real_records]
    t = ts[len(ts) // 2]
    want_pos = bisect.bisect_right(ts, t)
    replay = mbo_fast.Replay(real_path)
    assert replay.seek(ts=t) == want_pos
    ref = RefMarket().apply_all(real_records[:want_pos])
    assert_snapshots_equal(snapshot_rust(replay), snapshot_ref(ref), where=f"seek(ts={t})")
    assert replay.step(1000) == min(1000, len(ts) - want_pos)
    ref.apply_all(real_records[want_pos : want_pos + 1000])
    assert_snapshots_equal(snapshot_rust(replay), snapshot_ref(ref), where="step(1000)")
    assert replay.seek(ts=ts[0] - 1) == 0
    assert replay.books() == [] and replay.ts_recv is None
    assert replay.seek(ts=ts[-1]) == len(ts)
    replay.rewind()
    assert replay.position == 0


def test_replay_record(real_path, real_records):
    replay = mbo_fast.Replay(real_path.read_bytes())
    for i in (0, 1, len(real_records) // 2, len(real_records) - 1):
        got = replay.record(i)
        want = real_records[i]
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
            assert got[field] == getattr(want, field), (i, field)
        for field in ("action", "side"):
            value = got[field]
            assert (chr(value) if isinstance(value, int) else value) == getattr(want, field)


@pytest.mark.parametrize("chunk_bytes", [1, 1 << 16])
def test_depth_export_chunks_add_up_to_export_depth(real_path, chunk_bytes):
    """The resumable export, from a path and from bytes, equals the one-shot export byte for
    byte; each chunk is whole lines, at most one line past `chunk_bytes`."""
    whole = mbo_fast.export_depth(real_path, 5)
    for source in (real_path, real_path.read_bytes()):
        export = mbo_fast.DepthExport(source, 5, chunk_bytes=chunk_bytes)
        chunks = list(export)
        assert b"".join(chunks) == whole
        assert export.lines == whole.count(b"\n") and export.next_chunk() == b""
        longest = max(len(line) + 1 for line in whole.splitlines())
        assert all(c.endswith(b"\n") and len(c) < chunk_bytes + longest for c in chunks)
    # the export keeps the bytes it reads alive: no other reference to them remains here
    export = mbo_fast.DepthExport(bytes(real_path.read_bytes()), 5, chunk_bytes=chunk_bytes)
    gc.collect()
    assert b"".join(export) == whole
