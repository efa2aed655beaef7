"""What hostile input or an absurd argument can make the core allocate: bounded, and a typed error
when it is too much, never an abort. Each case that could allocate runs in a child process under
a tight address-space limit (RLIMIT_AS): an infallible allocation that fails there aborts the
child (SIGABRT), which fails the test instead of taking pytest down with it.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from core import require_core
from dbn_builder import zstd_bomb

mbo_fast = require_core()

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux-specific"
)

_CHILD = """
import json, resource, sys
import mbo_fast

def vm_size():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

limit = vm_size() + {headroom}
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
out = {{}}
try:
{body}
except Exception as exc:
    out["error"] = type(exc).__name__
    out["message"] = str(exc)
    out["mbo_error"] = isinstance(exc, mbo_fast.MboError)
    out["memory_error"] = isinstance(exc, MemoryError)
print(json.dumps(out))
"""


def run_limited(body: str, headroom: int, *args: str) -> dict[str, Any]:
    """Run `body` (Python, `sys.argv[1:]` = args) in a child whose address space may grow by
    `headroom` bytes past what importing mbo_fast took. Returns what it put in `out` plus the
    error it raised (`error`, `message`), if any; fails the test if the child died."""
    code = _CHILD.format(headroom=headroom, body=textwrap.indent(textwrap.dedent(body), "    "))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, (
        f"the child died (exit {proc.returncode}): an abort instead of a typed error?\n"
        f"{proc.stderr[-3000:]}"
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# ---- metadata ----------------------------------------------------------------------------------


@linux_only
def test_a_zstd_metadata_bomb_is_a_decode_error_in_bounded_memory(tmp_path: Path) -> None:
    """131 KB of zstd claiming (and decompressing to) 4 GiB of metadata: refused from its length
    field before anything is read, by every entry point, within 256 MiB."""
    claimed = 2**32 - 16
    bomb = zstd_bomb(b"DBN\x03" + claimed.to_bytes(4, "little"), claimed)
    assert len(bomb) < 140_000
    path = tmp_path / "bomb.dbn.zst"
    path.write_bytes(bomb)
    for call in ("mbo_fast.info(path)", "mbo_fast.read_bbo(path)", "mbo_fast.read_bbo(data)"):
        body = f"""
            path = sys.argv[1]
            data = open(path, "rb").read()
            {call}
        """
        out = run_limited(body, 256 << 20, str(path))
        assert out.get("error") == "DecodeError", (call, out)
        assert str(claimed) in out["message"], out["message"]
    # a live feed sending the same claim is refused as soon as the prelude arrives
    live = mbo_fast._core.LiveMarket(0)
    with pytest.raises(mbo_fast.DecodeError, match=str(claimed)):
        live.feed(b"DBN\x03" + claimed.to_bytes(4, "little"))


@linux_only
def test_metadata_at_the_cap_is_read(tmp_path: Path) -> None:
    """64 MiB of metadata (the cap; zeros happen to be valid metadata) is read, fallibly, in
    bounded memory: a stream with no records."""
    claimed = 64 << 20
    path = tmp_path / "big-metadata.dbn.zst"
    path.write_bytes(zstd_bomb(b"DBN\x03" + claimed.to_bytes(4, "little"), claimed))
    out = run_limited(
        "out['records'] = mbo_fast.info(sys.argv[1])['records']", 512 << 20, str(path)
    )
    assert out == {"records": 0}


# ---- output that outgrows memory ---------------------------------------------------------------


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated session (no sample data needed): ~10,000 event boundaries."""
    path = tmp_path_factory.mktemp("limits") / "session.dbn"
    mbo_fast.simulate(seed=2, records=20_000, path=path)
    return path


# 10**6 runs in a child (below): before the limit, it aborted the process
@pytest.mark.parametrize("depth", [10_001, 2**62, 2**64, 0, -1])
def test_read_depth_beyond_max_depth_is_a_value_error(session: Path, depth: int) -> None:
    with pytest.raises(ValueError, match=f"between 1 and {mbo_fast.MAX_DEPTH}"):
        mbo_fast.read_depth(session, depth)
    with pytest.raises(ValueError, match=f"between 1 and {mbo_fast.MAX_DEPTH}"):
        mbo_fast._core.read_depth_columns(str(session), max(depth, 0) % 2**64, None, None)


