"""The `mbo-fast` command line.

    mbo-fast bbo FILE [-o OUT.csv|OUT.parquet] [--instrument-id N] [--publisher-id N]
    mbo-fast book FILE [-o OUT.json]
    mbo-fast export FILE --depth N [-o OUT.jsonl|OUT.parquet] [--instrument-id N] [--publisher-id N]
    mbo-fast info FILE [--json]
    mbo-fast bench FILE [--repeat N]
    mbo-fast import FILE… [--db PATH]
    mbo-fast convert FILE… --schema mbp-10|mbp-1|tbbo|bbo-1s|bbo-1m|cmbp-1|cbbo-1s|… [-o OUT]
    mbo-fast db list|upgrade [PATH]
    mbo-fast simulate [--seed N] [--records N] [--instruments N] [-o OUT.dbn[.zst]]
    mbo-fast fetch --dataset D --symbols S[,S…] --start T --end T -o OUT.dbn.zst (needs DBN_KEY)

FILE is a DBN MBO file (plain or zstd) or `-` for standard input. Every book computation is one
call into the compiled core; this module only parses arguments, formats output and reports errors.
Exit status: 0 success, 2 bad usage or unreadable input, 1 unexpected failure.

Other packages add commands through the entry-point group `mbo_fast.commands` (see
`_add_plugin_commands`); the server (server/, package mbo_fast_server) adds

    mbo-fast serve [--file PATH…] [--host H] [--port P] [--db PATH] [--config TOML]
    mbo-fast ingest --live URL --nats nats://HOST:PORT/NAME [--db PATH]

so this library never imports the server. Without it, `serve` is listed as not installed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import importlib.metadata
import json
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import IO, Any, Callable, TypeVar

import numpy as np
from numpy.typing import NDArray

import mbo_fast
from mbo_fast import _core
from mbo_fast._source import to_raw_source
from mbo_fast.errors import DecodeError, MboError

PROG = "mbo-fast"
BBO_HEADER = "index,ts_recv,instrument_id,publisher_id,bid_px,bid_sz,bid_ct,ask_px,ask_sz,ask_ct"
_BBO_FIELDS = BBO_HEADER.split(",")
_BLANK_IF_UNDEF = frozenset({"bid_px", "ask_px"})
_CSV_CHUNK_ROWS = 1 << 14  # cache-sized: ~2x faster than 1 << 16
_OS_ERROR_SUFFIX = re.compile(r" \(os error \d+\)$")

_T = TypeVar("_T")


class CliError(Exception):
    """A user-facing failure: printed as one `mbo-fast: error: …` line, exit status 2."""


# --------------------------------------------------------------------------------------------
# Progress: an elapsed-time line on stderr while a long core call runs (TTY only, tqdm only).


class _Progress:
    """Shows `label | 3.2s` on stderr from a background thread once `delay` seconds have passed.

    The core releases the GIL during its work, so the thread keeps ticking. Nothing is shown when
    disabled, when stderr is not a terminal, or when tqdm is not installed.
    """

    _FRAMES = "|/-\\"

    def __init__(self, label: str, enabled: bool, delay: float = 1.0) -> None:
        self._label = label
        self._delay = delay
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self._tqdm: Any = _load_tqdm() if enabled and _stderr_is_tty() else None

    def __enter__(self) -> _Progress:
        self._t0 = time.monotonic()
        if self._tqdm is not None:
            self._thread = threading.Thread(target=self._run, name="mbo-fast-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        if self._done.wait(self._delay):
            return
        bar = self._tqdm(
            total=None,
            desc=self._label,
            bar_format="{desc}",
            leave=False,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        try:
            frame = 0
            while not self._done.wait(0.1):
                frame += 1
                spin = self._FRAMES[frame % len(self._FRAMES)]
                elapsed = time.monotonic() - self._t0
                bar.set_description_str(f"{self._label} {spin} {elapsed:.1f}s", refresh=True)
        finally:
            bar.close()


def _load_tqdm() -> Any:
    try:
        return importlib.import_module("tqdm").tqdm
    except ImportError:
        return None


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _with_progress(args: argparse.Namespace, label: str, fn: Callable[[], _T]) -> _T:
    with _Progress(label, enabled=not args.no_progress):
        return fn()


# --------------------------------------------------------------------------------------------
# Fast CSV: integer columns -> ASCII digits with numpy, no per-row Python work.


def _digit_rows(
    col: NDArray[Any], blank: NDArray[np.bool_] | None
) -> tuple[NDArray[np.uint8], int]:
    """Decimal digits of an integer column as a (width, n) uint8 block, right-aligned.

    Leading positions (and blanked rows) are NUL bytes; the caller drops every NUL at the end,
    which left-aligns the number and turns blanked rows into empty fields.
    """
    n = col.shape[0]
    neg: NDArray[np.bool_] | None = None
    if col.dtype.kind == "i":
        is_neg = col < 0
        if blank is not None:
            is_neg &= ~blank
        if is_neg.any():
            neg = is_neg
            # int64 min negates to itself; its uint64 reinterpretation is still the right magnitude.
            col = np.where(is_neg, np.negative(col), col)
        mag: NDArray[Any] = col.astype(np.uint64)
    elif col.dtype.kind in "ub":
        mag = col.astype(np.uint64, copy=False)
    else:
        raise TypeError(f"cannot format a {col.dtype} column as integers")
    if blank is not None:
        mag = np.where(blank, np.uint64(0), mag)
    top = int(mag.max()) if n else 0
    if top < 2**32:
        mag = mag.astype(np.uint32)
    width = len(str(top))
    sign = 1 if neg is not None else 0
    block = np.empty((sign + width, n), dtype=np.uint8)
    if neg is not None:
        block[0] = np.where(neg, np.uint8(ord("-")), np.uint8(0))
    ten = mag.dtype.type(10)
    value = mag
    for k in range(sign + width - 1, sign - 1, -1):
        quot = value // ten
        digit = (value - quot * ten).astype(np.uint8)
        digit += ord("0")
        if k < sign + width - 1:
            digit[value == 0] = 0  # a leading zero: dropped later
        block[k] = digit
        value = quot
    if blank is not None:
        block[sign:, blank] = 0
    return block, sign + width


def format_csv_rows(
    columns: Sequence[NDArray[Any]], blanks: Sequence[NDArray[np.bool_] | None]
) -> bytes:
    """CSV lines (`\\n`-terminated) of equal-length integer columns; a row where blanks[i] is True
    gets an empty field in column i."""
    if not columns:
        return b""
    n = columns[0].shape[0]
    if n == 0:
        return b""
    parts = [_digit_rows(col, blank) for col, blank in zip(columns, blanks)]
    total = sum(width + 1 for _, width in parts)
    grid = np.empty((total, n), dtype=np.uint8)
    row = 0
    for block, width in parts:
        grid[row : row + width] = block
        row += width
        grid[row] = ord(",")
        row += 1
    grid[row - 1] = ord("\n")
    flat = np.ascontiguousarray(grid.T).reshape(-1)
    data: bytes = flat[flat != 0].tobytes()
    return data


def write_bbo_csv(cols: dict[str, NDArray[Any]], out: IO[bytes]) -> int:
    """Write the `mbo-fast bbo` CSV of read_bbo columns to `out`; returns the number of rows."""
    missing = [name for name in _BBO_FIELDS if name not in cols]
    if missing:
        raise RuntimeError(f"read_bbo returned no column(s) {', '.join(missing)}")
    n = int(cols["index"].shape[0])
    out.write(BBO_HEADER.encode("ascii") + b"\n")
    undef = np.int64(mbo_fast.UNDEF_PRICE)
    for start in range(0, n, _CSV_CHUNK_ROWS):
        stop = min(start + _CSV_CHUNK_ROWS, n)
        chunk = [np.asarray(cols[name][start:stop]) for name in _BBO_FIELDS]
        blanks = [
            (col == undef) if name in _BLANK_IF_UNDEF else None
            for name, col in zip(_BBO_FIELDS, chunk)
        ]
        out.write(format_csv_rows(chunk, blanks))
    return n


# --------------------------------------------------------------------------------------------
# Output helpers


def _stdout_bytes() -> IO[bytes]:
    return sys.stdout.buffer


def _write_output(path: str | None, data: bytes) -> None:
    if path is None:
        out = _stdout_bytes()
        out.write(data)
        out.flush()
    else:
        with open(path, "wb") as f:
            f.write(data)


def _source(file: str) -> str | bytes:
    """The raw source for the core: a path, or the bytes of standard input for `-`."""
    if file == "-":
        if sys.stdin.isatty():
            raise CliError("FILE is - but standard input is a terminal; pipe DBN data in")
        return sys.stdin.buffer.read()
    return to_raw_source(file)


def _iso(ns: int) -> str:
    """UTC ISO-8601 with nanoseconds: 2025-09-24T19:30:00.123456789Z."""
    secs, frac = divmod(int(ns), 1_000_000_000)
    stamp = _dt.datetime.fromtimestamp(secs, tz=_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:09d}Z" if frac else f"{stamp}Z"


# --------------------------------------------------------------------------------------------
# Commands


def _is_parquet(output: str | None) -> bool:
    return output is not None and output.lower().endswith(".parquet")


def _write_parquet(args: argparse.Namespace, what: str, depth: int = 10) -> int:
    """`-o OUT.parquet`: the capture streamed into the file (memory flat whatever FILE's size)."""
    src = _source(args.file)

    def run() -> int:
        return mbo_fast.write_parquet(
            src,
            args.output,
            "bbo" if what == "bbo" else "depth",
            depth=depth,
            instrument_id=args.instrument_id,
            publisher_id=args.publisher_id,
        )

    _with_progress(args, what, run)
    return 0


def _cmd_bbo(args: argparse.Namespace) -> int:
    if _is_parquet(args.output):
        return _write_parquet(args, "bbo")
    src = _source(args.file)

    def run() -> dict[str, NDArray[Any]]:
        cols = mbo_fast.read_bbo(
            src, instrument_id=args.instrument_id, publisher_id=args.publisher_id
        )
        return dict(cols)

    if args.output is None:
        cols = _with_progress(args, "bbo", run)
        out = _stdout_bytes()
        write_bbo_csv(cols, out)
        out.flush()
    else:

        def run_and_write() -> None:
            cols = run()
            with open(args.output, "wb") as f:
                write_bbo_csv(cols, f)

        _with_progress(args, "bbo", run_and_write)
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    src = _source(args.file)

    def run() -> str:
        market = mbo_fast.Market()
        market.apply(src)
        return market.to_json()

    text = _with_progress(args, "book", run)
    _write_output(args.output, text.encode("utf-8") + (b"" if text.endswith("\n") else b"\n"))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    if _is_parquet(args.output):
        return _write_parquet(args, "depth", args.depth)
    src = _source(args.file)

    def run() -> bytes | int:
        return _core.export_depth_jsonl(
            src, args.depth, args.output, args.instrument_id, args.publisher_id
        )

    result = _with_progress(args, "export", run)
    if args.output is None:
        if not isinstance(result, bytes):
            raise RuntimeError("export_depth_jsonl returned no bytes for stdout")
        _write_output(None, result)
    return 0


_ACTION_NAMES = {
    "A": "add",
    "C": "cancel",
    "M": "modify",
    "R": "clear",
    "T": "trade",
    "F": "fill",
    "N": "none",
}


def _span(lo: int, hi: int) -> str:
    secs = (hi - lo) / 1e9
    hours, rest = divmod(secs, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours >= 1:
        return f"{int(hours)}h{int(minutes):02d}m{seconds:06.3f}s"
    if minutes >= 1:
        return f"{int(minutes)}m{seconds:06.3f}s"
    return f"{seconds:.3f}s"


def _range(value: Any) -> str:
    if not value:
        return "-"
    lo, hi = (int(v) for v in value)
    return f"{_iso(lo)} .. {_iso(hi)} ({_span(lo, hi)})"


def _when(value: Any) -> str:
    return "-" if value is None else _iso(int(value))


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items()) or "-"
    return str(value)


def info_summary(data: dict[str, Any], name: str) -> list[str]:
    """The human-readable `mbo-fast info` report of an `mbo_fast.info()` dict."""
    rest = dict(data)
    meta: dict[str, Any] = dict(rest.pop("metadata", None) or {})
    lines = [f"file        {name}"]
    if meta:
        version = meta.pop("version", None)
        lines.append(
            f"dataset     {_plain(meta.pop('dataset', None))}, schema "
            f"{_plain(meta.pop('schema', None))}, DBN v{_plain(version)}"
        )
        stype = f"{_plain(meta.pop('stype_in', None))} -> {_plain(meta.pop('stype_out', None))}"
        lines.append(f"symbols     {_plain(meta.pop('symbols', None))} ({stype})")
        start, end = meta.pop("start", None), meta.pop("end", None)
        lines.append(f"requested   {_when(start)} .. {_when(end)}")
        lines.extend(f"{k:<11} {_plain(v)}" for k, v in meta.items())
    if "records" in rest:
        skipped = rest.pop("skipped_records", 0)
        note = f" ({skipped:,} other records skipped)" if skipped else ""
        lines.append(f"records     {rest.pop('records'):,}{note}")
    by_action: dict[str, int] = rest.pop("by_action", None) or {}
    if by_action:
        lines.append(
            "  by action "
            + ", ".join(f"{_ACTION_NAMES.get(a, repr(a))} {n:,}" for a, n in by_action.items())
        )
    if "f_last" in rest:
        crossed = rest.pop("crossed_boundaries", None)
        extra = f" ({crossed:,} crossed or locked)" if crossed is not None else ""
        lines.append(f"  F_LAST    {rest.pop('f_last'):,} book boundaries{extra}")
    if "snapshot_records" in rest:
        lines.append(f"  snapshot  {rest.pop('snapshot_records'):,} records")
    if "ts_recv_range" in rest:
        lines.append(f"ts_recv     {_range(rest.pop('ts_recv_range'))}")
    if "ts_event_range" in rest:
        lines.append(f"ts_event    {_range(rest.pop('ts_event_range'))}")
    instruments = rest.pop("instruments", None)
    if isinstance(instruments, dict):
        lines.append(f"instruments {len(instruments)}")
        lines.extend(f"  {iid:<10} {_plain(sym)}" for iid, sym in sorted(instruments.items()))
    elif instruments is not None:
        lines.append(f"instruments {_plain(instruments)}")
    books = rest.pop("books", None)
    if isinstance(books, list):
        lines.append(f"books       {len(books)}")
        for book in books:
            b = dict(book) if isinstance(book, dict) else {"book": book}
            key = f"{b.pop('instrument_id', '?')}/{b.pop('publisher_id', '?')}"
            parts = [_plain(b.pop("symbol", None))]
            if "records" in b:
                parts.append(f"{b.pop('records'):,} records")
            if "orders" in b:
                parts.append(f"{b.pop('orders'):,} resting orders")
            anomalies = b.pop("anomalies", None)
            if isinstance(anomalies, dict):
                found = {k: v for k, v in anomalies.items() if v}
                parts.append(f"anomalies: {_plain(found)}" if found else "no anomalies")
            parts.extend(f"{k} {_plain(v)}" for k, v in b.items())
            lines.append(f"  {key:<16} " + ", ".join(parts))
    elif books is not None:
        lines.append(f"books       {_plain(books)}")
    lines.extend(f"{k:<11} {_plain(v)}" for k, v in rest.items())
    return lines


def _cmd_info(args: argparse.Namespace) -> int:
    src = _source(args.file)
    data = _with_progress(args, "info", lambda: mbo_fast.info(src))
    if args.json:
        text = json.dumps(data, indent=2, default=str) + "\n"
    else:
        name = "<stdin>" if args.file == "-" else args.file
        text = "\n".join(info_summary(data, name)) + "\n"
    _write_output(None, text.encode("utf-8"))
    return 0


def _timed(fn: Callable[[], _T], repeat: int) -> tuple[float, float, _T]:
    """(first call, best call, result) in seconds. The first call of a process pays for fresh
    memory (page faults and kernel zeroing of the output), later ones reuse it; both are shown."""
    times: list[float] = []
    result: _T | None = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    assert result is not None
    return times[0], min(times), result


def _peak_rss_bytes() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def _cmd_bench(args: argparse.Namespace) -> int:
    src = _source(args.file)
    repeat: int = args.repeat

    def apply() -> int:
        return mbo_fast.Market().apply(src)

    t_apply = _timed(apply, repeat)
    t_bbo = _timed(lambda: len(mbo_fast.read_bbo(src)), repeat)
    t_depth = _timed(lambda: len(mbo_fast.read_depth(src, 10)), repeat)
    records = t_apply[2]

    size = len(src) if isinstance(src, bytes) else os.path.getsize(src)
    name = "<stdin>" if args.file == "-" else args.file
    lines = [
        f"{PROG} {mbo_fast.__version__} bench: {name}",
        f"  {records:,} records, {size / 2**20:.1f} MiB, best of {repeat} (first call beside it)",
    ]
    for label, (first, best, rows), counts_rows in (
        ("read_bbo", t_bbo, True),
        ("read_depth(10)", t_depth, True),
        ("Market.apply", t_apply, False),  # its result is the record count
    ):
        rate = records / best if best > 0 else float("inf")
        extra = f"  {rows:,} rows" if counts_rows else ""
        lines.append(
            f"  {label:<15}{best * 1e3:10.1f} ms  {rate / 1e6:8.2f} M records/s"
            f"  (first {first * 1e3:.1f} ms){extra}"
        )
    peak = _peak_rss_bytes()
    lines.append(
        f"  peak RSS {peak / 2**20:.1f} MiB (whole process)" if peak else "  peak RSS unknown"
    )
    _write_output(None, ("\n".join(lines) + "\n").encode("utf-8"))
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    if args.output is None and _stdout_bytes().isatty():
        raise CliError("refusing to write binary DBN to a terminal; use -o OUT.dbn[.zst]")
    kwargs: dict[str, Any] = {"tick": args.tick, "start_price": args.start_price}

    def run() -> bytes | int:
        return mbo_fast.simulate(
            args.seed, args.records, args.instruments, args.output, zstd=args.zstd, **kwargs
        )

    result = _with_progress(args, "simulate", run)
    if isinstance(result, bytes):
        _write_output(None, result)
    else:
        print(
            f"{result:,} records, {args.instruments} instrument(s), seed {args.seed}: {args.output}"
        )
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from mbo_fast import databento_io  # the databento client is imported only when used

    if args.output is None:
        raise CliError("fetch needs -o OUT.dbn.zst (the file to write)")
    path = _with_progress(
        args,
        "fetch",
        lambda: databento_io.fetch(
            args.dataset, args.symbols, args.start, args.end, args.output, stype_in=args.stype_in
        ),
    )
    print(f"{args.dataset} {args.symbols} {args.start}..{args.end}: {path}")
    return 0


# --------------------------------------------------------------------------------------------
# Argument parsing and error handling


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (for plugin commands too)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (for plugin commands too)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Rebuild exact limit order books from Databento MBO (DBN) data.",
        epilog="FILE is a DBN MBO file, plain or zstd-compressed, or - for standard input.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {mbo_fast.__version__}")
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="never show the progress line (it only appears on a terminal anyway)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("file", metavar="FILE", help="DBN MBO file (.dbn or .dbn.zst), or -")
        return p

    def filters(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--instrument-id", type=non_negative_int, metavar="N", help="only this instrument"
        )
        p.add_argument(
            "--publisher-id", type=non_negative_int, metavar="N", help="only this publisher"
        )

    p = add("bbo", "best bid/offer CSV (or Parquet), one row per F_LAST record")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT.csv",
        help="write here instead of stdout; OUT.parquet: Parquet (streamed, exact int64 prices)",
    )
    filters(p)
    p.set_defaults(func=_cmd_bbo)

    p = add("book", "final state of every book as JSON")
    p.add_argument("-o", "--output", metavar="OUT.json", help="write here instead of stdout")
    p.set_defaults(func=_cmd_book)

    p = add("export", "MBP-N depth snapshots as JSON lines (or Parquet), one per F_LAST record")
    p.add_argument("--depth", type=positive_int, required=True, metavar="N", help="levels per side")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT.jsonl",
        help="write here instead of stdout; OUT.parquet: Parquet (levels as fixed-size lists)",
    )
    filters(p)
    p.set_defaults(func=_cmd_export)

    p = add("info", "metadata, record counts, time range and instruments")
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    p.set_defaults(func=_cmd_info)

    p = add("bench", "time read_bbo, read_depth(10) and Market.apply on FILE")
    p.add_argument(
        "--repeat", type=positive_int, default=5, metavar="N", help="best of N (default 5)"
    )
    p.set_defaults(func=_cmd_bench)

    help_ = "generate a synthetic session (pre-open, opening auction, continuous trading) as DBN"
    p = sub.add_parser("simulate", help=help_, description=help_)
    p.add_argument(
        "--seed", type=non_negative_int, default=1, metavar="N", help="random seed (default 1)"
    )
    p.add_argument(
        "--records", type=positive_int, default=1_000_000, metavar="N", help="at least N records"
    )
    p.add_argument("--instruments", type=positive_int, default=1, metavar="N", help="default 1")
    p.add_argument(
        "--tick", type=positive_int, metavar="N", help="tick in 1e-9 units (default 0.01)"
    )
    p.add_argument(
        "--start-price", type=positive_int, metavar="N", help="1e-9 units (default 64.81)"
    )
    p.add_argument("--zstd", action="store_true", help="compress standard output with zstd")
    p.add_argument(
        "-o", "--output", metavar="OUT.dbn", help="write here (.zst: compressed), not stdout"
    )
    p.set_defaults(func=_cmd_simulate)

    fetch_help = "download MBO history from Databento (databento package; key in DBN_KEY)"
    p = sub.add_parser("fetch", help=fetch_help, description=fetch_help)
    p.add_argument("--dataset", required=True, metavar="D", help="e.g. GLBX.MDP3")
    p.add_argument("--symbols", required=True, metavar="S[,S…]", help="e.g. CLZ5 or CLZ5,CLF6")
    p.add_argument("--start", required=True, metavar="T", help="ISO 8601 date/time (UTC)")
    p.add_argument("--end", required=True, metavar="T", help="ISO 8601, exclusive")
    p.add_argument(
        "--stype-in",
        default="auto",
        metavar="S",
        help="symbology of SYMBOLS (default auto: ES.FUT parent, ES.c.0 continuous, "
        "digits instrument_id, else raw_symbol)",
    )
    p.add_argument("-o", "--output", metavar="OUT.dbn.zst", help="file to write (zstd DBN)")
    p.set_defaults(func=_cmd_fetch)

    feed_help = "serve FILE… as a live DBN stream over TCP, paced (for --live ingest)"
    p = sub.add_parser("feed", help=feed_help, description=feed_help)
    p.add_argument("files", nargs="+", metavar="FILE", help="DBN MBO file(s), sent in order")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument(
        "--port", type=non_negative_int, default=9000, help="port (default 9000; 0: any)"
    )
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, metavar="N", help="records per second")
    pace.add_argument("--speed", type=float, metavar="X", help="recorded time x X")
    p.add_argument("--loop", action="store_true", help="start over at the end")
    p.add_argument(
        "--resequence",
        action="store_true",
        help="make each channel's sequence numbers contiguous (no false gaps)",
    )
    p.add_argument(
        "--max-buffer",
        type=positive_int,
        default=8 << 20,
        metavar="BYTES",
        help="drop a subscriber with more than this unsent (default 8 MiB)",
    )
    p.set_defaults(func=_cmd_feed)

    import_help = "store DBN MBO files as blocks in a database (what `serve --db` serves)"
    p = sub.add_parser("import", help=import_help, description=import_help)
    p.add_argument("files", nargs="+", metavar="FILE", help="DBN MBO file(s) (.dbn or .dbn.zst)")
    p.add_argument(
        "--db",
        metavar="PATH|URL",
        help="a SQLite file (default: the server's) or postgresql://USER@HOST/DB (PGPASSWORD)",
    )
    p.set_defaults(func=_cmd_import)

    db_help = "database maintenance: list what it holds, or upgrade an older schema"
    p = sub.add_parser("db", help=db_help, description=db_help)
    p.add_argument("action", choices=["list", "upgrade"], help="what to do")
    p.add_argument("path", nargs="?", metavar="PATH", help="the database (default: the server's)")
    p.set_defaults(func=_cmd_db)

    _add_convert_command(sub)
    _add_plugin_commands(sub)
    return parser


