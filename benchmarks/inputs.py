"""Where the benchmarks' inputs are, for the asv suite and every script:

- the sample files: Databento GLBX.MDP3 MBO files in $MBO_FAST_DATA_DIR, by default
  ../shared/data beside the checkout (never in the repository);
- bench-data/ (git-ignored): CLX5_x50.dbn, 1.91 M records, built by make_input.py;
- simulated sessions (`mbo_fast.simulate`), generated on the fly: they need no data.

asv imports this module as `benchmarks.inputs`, scripts run as files import it as `inputs`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("MBO_FAST_DATA_DIR") or ROOT.parent / "shared" / "data")
CLX5 = DATA_DIR / "CLX5_mbo.dbn"
BENCH_DATA = ROOT / "bench-data"
CLX5_X50 = BENCH_DATA / "CLX5_x50.dbn"


def sample_file(path: Path = CLX5) -> str:
    """A sample file's path; exits with a message saying where it should be when it is absent."""
    if not path.is_file():
        raise SystemExit(
            f"sample data not found: {path} (Databento MBO files, in ../shared/data beside the "
            "checkout or in the directory named by MBO_FAST_DATA_DIR)"
        )
    return str(path)


def simulated_session(records: int, seed: int = 1, instruments: int = 2) -> str:
    """A simulated session of at least `records` records, written to a temporary file that is
    removed when the process exits (a million records take about 0.3 s to generate)."""
    import mbo_fast

    directory = tempfile.mkdtemp(prefix="mbo-fast-bench-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = os.path.join(directory, f"simulated-s{seed}-i{instruments}-n{records}.dbn")
    mbo_fast.simulate(seed, records, instruments, path)
    return path
