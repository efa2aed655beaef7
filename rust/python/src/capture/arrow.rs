//! Captured columns (numpy arrays) to Arrow through the C data interface, as the PyCapsules of
//! the Arrow PyCapsule protocol (`__arrow_c_array__`, `__arrow_c_stream__`): pyarrow, polars
//! and DuckDB import them without copying and without this package depending on any of them.
//!
//! Each array's memory becomes an Arrow buffer that keeps the array alive (no copy); the types
//! are the core's (`mbo_fast_core::table`: prices, times, depth levels). Arrays must be
//! C-contiguous (`mbo_fast.Columns` makes them so before calling).

use std::panic::AssertUnwindSafe;
use std::ptr::NonNull;
use std::sync::Arc;

use arrow_array::ffi::to_ffi;
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{Array, RecordBatch, RecordBatchIterator, StructArray};
use arrow_buffer::Buffer;
use mbo_fast_core::table::{ArrowOptions, Column, Kind, PriceType, Role, Table};
use mbo_fast_core::Error;
use numpy::{PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::errors::to_py;

/// `"price"`, `"time"` or `"plain"`: how a column of this name is typed (the core's rule, so
/// `Columns.to_pandas` types a column as Arrow does).
#[pyfunction]
pub fn column_role(name: &str) -> &'static str {
    Role::of(name).as_str()
}

/// The columns as one Arrow record batch: `(schema capsule, array capsule)` of a struct array.
#[pyfunction]
#[pyo3(signature = (columns, price_type="fixed", pretty_ts=false))]
pub fn arrow_c_array<'py>(
    py: Python<'py>,
    columns: Vec<(String, Bound<'py, PyAny>)>,
    price_type: &str,
    pretty_ts: bool,
) -> PyResult<(Bound<'py, PyCapsule>, Bound<'py, PyCapsule>)> {
    let batch = record_batch(columns, price_type, pretty_ts)?;
    let data = StructArray::from(batch).into_data();
    let (array, schema) = to_ffi(&data).map_err(|err| PyValueError::new_err(err.to_string()))?;
    Ok((
        PyCapsule::new_with_value(py, schema, c"arrow_schema")?,
        PyCapsule::new_with_value(py, array, c"arrow_array")?,
    ))
}

/// The columns as an Arrow stream of one record batch.
#[pyfunction]
#[pyo3(signature = (columns, price_type="fixed", pretty_ts=false))]
pub fn arrow_c_stream<'py>(
    py: Python<'py>,
    columns: Vec<(String, Bound<'py, PyAny>)>,
    price_type: &str,
    pretty_ts: bool,
) -> PyResult<Bound<'py, PyCapsule>> {
    let batch = record_batch(columns, price_type, pretty_ts)?;
    let schema = batch.schema();
    let reader = RecordBatchIterator::new([Ok(batch)], schema);
    let stream = FFI_ArrowArrayStream::new(Box::new(reader));
    PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
}

fn record_batch(
    columns: Vec<(String, Bound<'_, PyAny>)>,
    price_type: &str,
    pretty_ts: bool,
) -> PyResult<RecordBatch> {
    let options = ArrowOptions {
        price_type: PriceType::parse(price_type).map_err(to_py)?,
        pretty_ts,
    };
    let columns = columns
        .into_iter()
        .map(|(name, array)| numpy_column(name, &array))
        .collect::<PyResult<Vec<_>>>()?;
    Table { columns }.to_record_batch(options).map_err(to_py)
}

/// A numpy array as a column sharing its memory: 1-D, or 2-D `(rows, levels)`.
fn numpy_column(name: String, array: &Bound<'_, PyAny>) -> PyResult<Column> {
    let bad = |message: String| to_py(Error::bad_argument(format!("column {name}: {message}")));
    let array = array
        .cast::<PyUntypedArray>()
        .map_err(|_| bad("not a numpy array".into()))?;
    let dtype: String = array.dtype().getattr("str")?.extract()?;
    let kind = Kind::from_numpy(&dtype).ok_or_else(|| bad(format!("unsupported dtype {dtype}")))?;
    let width = match array.shape() {
        [_] => None,
        [_, width] => Some(*width),
        shape => return Err(bad(format!("{} dimensions", shape.len()))),
    };
    if !array.is_c_contiguous() {
        return Err(bad("not C-contiguous".into()));
    }
    let bytes = array.len() * kind.size();
    // The address of the first element (numpy's array interface, whatever its C ABI).
    let address: usize = array
        .getattr("__array_interface__")?
        .get_item("data")?
        .get_item(0)?
        .extract()?;
    let data = address as *mut u8;
    let values = match NonNull::new(data) {
        // Arrow reads values in place: they must be aligned to their type (numpy's own
        // allocations are; a view into a packed record may not be, and is copied).
        Some(ptr) if bytes > 0 && (ptr.as_ptr() as usize).is_multiple_of(kind.size()) => {
            let owner = Arc::new(AssertUnwindSafe(array.clone().unbind()));
            // SAFETY: a C-contiguous array holds `bytes` bytes from `data`; the buffer keeps the
            // array (and so its memory) alive through `owner`.
            unsafe { Buffer::from_custom_allocation(ptr, bytes, owner) }
        }
        Some(ptr) if bytes > 0 => {
            // SAFETY: as above; copied at once.
            Buffer::from_slice_ref(unsafe { std::slice::from_raw_parts(ptr.as_ptr(), bytes) })
        }
        _ => Buffer::from_vec(Vec::<u64>::new()),
    };
    Ok(Column {
        name,
        kind,
        width,
        values,
    })
}
