"""Normalise the sources users hand us into what the core reads: a path string or bytes."""

from __future__ import annotations

import os
from typing import Any, Union

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Any]


def to_raw_source(source: Source) -> str | bytes:
    """A path (str/PathLike), DBN bytes (plain or zstd), or a `databento.DBNStore`."""
    if isinstance(source, str):
        return source
    if isinstance(source, os.PathLike):
        return os.fspath(source)
    if isinstance(source, bytes):
        return source
    if isinstance(source, (bytearray, memoryview)):
        return bytes(source)
    reader = getattr(source, "reader", None)  # databento.DBNStore: decompressed DBN bytes
    if reader is not None and hasattr(reader, "read"):
        data = reader.read()
        if isinstance(data, (bytes, bytearray, memoryview)):
            return bytes(data)
    raise TypeError(
        f"source must be a path, DBN bytes or a databento.DBNStore, not {type(source).__name__}"
    )
