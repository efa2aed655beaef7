"""Columns as Arrow (the PyCapsule protocol, zero copy) and as pandas/polars DataFrames with
Databento's price_type/pretty_ts conventions; pyarrow, pandas and polars are optional extras."""

from __future__ import annotations

import decimal
import subprocess
import sys

import numpy as np
import pytest

from core import require_core

mbo_fast = require_core()
UNDEF = mbo_fast.UNDEF_PRICE
UNDEF_TS = np.uint64(2**64 - 1)


@pytest.fixture(scope="module")
def bbo(real_path):
    return mbo_fast.read_bbo(real_path)


def _address(array) -> int:
    return array.__array_interface__["data"][0]


def test_pyarrow_table_shares_the_columns_and_nulls_empty_sides(bbo):
    pa = pytest.importorskip("pyarrow")
    table = pa.table(bbo.arrow())
    assert table.column_names == bbo.columns
    assert table.num_rows == len(bbo)
    assert table.schema.field("index").type == pa.uint64()
    assert table.schema.field("ts_recv").type == pa.uint64()
    assert table.schema.field("bid_px").type == pa.int64()
    assert table.schema.field("bid_sz").type == pa.uint32()
    for name, col in bbo.items():
        arrow = table.column(name)
        if name.endswith("_px"):
            missing = col == UNDEF
            assert np.array_equal(arrow.is_null().to_numpy(zero_copy_only=False), missing)
            assert np.array_equal(arrow.to_numpy(zero_copy_only=False)[~missing], col[~missing])
        else:
            assert arrow.null_count == 0
            assert np.array_equal(arrow.to_numpy(), col)
    # zero copy: the Arrow buffer is the numpy array's memory
    index = table.column("index").chunk(0)
    assert index.buffers()[1].address == _address(bbo["index"])
    # record batches (__arrow_c_array__) as well as streams
    batch = pa.record_batch(bbo.arrow())
    assert batch.to_pydict() == table.to_pydict()
    # Columns is a dict: pyarrow and polars take a dict as a mapping of numpy arrays (no nulls);
    # the protocol is there for consumers that look for it first (pyarrow.RecordBatchReader...)
    reader = pa.RecordBatchReader.from_stream(bbo)
    assert reader.read_all().equals(table)


def test_some_sample_rows_have_an_empty_side(clx5_path):
    cols = mbo_fast.read_bbo(clx5_path)
    assert (cols.bid_px == UNDEF).any() and (cols.ask_px == UNDEF).any()


def test_price_types_and_pretty_timestamps(bbo):
    pa = pytest.importorskip("pyarrow")
    missing = bbo.bid_px == UNDEF
    floats = pa.table(bbo.arrow(price_type="float", pretty_ts=True))
    assert floats.schema.field("bid_px").type == pa.float64()
    assert floats.schema.field("ts_recv").type == pa.timestamp("ns", tz="UTC")
    values = floats.column("bid_px").to_numpy(zero_copy_only=False)
    assert np.array_equal(values[~missing], bbo.bid_px[~missing] / 1e9)
    assert np.isnan(values[missing]).all()
    ts = floats.column("ts_recv").cast(pa.int64()).to_numpy()
    assert np.array_equal(ts.astype(np.uint64), bbo.ts_recv)

    decimals = pa.table(bbo.arrow(price_type="decimal"))
    assert decimals.schema.field("ask_px").type == pa.decimal128(19, 9)
    got = decimals.column("ask_px").to_pylist()
    for px, value in zip(bbo.ask_px[:2000].tolist(), got[:2000]):
        if px == UNDEF:
            assert value is None
        else:
            assert value == decimal.Decimal(px).scaleb(-9)


def test_depth_levels_are_fixed_size_lists(real_path):
    pa = pytest.importorskip("pyarrow")
    depth = mbo_fast.read_depth(real_path, 3)
    table = pa.table(depth.arrow())
    levels = table.schema.field("bid_sz").type
    assert pa.types.is_fixed_size_list(levels) and levels.list_size == 3
    assert levels.value_type == pa.uint32()
    flat = table.column("bid_sz").combine_chunks().flatten().to_numpy()
    assert np.array_equal(flat.reshape(-1, 3), depth.bid_sz)
    px = table.column("ask_px").combine_chunks().flatten()
    missing = depth.ask_px.reshape(-1) == UNDEF
    assert np.array_equal(px.is_null().to_numpy(zero_copy_only=False), missing)


