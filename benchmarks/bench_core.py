"""asv benchmarks of the installed mbo_fast (asv.conf.json: environment_type "existing").

    .venv/bin/asv run --python=same            # or: make asv

Input, the first of: the file named by $MBO_FAST_BENCH_FILE; a simulated session of
$MBO_FAST_BENCH_SIMULATED records (generated on the fly: `make bench-check` uses 100,000, the same
with or without the sample data); bench-data/CLX5_x50.dbn when built (benchmarks/make_input.py,
1.91 M records); the sample file CLX5_mbo.dbn (38 k records, see inputs.py); a simulated session
of 1,000,000 records.
"""

from __future__ import annotations

import os
from pathlib import Path

import mbo_fast

from . import inputs


def _source() -> str:
    file = os.environ.get("MBO_FAST_BENCH_FILE")
    if file:
        return str(Path(file).resolve())
    simulated = os.environ.get("MBO_FAST_BENCH_SIMULATED")
    if simulated:
        return inputs.simulated_session(int(simulated))
    for path in (inputs.CLX5_X50, inputs.CLX5):
        if path.is_file():
            return str(path)
    return inputs.simulated_session(1_000_000)


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
