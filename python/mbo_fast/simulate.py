"""Synthetic market sessions: agent-style order flow into the matching engine (one per
instrument), as standard DBN MBO data. The package's embedded default data.

>>> import mbo_fast
>>> data = mbo_fast.simulate(seed=1, records=100_000, instruments=2)   # DBN bytes
>>> mbo_fast.read_bbo(data)
>>> mbo_fast.simulate(seed=1, records=10_000_000, path="session.dbn.zst")  # record count
"""

from __future__ import annotations

import os
from typing import Union

from . import _core

__all__ = ["DEFAULT_START", "simulate"]

PathLike = Union[str, "os.PathLike[str]"]

#: 2025-09-24 21:45:00 UTC (ns): CME's pre-open; the open is 15 minutes later.
DEFAULT_START = 1_758_750_300_000_000_000


def simulate(
    seed: int = 1,
    records: int = 1_000_000,
    instruments: int = 1,
    path: PathLike | None = None,
    *,
    zstd: bool = False,
    tick: int | None = None,
    start_price: int | None = None,
    start: int | None = None,
    publisher_id: int = 1,
    pre_open_events: int | None = None,
) -> bytes | int:
    """Generate a session, deterministic per `seed` (the same bytes on every platform).

    A pre-open (15 minutes from `start`, default DEFAULT_START: limit orders only, the books
    cross), an opening auction per instrument (the indicative uncross: a `T` with side N and the
    fills), then continuous trading: adds near the touch, cancels (mostly of recent orders),
    modifies, marketable orders and occasional sweeps, calibrated to CLX5_mbo.dbn (see the
    README's "Simulator" section). Instruments are 1..=instruments, symbols SIM1, SIM2, ...;
    prices are int64 in 1e-9 units on the `tick` grid (default 0.01, start price 64.81).

    It stops at the first event boundary (F_LAST) at or after `records` records. Written to
    `path` (.dbn, or zstd for .dbn.zst; returns the record count) or returned as DBN bytes (zstd
    with `zstd=True`). The GIL is released while generating. Bad parameters (records < 1,
    instruments < 1, tick <= 0, ...) raise ValueError.
    """
    for name, value in (("records", records), ("instruments", instruments)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, not {value}")
    if tick is not None and tick <= 0:
        raise ValueError(f"tick must be > 0, not {tick}")
    if seed < 0 or seed >= 2**64:
        raise ValueError(f"seed must be in [0, 2**64), not {seed}")
    if instruments >= 2**32:
        raise ValueError(f"instruments must be < 2**32, not {instruments}")
    out = None if path is None else os.fspath(path)
    return _core.simulate_session(
        seed,
        records,
        instruments,
        out,
        zstd,
        tick,
        start_price,
        start,
        publisher_id,
        pre_open_events,
    )
