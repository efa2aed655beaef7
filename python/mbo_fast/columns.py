"""`Columns`: what every reader returns (named numpy columns of equal length), and its Arrow
and DataFrame forms.

Arrow: `cols.arrow()` (and `Columns` itself) implements the Arrow PyCapsule protocol
(`__arrow_c_array__`, `__arrow_c_stream__`), so `pyarrow.table(cols.arrow())`,
`polars.DataFrame(cols.arrow())` and DuckDB take the columns without copying and without this
package importing any of them (the core exports the numpy memory through the Arrow C data
interface). `Columns` is a dict, and pyarrow and polars read a dict as a mapping of plain numpy
arrays before they look for the protocol: hand them `cols.arrow()` for the typed view.

The types follow Databento's conventions, decided by the core from the column names
(`_core.column_role`): prices int64 in 1e-9 units with an empty side as null
(`price_type="float"`: float64, `"decimal"`: decimal128(19, 9)); times uint64 ns
(`pretty_ts=True`: timestamp[ns, UTC]); read_depth's 2-D columns as fixed-size lists.

DataFrames: `to_pandas()` / `to_polars()` take `price_type` and `pretty_ts` as
`databento.DBNStore.to_df` does (same defaults: float prices, UTC datetimes); an empty side is
NaN/null, never `UNDEF_PRICE`. pandas needs only numpy (2-D columns become one column per level,
`bid_px_00`...); polars imports the Arrow view. Both are optional extras
(`pip install mbo-fast[pandas]`, `[polars]`): ImportError names the extra when missing.
"""

from __future__ import annotations

import decimal
import importlib
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from . import _core

PriceType = Literal["fixed", "float", "decimal"]
_PRICE_TYPES = ("fixed", "float", "decimal")
_UNDEF_TIMESTAMP = np.uint64(2**64 - 1)
_PRICE_SCALE = 1_000_000_000


def _check_price_type(price_type: str) -> None:
    if price_type not in _PRICE_TYPES:
        raise ValueError(f"price_type must be one of {_PRICE_TYPES}, not {price_type!r}")


def _optional(module: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{module} is needed for this: pip install 'mbo-fast[{extra}]'") from err


class Columns(dict[str, NDArray[Any]]):
    """Named numpy columns of equal length; `pandas.DataFrame(cols)` and `polars.DataFrame(cols)`
    accept it as is (read_depth's 2-D columns: use `cols.level(i)` to flatten one level), and it
    is an Arrow table for pyarrow/polars/DuckDB (zero copy; see the module's doc)."""

    def __getattr__(self, name: str) -> NDArray[Any]:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __len__(self) -> int:  # rows, not columns: what a table user expects
        return 0 if not dict.__len__(self) else int(next(iter(self.values())).shape[0])

    def __repr__(self) -> str:
        return f"Columns(rows={len(self)}, columns={self.columns})"

    @property
    def columns(self) -> list[str]:
        return list(self.keys())

    def level(self, i: int) -> Columns:
        """read_depth: the 1-D columns of level i (0 = best), prefixed like MBP-10 (`bid_px_00`)."""
        out = Columns()
        for name, col in self.items():
            if col.ndim == 2:
                out[f"{name}_{i:02d}"] = col[:, i]
            else:
                out[name] = col
        return out

    def flat(self) -> Columns:
        """Every column 1-D: a 2-D column becomes one per level, `bid_px_00`, `bid_px_01`..."""
        out = Columns()
        for name, col in self.items():
            if col.ndim == 2:
                for i in range(col.shape[1]):
                    out[f"{name}_{i:02d}"] = col[:, i]
            else:
                out[name] = col
        return out

    # Arrow --------------------------------------------------------------------------------

    def arrow(self, *, price_type: PriceType = "fixed", pretty_ts: bool = False) -> ArrowColumns:
        """These columns for Arrow consumers, typed as the module's doc says (defaults: exact
        int64 prices, null on an empty side; uint64 times): `pyarrow.table(cols.arrow())`,
        `pyarrow.table(cols.arrow(price_type="decimal", pretty_ts=True))`."""
        return ArrowColumns(self, price_type, pretty_ts)

    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[Any, Any]:
        return self.arrow().__arrow_c_array__(requested_schema)

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> Any:
        return self.arrow().__arrow_c_stream__(requested_schema)

    # DataFrames ----------------------------------------------------------------------------

    def to_pandas(
        self, *, price_type: PriceType = "float", pretty_ts: bool = True
    ) -> Any:  # pandas.DataFrame (pandas is optional, untyped)
        """A pandas DataFrame (needs pandas, not pyarrow): prices as `price_type` says (`fixed`:
        nullable Int64; `float`: float64, NaN for an empty side; `decimal`: `decimal.Decimal`
        objects, None for an empty side), times as datetime64[ns, UTC] (`pretty_ts`, NaT where
        undefined) or uint64 ns; 2-D columns one per level (`bid_px_00`...)."""
        _check_price_type(price_type)
        pd = _optional("pandas", "pandas")
        data: dict[str, Any] = {}
        for name, col in self.flat().items():
            role = _core.column_role(name)
            if role == "price" and col.dtype == np.int64:
                data[name] = _pandas_prices(pd, col, price_type)
            elif role == "time" and col.dtype == np.uint64 and pretty_ts:
                stamps = col.astype(np.int64).astype("datetime64[ns]")
                stamps[col == _UNDEF_TIMESTAMP] = np.datetime64("NaT")
                data[name] = pd.to_datetime(stamps, utc=True)
            else:
                data[name] = col
        return pd.DataFrame(data)

    def to_polars(
        self, *, price_type: PriceType = "float", pretty_ts: bool = True
    ) -> Any:  # polars.DataFrame (optional)
        """A polars DataFrame of the Arrow view (no copy for integer columns): prices and times
        typed as `arrow(price_type=…, pretty_ts=…)` does, nulls for empty sides, 2-D columns as
        Array columns."""
        _check_price_type(price_type)
        pl = _optional("polars", "polars")
        return pl.DataFrame(self.arrow(price_type=price_type, pretty_ts=pretty_ts))


def _pandas_prices(pd: Any, col: NDArray[Any], price_type: str) -> Any:
    missing = col == _core.UNDEF_PRICE
    if price_type == "fixed":
        return pd.arrays.IntegerArray(col, missing)
    if price_type == "float":
        out = col / _PRICE_SCALE
        out[missing] = np.nan
        return out
    scale = decimal.Decimal(1).scaleb(-9)
    values = [
        None if m else decimal.Decimal(int(v)) * scale
        for v, m in zip(col.tolist(), missing.tolist())
    ]
    return np.array(values, dtype=object)


class ArrowColumns:
    """`Columns` for Arrow consumers, with the types asked (`Columns.arrow`): implements the Arrow
    PyCapsule protocol. The capsules share the numpy arrays' memory (not copied for fixed prices,
    integers and times as integers; converted types are computed once per export)."""

    def __init__(
        self, columns: Columns, price_type: str = "fixed", pretty_ts: bool = False
    ) -> None:
        _check_price_type(price_type)
        self._columns = [(name, np.ascontiguousarray(col)) for name, col in columns.items()]
        self._price_type = price_type
        self._pretty_ts = pretty_ts

    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[Any, Any]:
        # requested_schema is a hint the protocol lets a producer ignore.
        return _core.arrow_c_array(self._columns, self._price_type, self._pretty_ts)

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> Any:
        return _core.arrow_c_stream(self._columns, self._price_type, self._pretty_ts)
