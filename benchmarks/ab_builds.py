"""Two or more builds of the extension module, timed call by call in one process.

On a shared VM whose speed drifts over minutes, timing build A now and build B later measures the
drift. Here every build's `_core` is loaded side by side (each copy of the shared library keeps its
own statics and allocator) and the builds take turns call by call, alternating the order each
round; each call's time is divided by the first build's time in the same round, and the median of
those paired ratios is reported.

    .venv/bin/maturin develop --release && cp python/mbo_fast/_core.abi3.so /tmp/new.so
    git stash && .venv/bin/maturin develop --release && cp python/mbo_fast/_core.abi3.so /tmp/old.so
    git stash pop && .venv/bin/maturin develop --release
    .venv/bin/python benchmarks/ab_builds.py /tmp/old.so /tmp/new.so --rounds 40

The work (`--work`) is `read_bbo`, `Market().apply` or `Replay` opening on the benchmark input
(`--input`); a round's result is kept until the next round of the same build, as a caller's
variable would be. Minor page faults per call (getrusage) are reported beside the times.
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

if __package__:
    from . import inputs
else:  # run as a file: benchmarks/ is sys.path[0]
    import inputs

DEFAULT_INPUT = inputs.CLX5_X50


def load(path: Path, workdir: Path, n: int) -> ModuleType:
    """Load the extension at `path` as `mbo_fast._core`, from a private copy (a shared library is
    loaded once per file name)."""
    copy = workdir / f"build{n}_{path.name}"
    shutil.copy(path, copy)
    spec = importlib.util.spec_from_file_location("mbo_fast._core", copy)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a loadable extension module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def work(module: ModuleType, name: str, src: str) -> Callable[[], Any]:
    if name == "read_bbo":
        return lambda: module.read_bbo_columns(src, None, None)
    if name == "market_apply":
        return lambda: module.Market().apply(src)
    return lambda: module.Replay(src, None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("builds", nargs="+", type=Path, help="_core shared libraries; first = baseline")
    ap.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    ap.add_argument("--work", choices=["read_bbo", "market_apply", "replay"], default="read_bbo")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=2, help="rounds run but not counted")
    args = ap.parse_args(argv)
    if not args.input.exists():
        raise SystemExit(f"{args.input} not found: run benchmarks/make_input.py")
    src = str(args.input)
    with tempfile.TemporaryDirectory() as tmp:
        modules = [load(path, Path(tmp), n) for n, path in enumerate(args.builds)]
        calls = [work(module, args.work, src) for module in modules]
        times: list[list[float]] = [[] for _ in modules]
        faults: list[list[int]] = [[] for _ in modules]
        results: list[Any] = [None] * len(modules)
        for round_no in range(args.warmup + args.rounds):
            order = list(range(len(modules)))
            if round_no % 2:
                order.reverse()
            for i in order:
                f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                t0 = time.perf_counter()
                results[i] = calls[i]()
                elapsed = time.perf_counter() - t0
                if round_no >= args.warmup:
                    times[i].append(elapsed)
                    faults[i].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    print(f"{args.work}({args.input.name}), {args.rounds} rounds, builds taking turns:")
    for path, seconds, minflt in zip(args.builds, times, faults):
        ratios = [t / base for t, base in zip(seconds, times[0])]
        print(
            f"  {path}: median {statistics.median(seconds) * 1e3:.1f} ms, "
            f"best {min(seconds) * 1e3:.1f} ms, "
            f"minor faults/call median {statistics.median(minflt):,.0f}, "
            f"paired ratio to the first build: median {statistics.median(ratios):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
