"""Bad input through every entry point: a clean mbo_fast error, never a crash, a panic or a hang.

DecodeError (or its SchemaError subclass) for bytes that are not a readable DBN MBO stream;
SourceError (an OSError) for a path that cannot be read.
"""

from __future__ import annotations

import errno
import random

import pytest

from core import require_core, run_guarded
from dbn_builder import (
    build_dbn,
    mbp1_dbn,
    metadata_bytes,
    pack_record,
    records_body_offset,
    trades_dbn,
    zstd_compress,
)
from reference_book import F_LAST, Rec, ref_read_bbo

mbo_fast = require_core()
from mbo_fast import DecodeError, MboError, SchemaError, SourceError  # noqa: E402


def _replay_all(source):
    replay = mbo_fast.Replay(source)
    replay.step(len(replay) + 1)
    return len(replay)


ENTRY_POINTS = {
    "read_bbo": lambda s: len(mbo_fast.read_bbo(s)),
    "read_depth": lambda s: len(mbo_fast.read_depth(s, 3)),
    "read_records": lambda s: len(mbo_fast.read_records(s)),
    "info": lambda s: mbo_fast.info(s)["records"],
    "Market.apply": lambda s: mbo_fast.Market().apply(s),
    "Replay": _replay_all,
    # the resumable export pass, a small chunk at a time: every error after the lines before it
    "DepthExport": lambda s: sum(
        c.count(b"\n") for c in mbo_fast.DepthExport(s, 3, chunk_bytes=4096)
    ),
}
entry_points = pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))


def outcome(fn, source):
    """('ok', value) or ('error', exception) of fn(source); any BaseException (a PyO3 panic is
    one) is returned, not raised, so the test can say what went wrong."""
    try:
        return ("ok", fn(source))
    except BaseException as exc:
        return ("error", exc)


def expect_decode_error(fn, source, what, *, offset_int=False, schema=False):
    kind, value = outcome(fn, source)
    assert kind == "error", f"{what}: accepted, returned {value!r}"
    want = SchemaError if schema else DecodeError
    assert isinstance(value, want), f"{what}: {type(value).__name__}: {value}"
    assert isinstance(value, MboError) and isinstance(value, ValueError)
    if offset_int:
        assert isinstance(value.offset, int), f"{what}: offset {value.offset!r}"
    return value


@pytest.fixture(scope="module")
def clx5_bytes(clx5_path):
    return clx5_path.read_bytes()


@pytest.fixture(scope="module")
def esh4_bytes(esh4_path):
    return esh4_path.read_bytes()


# ---- truncation -------------------------------------------------------------------------------


@entry_points
def test_truncated_head_of_clx5(entry, clx5_bytes, clx5_records):
    """Cut the file at every offset of its first 1024 bytes: inside the prelude or metadata it is
    an error; at a whole-record boundary it is a shorter valid stream; mid-record it is an error
    at the offset of the cut record."""
    fn = ENTRY_POINTS[entry]
    body = records_body_offset(clx5_bytes)

    def check():
        for cut in range(1024):
            data = clx5_bytes[:cut]
            if cut < body:
                expect_decode_error(fn, data, f"cut at {cut}", offset_int=True)
                continue
            whole, rest = divmod(cut - body, 56)
            if rest == 0:
                kind, value = outcome(fn, data)
                assert kind == "ok", f"cut at {cut} (record boundary): {value!r}"
                if entry in ("read_records", "info", "Market.apply", "Replay"):
                    assert value == whole, (cut, value)
                else:
                    assert value == sum(1 for r in clx5_records[:whole] if r.flags & F_LAST)
            else:
                err = expect_decode_error(fn, data, f"cut at {cut}", offset_int=True)
                assert err.offset == body + whole * 56, (cut, err.offset)

    run_guarded(check)


