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
import time
from typing import Any

if __package__:
    from . import inputs, processes
else:  # run as a file: benchmarks/ is sys.path[0]
    import inputs
    import processes

CLX5_IID = 432669


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


async def sse_client(port: int, stop: asyncio.Event, counts: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    path = f"/api/v1/live?instrument_id={CLX5_IID}&depth=10"
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
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


def run_rate(rate: int, seconds: float, n_clients: int) -> dict[str, Any]:
    clx5 = inputs.sample_file()
    pace = ["--rate", str(rate), "--loop", "--resequence"]
    with processes.feed([clx5], *pace) as fport:
        live = ["--live", f"tcp://127.0.0.1:{fport}"]
        with processes.serve("--file", clx5, *live) as server:
            return measure(server, rate, seconds, n_clients)


def measure(server: processes.Server, rate: int, seconds: float, n_clients: int) -> dict[str, Any]:
    base = server.base
    for _ in range(200):
        if processes.get_json(base + "/api/v1/live/status")["records"] > 0:
            break
        time.sleep(0.1)
    time.sleep(1.0)  # warm up
    m0 = processes.get(base + "/metrics").decode()
    s0 = processes.get_json(base + "/api/v1/live/status")
    c0, t0 = processes.cpu_seconds(server.proc.pid), time.monotonic()
    counts = asyncio.run(clients(server.port, n_clients, seconds))
    c1, t1 = processes.cpu_seconds(server.proc.pid), time.monotonic()
    s1 = processes.get_json(base + "/api/v1/live/status")
    m1 = processes.get(base + "/metrics").decode()
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=int, nargs="+", default=[50_000, 500_000, 1_000_000])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--clients", type=int, default=10)
    args = ap.parse_args()
    for rate in args.rates:
        print(json.dumps(run_rate(rate, args.seconds, args.clients)), flush=True)


if __name__ == "__main__":
    main()