@linux_only
def test_read_depth_of_a_million_levels_is_refused_without_allocating(session: Path) -> None:
    """It used to reserve rows x depth values up front and abort."""
    out = run_limited("mbo_fast.read_depth(sys.argv[1], 10**6)", 256 << 20, str(session))
    assert out.get("error") == "ValueError", out


@linux_only
def test_read_depth_that_outgrows_memory_is_an_out_of_memory_error(session: Path) -> None:
    """MAX_DEPTH levels a side for ~10,000 rows is 3.2 GB: under a 1 GiB limit the columns
    cannot grow, which is an OutOfMemoryError (an MboError and a MemoryError), not an abort;
    the interpreter goes on (the last statement runs after the error is caught)."""
    body = """
        try:
            mbo_fast.read_depth(sys.argv[1], mbo_fast.MAX_DEPTH)
        finally:
            out["after"] = len(mbo_fast.read_depth(sys.argv[1], 5))  # memory is usable again
    """
    out = run_limited(body, 1 << 30, str(session))
    assert out.get("error") == "OutOfMemoryError", out
    assert out["mbo_error"] and out["memory_error"] and "read_depth" in out["message"]
    assert out["after"] == len(mbo_fast.read_bbo(session))


@linux_only
@pytest.mark.parametrize(
    "call",
    [
        "mbo_fast.read_records(sys.argv[1])",
        "mbo_fast.read_bbo(sys.argv[1])",
        "mbo_fast.Replay(sys.argv[1])",
        "mbo_fast.Backtest(sys.argv[1])",
    ],
)
def test_records_held_in_memory_that_outgrow_it_are_an_out_of_memory_error(
    tmp_path: Path, call: str
) -> None:
    """2 M records (112 MB of input, as much in columns or in memory) under a 48 MiB limit."""
    path = tmp_path / "big.dbn.zst"  # zstd: read in chunks, not mapped
    mbo_fast.simulate(seed=4, records=2_000_000, path=path)
    out = run_limited(call, 48 << 20, str(path))
    assert out.get("error") == "OutOfMemoryError", out
    assert out["mbo_error"] and out["memory_error"]


# ---- Replay checkpoints ------------------------------------------------------------------------

_RSS_CHILD = """
import json, resource, sys
import mbo_fast
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
replay = mbo_fast.Replay(sys.argv[1], checkpoint_every=1)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
print(json.dumps({"grown": grown, "checkpoints": replay.checkpoints, "records": len(replay)}))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="resource.getrusage is Unix-only")
def test_replay_checkpoints_at_every_record_stay_bounded(clx5_path: Path) -> None:
    """checkpoint_every=1 on CLX5 (2 MB) took 1.2 GB: one market copy per record. Checkpoints
    are now compressed snapshot records, taken at block starts (every block with a 1-record
    interval) only while they take no more room than the records."""
    proc = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, str(clx5_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    count, stored = out["checkpoints"]
    assert count > 100 and stored <= out["records"] * 56, out
    assert out["grown"] < 80 << 20, f"peak RSS grew by {out['grown'] >> 20} MiB: {out}"


@pytest.mark.parametrize("source", ["clx5", "simulated"])
def test_checkpoints_at_every_record_seek_to_the_same_books(
    source: str, request: pytest.FixtureRequest, session: Path
) -> None:
    path = request.getfixturevalue("clx5_path") if source == "clx5" else session
    dense = mbo_fast.Replay(path, checkpoint_every=1)
    default = mbo_fast.Replay(path)
    assert dense.checkpoints[0] > default.checkpoints[0]
    rng = random.Random(5)
    n = len(default)
    for index in [0, n - 1, 4095, 4096] + [rng.randrange(n) for _ in range(40)]:
        dense.seek(index=index)
        default.seek(index=index)
        assert dense.snapshot_dbn() == default.snapshot_dbn(), index  # levels and queues
        assert dense.position == default.position == index + 1