# --------------------------------------------------------------------------------------------
# Commands of other packages. An entry point in the group COMMANDS_GROUP, named after its
# command, names a function `register(commands)` that adds the command's subparser to the
# argparse subparsers `commands` and sets its handler (`set_defaults(func=handler)`, handler:
# Namespace -> exit status). Each is loaded when the parser is built: keep `register`'s module
# light and import the command's machinery in its handler.

COMMANDS_GROUP = "mbo_fast.commands"
# Commands that packages of this repository provide (help, how to install): listed, with how to
# get them, when missing.
_OPTIONAL_COMMANDS = {
    "serve": ("HTTP/SSE server over the books", "pip install ./server"),
    "ingest": ("one live feed published to NATS for serve replicas", "pip install ./server"),
}
_ANY_ARGUMENTS = "_mbo_fast_any_arguments"  # set on stand-in commands, which take any argument


def _command_entry_points() -> list[importlib.metadata.EntryPoint]:
    """The entry points of COMMANDS_GROUP, one per name (the first found), by name."""
    group: Iterable[importlib.metadata.EntryPoint]
    if sys.version_info >= (3, 10):
        group = importlib.metadata.entry_points(group=COMMANDS_GROUP)
    else:  # Python 3.9: a dict of groups
        group = importlib.metadata.entry_points().get(COMMANDS_GROUP, ())
    unique: dict[str, importlib.metadata.EntryPoint] = {}
    for entry in group:
        unique.setdefault(entry.name, entry)
    return [unique[name] for name in sorted(unique)]


