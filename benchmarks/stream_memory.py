"""Peak memory and rate of the streaming readers and the Parquet export against the in-memory
readers, on one input (default: the 20 M-record, 4-instrument simulated session).

    .venv/bin/mbo-fast simulate --seed 7 --records 20000000 --instruments 4 -o s20m.dbn.zst
    .venv/bin/python benchmarks/stream_memory.py s20m.dbn.zst [--cases a,b] [--rounds N]

Every case runs in a fresh process; its peak RSS is the kernel's ru_maxrss of that process
(os.wait4), which includes the interpreter and the imported package (the `import` case shows
that floor). Time is the best of --rounds runs (the cases take turns, so a shared VM's drift
hits them alike); records/s counts the input's DBN records. The Parquet cases run the CLI
(`mbo-fast bbo FILE -o OUT.parquet`) or `mbo_fast.write_parquet` into a temporary directory
and report the file's size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

CASES: dict[str, str] = {
    "import": "import mbo_fast",
    "read_bbo": "import mbo_fast; mbo_fast.read_bbo(SRC)",
    "iter_bbo": "import mbo_fast\nfor b in mbo_fast.iter_bbo(SRC): pass",
    "iter_depth10": "import mbo_fast\nfor b in mbo_fast.iter_depth(SRC, 10): pass",
    "iter_records": "import mbo_fast\nfor b in mbo_fast.iter_records(SRC): pass",
    "parquet_bbo_cli": "CLI bbo",
    "parquet_depth10": "import mbo_fast; mbo_fast.write_parquet(SRC, OUT, 'depth', depth=10)",
    "parquet_bbo_rust": "import mbo_fast; mbo_fast.write_parquet(SRC, OUT, 'bbo')",
    # the same file written by pyarrow from the same batches (the alternative to arrow-rs)
    "parquet_bbo_pyarrow": (
        "import mbo_fast, pyarrow as pa, pyarrow.parquet as pq\n"
        "batches = mbo_fast.iter_bbo(SRC, batch_rows=1 << 20)\n"
        "first = pa.record_batch(next(batches).arrow())\n"
        "with pq.ParquetWriter(OUT, first.schema, compression='zstd', compression_level=1) as w:\n"
        "    w.write_batch(first, row_group_size=1 << 20)\n"
        "    for b in batches: w.write_batch(pa.record_batch(b.arrow()), row_group_size=1 << 20)\n"
    ),
}
DEFAULT = "import,read_bbo,iter_bbo,iter_depth10,parquet_bbo_cli,parquet_depth10"


def run_case(name: str, src: str, out_dir: str) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, output bytes) of one run of a case in a fresh process."""
    out = os.path.join(out_dir, f"{name}.parquet")
    code = CASES[name]
    if code.startswith("CLI "):
        mbo_fast_cli = os.path.join(os.path.dirname(sys.executable), "mbo-fast")
        argv = [mbo_fast_cli, "--no-progress", code.split()[1], src, "-o", out]
    else:
        code = code.replace("SRC", repr(src)).replace("OUT", repr(out))
        argv = [sys.executable, "-c", code]
    start = time.perf_counter()
    proc = subprocess.Popen(argv)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed with status {proc.returncode}")
    size = os.path.getsize(out) if os.path.exists(out) else 0
    if os.path.exists(out):
        os.remove(out)
    return elapsed, usage.ru_maxrss / 1024, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("--cases", default=DEFAULT)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--records", type=int, help="records in the source (default: counted)")
    args = parser.parse_args()
    import mbo_fast

    names = args.cases.split(",")
    records = args.records or mbo_fast.info(args.source)["records"]
    best: dict[str, tuple[float, float, int]] = {}
    with tempfile.TemporaryDirectory() as out_dir:
        for _ in range(args.rounds):
            for name in names:
                result = run_case(name, args.source, out_dir)
                if name not in best or result[0] < best[name][0]:
                    best[name] = (result[0], max(result[1], best.get(name, result)[1]), result[2])
    print(f"input: {args.source} ({records:,} records), best of {args.rounds} round(s)\n")
    print("| case | time (s) | M records/s | peak RSS (MiB) | output (MB) |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        seconds, rss, size = best[name]
        rate = "" if name == "import" else f"{records / seconds / 1e6:.1f}"
        shown = f"{size / 1e6:.0f}" if size else ""
        print(f"| {name} | {seconds:.2f} | {rate} | {rss:.0f} | {shown} |")


if __name__ == "__main__":
    main()