def test_records_and_sliced_columns(clx5_path):
    pa = pytest.importorskip("pyarrow")
    records = mbo_fast.read_records(clx5_path)
    table = pa.table(records.arrow())
    assert table.schema.field("action").type == pa.uint8()
    assert table.schema.field("price").type == pa.int64()
    assert np.array_equal(
        table.column("price").is_null().to_numpy(zero_copy_only=False), records.price == UNDEF
    )
    # a non-contiguous view (one level of a 2-D column) is exported as well
    level = mbo_fast.read_depth(clx5_path, 4).level(2)
    assert pa.table(level.arrow()).column("bid_px_02").null_count == int(
        (level.bid_px_02 == UNDEF).sum()
    )


def test_bad_columns_and_price_types_are_value_errors(bbo):
    with pytest.raises(ValueError, match="price_type"):
        bbo.arrow(price_type="cents")  # type: ignore[arg-type]
    odd = mbo_fast.Columns(index=np.arange(3, dtype=np.uint64), name=np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="column name"):
        odd.__arrow_c_stream__()
    ragged = mbo_fast.Columns(index=np.arange(3, dtype=np.uint64), bid_sz=np.ones(2, np.uint32))
    with pytest.raises(ValueError, match="rows"):
        ragged.__arrow_c_array__()


def test_to_pandas_follows_databento_conventions(bbo):
    pytest.importorskip("pandas")
    missing = bbo.ask_px == UNDEF
    df = bbo.to_pandas()  # float prices, UTC datetimes: DBNStore.to_df's defaults
    assert list(df.columns) == bbo.columns
    assert df["ask_px"].dtype == np.float64
    assert df["ask_px"].isna().to_numpy().tolist() == missing.tolist()
    assert np.array_equal(df["ask_px"].to_numpy()[~missing], bbo.ask_px[~missing] / 1e9)
    assert str(df["ts_recv"].dtype) == "datetime64[ns, UTC]"
    assert np.array_equal(df["ts_recv"].astype("int64").to_numpy().astype(np.uint64), bbo.ts_recv)
    fixed = bbo.to_pandas(price_type="fixed", pretty_ts=False)
    assert str(fixed["ask_px"].dtype) == "Int64"
    assert fixed["ask_px"].isna().to_numpy().tolist() == missing.tolist()
    assert fixed["ts_recv"].dtype == np.uint64
    dec = bbo.to_pandas(price_type="decimal").head(500)
    for px, value in zip(bbo.ask_px[:500].tolist(), dec["ask_px"]):
        assert value is None if px == UNDEF else value == decimal.Decimal(px).scaleb(-9)


def test_to_pandas_flattens_depth_and_marks_undefined_times(clx5_path):
    pytest.importorskip("pandas")
    depth = mbo_fast.read_depth(clx5_path, 2)
    df = depth.to_pandas(price_type="fixed")
    assert "bid_px_00" in df.columns and "ask_ct_01" in df.columns
    assert np.array_equal(df["bid_sz_01"].to_numpy(), depth.bid_sz[:, 1])
    cols = mbo_fast.Columns(
        ts_recv=np.array([1, UNDEF_TS], dtype=np.uint64), bid_px=np.array([5, UNDEF])
    )
    df = cols.to_pandas()
    assert df["ts_recv"].isna().tolist() == [False, True]
    assert df["bid_px"].isna().tolist() == [False, True]


def test_to_polars_matches_the_arrow_view(bbo):
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    df = bbo.to_polars(price_type="fixed", pretty_ts=False)
    assert df.columns == bbo.columns
    assert df["bid_px"].null_count() == int((bbo.bid_px == UNDEF).sum())
    assert np.array_equal(df["index"].to_numpy(), bbo.index)
    floats = bbo.to_polars()
    assert floats.schema["ts_recv"] == pl.Datetime("ns", "UTC")
    assert (
        floats["ask_px"]
        .to_arrow()
        .equals(pa.table(bbo.arrow(price_type="float")).column("ask_px").combine_chunks())
    )


def test_no_dataframe_library_is_imported_by_the_package(clx5_path):
    """pyarrow, pandas and polars stay optional: reading columns imports none of them."""
    code = (
        "import sys, mbo_fast\n"
        f"c = mbo_fast.read_bbo({str(clx5_path)!r})\n"
        "caps = c.__arrow_c_stream__()\n"
        "print(sorted(m for m in ('pyarrow', 'pandas', 'polars') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
