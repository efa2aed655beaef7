"""SSE load benchmark (not a timed test): N concurrent playback clients against a real server.

    .venv/bin/python benchmarks/sse_load.py                      # 1,000 clients, 30 s, default data
    .venv/bin/python benchmarks/sse_load.py --file CLX5_mbo.dbn --speed 60 --clients 200

It starts `mbo-fast serve` as a child process on loopback (its own temporary data directory and
database; `max_streams` raised for the run through MBO_* environment variables), waits for
/readyz, then opens `--clients` SSE streams from `--workers` client processes, each from its own
random start record, at `--speed` (1 = real time) and `frame_rate` 20.

Delay: the server stamps every `status` event with `due_ns`, its wall clock when that tick was
due (before the tick waits for the event loop, applies records, builds frames, queues them and
writes them). A client stamps each received chunk with its own clock (same machine, same clock)
and the delay of a status event is `received - due`: event-loop lag, apply, queueing, the write,
the kernel and the client's own read. A status event is the last frame of its tick, so its delay
bounds that tick's book and trade frames. Status events are sent every `--status-every` s per
client (0.25: 4 samples per client per second); only those received inside the measuring window
(after every client connected and `--warmup` s passed) count.

Server CPU is read from /proc/PID/stat (utime + stime) over the same window; 1.0 = one core.
The client processes' CPU is reported too: on a small machine they compete with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import re
import sys
import time
from typing import Any

if __package__:
    from . import processes
else:  # run as a file: benchmarks/ is sys.path[0]
    import processes

_DUE = re.compile(rb'"due_ns":(\d+)')


# ---------------------------------------------------------------------------------------------
# client processes


async def _client(session: Any, url: str, window: tuple[float, float], out: dict[str, Any]) -> None:
    t_start, t_end = window
    delays: list[int] = out["delays"]
    try:
        async with session.get(url, headers={"Accept": "text/event-stream"}) as resp:
            if resp.status != 200:
                out["errors"] += 1
                return
            out["connected"] += 1
            tail = b""
            async for chunk in resp.content.iter_any():
                now_ns = time.time_ns()
                now = time.monotonic()
                if now >= t_end:
                    break
                if now < t_start:
                    continue
                buf = tail + chunk
                cut = buf.rfind(b"\r\n\r\n") + 4  # the server ends lines with CRLF
                if cut < 4:
                    tail = buf
                    continue
                done, tail = buf[:cut], buf[cut:]
                out["events"] += done.count(b"\r\n\r\n")
                out["book"] += done.count(b"event: book\r")
                out["bytes"] += len(chunk)
                for m in _DUE.finditer(done):
                    delays.append(now_ns - int(m.group(1)))
                if b"event: snapshot\r" in done:
                    out["snapshots"] += 1
    except Exception as exc:
        out["errors"] += 1
        out["last_error"] = repr(exc)


async def _worker_main(
    urls: list[str], window: tuple[float, float], ramp_s: float
) -> dict[str, Any]:
    import aiohttp

    out: dict[str, Any] = {
        "delays": [],
        "events": 0,
        "book": 0,
        "bytes": 0,
        "snapshots": 0,
        "connected": 0,
        "errors": 0,
    }
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = []
        for i, url in enumerate(urls):
            tasks.append(asyncio.create_task(_client(session, url, window, out)))
            if ramp_s > 0 and i % 10 == 9:
                await asyncio.sleep(ramp_s * 10 / len(urls))
        await asyncio.wait(tasks, timeout=window[1] - time.monotonic() + 10)
        for t in tasks:
            t.cancel()
    return out


def _worker(urls: list[str], window: tuple[float, float], ramp_s: float, q: Any) -> None:
    q.put(asyncio.run(_worker_main(urls, window, ramp_s)))


# ---------------------------------------------------------------------------------------------


def percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[k])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2, help="client processes")
    ap.add_argument("--duration", type=float, default=30.0, help="measuring window, seconds")
    ap.add_argument("--warmup", type=float, default=5.0, help="after the last connect, seconds")
    ap.add_argument("--speed", default="1", help="playback speed (1 = real time) or max")
    ap.add_argument("--frame-rate", type=float, default=20.0)
    ap.add_argument("--status-every", type=float, default=0.25)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--file", help="DBN file to serve (default: the server's simulated session)")
    ap.add_argument("--db", help="serve this block store (as it is: no file is imported)")
    ap.add_argument("--instrument-id", type=int, help="default: the first instrument")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = ap.parse_args()

    settings = {
        "MBO_MAX_STREAMS": str(args.clients + 50),
        "MBO_FRAME_RATE": str(args.frame_rate),
        "MBO_STATUS_EVERY_S": str(args.status_every),
    }
    if args.db:
        settings["MBO_DB"] = os.path.abspath(args.db)
    if args.file:
        settings["MBO_FILES"] = os.path.abspath(args.file)
    with processes.serve(settings=settings) as server:
        base = server.base
        inst = processes.get_json(f"{base}/api/v1/instruments")["instruments"]
        iid = args.instrument_id if args.instrument_id is not None else inst[0]["instrument_id"]
        records = next(i["records"] for i in inst if i["instrument_id"] == iid)
        src = processes.get_json(f"{base}/api/v1/sources")["sources"][0]
        n = int(src["records"])
        iid_source = f"&source={src['source']}"
        rng = random.Random(args.seed)
        # start anywhere in the first half: every client has data left for the whole run
        urls = [
            f"{base}/api/v1/stream?instrument_id={iid}&depth={args.depth}&speed={args.speed}"
            f"&from={rng.randrange(0, max(n // 2, 1))}{iid_source}"
            for _ in range(args.clients)
        ]
        ramp_s = min(10.0, args.clients / 200)
        t_start = time.monotonic() + ramp_s + args.warmup
        window = (t_start, t_start + args.duration)
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        shares = [urls[w :: args.workers] for w in range(args.workers)]
        procs = [ctx.Process(target=_worker, args=(s, window, ramp_s, q)) for s in shares]
        for p in procs:
            p.start()
        time.sleep(max(0.0, t_start - time.monotonic()))
        cpu0, w0 = processes.cpu_seconds(server.proc.pid), time.monotonic()
        ccpu0 = sum(processes.cpu_seconds(p.pid) for p in procs if p.pid is not None)
        time.sleep(max(0.0, window[1] - time.monotonic()))
        cpu1, w1 = processes.cpu_seconds(server.proc.pid), time.monotonic()
        ccpu1 = sum(processes.cpu_seconds(p.pid) for p in procs if p.pid is not None)
        metrics = processes.get(f"{base}/metrics").decode()
        results = [q.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(10)

    def metric(prefix: str) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith(prefix)
        )

    delays = sorted(d for r in results for d in r["delays"])
    span = args.duration
    connected = sum(r["connected"] for r in results)
    out = {
        "clients": args.clients,
        "connected": connected,
        "errors": sum(r["errors"] for r in results),
        "last_error": next((r["last_error"] for r in results if "last_error" in r), None),
        "book_records": records,
        "speed": args.speed,
        "frame_rate": args.frame_rate,
        "window_s": span,
        "delay_samples": len(delays),
        "delay_p50_ms": round(percentile(delays, 0.50) / 1e6, 2),
        "delay_p99_ms": round(percentile(delays, 0.99) / 1e6, 2),
        "delay_max_ms": round((delays[-1] if delays else float("nan")) / 1e6, 2),
        "events_per_client_s": round(sum(r["events"] for r in results) / connected / span, 2)
        if connected
        else 0,
        "book_frames_per_client_s": round(sum(r["book"] for r in results) / connected / span, 2)
        if connected
        else 0,
        "mbit_s": round(sum(r["bytes"] for r in results) * 8 / span / 1e6, 1),
        "resyncs": metric("mbo_sse_resyncs_total"),
        "server_cpu_cores": round((cpu1 - cpu0) / (w1 - w0), 2),
        "client_cpu_cores": round((ccpu1 - ccpu0) / (w1 - w0), 2),
        "machine_cpus": os.cpu_count(),
    }
    print(json.dumps(out, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
