"""Side-by-side throughput and memory: mbo-fast vs the pure-Python model vs nautilus_trader.

    .venv/bin/python benchmarks/make_input.py         # once: bench-data/CLX5_x50.dbn (+ .zst)
    .venv/bin/python benchmarks/compare.py            # prints a markdown table

Every case runs in a fresh subprocess (`--worker CASE`), repeats its work `--repeat` times and
reports the best wall time. With `--rounds N` every case is timed N times, the cases taking turns
(round 1 of each, then round 2 of each...), and the best round counts: on a machine whose speed
drifts over minutes (a shared VM), each case then gets its best from the same stretch of time,
which keeps the ratios honest; the slowest round is shown beside it. "first call" is the fastest
over the rounds of each worker's first call: later calls can reuse pages an earlier call freed
(allocators keep them a while), a first call in a fresh process faults all of its output in.

Memory comes from a further run of the same worker doing the work once while this process polls
the worker's /proc/PID/status every millisecond, so polling never slows a timed run. In MiB:
"peak" is the highest VmRSS seen while the work ran, "added" is that peak minus the RSS just
before it (after imports, and after decoding the inputs for the cases that time less than a whole
read), and "process" is the worker's own getrusage(RUSAGE_SELF).ru_maxrss at exit.
Records/s always counts DBN records of the input, whatever a library turns them into.

Cases (skipped with a note when their package is missing):
  ours.*       mbo_fast on the whole input (plain DBN; .zst where a peer can only read zstd)
  ref.*        tests/support/reference_book.py (pure Python) on the first --ref-records records,
               records decoded before timing; its output is checked against mbo_fast's on the
               same slice
  nautilus.*   nautilus_trader (pip install -r requirements-bench.txt -c constraints.txt):
               its Rust L3 OrderBook fed pre-decoded deltas, and DBN.zst -> book -> BBO from
               Python through DatabentoDataLoader (which reads zstd-compressed DBN only)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__:
    from . import inputs
else:  # run as a file: benchmarks/ is sys.path[0]
    import inputs

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = inputs.CLX5_X50
UNDEF_PRICE = 2**63 - 1
F_LAST = 0x80

# case -> (description, case whose records/s it is compared with)
CASES: dict[str, tuple[str, str | None]] = {
    "ours.read_bbo": ("mbo_fast.read_bbo(path)", None),
    "ours.read_bbo_zst": ("mbo_fast.read_bbo(path), zstd input", None),
    "ours.read_depth10": ("mbo_fast.read_depth(path, 10)", None),
    "ours.market_apply": ("mbo_fast.Market().apply(path)", None),
    "ref.read_bbo": ("reference_book.ref_read_bbo(records) (pure Python)", "ours.read_bbo"),
    "ref.market_apply": ("reference_book.RefMarket().apply_all(records)", "ours.market_apply"),
    "nautilus.book_loop": (
        "nautilus OrderBook(L3_MBO).apply_delta(d) for pre-decoded deltas",
        "ours.market_apply",
    ),
    "nautilus.book_batch": (
        "nautilus OrderBook(L3_MBO).apply_deltas(OrderBookDeltas) (one call)",
        "ours.market_apply",
    ),
    "nautilus.e2e_bbo": (
        "nautilus DatabentoDataLoader .zst -> OrderBook -> BBO lists per F_LAST",
        "ours.read_bbo_zst",
    ),
}


def process_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def dbn_record_count(path: Path) -> int:
    """Records of a plain DBN file of 56-byte MBO records, from its size and header. (The driver
    stays small: a child's ru_maxrss starts at its parent's peak RSS.)"""
    with path.open("rb") as f:
        head = f.read(8)
    if head[:3] != b"DBN":
        raise SystemExit(f"{path}: not a plain DBN file")
    return (path.stat().st_size - 8 - int.from_bytes(head[4:8], "little")) // 56


def slice_file(src: Path, n: int, dst: Path) -> int:
    """Write the metadata and first n records of src to dst; returns the record count."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from make_input import read_plain, split

    meta, recs = split(read_plain(src))
    head = recs[:n]
    dst.write_bytes(meta + head.tobytes())
    return len(head)


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any, dict[str, float]]:
    """Best wall time of `repeat` calls and the last result; the first call's time is reported
    too ("first"): later calls may reuse memory an earlier one freed. Tells the driver (stdout)
    when the work starts and ends, so that it can watch this process's RSS meanwhile."""
    before = _status_mib("VmRSS")
    print("PHASE work", flush=True)
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    print("PHASE done", flush=True)
    return min(times), out, {"rss_before": before, "first": times[0]}


