"""asv benchmarks of the installed mbo_fast (asv.conf.json: environment_type "existing").

    .venv/bin/asv run --python=same            # or: make asv

Input: $MBO_FAST_BENCH_FILE if set, else bench-data/CLX5_x50.dbn when built
(benchmarks/make_input.py, 1.91 M records), else ../shared/data/CLX5_mbo.dbn (38 k records).
"""

from __future__ import annotations

import os
from pathlib import Path

import mbo_fast

ROOT = Path(__file__).resolve().parents[1]


def _source() -> str:
    env = os.environ.get("MBO_FAST_BENCH_FILE")
    if env:
        return str(Path(env).resolve())
    big = ROOT / "bench-data" / "CLX5_x50.dbn"
    if big.is_file():
        return str(big)
    return str(ROOT.parent / "shared" / "data" / "CLX5_mbo.dbn")


SOURCE = _source()


class Read:
    """The column readers: decode + book + one row per F_LAST boundary."""

    timeout = 600

    def time_read_bbo(self) -> None:
        mbo_fast.read_bbo(SOURCE)

    def peakmem_read_bbo(self) -> None:
        mbo_fast.read_bbo(SOURCE)

    def time_read_depth10(self) -> None:
        mbo_fast.read_depth(SOURCE, 10)

    def peakmem_read_depth10(self) -> None:
        mbo_fast.read_depth(SOURCE, 10)


class MarketApply:
    """Decode + apply every record, no output rows."""

    timeout = 600

    def time_apply(self) -> None:
        mbo_fast.Market().apply(SOURCE)

    def peakmem_apply(self) -> None:
        mbo_fast.Market().apply(SOURCE)


class ReplaySeek:
    """Seeks on a Replay built once per benchmark (construction is not timed)."""

    timeout = 600

    def setup(self) -> None:
        self.replay = mbo_fast.Replay(SOURCE)
        n = len(self.replay)
        self.targets = [(i * 7919) % n for i in range(1, 21)]  # 20 scattered indices

    def time_seek_to_end(self) -> None:
        self.replay.rewind()
        self.replay.seek(index=len(self.replay) - 1)

    def time_seek_scattered(self) -> None:
        for i in self.targets:
            self.replay.seek(index=i)

    def peakmem_build_and_seek_to_end(self) -> None:
        replay = mbo_fast.Replay(SOURCE)
        replay.seek(index=len(replay) - 1)


class Export:
    """The JSON-lines depth export (decimal prices, ISO times), into memory."""

    timeout = 600

    def time_export_depth10(self) -> None:
        mbo_fast.export_depth(SOURCE, 10)

    def peakmem_export_depth10(self) -> None:
        mbo_fast.export_depth(SOURCE, 10)


class Simulate:
    """Synthetic sessions: matching engine + agent flow + plain DBN encoding."""

    timeout = 600
    params = [200_000, 1_000_000]
    param_names = ["records"]

    def time_simulate(self, records: int) -> None:
        mbo_fast.simulate(seed=1, records=records, instruments=2)

    def peakmem_simulate(self, records: int) -> None:
        mbo_fast.simulate(seed=1, records=records, instruments=2)


class Frames:
    """SSE frame building: one Player replaying its book to the end in 1,000-record ticks."""

    timeout = 600

    def setup(self) -> None:
        self.replay = mbo_fast.Replay(SOURCE)
        book = self.replay.record(0)
        self.key = (int(book["instrument_id"]), int(book["publisher_id"]))
        self.n = len(self.replay)

    def time_frames_to_end(self) -> None:
        player = self.replay.player(*self.key, depth=10)
        player.snapshot()
        for target in range(999, self.n, 1000):
            player.advance(until_index=target)

    def peakmem_frames_to_end(self) -> None:
        player = self.replay.player(*self.key, depth=10)
        for target in range(999, self.n, 1000):
            player.advance(until_index=target)
