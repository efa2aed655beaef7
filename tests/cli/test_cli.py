"""The `mbo-fast` command line: in-process through `main(argv)`, plus a few real subprocesses.

Facts checked against the sample file CLX5_mbo.dbn: 38,212 records, 32,053 F_LAST boundaries.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import require_core
from dbn_builder import build_dbn, mbp1_dbn
from reference_book import Rec

require_core()  # type: ignore[no-untyped-call]

import mbo_fast  # noqa: E402 - after the skip-if-not-built guard
from mbo_fast import cli  # noqa: E402

CLX5_RECORDS = 38_212
CLX5_BOUNDARIES = 32_053
UNDEF = mbo_fast.UNDEF_PRICE
HEADER = "index,ts_recv,instrument_id,publisher_id,bid_px,bid_sz,bid_ct,ask_px,ask_sz,ask_ct"
ANOMALY_NAMES = {
    "cancel_unknown",
    "cancel_oversize",
    "add_duplicate",
    "modify_unknown_as_add",
    "modify_to_zero",
    "modify_side_change",
    "side_n_book_action",
    "fill_unknown",
    "unknown_action",
}


class Result:
    def __init__(self, code: int, out: bytes, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def text(self) -> str:
        return self.out.decode("utf-8")


Runner = Callable[..., Result]


@pytest.fixture
def run(capsysbinary: pytest.CaptureFixture[bytes]) -> Callable[..., Result]:
    """run(*argv) -> Result: main() in this process, stdout as bytes, stderr as text."""

    def invoke(*argv: str | os.PathLike[str]) -> Result:
        try:
            code = cli.main([os.fspath(a) for a in argv])
        except SystemExit as exc:  # argparse: --version, --help, usage errors
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsysbinary.readouterr()
        return Result(code, out, err.decode("utf-8"))

    return invoke


def run_subprocess(
    *argv: str | os.PathLike[str], stdin: IO[bytes] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "mbo_fast.cli", *(os.fspath(a) for a in argv)],
        stdin=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def assert_one_error_line(err: str, *needles: str) -> None:
    assert err.startswith("mbo-fast: error: "), err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


# ---------------------------------------------------------------------------------------------
# A tiny multi-book stream: negative prices, empty sides, books created out of key order.

F_LAST = 0x80


def rec(
    i: int, iid: int, pid: int, action: str, side: str, oid: int, px: int, sz: int, fl: int = F_LAST
) -> Rec:
    return Rec(
        ts_recv=1_000_000_000_000_000_000 + i,
        ts_event=999_000_000_000_000_000 + i,
        instrument_id=iid,
        publisher_id=pid,
        order_id=oid,
        price=px,
        size=sz,
        flags=fl,
        action=action,
        side=side,
        sequence=i,
    )


SMALL = [
    rec(0, 7, 2, "A", "B", 1, -1_250_000_000, 5),
    rec(1, 5, 1, "A", "A", 2, 100_000_000_000, 3),
    rec(2, 7, 1, "A", "B", 3, 99, 1, fl=0),
    rec(3, 7, 1, "A", "A", 4, 101, 2),
    rec(4, 7, 2, "C", "B", 1, -1_250_000_000, 5),
]
T0 = 1_000_000_000_000_000_000
SMALL_CSV = [
    f"0,{T0},7,2,-1250000000,5,1,,0,0",
    f"1,{T0 + 1},5,1,,0,0,100000000000,3,1",
    f"3,{T0 + 3},7,1,99,1,1,101,2,1",
    f"4,{T0 + 4},7,2,,0,0,,0,0",
]


@pytest.fixture
def small_path(tmp_path: Path) -> Path:
    path = tmp_path / "small.dbn"
    path.write_bytes(build_dbn(SMALL))
    return path


# ---------------------------------------------------------------------------------------------
# --version, usage


def test_version(run: Runner) -> None:
    r = run("--version")
    assert r.code == 0
    assert r.text.strip() == f"mbo-fast {mbo_fast.__version__}"


def test_version_subprocess() -> None:
    p = run_subprocess("--version")
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().strip() == f"mbo-fast {mbo_fast.__version__}"


def test_console_script_installed() -> None:
    script = Path(sys.executable).with_name("mbo-fast")
    if not script.exists():
        pytest.skip("the mbo-fast console script is not installed next to this interpreter")
    p = subprocess.run([script, "--version"], capture_output=True, timeout=60, check=False)
    assert p.returncode == 0 and p.stdout.decode().startswith("mbo-fast "), p


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bbo"],
        ["export", "x.dbn"],
        ["export", "x.dbn", "--depth", "0"],
        ["bench", "x", "--repeat", "z"],
    ],
)
def test_usage_errors_exit_2(run: Runner, argv: list[str]) -> None:
    r = run(*argv)
    assert r.code == 2
    assert "usage: mbo-fast" in r.err and "Traceback" not in r.err


# ---------------------------------------------------------------------------------------------
# bbo


def read_csv(data: bytes) -> tuple[str, list[list[str]]]:
    text = data.decode("ascii")
    header, _, body = text.partition("\n")
    return header, list(csv.reader(io.StringIO(body)))


def test_bbo_clx5_matches_read_bbo(run: Runner, clx5_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "bbo.csv"
    r = run("bbo", clx5_path, "-o", out)
    assert r.code == 0 and r.out == b"" and r.err == ""
    header, rows = read_csv(out.read_bytes())
    assert header == HEADER
    assert len(rows) == CLX5_BOUNDARIES

    cols = mbo_fast.read_bbo(clx5_path)
    names = HEADER.split(",")
    for j, name in enumerate(names):
        col = cols[name]
        if name in ("bid_px", "ask_px"):
            expected = ["" if int(v) == UNDEF else str(int(v)) for v in col]
        else:
            expected = [str(int(v)) for v in col]
        assert [row[j] for row in rows] == expected, name


def test_bbo_empty_side_formatting(run: Runner, clx5_path: Path) -> None:
    r = run("bbo", clx5_path)
    assert r.code == 0
    _, rows = read_csv(r.out)
    empty_bid = [row for row in rows if row[4] == ""]
    empty_ask = [row for row in rows if row[7] == ""]
    assert empty_bid, "CLX5 starts with an empty bid side"
    assert all(row[5] == "0" and row[6] == "0" for row in empty_bid)
    assert all(row[8] == "0" and row[9] == "0" for row in empty_ask)
    # integers only: no decimal points, no exponent, no quoting
    assert b"." not in r.out and b"e" not in r.out.split(b"\n", 1)[1] and b'"' not in r.out


def test_bbo_stdout_equals_file(run: Runner, clx5_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "bbo.csv"
    assert run("bbo", clx5_path, "-o", out).code == 0
    assert run("bbo", clx5_path).out == out.read_bytes()


def test_bbo_small_stream_exact(run: Runner, small_path: Path) -> None:
    r = run("bbo", small_path)
    assert r.code == 0, r.err
    assert r.text == "\n".join([HEADER, *SMALL_CSV]) + "\n"


@pytest.mark.parametrize(
    ("filters", "rows"),
    [
        (["--instrument-id", "7"], [0, 2, 3]),
        (["--publisher-id", "2"], [0, 3]),
        (["--instrument-id", "7", "--publisher-id", "1"], [2]),
        (["--instrument-id", "6"], []),
    ],
)
def test_bbo_filters(run: Runner, small_path: Path, filters: list[str], rows: list[int]) -> None:
    r = run("bbo", small_path, *filters)
    assert r.code == 0, r.err
    assert r.text == "\n".join([HEADER, *(SMALL_CSV[i] for i in rows)]) + "\n"


def test_bbo_stdin(clx5_path: Path) -> None:
    with open(clx5_path, "rb") as f:
        p = run_subprocess("bbo", "-", stdin=f)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count(b"\n") == CLX5_BOUNDARIES + 1


def test_bbo_broken_pipe_is_quiet(clx5_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mbo_fast.cli", "bbo", os.fspath(clx5_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().decode().strip() == HEADER
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert err == b""


# ---------------------------------------------------------------------------------------------
# The vectorised CSV formatter itself


def test_format_csv_rows_edges() -> None:
    i64 = np.array([0, -1, 9, 10, -(2**63), 2**63 - 1, 123_456_789], dtype=np.int64)
    u64 = np.array([0, 1, 2**64 - 1, 10, 99, 100, 7], dtype=np.uint64)
    u16 = np.array([0, 65535, 1, 2, 3, 4, 5], dtype=np.uint16)
    blank = np.array([False, True, False, False, False, True, False])
    got = cli.format_csv_rows([i64, u64, u16], [blank, None, None]).decode()
    expected = "".join(
        f"{'' if b else a},{c},{d}\n" for a, b, c, d in zip(i64.tolist(), blank, u64.tolist(), u16)
    )
    assert got == expected
    assert cli.format_csv_rows([np.zeros(0, np.int64)], [None]) == b""


@given(
    st.lists(
        st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(0, 2**32 - 1), st.booleans()),
        max_size=300,
    )
)
def test_format_csv_rows_matches_str(rows: list[tuple[int, int, bool]]) -> None:
    a = np.array([r[0] for r in rows], dtype=np.int64)
    b = np.array([r[1] for r in rows], dtype=np.uint32)
    blank = np.array([r[2] for r in rows], dtype=bool)
    got = cli.format_csv_rows([a, b], [blank, None]).decode()
    assert got == "".join(f"{'' if z else x},{y}\n" for x, y, z in rows)


def test_bbo_csv_is_fast() -> None:
    n = 1_900_000
    rng = np.random.default_rng(1)
    px = rng.integers(60_000_000_000, 70_000_000_000, n)
    px[::13] = UNDEF
    cols = {
        "index": np.arange(n, dtype=np.uint64),
        "ts_recv": np.arange(n, dtype=np.uint64) + np.uint64(1_758_742_200_000_000_000),
        "instrument_id": np.full(n, 432_669, np.uint32),
        "publisher_id": np.ones(n, np.uint16),
        "bid_px": px,
        "bid_sz": rng.integers(0, 500, n).astype(np.uint32),
        "bid_ct": rng.integers(0, 50, n).astype(np.uint32),
        "ask_px": px[::-1].copy(),
        "ask_sz": rng.integers(0, 500, n).astype(np.uint32),
        "ask_ct": rng.integers(0, 50, n).astype(np.uint32),
    }
    sink = io.BytesIO()
    t0 = time.perf_counter()
    assert cli.write_bbo_csv(cols, sink) == n
    elapsed = time.perf_counter() - t0
    assert sink.getvalue().count(b"\n") == n + 1
    assert elapsed < 10, f"{n:,} rows took {elapsed:.1f}s"  # ~1 s here; generous for slow CI


# ---------------------------------------------------------------------------------------------
# book


def test_book_json_structure(run: Runner, clx5_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "book.json"
    r = run("book", clx5_path, "-o", out)
    assert r.code == 0 and r.err == ""
    doc = json.loads(out.read_text())
    assert list(doc) == ["books"] and len(doc["books"]) == 1
    book = doc["books"][0]
    assert set(book) == {
        "instrument_id",
        "publisher_id",
        "bids",
        "asks",
        "bid_orders",
        "ask_orders",
        "anomalies",
    }
    assert (book["instrument_id"], book["publisher_id"]) == (432_669, 1)
    assert set(book["anomalies"]) == ANOMALY_NAMES
    assert book["anomalies"]["cancel_unknown"] == 1_224
    assert book["anomalies"]["modify_unknown_as_add"] == 216

    for levels, queues, descending in (
        (book["bids"], book["bid_orders"], True),
        (book["asks"], book["ask_orders"], False),
    ):
        prices = [lvl[0] for lvl in levels]
        assert prices == sorted(prices, reverse=descending) and len(set(prices)) == len(prices)
        assert all(isinstance(v, int) for lvl in levels for v in lvl)
        assert [q["price"] for q in queues] == prices
        for (px, size, count), queue in zip(levels, queues):
            assert queue["price"] == px
            assert size == sum(s for _, s in queue["orders"])
            assert count == len(queue["orders"])
            assert all(s > 0 for _, s in queue["orders"])
    # CLX5 ends in its crossed stretch (21:47-22:00 UTC): reported as is, never uncrossed
    assert book["bids"][0][0] >= book["asks"][0][0]

    m = mbo_fast.Market()
    m.apply(clx5_path)
    assert doc == json.loads(m.to_json())
    assert run("book", clx5_path).out.rstrip(b"\n") == out.read_bytes().rstrip(b"\n")


def test_book_sorted_by_key(run: Runner, small_path: Path) -> None:
    r = run("book", small_path)
    assert r.code == 0, r.err
    books = json.loads(r.out)["books"]
    keys = [(b["instrument_id"], b["publisher_id"]) for b in books]
    assert keys == [(5, 1), (7, 1), (7, 2)]
    by_key = dict(zip(keys, books))
    assert by_key[(5, 1)]["asks"] == [[100_000_000_000, 3, 1]] and by_key[(5, 1)]["bids"] == []
    assert by_key[(7, 1)]["bid_orders"] == [{"price": 99, "orders": [[3, 1]]}]
    assert by_key[(7, 2)]["bids"] == [] and by_key[(7, 2)]["asks"] == []


# ---------------------------------------------------------------------------------------------
# export


def test_export_clx5(run: Runner, clx5_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "depth.jsonl"
    r = run("export", clx5_path, "--depth", "5", "-o", out)
    assert r.code == 0 and r.out == b"" and r.err == ""
    lines = out.read_bytes().splitlines()
    assert len(lines) == CLX5_BOUNDARIES

    depth = mbo_fast.read_depth(clx5_path, 5)
    for k in (0, 1, 777, len(lines) // 2, len(lines) - 1):
        row = json.loads(lines[k])
        assert {"index", "ts_recv", "instrument_id", "publisher_id", "bids", "asks"} <= set(row)
        assert row["index"] == int(depth["index"][k])
        assert row["ts_recv"] == int(depth["ts_recv"][k])
        assert (row["instrument_id"], row["publisher_id"]) == (432_669, 1)
        for side in ("bid", "ask"):
            levels = row[side + "s"]
            assert len(levels) <= 5
            expected = [
                (int(px), int(sz), int(ct))
                for px, sz, ct in zip(
                    depth[side + "_px"][k], depth[side + "_sz"][k], depth[side + "_ct"][k]
                )
                if int(px) != UNDEF
            ]
            got = [(int(Decimal(str(px)) * 10**9), sz, ct) for px, sz, ct in levels]
            assert got == expected, (k, side)


def test_export_stdout_equals_file(run: Runner, small_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "depth.jsonl"
    assert run("export", small_path, "--depth", "2", "-o", out).code == 0
    r = run("export", small_path, "--depth", "2")
    assert r.code == 0 and r.out == out.read_bytes()
    rows = [json.loads(line) for line in r.out.splitlines()]
    assert [row["index"] for row in rows] == [0, 1, 3, 4]
    filtered = run(
        "export", small_path, "--depth", "2", "--instrument-id", "7", "--publisher-id", "2"
    )
    assert [json.loads(line)["index"] for line in filtered.out.splitlines()] == [0, 4]


def test_export_subprocess_line_count(clx5_path: Path) -> None:
    p = run_subprocess("export", clx5_path, "--depth", "1")
    assert p.returncode == 0, p.stderr
    assert p.stdout.count(b"\n") == CLX5_BOUNDARIES
    assert p.stderr == b""  # stderr is a pipe: never a progress line


# ---------------------------------------------------------------------------------------------
# info and bench


def test_info_json(run: Runner, clx5_path: Path) -> None:
    r = run("info", clx5_path, "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data == json.loads(json.dumps(mbo_fast.info(clx5_path)))
    assert data["records"] == CLX5_RECORDS
    assert sum(data["by_action"].values()) == CLX5_RECORDS
    assert data["by_action"]["C"] == 16_252 and data["by_action"]["A"] == 14_959
    assert data["f_last"] == CLX5_BOUNDARIES
    assert data["metadata"]["dataset"] == "GLBX.MDP3"


def test_info_summary(run: Runner, clx5_path: Path) -> None:
    r = run("info", clx5_path)
    assert r.code == 0, r.err
    text = r.text
    for needle in (
        "GLBX.MDP3",
        "CLX5",
        "38,212",
        "32,053",
        "add 14,959",
        "cancel 16,252",
        "2025-09-24T19:30:00",
        "432669",
        "cancel_unknown=1224",
    ):
        assert needle in text, needle


def test_bench(run: Runner, clx5_path: Path) -> None:
    r = run("bench", clx5_path, "--repeat", "1")
    assert r.code == 0, r.err
    assert "38,212 records" in r.text
    for label in ("read_bbo", "read_depth(10)", "Market.apply", "peak RSS"):
        assert label in r.text
    assert r.text.count("M records/s") == 3
    # each case's first call beside its best
    assert len(re.findall(r"\(first [0-9.]+ ms\)", r.text)) == 3


# ---------------------------------------------------------------------------------------------
# errors


def test_bad_file(run: Runner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.dbn"
    bad.write_bytes(b"this is not DBN data at all\n" * 10)
    r = run("bbo", bad)
    assert r.code == 2 and r.out == b""
    assert_one_error_line(r.err, "bad.dbn")


def test_bad_file_subprocess(tmp_path: Path) -> None:
    bad = tmp_path / "bad.dbn"
    bad.write_bytes(b"DBN\x03garbage")
    for command in (["bbo"], ["book"], ["info"], ["export", "--depth", "3"]):
        p = run_subprocess(command[0], bad, *command[1:])
        assert p.returncode == 2, (command, p.stderr)
        assert p.stdout == b""
        assert_one_error_line(p.stderr.decode(), "bad.dbn")


def test_truncated_file(run: Runner, clx5_path: Path, tmp_path: Path) -> None:
    data = clx5_path.read_bytes()
    cut = tmp_path / "cut.dbn"
    cut.write_bytes(data[: len(data) // 2 + 17])  # ends mid-record
    r = run("book", cut)
    assert r.code == 2, r.err
    assert_one_error_line(r.err, "cut.dbn")


def test_wrong_schema(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "mbp1.dbn"
    path.write_bytes(mbp1_dbn())
    r = run("bbo", path)
    assert r.code == 2 and r.out == b""
    assert_one_error_line(r.err, "mbp1.dbn")


def test_missing_file(run: Runner, tmp_path: Path) -> None:
    missing = tmp_path / "nope.dbn"
    for argv in (["bbo", missing], ["book", missing], ["export", missing, "--depth", "1"]):
        r = run(*argv)
        assert r.code == 2
        assert_one_error_line(r.err, "nope.dbn")
    p = run_subprocess("info", missing)
    assert p.returncode == 2
    assert_one_error_line(p.stderr.decode(), "nope.dbn")


def test_unwritable_output(run: Runner, small_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "out.csv"
    for argv in (["bbo", small_path], ["book", small_path], ["export", small_path, "--depth", "1"]):
        r = run(*argv, "-o", target)
        assert r.code == 2, (argv, r.err)
        assert_one_error_line(r.err, "out.csv")


def test_unexpected_error_exit_1(
    run: Runner, small_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(mbo_fast, "read_bbo", boom)
    monkeypatch.delenv("MBO_FAST_DEBUG", raising=False)
    r = run("bbo", small_path)
    assert r.code == 1
    assert_one_error_line(r.err, "RuntimeError", "kaboom")


# ---------------------------------------------------------------------------------------------
# progress


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tqdm")
    tty = FakeTty()
    monkeypatch.setattr(sys, "stderr", tty)
    with cli._Progress("working", enabled=True, delay=0.0):
        time.sleep(0.35)
    assert "working" in tty.getvalue()

    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    with cli._Progress("working", enabled=True, delay=0.0):
        time.sleep(0.25)
    assert pipe.getvalue() == ""

    tty = FakeTty()
    monkeypatch.setattr(sys, "stderr", tty)
    with cli._Progress("working", enabled=False, delay=0.0):
        time.sleep(0.25)
    assert tty.getvalue() == ""


def test_progress_waits_for_the_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    tty = FakeTty()
    monkeypatch.setattr(sys, "stderr", tty)
    with cli._Progress("quick", enabled=True, delay=5.0):
        pass
    assert tty.getvalue() == ""
