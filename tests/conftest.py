"""Shared fixtures: the sample files (skipped cleanly when absent), records, hypothesis profiles.

The tests mirror the code: one folder per subsystem (book/, dbn/, replay/, store/, synth/,
backtest/, live/, cli/, server/, ui/, deploy/), and support/ holds what they share (the DBN
builder, the reference models, the server fixtures; on sys.path through pyproject's pythonpath).

The data files are read in place (never copied into the repo). Override their directory with
MBO_FAST_DATA_DIR.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from dbn_builder import load_records

DATA_DIR = Path(
    os.environ.get("MBO_FAST_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
)
CLX5_NAME = "CLX5_mbo.dbn"
ESH4_NAME = "esh4-glbx-mdp3-20231225.mbo.dbn.zst"

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _data_file(name: str) -> Path:
    path = DATA_DIR / name
    if not path.is_file():
        pytest.skip(f"sample data file not found: {path}")
    return path


@pytest.fixture(scope="session")
def clx5_path() -> Path:
    return _data_file(CLX5_NAME)


@pytest.fixture(scope="session")
def esh4_path() -> Path:
    return _data_file(ESH4_NAME)


@pytest.fixture(scope="session", params=[CLX5_NAME, ESH4_NAME], ids=["clx5", "esh4"])
def real_path(request) -> Path:
    return _data_file(request.param)


_RECORDS: dict[Path, list] = {}


def records_of(path: Path) -> list:
    """The records of a sample file, decoded once per session."""
    if path not in _RECORDS:
        _RECORDS[path] = load_records(path)
    return _RECORDS[path]


@pytest.fixture(scope="session")
def clx5_records(clx5_path):
    return records_of(clx5_path)


@pytest.fixture(scope="session")
def esh4_records(esh4_path):
    return records_of(esh4_path)


@pytest.fixture(scope="session")
def real_records(real_path):
    return records_of(real_path)
