"""Real-size sessions (not a timed test): import, restart and serve a big simulated session
from the block store, measuring what README "Storage" reports.

    .venv/bin/python benchmarks/scale_bench.py --records 20000000 --instruments 4
    .venv/bin/python benchmarks/scale_bench.py --records 100000000 --instruments 8

1. The session is simulated once into bench-data/ (`mbo-fast simulate --seed 7`, zstd).
2. Import: `mbo-fast import FILE --db DB` in a child process: wall time, records/s, peak RSS
   (the child's VmHWM), database size against the `.dbn.zst`.
3. Serving while importing: `mbo-fast serve --file FILE --db NEW` until /readyz: peak RSS.
4. Restart: `mbo-fast serve --db DB` (no file): seconds to /readyz ready.
5. Queries against it, one client: a book at a random index and at a random time (every level
   with its L3 queues: p50/p99 over `--queries`), a 10,000-row BBO page from a random point, an
   SSE playback stream's first snapshot from a random point.
6. Optionally (`--sse-clients N`), benchmarks/sse_load.py's N playback clients against the same
   database (its own server process), for the status-delay percentiles.
Peak RSS of the serving process is read from /proc/PID/status (VmHWM) at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

try:  # run as a file (python benchmarks/scale_bench.py) or imported as benchmarks.scale_bench
    import processes
    from inputs import BENCH_DATA
except ImportError:  # pragma: no cover
    from benchmarks import processes
    from benchmarks.inputs import BENCH_DATA

ROOT = Path(__file__).resolve().parents[1]
MBO_FAST = processes.MBO_FAST


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident memory so far (Linux: VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def serve(db: Path, files: list[Path]) -> Any:
    """`mbo-fast serve` over `db` (importing `files` first), timed from its start."""
    settings = {"MBO_DB": str(db), "MBO_MAX_STREAMS": "2000"}
    if files:
        settings["MBO_FILES"] = os.pathsep.join(str(f) for f in files)
    return processes.serve(settings=settings, ready_timeout=3600)


def first_snapshot_s(base: str, iid: int, start: int) -> float:
    url = f"{base}/api/v1/stream?instrument_id={iid}&from={start}&speed=1&depth=10"
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as resp:
        while True:
            line = resp.readline()
            if not line or line.startswith(b"event: snapshot"):
                break
    return time.perf_counter() - t0


def queries(base: str, count: int) -> dict[str, float]:
    """Books at random indexes and times, 10,000-row BBO pages, SSE first snapshots."""
    inst = processes.get_json(f"{base}/api/v1/instruments")["instruments"]
    (src,) = processes.get_json(f"{base}/api/v1/sources")["sources"]
    out: dict[str, float] = {}
    n, ts0, ts1 = src["records"], src["ts_recv_first"], src["ts_recv_last"]
    rng = random.Random(1)
    book_ms, time_ms, page_ms, snap_ms = [], [], [], []
    for _ in range(count):
        iid = rng.choice(inst)["instrument_id"]
        t = time.perf_counter()
        processes.get(
            f"{base}/api/v1/book?instrument_id={iid}&index={rng.randrange(n)}"
            "&depth=1000&orders=true"
        )
        book_ms.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        processes.get(
            f"{base}/api/v1/book?instrument_id={iid}&ts={rng.randrange(ts0, ts1)}"
            "&depth=1000&orders=true"
        )
        time_ms.append((time.perf_counter() - t) * 1e3)
    for _ in range(max(20, count // 5)):
        iid = rng.choice(inst)["instrument_id"]
        t = time.perf_counter()
        body = processes.get(
            f"{base}/api/v1/bbo?instrument_id={iid}&after={rng.randrange(n // 2)}&limit=10000"
        )
        page_ms.append((time.perf_counter() - t) * 1e3)
        assert len(json.loads(body)["items"]) == 10_000
        snap_ms.append(first_snapshot_s(base, iid, rng.randrange(n)) * 1e3)
    for name, values in (
        ("book_index", book_ms),
        ("book_ts", time_ms),
        ("bbo_page_10k", page_ms),
        ("sse_first_snapshot", snap_ms),
    ):
        out[f"{name}_p50_ms"] = round(pct(values, 0.5), 2)
        out[f"{name}_p99_ms"] = round(pct(values, 0.99), 2)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=20_000_000)
    ap.add_argument("--instruments", type=int, default=4)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--sse-clients", type=int, default=0, help="also run sse_load.py with N")
    ap.add_argument("--keep", action="store_true", help="keep the databases (bench-data/)")
    args = ap.parse_args()
    data = BENCH_DATA
    data.mkdir(exist_ok=True)
    session = data / f"scale-{args.records}-{args.instruments}.dbn.zst"
    if not session.exists():
        tmp = data / f"partial-{session.name}"  # keeps .zst: simulate compresses by suffix
        subprocess.run(
            [
                *MBO_FAST,
                "simulate",
                "--seed",
                "7",
                "--records",
                str(args.records),
                "--instruments",
                str(args.instruments),
                "-o",
                str(tmp),
            ],
            check=True,
        )
        tmp.rename(session)
    work = Path(tempfile.mkdtemp(prefix="mbo-scale-", dir=data))
    out: dict[str, Any] = {"file": session.name, "file_mb": round(session.stat().st_size / 1e6)}
    try:
        # 2. import
        db = work / "store.sqlite3"
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [*MBO_FAST, "import", str(session), "--db", str(db)], stdout=subprocess.PIPE, text=True
        )
        peak = 0.0
        while proc.poll() is None:
            try:
                peak = max(peak, peak_rss_mb(proc.pid))
            except OSError:
                break
            time.sleep(0.05)
        took = time.monotonic() - t0
        line = (proc.stdout.read() if proc.stdout else "").strip()
        records = int(line.split("stored ")[1].split(" records")[0].replace(",", ""))
        db_bytes = sum(p.stat().st_size for p in work.glob("store.sqlite3*"))
        out.update(
            records=records,
            import_s=round(took, 2),
            import_m_per_s=round(records / took / 1e6, 2),
            import_peak_rss_mb=round(peak),
            db_mb=round(db_bytes / 1e6),
            db_vs_file=round(db_bytes / session.stat().st_size, 3),
        )
        # 3. a server that imports while it serves
        t0 = time.monotonic()
        with serve(work / "serving.sqlite3", [session]) as server:
            out["serve_import_ready_s"] = round(time.monotonic() - t0, 2)
            out["serve_import_peak_rss_mb"] = round(peak_rss_mb(server.proc.pid))
        # 4. restart over the imported database, and 5. queries
        t0 = time.monotonic()
        with serve(db, []) as server:
            out["restart_ready_s"] = round(time.monotonic() - t0, 3)
            out.update(queries(server.base, args.queries))
            out["serving_peak_rss_mb"] = round(peak_rss_mb(server.proc.pid))
        # 6. many playback clients (their own server process over the same database)
        if args.sse_clients:
            load = subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "benchmarks" / "sse_load.py"),
                    "--db",
                    str(db),
                    "--clients",
                    str(args.sse_clients),
                    "--json",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(load.stdout)
            out.update(
                {
                    f"sse_{k}": v
                    for k, v in result.items()
                    if k.startswith(("delay", "conn", "server"))
                }
            )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
