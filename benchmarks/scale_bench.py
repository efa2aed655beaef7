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
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXE = shutil.which("mbo-fast", path=os.path.dirname(sys.executable)) or "mbo-fast"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def get(url: str, timeout: float = 60) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body: bytes = resp.read()
        return body


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Server:
    """`mbo-fast serve` as a child process on loopback."""

    def __init__(self, db: Path, files: list[Path], data_dir: Path) -> None:
        self.port = free_port()
        env = dict(os.environ)
        env.update(
            {
                "MBO_DB": str(db),
                "MBO_DATA_DIR": str(data_dir),
                "MBO_LOG_LEVEL": "warning",
                "MBO_MAX_STREAMS": "2000",
            }
        )
        args = [EXE, "serve", "--port", str(self.port)]
        for f in files:
            args += ["--file", str(f)]
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 3600) -> float:
        while time.monotonic() - self.t0 < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited ({self.proc.returncode})")
            try:
                if json.loads(get(f"{self.base}/readyz", 5)).get("ready"):
                    return time.monotonic() - self.t0
            except Exception:
                pass
            time.sleep(0.05)
        raise SystemExit("the server was not ready in time")

    def json(self, path: str) -> Any:
        return json.loads(get(self.base + path))

    def stop(self) -> float:
        rss = peak_rss_mb(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return rss


def first_snapshot_s(base: str, iid: int, start: int) -> float:
    url = f"{base}/api/v1/stream?instrument_id={iid}&from={start}&speed=1&depth=10"
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as resp:
        while True:
            line = resp.readline()
            if not line or line.startswith(b"event: snapshot"):
                break
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=20_000_000)
    ap.add_argument("--instruments", type=int, default=4)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--sse-clients", type=int, default=0, help="also run sse_load.py with N")
    ap.add_argument("--keep", action="store_true", help="keep the databases (bench-data/)")
    args = ap.parse_args()
    data = ROOT / "bench-data"
    data.mkdir(exist_ok=True)
    session = data / f"scale-{args.records}-{args.instruments}.dbn.zst"
    if not session.exists():
        tmp = data / f"partial-{session.name}"  # keeps .zst: simulate compresses by suffix
        subprocess.run(
            [
                EXE,
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
            [EXE, "import", str(session), "--db", str(db)], stdout=subprocess.PIPE, text=True
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
        server = Server(work / "serving.sqlite3", [session], work)
        out["serve_import_ready_s"] = round(server.wait_ready(), 2)
        out["serve_import_peak_rss_mb"] = round(server.stop())
        # 4. restart over the imported database, and 5. queries
        server = Server(db, [], work)
        out["restart_ready_s"] = round(server.wait_ready(), 3)
        inst = server.json("/api/v1/instruments")["instruments"]
        (src,) = server.json("/api/v1/sources")["sources"]
        n, ts0, ts1 = src["records"], src["ts_recv_first"], src["ts_recv_last"]
        rng = random.Random(1)
        book_ms, time_ms, page_ms, snap_ms = [], [], [], []
        for _ in range(args.queries):
            iid = rng.choice(inst)["instrument_id"]
            t = time.perf_counter()
            get(
                f"{server.base}/api/v1/book?instrument_id={iid}&index={rng.randrange(n)}"
                "&depth=1000&orders=true"
            )
            book_ms.append((time.perf_counter() - t) * 1e3)
            t = time.perf_counter()
            get(
                f"{server.base}/api/v1/book?instrument_id={iid}&ts={rng.randrange(ts0, ts1)}"
                "&depth=1000&orders=true"
            )
            time_ms.append((time.perf_counter() - t) * 1e3)
        for _ in range(max(20, args.queries // 5)):
            iid = rng.choice(inst)["instrument_id"]
            t = time.perf_counter()
            body = get(
                f"{server.base}/api/v1/bbo?instrument_id={iid}"
                f"&after={rng.randrange(n // 2)}&limit=10000"
            )
            page_ms.append((time.perf_counter() - t) * 1e3)
            assert len(json.loads(body)["items"]) == 10_000
            snap_ms.append(first_snapshot_s(server.base, iid, rng.randrange(n)) * 1e3)
        for name, values in (
            ("book_index", book_ms),
            ("book_ts", time_ms),
            ("bbo_page_10k", page_ms),
            ("sse_first_snapshot", snap_ms),
        ):
            out[f"{name}_p50_ms"] = round(pct(values, 0.5), 2)
            out[f"{name}_p99_ms"] = round(pct(values, 0.99), 2)
        out["serving_peak_rss_mb"] = round(server.stop())
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
