"""Side-by-side realism statistics: a real MBO file against a simulated session.

    .venv/bin/python benchmarks/realism.py [--sample ../shared/data/CLX5_mbo.dbn]
        [--seed 1 --records 1000000 --instruments 1] [--session FILE]

prints a markdown table (sample, simulated, relative difference, within 25%?). The statistics:

- action mix: share of each of A/C/M/T/F among all MBO records;
- spread in ticks at F_LAST boundaries (median, p90), over boundaries with both sides present and
  not crossed/locked (pre-open books are excluded that way);
- depth: mean size at each of the top 5 levels per side, over boundaries where the level exists;
- orders per level: mean order count at the top 5 levels (both sides), same rows;
- event size: records per F_LAST event (mean, p90);
- cancel-to-trade ratio: `C` records / `T` records.

The tick is the greatest common divisor of the traded/quoted prices. Exit status 1 when a
statistic is off by more than 25% (with --check).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import numpy as np

import mbo_fast

if __package__:
    from . import inputs
else:  # run as a file: benchmarks/ is sys.path[0]
    import inputs

DEFAULT_SAMPLE = inputs.CLX5
LEVELS = 5
TOLERANCE = 0.25
F_LAST = 0x80


def _tick(prices: Any) -> int:
    px = np.unique(np.abs(prices[prices != mbo_fast.UNDEF_PRICE]))
    return int(np.gcd.reduce(px)) if len(px) else 1


def statistics(source: Any) -> dict[str, float]:
    """The realism statistics of one MBO source (path or bytes)."""
    rec = mbo_fast.read_records(source)
    n = len(rec)
    action = rec["action"]
    out: dict[str, float] = {}
    for code in "ACMTF":
        out[f"share {code}"] = float(np.count_nonzero(action == ord(code))) / n
    tick = _tick(rec["price"])

    depth = mbo_fast.read_depth(source, depth=LEVELS)
    bid_px, ask_px = depth["bid_px"], depth["ask_px"]
    undef = mbo_fast.UNDEF_PRICE
    both = (bid_px[:, 0] != undef) & (ask_px[:, 0] != undef)
    spread = (ask_px[both, 0] - bid_px[both, 0]) / tick
    spread = spread[spread > 0]
    out["spread median (ticks)"] = float(np.median(spread))
    out["spread p90 (ticks)"] = float(np.percentile(spread, 90))
    normal = both.copy()
    normal[both] = (ask_px[both, 0] - bid_px[both, 0]) > 0
    for side in ("bid", "ask"):
        px, sz = depth[f"{side}_px"][normal], depth[f"{side}_sz"][normal]
        for level in range(LEVELS):
            present = px[:, level] != undef
            out[f"{side} size L{level + 1}"] = float(sz[present, level].mean())
    for level in range(LEVELS):
        counts = []
        for side in ("bid", "ask"):
            px, ct = depth[f"{side}_px"][normal], depth[f"{side}_ct"][normal]
            counts.append(ct[px[:, level] != undef, level])
        out[f"orders at L{level + 1}"] = float(np.concatenate(counts).mean())

    last = np.flatnonzero(rec["flags"] & F_LAST)
    sizes = np.diff(np.concatenate(([-1], last)))
    out["event size mean"] = float(sizes.mean())
    out["event size p90"] = float(np.percentile(sizes, 90))
    trades = np.count_nonzero(action == ord("T"))
    out["cancel/trade"] = float(np.count_nonzero(action == ord("C"))) / max(trades, 1)
    return out


def table(sample: dict[str, float], sim: dict[str, float]) -> tuple[str, int]:
    """The markdown table and the number of statistics off by more than the tolerance."""
    lines = [
        "| statistic | CLX5_mbo.dbn | simulated | difference |",
        "|---|---:|---:|---:|",
    ]
    off = 0
    for name, want in sample.items():
        got = sim[name]
        rel = (got - want) / want if want else math.inf
        mark = "" if abs(rel) <= TOLERANCE else " ✗"
        off += bool(mark)
        fmt = ".1%" if name.startswith("share") else ".2f"
        lines.append(f"| {name} | {want:{fmt}} | {got:{fmt}} | {rel:+.0%}{mark} |")
    return "\n".join(lines), off


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default=str(DEFAULT_SAMPLE))
    parser.add_argument("--session", help="a DBN file to compare instead of a fresh session")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--instruments", type=int, default=1)
    parser.add_argument("--check", action="store_true", help="exit 1 if any statistic is off")
    args = parser.parse_args(argv)
    sample = statistics(args.sample)
    if args.session:
        session: Any = args.session
    else:
        session = mbo_fast.simulate(
            seed=args.seed, records=args.records, instruments=args.instruments
        )
    text, off = table(sample, statistics(session))
    print(text)
    print(f"\n{len(sample) - off}/{len(sample)} statistics within {TOLERANCE:.0%}")
    return 1 if args.check and off else 0


if __name__ == "__main__":
    sys.exit(main())
