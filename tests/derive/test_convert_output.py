"""`mbo_fast.convert` and `mbo-fast convert` outputs (issue 19): DBN files that
`databento.DBNStore` reads like downloaded ones, the same records as the numpy columns, MBP-10
levels equal to `read_depth(depth=10)` at the same boundary, and bad input refused with a typed
error and no file left behind. (The command, `mbo-fast convert`: tests/cli/test_cli_convert.py.)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from core import require_core
from dbn_builder import build_dbn, mbp1_dbn
from reference_book import F_LAST, UNDEF_PRICE, Rec

mbo_fast = require_core()

from mbo_fast.convert import SCHEMAS, record_dtype  # noqa: E402

databento = pytest.importorskip("databento")

WRITTEN = ["mbp-10", "mbp-1", "tbbo", "bbo-1s", "bbo-1m", "cmbp-1", "tcbbo", "cbbo-1s", "cbbo-1m"]
PX = 100_000_000_000


def small_stream() -> list[Rec]:
    """Two publishers of one instrument, trades, and time across a minute boundary."""
    records = []
    ts = 1_700_000_000_000_000_000
    for i in range(40):
        publisher = 1 + i % 2
        side = "B" if i % 3 else "A"
        price = PX - (i % 5) * 250_000_000 if side == "B" else PX + (1 + i % 4) * 250_000_000
        records.append(Rec(ts, ts, 7, publisher, 100 + i, price, 1 + i % 3, F_LAST, "A", side, i))
        if i % 7 == 6:
            records.append(Rec(ts, ts, 7, publisher, 0, price, 1, F_LAST, "T", "A", i))
        ts += 3_100_000_000
    return records


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


@pytest.mark.parametrize("schema", WRITTEN)
@pytest.mark.parametrize("suffix", [".dbn", ".dbn.zst"])
def test_dbnstore_reads_the_file_and_it_holds_the_columns_records(tmp_path, schema, suffix):
    data = build_dbn(small_stream())
    out = tmp_path / f"out{suffix}"
    assert mbo_fast.convert(data, schema, out) == str(out)
    assert listing(tmp_path) == [out.name]
    store = databento.DBNStore.from_file(out)
    assert str(store.schema) == schema
    assert store.dataset == "GLBX.MDP3"
    assert store.metadata.limit is None
    assert store.metadata.version == 3
    frame = store.to_df(price_type="fixed", pretty_ts=False, map_symbols=False)
    replayed = []
    store.replay(replayed.append)
    cols = mbo_fast.convert(data, schema)
    assert len(frame) == len(replayed) == len(cols["index"]) > 0
    # byte for byte: the file's records are the in-memory records
    records = np.frombuffer(store.to_ndarray().tobytes(), dtype=record_dtype(schema))
    for name in record_dtype(schema).names or ():
        if name != "length":
            np.testing.assert_array_equal(records[name], cols[name], err_msg=name)
    if "bid_px_00" in frame:
        np.testing.assert_array_equal(frame["bid_px_00"].to_numpy(), cols["bid_px_00"])


def test_mbp10_levels_equal_read_depth_at_each_boundary(real_path):
    cols = mbo_fast.convert(real_path, "mbp-10")
    depth = mbo_fast.read_depth(real_path, 10)
    # event records at an F_LAST boundary (not trades, nor pieces of an event a trade ended)
    at = np.searchsorted(depth["index"], cols["index"])
    at_boundary = (at < len(depth["index"])) & (cols["action"] != ord("T"))
    at_boundary[at_boundary] = depth["index"][at[at_boundary]] == cols["index"][at_boundary]
    rows, at = np.flatnonzero(at_boundary), at[at_boundary]
    assert len(rows) > 0.9 * np.count_nonzero(cols["action"] != ord("T"))
    for side in ("bid", "ask"):
        for field in ("px", "sz", "ct"):
            got = np.stack([cols[f"{side}_{field}_{level:02d}"][rows] for level in range(10)], 1)
            np.testing.assert_array_equal(got, depth[f"{side}_{field}"][at], err_msg=field)


def test_the_real_file_converts_to_dbn_readable_by_databento(real_path, tmp_path):
    out = tmp_path / "out.mbp-10.dbn.zst"
    mbo_fast.convert(real_path, "mbp-10", out)
    source = databento.DBNStore.from_file(real_path)
    store = databento.DBNStore.from_file(out)
    assert str(store.schema) == "mbp-10"
    assert (store.dataset, store.start, store.end) == (source.dataset, source.start, source.end)
    assert store.symbols == source.symbols
    assert len(store.to_df()) == len(mbo_fast.convert(real_path, "mbp-10")["index"])


def test_several_inputs_are_one_stream():
    records = small_stream()
    half = len(records) // 2
    whole = mbo_fast.convert(build_dbn(records), "mbp-1")
    split = mbo_fast.convert([build_dbn(records[:half]), build_dbn(records[half:])], "mbp-1")
    assert whole.keys() == split.keys()
    for name in whole:
        np.testing.assert_array_equal(whole[name], split[name], err_msg=name)


def test_bad_input_is_a_typed_error_and_leaves_no_file(tmp_path):
    good = build_dbn(small_stream())
    out = tmp_path / "out.dbn"
    with pytest.raises(mbo_fast.SchemaError):
        mbo_fast.convert(mbp1_dbn(), "mbp-10", out)  # not MBO
    with pytest.raises(mbo_fast.SchemaError):
        mbo_fast.convert([good, mbp1_dbn()], "mbp-10", out)  # the second input is not MBO
    with pytest.raises(ValueError, match="unknown schema"):
        mbo_fast.convert(good, "mbp-2", out)
    with pytest.raises(ValueError, match="unknown schema"):
        mbo_fast.convert(good, "cbbo", out)
    with pytest.raises(ValueError, match="boundary"):
        mbo_fast.convert(good, "mbp-1", out, boundary="tick")
    with pytest.raises(ValueError, match="no input"):
        mbo_fast.convert([], "mbp-1", out)
    with pytest.raises(mbo_fast.DecodeError):
        mbo_fast.convert(good[:-20], "mbp-10", out)  # truncated: fails after records were written
    with pytest.raises(mbo_fast.SourceError):
        mbo_fast.convert(tmp_path / "missing.dbn", "mbp-10", out)
    assert listing(tmp_path) == []


def test_an_interrupted_conversion_leaves_no_file(tmp_path):
    out = tmp_path / "out.dbn"

    def interrupt(read: int, total: int | None) -> None:
        raise KeyboardInterrupt  # called once every record is read, before the file is complete

    data = build_dbn(small_stream())
    with pytest.raises(KeyboardInterrupt):
        mbo_fast.convert(data, "mbp-10", out, progress=interrupt)
    assert listing(tmp_path) == []


def test_schema_names_and_dtypes():
    assert set(WRITTEN) == set(SCHEMAS)
    assert record_dtype("mbp-10").itemsize == 368
    assert record_dtype("mbp-1").itemsize == record_dtype("bbo-1s").itemsize == 80
    assert record_dtype("cbbo-1m").itemsize == 80
    assert UNDEF_PRICE == mbo_fast.UNDEF_PRICE
