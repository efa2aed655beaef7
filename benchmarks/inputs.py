"""Where the benchmarks' inputs are, for the asv suite and every script:

- the sample files: Databento GLBX.MDP3 MBO files in $MBO_FAST_DATA_DIR, by default
  ../shared/data beside the checkout (never in the repository);
- bench-data/ (git-ignored): CLX5_x50.dbn, 1.91 M records, built by make_input.py.

asv imports this module as `benchmarks.inputs`, scripts run as files import it as `inputs`.
"""

from __future__ import annotations

import os
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
