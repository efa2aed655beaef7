"""The live bus under load (not a test): `mbo-fast feed` -> ingest (`serve --live tcp://…
--publish nats://…`) -> NATS JetStream -> replicas (`serve --live nats://…`).

Starts Debian's `nats-server -js` on loopback, a feed of CLX5 (looped, resequenced; a simulated
session without the sample data) at `--rate`, one ingest and `--replicas` replicas as child
processes, and measures over `--seconds`: the ingest's applied rate, what it published to
JetStream (bytes/s and 56-byte records/s), each replica's applied rate and how far behind the
ingest it ends, and each process's CPU (cores) including nats-server's.

With `--clients N`, N live SSE clients on one book are spread evenly over the replicas (from
`--workers` client processes, benchmarks/sse_load.py's clients): the delay of each `status`
event (its `due_ns`, stamped when the replica built it, to its receipt) gives p50/p99, and
each replica's CPU per client.

    .venv/bin/python benchmarks/bus_bench.py --rate 500000 --replicas 2 --seconds 20
    .venv/bin/python benchmarks/bus_bench.py --rate 50000 --replicas 3 --clients 300
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

if __package__:
    from . import inputs, processes, sse_load
else:  # run as a file: benchmarks/ is sys.path[0]
    import inputs
    import processes
    import sse_load

CLX5_IID = 432669


@contextlib.contextmanager
def nats_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    port = processes.free_port()
    with tempfile.TemporaryDirectory(prefix="mbo-bus-bench-") as store:
        proc = subprocess.Popen(
            [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            yield f"nats://127.0.0.1:{port}", proc
        finally:
            processes.stop(proc)


def status(server: processes.Server) -> dict:
    return processes.get_json(server.base + "/api/v1/live/status")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, default=500_000, help="feed records/s")
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--clients", type=int, default=0, help="live SSE clients over the replicas")
    ap.add_argument("--workers", type=int, default=2, help="client processes")
    args = ap.parse_args()
    try:
        source, iid = inputs.sample_file(), CLX5_IID
    except SystemExit:
        source, iid = inputs.simulated_session(200_000), 1
    with contextlib.ExitStack() as stack:
        url, nats = stack.enter_context(nats_server())
        bus = f"{url}/bench"
        port = stack.enter_context(
            processes.feed([source], "--rate", str(args.rate), "--loop", "--resequence")
        )
        ingest = stack.enter_context(
            processes.serve(
                settings={"MBO_LIVE": f"tcp://127.0.0.1:{port}", "MBO_LIVE_PUBLISH": bus}
            )
        )
        replica_settings = {
            "MBO_LIVE": bus,
            "MBO_STATUS_EVERY_S": "0.25",
            "MBO_MAX_STREAMS": str(max(200, args.clients)),
            "MBO_MAX_CONNECTIONS": str(max(1000, 2 * args.clients)),
        }
        replicas = [
            stack.enter_context(processes.serve(settings=replica_settings))
            for _ in range(args.replicas)
        ]
        time.sleep(2.0)  # warm up: the replicas catch up with what was published so far
        workers: list[mp.Process] = []
        results: mp.Queue[dict] = mp.Queue()
        if args.clients:
            urls = [
                f"{replicas[i % len(replicas)].base}/api/v1/live?instrument_id={iid}&depth=10"
                for i in range(args.clients)
            ]
            ramp = min(5.0, args.clients / 100)
            start = time.monotonic() + ramp + 2.0  # measured once every client is in
            window = (start, start + args.seconds)
            for w in range(args.workers):
                proc = mp.Process(
                    target=sse_load._worker, args=(urls[w :: args.workers], window, ramp, results)
                )
                proc.start()
                workers.append(proc)
            time.sleep(max(0.0, start - time.monotonic()))
        pids = {"ingest": ingest.proc.pid, "nats-server": nats.pid}
        pids.update({f"replica {i + 1}": r.proc.pid for i, r in enumerate(replicas)})
        cpu0 = {name: processes.cpu_seconds(pid) for name, pid in pids.items()}
        s0 = [status(ingest)] + [status(r) for r in replicas]
        t0 = time.monotonic()
        time.sleep(args.seconds)
        # replicas first: the ingest, read last, is at least as far on (lag >= the true one)
        s1_replicas = [status(r) for r in replicas]
        s1 = [status(ingest), *s1_replicas]
        elapsed = time.monotonic() - t0
        cpu1 = {name: processes.cpu_seconds(pid) for name, pid in pids.items()}
        outs = [results.get(timeout=60) for _ in workers]
        for proc in workers:
            proc.join(10)
    published = (s1[0]["bus"]["published_bytes"] - s0[0]["bus"]["published_bytes"]) / elapsed
    print(f"feed {args.rate:,}/s, {args.replicas} replicas, {elapsed:.1f} s")
    print(
        f"ingest applied {(s1[0]['index'] - s0[0]['index']) / elapsed:,.0f} records/s; "
        f"published {published / 1e6:.1f} MB/s = {published / 56:,.0f} records/s; "
        f"pending {s1[0]['bus']['pending_bytes']:,} B, lost {s1[0]['bus']['lost_bytes']:,} B"
    )
    for i, (a, b) in enumerate(zip(s0[1:], s1[1:])):
        print(
            f"replica {i + 1}: applied {(b['index'] - a['index']) / elapsed:,.0f} records/s, "
            f"{s1[0]['index'] - b['index']:,} records behind the ingest at the end"
        )
    print(
        "CPU (cores): "
        + ", ".join(f"{name} {(cpu1[name] - cpu0[name]) / elapsed:.2f}" for name in pids)
    )
    if args.clients:
        delays = sorted(d for out in outs for d in out["delays"])
        connected = sum(out["connected"] for out in outs)
        errors = sum(out["errors"] for out in outs)
        per_replica = args.clients / args.replicas
        replica_cpu = [
            (cpu1[f"replica {i + 1}"] - cpu0[f"replica {i + 1}"]) / elapsed
            for i in range(args.replicas)
        ]
        print(
            f"{connected} of {args.clients} clients connected ({errors} errors), "
            f"{len(delays):,} status events: delay p50 "
            f"{sse_load.percentile(delays, 0.5) / 1e6:.1f} ms, "
            f"p99 {sse_load.percentile(delays, 0.99) / 1e6:.1f} ms; replica CPU per client "
            + ", ".join(f"{c / per_replica * 1000:.1f} mcores" for c in replica_cpu)
        )


if __name__ == "__main__":
    main()
