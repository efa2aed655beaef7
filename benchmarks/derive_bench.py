"""Derived-schema conversion speed (issue 19; not a timed test): `mbo_fast.convert` from a plain
`.dbn` MBO file to DBN files of each schema, the cases taking turns round by round so a busy
machine slows them alike; prints MBO records/s per round and the best and median of each.

    make bench-input && .venv/bin/python benchmarks/derive_bench.py bench-data/CLX5_x50.dbn

Targets (issue 19): MBP-10 at >= 10 M MBO records/s, MBP-1 at >= 20 M/s. `Market.apply` (the
book work alone) runs alongside for scale. The output goes to --out-dir (default: a temporary
directory) and is removed after each round. The Rust-only twin: `cargo run --release -p
mbo-fast-core --example derive_bench -- FILE [OUT_DIR] [ROUNDS]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import mbo_fast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="a plain .dbn MBO file")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--schemas", default="mbp-10,mbp-1,tbbo,bbo-1s")
    parser.add_argument("--out-dir", help="where outputs are written (default: a temp dir)")
    args = parser.parse_args()
    records = mbo_fast.info(args.file)["records"]
    schemas = args.schemas.split(",")
    times: dict[str, list[float]] = {name: [] for name in ["Market.apply", *schemas]}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(dir=args.out_dir) as out_dir:
        for round_ in range(args.rounds):
            for name in times:
                out = os.path.join(out_dir, f"out.{name}.dbn")
                start = time.perf_counter()
                if name == "Market.apply":
                    mbo_fast.Market().apply(args.file)
                else:
                    mbo_fast.convert(args.file, name, out)
                seconds = time.perf_counter() - start
                times[name].append(seconds)
                if os.path.exists(out):
                    sizes[name] = os.path.getsize(out)
                    os.remove(out)
                print(f"round {round_} {name:<13} {records / seconds / 1e6:6.2f} M MBO records/s")
    print(f"{records:,} MBO records, best / median of {args.rounds}:")
    for name, runs in times.items():
        best, median = min(runs), statistics.median(runs)
        size = f"  output {sizes[name] / 1e6:.0f} MB" if name in sizes else ""
        print(
            f"  {name:<13} {records / best / 1e6:6.2f} / {records / median / 1e6:6.2f} M/s "
            f"({best * 1e3:.0f} / {median * 1e3:.0f} ms){size}"
        )


if __name__ == "__main__":
    main()
