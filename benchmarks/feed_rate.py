"""Feed pacing accuracy (not a test): `mbo_fast.feed.Feed` looping CLX5 at each target rate,
one subscriber on loopback reading as fast as it can; prints the achieved rate over the window.

    python benchmarks/feed_rate.py --rates 50000 500000 1000000 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from mbo_fast import feed

if __package__:
    from . import inputs
else:  # run as a file: benchmarks/ is sys.path[0]
    import inputs


async def measure(data: feed.FeedData, rate: int, seconds: float) -> dict[str, float]:
    pub = feed.Feed(data, rate=rate, loop=True)
    host, port = await pub.start("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(host, port)
    received = 0
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < seconds:
            received += len(await reader.read(1 << 20))
    finally:
        writer.close()
        achieved = pub.achieved_rate()
        await pub.close()
    return {
        "target_rate": rate,
        "achieved_rate": round(achieved),
        "error_pct": round(100 * (achieved - rate) / rate, 3),
        "received_mb": round(received / 1e6, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=int, nargs="+", default=[50_000, 500_000, 1_000_000])
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    data = feed.load([inputs.sample_file()], resequence=True)
    for rate in args.rates:
        print(json.dumps(asyncio.run(measure(data, rate, args.seconds))), flush=True)


if __name__ == "__main__":
    main()
