"""Databento's derived schemas from MBO: `convert(source, schema, path=...)`.

The rules (one record per event that changes the visible levels, every trade its own record,
BBO on the interval grid, ...) and each decision where Databento's documentation leaves a detail
open live in the core (`rust/core/src/derive/mod.rs`); this module only hands the core its
inputs, drives the conversion a step at a time (progress, Ctrl-C between steps) and views the
records as numpy columns.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Union, overload

import numpy as np

from . import _core
from ._source import Source, to_raw_source

if TYPE_CHECKING:
    from . import Columns

#: Databento's names of the schemas `convert` writes ("cbbo" is the pair cbbo-1s / cbbo-1m).
SCHEMAS = (
    "mbp-10",
    "mbp-1",
    "tbbo",
    "bbo-1s",
    "bbo-1m",
    "cmbp-1",
    "tcbbo",
    "cbbo-1s",
    "cbbo-1m",
)
#: Where events end: "event" (the record with F_LAST) or "record" (every record). The default
#: is the dataset's (per record for XNAS.ITCH, XBOS.ITCH and XPSX.ITCH).
BOUNDARIES = ("event", "record")
_STEP_RECORDS = 1 << 20

Sources = Union[Source, Sequence[Source]]
Progress = Callable[[int, Union[int, None]], None]


def _raw_sources(source: Sources) -> list[str | bytes]:
    if isinstance(source, (list, tuple)):
        if not source:
            raise ValueError("no input to convert")
        return [to_raw_source(s) for s in source]
    return [to_raw_source(source)]


def record_dtype(schema: str) -> np.dtype[Any]:
    """The numpy dtype of `schema`'s DBN records (little-endian, Databento's field names, levels
    as `bid_px_00` ...; prices int64 in 1e-9 units)."""
    fields, itemsize = _core.derived_record_fields(schema)
    return np.dtype(
        {
            "names": [name for name, _, _ in fields],
            "formats": [fmt for _, fmt, _ in fields],
            "offsets": [offset for _, _, offset in fields],
            "itemsize": itemsize,
        }
    )


@overload
def convert(
    source: Sources,
    schema: str,
    path: None = None,
    *,
    boundary: str | None = None,
    progress: Progress | None = None,
) -> Columns: ...


@overload
def convert(
    source: Sources,
    schema: str,
    path: str | os.PathLike[str],
    *,
    boundary: str | None = None,
    progress: Progress | None = None,
) -> str: ...


def convert(
    source: Sources,
    schema: str,
    path: str | os.PathLike[str] | None = None,
    *,
    boundary: str | None = None,
    progress: Progress | None = None,
) -> Columns | str:
    """Derive `schema` (one of SCHEMAS) from MBO `source` (a path, DBN bytes, a DBNStore, or a
    list of them read in order as one stream).

    With `path`: writes a DBN v3 file there (zstd when it ends in `.zst`) with the input's
    metadata, the schema changed and the limit cleared, and returns the path. The file is
    written under a temporary name and renamed only when complete: an error or an interrupt
    leaves nothing at `path`. Without `path`: returns the records as numpy columns (Databento's
    field names, plus `index`, the MBO record each was produced at).

    `boundary`: "event" or "record" (see BOUNDARIES); `progress(records_read, estimated_total)`
    is called between steps. Raises ValueError for an unknown schema or boundary, SchemaError for
    an input that is not MBO, DecodeError / SourceError for unreadable input.
    """
    raw = _raw_sources(source)
    target = None if path is None else os.fspath(path)
    zstd = target is not None and target.endswith(".zst")
    conversion = _core.Conversion(raw, schema, target, zstd, boundary)
    try:
        while not conversion.step(_STEP_RECORDS):
            if progress is not None:
                progress(conversion.records_read, conversion.estimated_records)
        if progress is not None:
            progress(conversion.records_read, conversion.estimated_records)
        data, indexes = conversion.finish()
    except BaseException:
        conversion.abort()  # the partial file is removed
        raise
    if target is not None:
        return target
    from . import Columns  # the package imports this module first

    records = data.view(record_dtype(schema))
    columns = Columns(index=indexes)
    for name in records.dtype.names or ():
        if name != "length":
            columns[name] = np.ascontiguousarray(records[name])
    return columns