# --------------------------------------------------------------------------- workers


def work_ours(case: str, path: Path, repeat: int) -> dict[str, Any]:
    import mbo_fast

    src = str(path.with_name(path.name + ".zst")) if case.endswith("_zst") else str(path)
    if case in ("ours.read_bbo", "ours.read_bbo_zst"):
        t, cols, mem = best_of(repeat, lambda: mbo_fast.read_bbo(src))
        rows = len(cols)
    elif case == "ours.read_depth10":
        t, cols, mem = best_of(repeat, lambda: mbo_fast.read_depth(src, 10))
        rows = len(cols)
    elif case == "ours.market_apply":
        t, _, mem = best_of(repeat, lambda: mbo_fast.Market().apply(src))
        rows = None
    else:
        raise SystemExit(f"unknown case {case}")
    return {"seconds": t, "rows": rows, "input": Path(src).name, **mem}


def work_ref(case: str, path: Path, repeat: int, n: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests" / "support"))
    from dbn_builder import load_records
    from reference_book import RefMarket, ref_read_bbo

    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / f"head{n}.dbn"
        n = slice_file(path, n, part)
        records = load_records(part)
        out: dict[str, Any] = {"records": n, "input": f"first {n:,} records of {path.name}"}
        if case == "ref.read_bbo":
            t, cols, mem = best_of(repeat, lambda: ref_read_bbo(records))
            out["rows"] = len(cols["index"])
            try:
                import numpy as np

                import mbo_fast

                ours = mbo_fast.read_bbo(str(part))
                same = set(ours) == set(cols) and all(
                    np.array_equal(ours[k], cols[k]) for k in cols
                )
                out["note"] = "same rows as mbo_fast" if same else "DIFFERS from mbo_fast"
            except ImportError:
                out["note"] = "mbo_fast not built: output not cross-checked"
        elif case == "ref.market_apply":
            t, _, mem = best_of(repeat, lambda: RefMarket().apply_all(records))
            out["rows"] = None
        else:
            raise SystemExit(f"unknown case {case}")
    out.update(seconds=t, **mem)
    return out


def work_nautilus(case: str, path: Path, repeat: int) -> dict[str, Any]:
    from nautilus_trader.adapters.databento.loaders import DatabentoDataLoader
    from nautilus_trader.core import nautilus_pyo3 as nt

    zst = path.with_name(path.name + ".zst")
    loader = DatabentoDataLoader()
    out: dict[str, Any] = {"input": zst.name}

    def new_books() -> dict[Any, Any]:
        return {}

    def book_for(books: dict[Any, Any], iid: Any) -> Any:
        book = books.get(iid)
        if book is None:
            book = books[iid] = nt.OrderBook(iid, nt.BookType.L3_MBO)
        return book

    if case in ("nautilus.book_loop", "nautilus.book_batch"):
        deltas = loader.from_dbn_file(str(zst), as_legacy_cython=False)
        out["note"] = f"{len(deltas):,} deltas (trades are not book deltas), decoded before timing"
        by_iid: dict[Any, list[Any]] = {}
        for d in deltas:
            by_iid.setdefault(d.instrument_id, []).append(d)
        if case == "nautilus.book_batch":
            batches = [nt.OrderBookDeltas(iid, ds) for iid, ds in by_iid.items()]

        def loop() -> None:
            books = new_books()
            for d in deltas:
                book_for(books, d.instrument_id).apply_delta(d)

        def batch() -> None:
            books = new_books()
            for b in batches:
                book_for(books, b.instrument_id).apply_deltas(b)

        t, _, mem = best_of(repeat, loop if case == "nautilus.book_loop" else batch)
        out["rows"] = None
    elif case == "nautilus.e2e_bbo":

        def e2e() -> int:
            import numpy as np

            books = new_books()
            ts: list[int] = []
            bid_px: list[int] = []
            bid_sz: list[int] = []
            ask_px: list[int] = []
            ask_sz: list[int] = []
            for d in loader.from_dbn_file(str(zst), as_legacy_cython=False):
                book = book_for(books, d.instrument_id)
                book.apply_delta(d)
                if d.flags & F_LAST:
                    ts.append(d.ts_init)  # nautilus: ts_init = DBN ts_recv
                    bp, ap = book.best_bid_price(), book.best_ask_price()
                    bid_px.append(UNDEF_PRICE if bp is None else bp.raw)
                    bid_sz.append(0 if bp is None else book.best_bid_size().raw)
                    ask_px.append(UNDEF_PRICE if ap is None else ap.raw)
                    ask_sz.append(0 if ap is None else book.best_ask_size().raw)
            cols = {
                "ts_recv": np.asarray(ts, dtype=np.uint64),
                "bid_px": np.asarray(bid_px, dtype=np.int64),
                "bid_sz": np.asarray(bid_sz, dtype=np.uint64),
                "ask_px": np.asarray(ask_px, dtype=np.int64),
                "ask_sz": np.asarray(ask_sz, dtype=np.uint64),
            }
            return len(cols["ts_recv"])

        t, rows, mem = best_of(repeat, e2e)
        out["rows"] = rows
        out["note"] = "no level counts; T records are not deltas, so their F_LAST rows are missing"
    else:
        raise SystemExit(f"unknown case {case}")
    out.update(seconds=t, **mem)
    return out


def worker(case: str, path: Path, repeat: int, ref_records: int) -> None:
    try:
        if case.startswith("ours."):
            res = work_ours(case, path, repeat)
        elif case.startswith("ref."):
            res = work_ref(case, path, repeat, ref_records)
        else:
            res = work_nautilus(case, path, repeat)
    except ImportError as exc:
        res = {"skipped": f"{type(exc).__name__}: {exc}"}
    res["process_peak"] = process_peak_mib()
    print("RESULT " + json.dumps(res))


# --------------------------------------------------------------------------- driver


def _spawn(case: str, args: argparse.Namespace, repeat: int) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        case,
        "--input",
        str(args.input),
        "--repeat",
        str(repeat),
        "--ref-records",
        str(args.ref_records),
    ]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )


