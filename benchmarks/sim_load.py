"""Book-query latency while clients rebuild simulated orders (not a timed test).

    .venv/bin/python benchmarks/sim_load.py --file CLX5_mbo.dbn      # 6 sim clients, 20 s

Starts `mbo-fast serve` on loopback (its own temporary data directory), places `--orders`
simulated orders spread over the file from record `--first` on, then runs `--sim-clients`
clients (in their own process) that each ask `GET /api/v1/sim/orders` at alternately late and
early indexes (every early one makes the server rebuild its backtest), while this process asks
`GET /api/v1/book` at random indexes, one request at a time, and reports the book latencies
(p50/p90/p99, ms) and how many sim answers were served. `--sim-clients 0`: the quiet baseline."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import sys
import time
from pathlib import Path

import aiohttp

if __package__:
    from . import processes
else:  # run as a file: benchmarks/ is sys.path[0]
    import processes


async def _place(base: str, n: int, iid: int, orders: int, first: int) -> None:
    async with aiohttp.ClientSession() as session:
        for k in range(orders):
            index = first + k * (n - first) // orders
            async with session.get(
                f"{base}/api/v1/book?instrument_id={iid}&index={index}&depth=1"
            ) as r:
                bids = (await r.json())["bids"]
            body = {
                "instrument_id": iid,
                "side": "B",
                "price": bids[0]["price"] if bids else 1,
                "size": 1,
                "index": index,
            }
            async with session.post(f"{base}/api/v1/sim/orders", json=body) as r:
                assert r.status == 201, await r.text()


async def _sims(base: str, n: int, clients: int, stop: float, first: int) -> int:
    sims = 0
    async with aiohttp.ClientSession() as session:

        async def sim_client(seed: int) -> None:
            nonlocal sims
            rng = random.Random(seed)
            late = True
            while time.time() < stop:
                mid = (first + n) // 2
                index = rng.randrange(mid, n) if late else rng.randrange(first, mid)
                late = not late
                async with session.get(f"{base}/api/v1/sim/orders?index={index}") as r:
                    await r.read()
                    sims += r.status == 200

        await asyncio.gather(*(sim_client(s) for s in range(clients)))
    return sims


def _sim_process(base: str, n: int, clients: int, stop: float, first: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    out.put(asyncio.run(_sims(base, n, clients, stop, first)))


async def _books(base: str, n: int, iid: int, stop: float) -> list[float]:
    rng = random.Random(1)
    lat: list[float] = []
    async with aiohttp.ClientSession() as session:
        while time.time() < stop:
            url = f"{base}/api/v1/book?instrument_id={iid}&index={rng.randrange(n)}&depth=10"
            t0 = time.perf_counter()
            async with session.get(url) as r:
                await r.read()
            lat.append((time.perf_counter() - t0) * 1000)
    return lat


def _run(base: str, n: int, iid: int, args: argparse.Namespace) -> None:
    first = min(args.first, n - 1)
    asyncio.run(_place(base, n, iid, args.orders, first))
    stop = time.time() + args.seconds
    out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    proc = mp.Process(target=_sim_process, args=(base, n, args.sim_clients, stop, first, out))
    proc.start()
    lat = sorted(asyncio.run(_books(base, n, iid, stop)))
    sims = out.get()
    proc.join()
    sim_clients = args.sim_clients

    def q(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))]

    print(
        f"sim clients {sim_clients}: book queries {len(lat)}, p50 {q(0.5):.2f} ms, "
        f"p90 {q(0.9):.2f} ms, p99 {q(0.99):.2f} ms; sim answers {sims}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", help="DBN file (default: the simulated default session)")
    ap.add_argument("--sim-clients", type=int, default=6)
    ap.add_argument("--orders", type=int, default=20)
    ap.add_argument("--first", type=int, default=0, help="first order's record index")
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    settings = {"MBO_FILES": str(Path(args.file).resolve())} if args.file else {}
    with processes.serve(settings=settings) as server:
        inst = processes.get_json(server.base + "/api/v1/instruments")["instruments"][0]
        _run(server.base, inst["records"], inst["instrument_id"], args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
