//! Captured columns (a core `Table`) as a dict of numpy arrays, handed over without copying:
//! each column's values become the array's memory.

use mbo_fast_core::table::{Column, Kind, Table};
use numpy::{IntoPyArray, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `{name: array}` in the table's column order; `(rows, width)` arrays for depth's levels.
pub fn table_dict(py: Python<'_>, table: Table) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    for column in table.columns {
        let name = column.name.clone();
        dict.set_item(name, column_array(py, column)?)?;
    }
    Ok(dict)
}

fn column_array(py: Python<'_>, column: Column) -> PyResult<Bound<'_, PyAny>> {
    let shape = column.width.map(|width| (column.rows(), width));
    macro_rules! array {
        ($t:ty) => {{
            let array = column.into_vec::<$t>().into_pyarray(py);
            match shape {
                Some(dims) => array.reshape(dims)?.into_any(),
                None => array.into_any(),
            }
        }};
    }
    Ok(match column.kind {
        Kind::U8 => array!(u8),
        Kind::U16 => array!(u16),
        Kind::U32 => array!(u32),
        Kind::U64 => array!(u64),
        Kind::I64 => array!(i64),
        Kind::F64 => array!(f64),
    })
}
