"""Latency of GET /api/v1/heatmap (not a test): a real `mbo-fast serve` over a stored session as
a child process; rasters of BUCKETS × ROWS over one hour of one book at random places in the
session (a new hour each time, so blocks come from the database, not only from the cache),
requested one after another over HTTP; prints p50/p90/p99/max (ms, client-side, body read)
and the body size.

    mbo-fast simulate --seed 7 --records 20000000 --instruments 4 -o bench-data/s20m.dbn.zst
    python benchmarks/heatmap_bench.py bench-data/s20m.dbn.zst --requests 300
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def wait_ready(base: str, timeout: float = 600.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if get(base + "/readyz")["ready"]:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not become ready")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", help="the session (imported into a fresh store unless --db has it)")
    ap.add_argument("--db", default="", help="a store database (default: a temporary one)")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--buckets", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=500)
    ap.add_argument("--hours", type=float, default=1.0, help="the time range of each raster")
    ap.add_argument("--instrument", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or str(Path(tmp) / "db.sqlite3")
        env = {**os.environ, "MBO_LOG_LEVEL": "warning"}
        cmd = [sys.executable, "-m", "mbo_fast", "serve", "--file", args.file, "--port", str(port)]
        server = subprocess.Popen(
            [*cmd, "--db", db, "--data-dir", tmp],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ready(base)
            inst = next(
                i
                for i in get(base + "/api/v1/instruments")["instruments"]
                if i["instrument_id"] == args.instrument
            )
            pub = inst["publishers"][0]
            t0, t1 = pub["ts_recv_first"], pub["ts_recv_last"]
            span = int(args.hours * 3600e9)
            rng = random.Random(args.seed)
            book = f"instrument_id={args.instrument}&publisher_id={pub['publisher_id']}"
            book += f"&source={pub['source']}"
            times: list[float] = []
            server_ms: list[float] = []
            size = 0
            for _ in range(args.requests):
                start = rng.randrange(t0, max(t0 + 1, t1 - span))
                mid = get(f"{base}/api/v1/book?{book}&ts={start + span // 2}&depth=1")
                top = (mid["bids"] or mid["asks"] or [{"price": 64_810_000_000}])[0]["price"]
                lo = top - args.rows // 2 * 10_000_000
                url = (
                    f"{base}/api/v1/heatmap?{book}&start={start}&end={start + span}"
                    f"&buckets={args.buckets}&rows={args.rows}&price_lo={lo}"
                    f"&price_step=10000000"
                )
                s = time.perf_counter()
                with urllib.request.urlopen(url, timeout=60) as r:
                    body = r.read()
                    timing = r.headers.get("Server-Timing", "")
                times.append((time.perf_counter() - s) * 1e3)
                if "dur=" in timing:
                    server_ms.append(float(timing.split("dur=")[1]))
                size = len(body)
            times.sort()
            q = statistics.quantiles(times, n=100)
            sq = statistics.quantiles(sorted(server_ms), n=100) if len(server_ms) > 1 else q
            print(
                json.dumps(
                    {
                        "requests": len(times),
                        "buckets": args.buckets,
                        "rows": args.rows,
                        "hours": args.hours,
                        "body_bytes": size,
                        "p50_ms": round(q[49], 1),
                        "p90_ms": round(q[89], 1),
                        "p99_ms": round(q[98], 1),
                        "max_ms": round(times[-1], 1),
                        "server_p50_ms": round(sq[49], 1),
                        "server_p99_ms": round(sq[98], 1),
                    }
                )
            )
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    main()
