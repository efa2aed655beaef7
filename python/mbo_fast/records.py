"""The DBN MBO record (56 bytes, little-endian) as a numpy dtype, with the layout taken from the
compiled core (`dbn::MboMsg`), so that Python never spells it out again: `records(raw)` views raw
records without copying."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _core

_FIELDS = _core.mbo_record_fields()
MBO_DTYPE = np.dtype(
    {
        "names": [name for name, _, _ in _FIELDS],
        "formats": [fmt for _, fmt, _ in _FIELDS],
        "offsets": [offset for _, _, offset in _FIELDS],
        "itemsize": 56,
    }
)
MBO_RTYPE = 0xA0
MBO_LENGTH = MBO_DTYPE.itemsize // 4  # DBN record lengths count 4-byte words


def records(raw: bytes | bytearray | memoryview) -> NDArray[Any]:
    """Raw 56-byte MBO records as a structured array (a view, no copy)."""
    return np.frombuffer(raw, dtype=MBO_DTYPE)


def empty(n: int) -> NDArray[Any]:
    """`n` records with their header's length and rtype set, every other field 0."""
    out = np.zeros(n, dtype=MBO_DTYPE)
    out["length"] = MBO_LENGTH
    out["rtype"] = MBO_RTYPE
    return out