@entry_points
def test_truncated_mid_record_further_in(entry, clx5_bytes):
    fn = ENTRY_POINTS[entry]
    body = records_body_offset(clx5_bytes)
    n = (len(clx5_bytes) - body) // 56
    rng = random.Random(7)
    cuts = [len(clx5_bytes) - 1, len(clx5_bytes) - 55, body + (n // 2) * 56 + 28]
    cuts += [body + rng.randrange(n) * 56 + rng.randrange(1, 56) for _ in range(5)]

    def check():
        for cut in cuts:
            err = expect_decode_error(fn, clx5_bytes[:cut], f"cut at {cut}", offset_int=True)
            assert err.offset == body + (cut - body) // 56 * 56, (cut, err.offset)

    run_guarded(check)


def test_truncation_at_a_record_boundary_is_a_valid_stream(clx5_bytes, clx5_records):
    body = records_body_offset(clx5_bytes)
    n = 20_000
    data = clx5_bytes[: body + n * 56]
    cols = mbo_fast.read_bbo(data)
    want = ref_read_bbo(clx5_records[:n])
    for name, col in want.items():
        assert cols[name].tolist() == col.tolist(), name


@entry_points
def test_truncated_zstd(entry, esh4_bytes):
    fn = ENTRY_POINTS[entry]
    cuts = [4, 10, 100, len(esh4_bytes) // 3, len(esh4_bytes) // 2 + 1, len(esh4_bytes) - 1]

    def check():
        for cut in cuts:
            expect_decode_error(fn, esh4_bytes[:cut], f"zstd cut at {cut}")

    run_guarded(check)


def test_truncated_file_on_disk(tmp_path, clx5_bytes):
    path = tmp_path / "cut.dbn"
    path.write_bytes(clx5_bytes[: len(clx5_bytes) - 30])
    for entry, fn in ENTRY_POINTS.items():
        expect_decode_error(fn, str(path), entry, offset_int=True)
        expect_decode_error(fn, path, entry, offset_int=True)


# ---- garbage -----------------------------------------------------------------------------------


def garbage_cases():
    rng = random.Random(12345)
    cases = {"empty": b"", "one byte": b"D", "DBN only": b"DBN", "text": b"hello world" * 10}
    for i in range(25):
        cases[f"random {i}"] = rng.randbytes(rng.choice([1, 7, 8, 64, 500, 4096]))
    for i in range(10):
        cases[f"DBN prefix {i}"] = b"DBN" + bytes([rng.choice([1, 2, 3])]) + rng.randbytes(300)
    cases["DBN v9"] = b"DBN\x09" + metadata_bytes(3)[4:]
    cases["huge metadata length"] = b"DBN\x03\xff\xff\xff\x7f" + rng.randbytes(100)
    cases["zero metadata length"] = b"DBN\x03\x00\x00\x00\x00"
    for i in range(8):
        cases[f"zstd magic {i}"] = b"\x28\xb5\x2f\xfd" + rng.randbytes(rng.choice([0, 3, 50, 999]))
    cases["zstd of random"] = zstd_compress(rng.randbytes(1000))
    cases["zstd of text"] = zstd_compress(b"not a dbn stream\n" * 50)
    cases["zstd of truncated metadata"] = zstd_compress(metadata_bytes(3)[:40])
    return cases


GARBAGE = garbage_cases()


@entry_points
def test_garbage_is_a_decode_error(entry):
    fn = ENTRY_POINTS[entry]

    def check():
        for name, data in GARBAGE.items():
            expect_decode_error(fn, data, name)

    run_guarded(check)


def _record(**kw):
    base = {
        "ts_recv": 1,
        "ts_event": 1,
        "instrument_id": 5,
        "publisher_id": 1,
        "order_id": 1,
        "price": 100,
        "size": 1,
        "flags": F_LAST,
        "action": "A",
        "side": "B",
    }
    base.update(kw)
    return Rec(**base)


def bad_record_streams():
    head = metadata_bytes(3)
    good = pack_record(_record())
    return {
        "record length 0": head + good + b"\x00" * 56,
        "record length 0, rtype MBO": head + b"\x00\xa0" + good[2:],
        "MBO record shorter than MBO": head + b"\x04\xa0" + good[2:16],
        "record longer than the rest": head + b"\xff\xa0" + good[2:],
        "zstd, record length 0": zstd_compress(head + good + b"\x00" * 56),
    }


@entry_points
def test_bad_record_headers(entry):
    fn = ENTRY_POINTS[entry]

    def check():
        for name, data in bad_record_streams().items():
            expect_decode_error(fn, data, name, offset_int=True)

    run_guarded(check)


@entry_points
def test_metadata_then_random_bytes_never_crashes(entry):
    """After a valid header, random bytes may happen to parse (other record types are skipped);
    the outcome must still be a result or a DecodeError."""
    fn = ENTRY_POINTS[entry]
    rng = random.Random(99)
    head = metadata_bytes(3)

    def check():
        for i in range(40):
            data = head + rng.randbytes(rng.choice([1, 16, 56, 300, 2000]))
            kind, value = outcome(fn, data)
            if kind == "error":
                assert isinstance(value, DecodeError), f"case {i}: {type(value).__name__}: {value}"

    run_guarded(check)


@entry_points
def test_flipped_bytes_in_a_real_stream_never_crash(entry, clx5_bytes):
    fn = ENTRY_POINTS[entry]
    rng = random.Random(4242)
    sample = clx5_bytes[: records_body_offset(clx5_bytes) + 56 * 300]

    def check():
        for i in range(30):
            data = bytearray(sample)
            for _ in range(rng.choice([1, 4, 32])):
                data[rng.randrange(len(data))] = rng.randrange(256)
            kind, value = outcome(fn, bytes(data))
            if kind == "error":
                assert isinstance(value, DecodeError), f"case {i}: {type(value).__name__}: {value}"

    run_guarded(check)


# ---- another schema -----------------------------------------------------------------------------


@entry_points
@pytest.mark.parametrize("kind", ["mbp-1", "trades", "mbp-1 zstd", "trades v1"])
def test_other_schema_is_a_schema_error(entry, kind):
    data = {
        "mbp-1": mbp1_dbn(),
        "trades": trades_dbn(),
        "mbp-1 zstd": zstd_compress(mbp1_dbn()),
        "trades v1": trades_dbn(version=1),
    }[kind]
    expect_decode_error(ENTRY_POINTS[entry], data, kind, schema=True)


def test_other_schema_file_on_disk(tmp_path):
    path = tmp_path / "trades.dbn"
    path.write_bytes(trades_dbn())
    for entry, fn in ENTRY_POINTS.items():
        expect_decode_error(fn, path, entry, schema=True)


# ---- sources that cannot be read ---------------------------------------------------------------


@entry_points
def test_missing_path_is_a_source_error(entry, tmp_path):
    fn = ENTRY_POINTS[entry]
    missing = tmp_path / "does-not-exist.dbn"
    for source in (str(missing), missing):
        kind, err = outcome(fn, source)
        assert kind == "error"
        assert isinstance(err, SourceError), f"{type(err).__name__}: {err}"
        assert isinstance(err, OSError) and isinstance(err, MboError)
        assert err.errno == errno.ENOENT
    with pytest.raises(OSError, match="does-not-exist"):  # catchable as a plain OSError
        fn(str(missing))


@entry_points
def test_directory_is_a_source_error(entry, tmp_path):
    kind, err = outcome(ENTRY_POINTS[entry], str(tmp_path))
    assert kind == "error" and isinstance(err, SourceError), f"{type(err).__name__}: {err}"


@pytest.mark.parametrize("bad", [123, 4.5, None, ["a"], object()])
def test_unsupported_source_type_is_a_type_error(bad):
    with pytest.raises(TypeError):
        mbo_fast.read_bbo(bad)
    with pytest.raises(TypeError):
        mbo_fast.Market().apply(bad)


def test_errors_do_not_poison_later_calls(clx5_bytes):
    """A failed call leaves the module usable; a Market keeps working after a failed apply."""
    with pytest.raises(DecodeError):
        mbo_fast.read_bbo(b"garbage")
    records = [_record(order_id=i, price=100 + i) for i in range(3)]
    data = build_dbn(records)
    assert len(mbo_fast.read_bbo(data)) == 3
    market = mbo_fast.Market()
    with pytest.raises(DecodeError):
        market.apply(b"garbage")
    assert market.apply(data) == 3
    assert [p for p, _, _ in market.book(5, 1).levels("B")] == [102, 101, 100]


def test_read_depth_rejects_bad_depth():
    data = build_dbn([_record()])
    with pytest.raises(ValueError, match="depth"):
        mbo_fast.read_depth(data, 0)