def _add_plugin_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the installed packages' commands; a missing or broken one becomes a stand-in that
    says why and how to fix it (the other commands keep working)."""
    for entry in _command_entry_points():
        if entry.name in commands.choices:  # never replaces a built-in command
            continue
        try:
            register = entry.load()
            register(commands)
        except Exception as exc:
            if entry.name not in commands.choices:
                why = " ".join(f"{type(exc).__name__}: {exc}".split())
                _add_stand_in(
                    commands,
                    entry.name,
                    "cannot be loaded",
                    f"the {entry.name} command of {entry.value} cannot be loaded ({why})",
                )
    for name, (help_, install) in _OPTIONAL_COMMANDS.items():
        if name not in commands.choices:
            _add_stand_in(
                commands,
                name,
                f"{help_} (not installed: {install})",
                f"the {name} command is not installed: {install}",
            )


def _add_stand_in(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_: str,
    message: str,
) -> None:
    """A command that takes any arguments and fails with `message` (exit status 2)."""

    def fail(args: argparse.Namespace) -> int:
        raise CliError(message)

    p = commands.add_parser(name, help=help_, description=message)
    p.set_defaults(func=fail, **{_ANY_ARGUMENTS: True})


def _cmd_import(args: argparse.Namespace) -> int:
    from . import store as store_module

    path = args.db or store_module.default_path()
    if "-" in args.files:
        raise CliError("import reads files (it hashes and may resume them): not standard input")
    with store_module.open_store(path) as store:
        for file in args.files:
            bar = _record_bar(args, os.path.basename(file))
            try:
                done = store.import_file(file, progress=bar.update if bar else None)
            finally:
                if bar is not None:
                    bar.close()
            rate = done.records / done.seconds / 1e6 if done.seconds > 0 else 0.0
            what = (
                f"stored {done.records:,} records in {done.seconds:.1f} s ({rate:.1f} M/s)"
                if done.stored
                else f"already stored ({done.records:,} records)"
            )
            print(f"{file}: {what}, source {done.source_id} in {store.label}", flush=True)
    return 0


class _RecordBar:
    """A tqdm line of records stored (a terminal with tqdm only)."""

    def __init__(self, tqdm: Any, label: str) -> None:
        self._bar = tqdm(desc=label, unit=" rec", unit_scale=True, leave=False, file=sys.stderr)
        self._done = 0

    def update(self, records: int) -> None:
        self._bar.update(records - self._done)
        self._done = records

    def close(self) -> None:
        self._bar.close()


def _record_bar(args: argparse.Namespace, label: str) -> _RecordBar | None:
    tqdm = _load_tqdm() if not args.no_progress and _stderr_is_tty() else None
    return _RecordBar(tqdm, label) if tqdm is not None else None


# --------------------------------------------------------------------------------------------
# convert: Databento's derived schemas from MBO (mbo_fast.convert), as DBN files.


def _add_convert_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .convert import BOUNDARIES, SCHEMAS

    help_ = "derive Databento's MBP-10, MBP-1, TBBO, BBO, CMBP-1 or CBBO from MBO, as DBN"
    p = commands.add_parser("convert", help=help_, description=help_)
    p.add_argument("files", nargs="+", metavar="FILE", help="DBN MBO file(s), read as one stream")
    p.add_argument("--schema", required=True, choices=SCHEMAS, help="the schema to write")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT.dbn[.zst]",
        help="file to write (.zst: compressed; default FILE's name with the schema)",
    )
    p.add_argument(
        "--boundary",
        choices=BOUNDARIES,
        help="where events end: F_LAST or every record (default: the dataset's)",
    )
    p.set_defaults(func=_cmd_convert)


def _convert_output_name(first: str, schema: str) -> str:
    """`dir/CLX5_mbo.dbn.zst` -> `dir/CLX5.mbp-10.dbn.zst` (beside the first input)."""
    base = os.path.basename(first)
    zst = base.endswith(".zst")
    stem = base[: -len(".zst")] if zst else base
    for suffix in (".dbn", ".mbo", "_mbo", "-mbo"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return os.path.join(os.path.dirname(first), f"{stem}.{schema}.dbn" + (".zst" if zst else ""))


def _cmd_convert(args: argparse.Namespace) -> int:
    from .convert import convert

    if "-" in args.files:
        raise CliError("convert reads files, not standard input")
    output = args.output or _convert_output_name(args.files[0], args.schema)
    if os.path.abspath(output) in {os.path.abspath(f) for f in args.files}:
        raise CliError(f"the output {output} is one of the inputs")
    tqdm = _load_tqdm() if not args.no_progress and _stderr_is_tty() else None
    bar: Any = None
    t0 = time.monotonic()

    def progress(read: int, total: int | None) -> None:
        nonlocal bar
        if tqdm is None:
            return
        if bar is None:
            bar = tqdm(
                desc=args.schema,
                total=total,
                unit=" rec",
                unit_scale=True,
                leave=False,
                file=sys.stderr,
            )
        bar.update(read - bar.n)

    try:
        convert(args.files, args.schema, output, boundary=args.boundary, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.monotonic() - t0
    print(f"wrote {output} ({args.schema}) in {seconds:.1f} s", flush=True)
    return 0


def _cmd_db(args: argparse.Namespace) -> int:
    from . import store as store_module

    path = args.path or store_module.default_path()
    postgres = store_module.is_postgres_url(path)
    if not postgres and not os.path.exists(path):
        raise CliError(f"no database at {path}")
    if args.action == "upgrade":
        if postgres:
            raise CliError("db upgrade converts SQLite files of the earlier schema only")
        for old, new, records in store_module.upgrade(path):
            print(f"source {old} -> {new}: {records:,} records as blocks")
        print(f"{path} upgraded; the old database is kept as {path}.schema3")
        return 0
    with store_module.open_store(path) as store:
        for src in store.sources():
            books = ", ".join(
                f"{b.symbol or b.instrument_id}/{b.publisher_id}" for b in src.books[:8]
            )
            more = f" (+{len(src.books) - 8})" if len(src.books) > 8 else ""
            print(
                f"{src.id:>4}  {src.kind:<4}  {src.records:>13,} records  "
                f"{src.stored_bytes / 1e6:>9.1f} MB  {src.name}  [{books}{more}]"
            )
    return 0


def _cmd_feed(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import logging

    from . import feed

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    rate = args.rate if args.rate is not None or args.speed is not None else 500_000.0
    if (rate is not None and rate <= 0) or (args.speed is not None and args.speed <= 0):
        raise CliError("--rate and --speed must be > 0")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            feed.run(
                args.files,
                args.host,
                args.port,
                rate=rate,
                speed=args.speed,
                loop=args.loop,
                resequence=args.resequence,
                max_buffer=args.max_buffer,
            )
        )
    return 0


def _error(message: str) -> None:
    try:
        sys.stderr.write(f"{PROG}: error: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _describe(exc: BaseException, file: str | None, output: str | None) -> str:
    """One line for an MboError or OSError: what failed, where."""
    if isinstance(exc, OSError) and exc.strerror:  # SourceError too: (errno, message, path)
        message = _OS_ERROR_SUFFIX.sub("", " ".join(exc.strerror.split()))
        name = exc.filename if exc.filename is not None else file
        if output is not None and name == output:
            message = message.replace(f"cannot read {output}: ", "")
            return f"cannot write {output}: {message}"
        if name and name != "-" and str(name) not in message:
            message = f"{name}: {message}"
        return message
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, DecodeError) and exc.offset is not None and str(exc.offset) not in message:
        message += f" (at byte {exc.offset})"
    if file and file != "-" and file not in message:
        message = f"{file}: {message}"
    return message


def _silence_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (the console script passes it to sys.exit)."""
    parser = build_parser()
    # exits 2 on a usage error, 0 on --help/--version
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, _ANY_ARGUMENTS, False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    file: str | None = getattr(args, "file", None)
    if getattr(args, "output", None) == "-":
        args.output = None  # `-o -`: standard output
    try:
        status: int = args.func(args)
        return status
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except (MboError, OSError) as exc:  # bad or unreadable input, unwritable output
        _error(_describe(exc, file, getattr(args, "output", None)))
        return 2
    except CliError as exc:
        _error(str(exc))
        return 2
    except Exception as exc:  # a bug: say so in one line, traceback on request
        return _unexpected(exc)
    except BaseException as exc:  # e.g. pyo3's PanicException
        if isinstance(exc, SystemExit):
            raise
        return _unexpected(exc)


def _unexpected(exc: BaseException) -> int:
    if os.environ.get("MBO_FAST_DEBUG"):
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__)
    _error(
        f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())} "
        "(please report it; set MBO_FAST_DEBUG=1 for a traceback)"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
