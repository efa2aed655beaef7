"""Live pipeline benchmark (not a test): `mbo-fast feed` -> `mbo-fast serve --live` -> SSE.

For each rate, starts the feed (CLX5 looped, resequenced) and the server as child processes on
loopback, opens `--clients` live SSE clients, and measures over `--seconds`: the feed's target vs
the server's achieved ingest rate (from /api/v1/live/status), record -> applied and record ->
published latency p50/p99 (the Rust histograms in /metrics, delta over the window; published:
per frame batch, from the receipt of the newest record it accounts for until it is in the
clients' queues; frames publish on apply under the 1/frame_rate cap) and the server's CPU
(/proc/PID/stat). The server persists the live records to SQLite, as it does by default.

    python benchmarks/live_bench.py --rates 50000 500000 1000000 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MBO_FAST_DATA_DIR", ROOT.parent / "shared" / "data"))
CLX5_IID = 432669


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        data: bytes = r.read()
        return data


def hist(metrics: str, name: str, stage: str) -> list[tuple[float, float]]:
    out = []
    for line in metrics.splitlines():
        if line.startswith(f"{name}_bucket{{") and f'stage="{stage}"' in line:
            le = line.split('le="')[1].split('"')[0]
            out.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    return out


def quantile(
    before: list[tuple[float, float]], after: list[tuple[float, float]], q: float
) -> float:
    counts = [(le, a - b) for (le, a), (_, b) in zip(after, before)]
    total = counts[-1][1] if counts else 0
    if total <= 0:
        return float("nan")
    for le, c in counts:
        if c >= q * total:
            return le
    return float("inf")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sse_client(port: int, stop: asyncio.Event, counts: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    path = f"/api/v1/live?instrument_id={CLX5_IID}&depth=10"
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    while not stop.is_set():
        try:
            data = await asyncio.wait_for(reader.read(1 << 16), 0.5)
        except asyncio.TimeoutError:
            continue
        if not data:
            break
        counts["bytes"] += len(data)
        counts["events"] += data.count(b"\r\n\r\n")
    writer.close()


async def clients(port: int, n: int, seconds: float) -> dict[str, int]:
    stop = asyncio.Event()
    counts = {"bytes": 0, "events": 0}
    tasks = [asyncio.create_task(sse_client(port, stop, counts)) for _ in range(n)]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return counts


def run_rate(rate: int, seconds: float, n_clients: int, tmp: Path) -> dict[str, Any]:
    fport, sport = free_port(), free_port()
    cli = [sys.executable, "-m", "mbo_fast"]
    clx5 = str(DATA / "CLX5_mbo.dbn")
    feed = subprocess.Popen(
        [*cli, "feed", clx5, "--port", str(fport), "--rate", str(rate), "--loop", "--resequence"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {**os.environ, "MBO_LOG_LEVEL": "warning"}
    server_args = ["serve", "--file", clx5, "--port", str(sport)]
    server_args += ["--live", f"tcp://127.0.0.1:{fport}", "--data-dir", str(tmp)]
    server_args += ["--db", str(tmp / f"live{rate}.sqlite3")]
    server = subprocess.Popen(
        [*cli, *server_args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    base = f"http://127.0.0.1:{sport}"
    try:
        for _ in range(200):
            try:
                status = json.loads(get(base + "/api/v1/live/status"))
                if status["records"] > 0:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        time.sleep(1.0)  # warm up
        m0 = get(base + "/metrics").decode()
        s0 = json.loads(get(base + "/api/v1/live/status"))
        c0, t0 = cpu_seconds(server.pid), time.monotonic()
        counts = asyncio.run(clients(sport, n_clients, seconds))
        c1, t1 = cpu_seconds(server.pid), time.monotonic()
        s1 = json.loads(get(base + "/api/v1/live/status"))
        m1 = get(base + "/metrics").decode()
        name = "mbo_live_latency_seconds"
        out = {"target_rate": rate, "seconds": round(t1 - t0, 1), "clients": n_clients}
        out["achieved_rate"] = round((s1["records"] - s0["records"]) / (t1 - t0))
        for stage in ("applied", "published"):
            b, a = hist(m0, name, stage), hist(m1, name, stage)
            out[f"{stage}_p50_us"] = round(quantile(b, a, 0.5) * 1e6, 1)
            out[f"{stage}_p99_us"] = round(quantile(b, a, 0.99) * 1e6, 1)
        out["server_cpu_pct"] = round(100 * (c1 - c0) / (t1 - t0), 1)
        out["sse_events_per_client_s"] = round(counts["events"] / n_clients / (t1 - t0), 1)
        out["gaps"] = s1["gaps"]
        out["reconnects"] = s1["reconnects"]
        return out
    finally:
        for p in (server, feed):
            p.terminate()
        for p in (server, feed):
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=int, nargs="+", default=[50_000, 500_000, 1_000_000])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--clients", type=int, default=10)
    args = ap.parse_args()
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "mbo-live-bench"
    tmp.mkdir(parents=True, exist_ok=True)
    for rate in args.rates:
        print(json.dumps(run_rate(rate, args.seconds, args.clients, tmp)), flush=True)


if __name__ == "__main__":
    main()
