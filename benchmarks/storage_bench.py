"""SQLite storage benchmark (not a timed test): persist a file, then query stored books.

    .venv/bin/python benchmarks/storage_bench.py                       # CLX5_mbo.dbn
    .venv/bin/python benchmarks/storage_bench.py --file F --checkpoint-every 4096 --queries 500

Loads the file as the server does (`data.load_source`: Replay, records, books), then times
`Storage.persist` into a fresh database (records, BBO at every F_LAST, trades, books and book
checkpoints, one transaction; best of `--repeat` fresh databases), and the same without
checkpoints (`checkpoint_every` larger than the file) to show their share. Then `--queries`
random `Storage.stored_book` calls (full depth with L3 queues, as `/api/v1/stored/book?depth=1000
&orders=true` asks; uniformly random record indexes) against `data.book_at` (the in-memory
Replay behind `/api/v1/book`), checking that they agree, and prints latency percentiles of both.
Times are the storage call as awaited from the event loop (reader-thread hop included, HTTP not).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
DATA = Path(os.environ.get("MBO_FAST_DATA_DIR", ROOT.parent / "shared" / "data"))

from mbo_fast_server.data import book_at, load_source  # noqa: E402
from mbo_fast_server.metrics import Metrics  # noqa: E402
from mbo_fast_server.storage import DEFAULT_CHECKPOINT_EVERY, Storage  # noqa: E402

SAME = ("index", "position", "ts_recv", "bids", "asks", "order_count", "crossed", "consistent")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def persist_once(src: object, every: int, tmp: str, k: int) -> tuple[float, int, Storage]:
    path = os.path.join(tmp, f"s{every}-{k}.sqlite3")
    storage = Storage(path, Metrics(), checkpoint_every=every)
    await storage.open()
    t0 = time.perf_counter()
    sid, written = await storage.persist(src)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - t0
    assert written
    return elapsed, sid, storage


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--file", default=str(DATA / "CLX5_mbo.dbn"))
    ap.add_argument("--checkpoint-every", type=int, default=DEFAULT_CHECKPOINT_EVERY)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    src = load_source(0, args.file)
    n = len(src)
    books = sorted(src.books)
    print(f"{os.path.basename(args.file)}: {n:,} records, {len(books)} book(s)")
    with tempfile.TemporaryDirectory() as tmp:
        for label, every in (("without checkpoints", n + 1), ("with checkpoints", 0)):
            every = every or args.checkpoint_every
            times = []
            for k in range(args.repeat):
                elapsed, _, storage = await persist_once(src, every, tmp, k)
                times.append(elapsed)
                await storage.close()
            runs = ", ".join(f"{t:.3f}" for t in times)
            print(f"persist {label} (every {every:,}): best {min(times):.3f} s ({runs})")
        _, sid, storage = await persist_once(src, args.checkpoint_every, tmp, 99)
        size = sum(
            os.path.getsize(p) for p in (storage.path, storage.path + "-wal") if os.path.exists(p)
        )
        print(f"database: {size / 1e6:.1f} MB")
        rng = random.Random(args.seed)
        stored_s: list[float] = []
        memory_s: list[float] = []
        loop = asyncio.get_running_loop()
        for _ in range(args.queries):
            iid, pid = rng.choice(books)
            index = rng.randrange(n)
            t0 = time.perf_counter()
            doc = await storage.stored_book(
                sid, iid, pid, index=index, ts=None, depth=1000, orders=True
            )
            stored_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref = await loop.run_in_executor(
                None,
                functools.partial(
                    book_at, src, iid, pid, index=index, ts=None, depth=1000, orders=True
                ),
            )
            memory_s.append(time.perf_counter() - t0)
            assert {k: doc[k] for k in SAME} == {k: ref[k] for k in SAME}, index
        await storage.close()
    for label, values in (("stored_book (SQLite)", stored_s), ("book_at (Replay)", memory_s)):
        print(
            f"{label}: p50 {pct(values, 0.5) * 1e3:.2f} ms, p99 {pct(values, 0.99) * 1e3:.2f} ms, "
            f"max {max(values) * 1e3:.2f} ms, mean {statistics.fmean(values) * 1e3:.2f} ms "
            f"({len(values)} queries, all equal)"
        )


if __name__ == "__main__":
    asyncio.run(main())