def _result(case: str, returncode: int, out: str, err: str) -> dict[str, Any]:
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if returncode or not lines:
        last = (err.strip().splitlines() or ["no output"])[-1]
        return {"case": case, "skipped": f"failed (exit {returncode}): {last}"}
    res: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    res["case"] = case
    return res


def timed_run(case: str, args: argparse.Namespace, repeat: int) -> dict[str, Any]:
    proc = _spawn(case, args, repeat)
    out, err = proc.communicate()
    return _result(case, proc.returncode, out, err)


def memory_run(case: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run the work once while polling the worker's VmRSS: the peak seen during its work phase."""
    proc = _spawn(case, args, 1)
    stdout, stderr = proc.stdout, proc.stderr
    assert stdout is not None and stderr is not None
    out: list[str] = []
    err: list[str] = []
    working = threading.Event()

    def read_stdout() -> None:
        for line in stdout:
            out.append(line)
            if line.startswith("PHASE "):
                (working.set if line.split()[1] == "work" else working.clear)()

    readers = [
        threading.Thread(target=read_stdout, daemon=True),
        threading.Thread(target=lambda: err.extend(stderr), daemon=True),
    ]
    for t in readers:
        t.start()
    status = Path(f"/proc/{proc.pid}/status")
    peak = 0.0
    while proc.poll() is None:
        if working.is_set():
            with contextlib.suppress(OSError, ValueError):
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
        time.sleep(0.001)
    for t in readers:
        t.join()
    res = _result(case, proc.returncode, "".join(out), "".join(err))
    res["work_peak"] = peak
    return res


def repeats(case: str, args: argparse.Namespace) -> int:
    return int(args.repeat if case.startswith("ours.") else args.slow_repeat)


def timed_rounds(cases: list[str], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Each case's fastest timed run over `args.rounds` rounds, the cases taking turns; its
    "rounds" lists the seconds of every round, "firsts" the first call of every round."""
    best: dict[str, dict[str, Any]] = {}
    seconds: dict[str, list[float]] = {case: [] for case in cases}
    firsts: dict[str, list[float]] = {case: [] for case in cases}
    for _ in range(args.rounds):
        for case in cases:
            if "skipped" in best.get(case, {}):
                continue
            res = timed_run(case, args, repeats(case, args))
            if "skipped" not in res:
                seconds[case].append(res["seconds"])
                firsts[case].append(res["first"])
            if "skipped" in res or case not in best or res["seconds"] < best[case]["seconds"]:
                best[case] = res
    for case, res in best.items():
        res["rounds"] = seconds[case]
        res["firsts"] = firsts[case]
    return best


def run_case(case: str, res: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Add the memory figures to a case's timing."""
    repeat = repeats(case, args)
    if "skipped" in res:
        return res
    mem = memory_run(case, args)
    if "skipped" in mem:
        return mem
    res.update(
        repeat=repeat,
        work_peak=max(mem["work_peak"], mem["rss_before"]),
        rss_before=mem["rss_before"],
        process_peak=mem["process_peak"],
    )
    return res


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("mbo-fast", "nautilus_trader", "numpy"):
        try:
            out.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            out.append(f"{dist} (not installed)")
    return ", ".join(out)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def table(results: list[dict[str, Any]], total: int) -> str:
    by_case = {r["case"]: r for r in results}
    rows = [
        "| case | what | input | records | best (s) | slowest round (s) | first call (s) "
        "| records/s | rows out | peak RSS | added | process peak | vs ours |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        case = r["case"]
        what, against = CASES[case]
        if "skipped" in r:
            dashes = "| — " * 10
            rows.append(f"| {case} | {what} {dashes}| skipped: {r['skipped']} |")
            continue
        n = r.get("records", total)
        r["rate"] = n / r["seconds"]
        notes = []
        base = by_case.get(against or "")
        if base and "rate" in base:
            notes.append(f"ours {base['rate'] / r['rate']:.1f}x faster than this ({against})")
        if r.get("note"):
            notes.append(r["note"])
        out_rows = "—" if r.get("rows") is None else f"{r['rows']:,}"
        rows.append(
            f"| {case} | {what} | {r['input']} | {n:,} | {r['seconds']:.3f} "
            f"| {max(r['rounds']):.3f} | {min(r['firsts']):.3f} | {r['rate']:,.0f} "
            f"| {out_rows} | {r['work_peak']:.0f} | {r['work_peak'] - r['rss_before']:.0f} "
            f"| {r['process_peak']:.0f} | {'; '.join(notes)} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    ap.add_argument("--repeat", type=int, default=5, help="repeats of the ours.* cases")
    ap.add_argument("--slow-repeat", type=int, default=3, help="repeats of ref.* and nautilus.*")
    ap.add_argument("--ref-records", type=int, default=200_000, help="slice for the ref.* cases")
    ap.add_argument("--cases", default="all", help="comma-separated case names or prefixes")
    ap.add_argument(
        "--rounds", type=int, default=3, help="timed runs per case, the cases taking turns"
    )
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        worker(args.worker, args.input, args.repeat, args.ref_records)
        return 0

    if not args.input.exists():
        if args.input != DEFAULT_INPUT:
            raise SystemExit(f"{args.input} not found")
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_input.py")], check=True)
    if not args.input.with_name(args.input.name + ".zst").exists():
        raise SystemExit(f"{args.input}.zst not found: run benchmarks/make_input.py")
    wanted = [
        c
        for c in CASES
        if args.cases == "all" or any(c == w or c.startswith(w) for w in args.cases.split(","))
    ]
    total = dbn_record_count(args.input)
    if args.rounds < 1:
        raise SystemExit("--rounds must be >= 1")
    timings = timed_rounds(wanted, args)
    results = []
    for case in wanted:
        res = run_case(case, timings[case], args)
        shown = res.get("skipped") or f"{res['seconds']:.3f} s, peak {res['work_peak']:.0f} MiB"
        print(f"{case}: {shown}", file=sys.stderr)
        results.append(res)
    cmd = " ".join(shlex.quote(a) for a in ["benchmarks/compare.py", *(argv or sys.argv[1:])])
    print(f"Input: {args.input.name} ({total:,} MBO records). Command: `.venv/bin/python {cmd}`")
    print(
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{versions()}. Best of {args.repeat} (ours) / {args.slow_repeat} (others) calls in "
        f"each of {args.rounds} rounds. RSS in MiB.\n"
    )
    print(table(results, total))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
