"""Streaming readers (iter_bbo / iter_depth / iter_records) and Parquet output (write_parquet,
`mbo-fast bbo|export -o OUT.parquet`): batches concatenated equal the in-memory readers, Parquet
reads back equal to the Arrow view, DBN metadata kept, errors typed and nothing half-written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core import require_core

mbo_fast = require_core()
from mbo_fast.cli import main  # noqa: E402


def _concat(batches: list) -> dict:
    assert batches, "no batch"
    return {name: np.concatenate([b[name] for b in batches]) for name in batches[0]}


def _assert_same(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for name in want:
        assert got[name].dtype == want[name].dtype, name
        assert np.array_equal(got[name], want[name]), name


@pytest.mark.parametrize("batch_rows", [1_000, 7_777, 1 << 20])
def test_batches_concatenated_equal_the_in_memory_readers(real_path, batch_rows):
    bbo = list(mbo_fast.iter_bbo(real_path, batch_rows=batch_rows))
    assert all(1 <= len(b) <= batch_rows for b in bbo)
    assert all(isinstance(b, mbo_fast.Columns) for b in bbo)
    _assert_same(_concat(bbo), mbo_fast.read_bbo(real_path))
    depth = list(mbo_fast.iter_depth(real_path, 5, batch_rows=batch_rows))
    _assert_same(_concat(depth), mbo_fast.read_depth(real_path, 5))
    records = list(mbo_fast.iter_records(real_path, batch_rows=batch_rows))
    assert all(len(b) == batch_rows for b in records[:-1])
    _assert_same(_concat(records), mbo_fast.read_records(real_path))


def test_filters_apply_to_batches(esh4_path):
    whole = mbo_fast.read_bbo(esh4_path)
    instrument = int(whole.instrument_id[0])
    got = _concat(list(mbo_fast.iter_bbo(esh4_path, batch_rows=500, instrument_id=instrument)))
    _assert_same(got, mbo_fast.read_bbo(esh4_path, instrument_id=instrument))


def test_records_of_one_book():
    """A file split by instrument: the kept records, their indexes those of the whole file."""
    session = mbo_fast.simulate(seed=3, records=30_000, instruments=3)
    whole = mbo_fast.read_records(session)
    ids, counts = np.unique(whole.instrument_id, return_counts=True)
    assert len(ids) > 1
    instrument = int(ids[np.argmax(counts)])
    keep = whole.instrument_id == instrument
    want = {name: col[keep] for name, col in whole.items()}
    _assert_same(mbo_fast.read_records(session, instrument_id=instrument), want)
    batches = list(mbo_fast.iter_records(session, batch_rows=999, instrument_id=instrument))
    _assert_same(_concat(batches), want)


def test_bad_arguments_raise_when_called(tmp_path, clx5_path):
    with pytest.raises(mbo_fast.SourceError):
        mbo_fast.iter_bbo(tmp_path / "missing.dbn")  # at the call, not at the first next()
    with pytest.raises(ValueError, match="batch_rows"):
        mbo_fast.iter_records(clx5_path, batch_rows=0)
    for depth in (0, mbo_fast.MAX_DEPTH + 1, 2**70):
        with pytest.raises(ValueError, match="depth"):
            mbo_fast.iter_depth(clx5_path, depth)
    with pytest.raises(ValueError, match="what"):
        mbo_fast.write_parquet(clx5_path, tmp_path / "x.parquet", "trades")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="price_type"):
        mbo_fast.write_parquet(clx5_path, tmp_path / "x.parquet", price_type="cents")  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def _corrupt(clx5_path) -> bytes:
    data = bytearray(clx5_path.read_bytes())
    data[len(data) - 3 * 56] = 1  # a record claiming a length shorter than its header
    return bytes(data)


def test_a_corrupt_record_comes_after_the_rows_before_it(clx5_path, tmp_path):
    data = _corrupt(clx5_path)
    batches = mbo_fast.iter_records(data, batch_rows=1 << 20)
    first = next(batches)
    assert len(first) > 30_000
    with pytest.raises(mbo_fast.DecodeError):
        next(batches)
    out = tmp_path / "bad.parquet"
    with pytest.raises(mbo_fast.DecodeError):
        mbo_fast.write_parquet(data, out)
    assert not list(tmp_path.iterdir()), "no file, no partial file"


def test_parquet_round_trips_exactly_with_the_dbn_metadata(real_path, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "bbo.parquet"
    rows = mbo_fast.write_parquet(real_path, out, batch_rows=5_000, row_group_rows=10_000)
    bbo = mbo_fast.read_bbo(real_path)
    assert rows == len(bbo)
    table = pq.read_table(out)
    assert table.equals(pa.table(bbo.arrow())), "types, nulls and exact int64 prices"
    meta = pq.read_metadata(out)
    assert meta.num_row_groups == -(-rows // 10_000)
    assert meta.row_group(0).column(0).compression == "ZSTD"
    dbn = json.loads(meta.metadata[b"databento:metadata"])
    assert dbn["schema"] == "mbo"
    assert dbn["dataset"] == mbo_fast.info(real_path)["metadata"]["dataset"]


def test_parquet_depth_records_and_typed_prices(clx5_path, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    depth = mbo_fast.read_depth(clx5_path, 3)
    mbo_fast.write_parquet(clx5_path, tmp_path / "d.parquet", "depth", depth=3)
    assert pq.read_table(tmp_path / "d.parquet").equals(pa.table(depth.arrow()))
    records = mbo_fast.read_records(clx5_path)
    mbo_fast.write_parquet(clx5_path, tmp_path / "r.parquet", "records", batch_rows=4_096)
    assert pq.read_table(tmp_path / "r.parquet").equals(pa.table(records.arrow()))
    mbo_fast.write_parquet(clx5_path, tmp_path / "f.parquet", price_type="decimal", pretty_ts=True)
    typed = pq.read_table(tmp_path / "f.parquet")
    bbo = mbo_fast.read_bbo(clx5_path)
    assert typed.equals(pa.table(bbo.arrow(price_type="decimal", pretty_ts=True)))
    assert typed.schema.field("ts_recv").type == pa.timestamp("ns", tz="UTC")


def test_cli_writes_parquet_by_extension(clx5_path, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "bbo.parquet"
    assert main(["--no-progress", "bbo", str(clx5_path), "-o", str(out)]) == 0
    assert pq.read_table(out).equals(pa.table(mbo_fast.read_bbo(clx5_path).arrow()))
    out = tmp_path / "depth.parquet"
    argv = ["--no-progress", "export", str(clx5_path), "--depth", "2", "-o", str(out)]
    assert main(argv) == 0
    assert pq.read_table(out).equals(pa.table(mbo_fast.read_depth(clx5_path, 2).arrow()))
    # other extensions keep today's formats
    csv = tmp_path / "bbo.csv"
    assert main(["--no-progress", "bbo", str(clx5_path), "-o", str(csv)]) == 0
    assert csv.read_bytes().startswith(b"index,")
