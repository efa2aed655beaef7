//! Captured columns as a dict of numpy arrays, handed over without copying.

use mbo_fast_core::capture::{
    BboColumns, DepthColumns, RecordColumns, RowKeys, SideColumns, SnapshotColumns,
};
use numpy::{IntoPyArray, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

fn put_keys(dict: &Bound<'_, PyDict>, keys: RowKeys) -> PyResult<()> {
    let py = dict.py();
    dict.set_item("index", keys.index.into_pyarray(py))?;
    dict.set_item("ts_recv", keys.ts_recv.into_pyarray(py))?;
    dict.set_item("ts_event", keys.ts_event.into_pyarray(py))?;
    dict.set_item("instrument_id", keys.instrument_id.into_pyarray(py))?;
    dict.set_item("publisher_id", keys.publisher_id.into_pyarray(py))?;
    Ok(())
}

/// `{prefix}_px`, `{prefix}_sz`, `{prefix}_ct`; 2-D `(rows, depth)` when `depth` is given.
fn put_side(
    dict: &Bound<'_, PyDict>,
    prefix: &str,
    side: SideColumns,
    depth: Option<usize>,
) -> PyResult<()> {
    let py = dict.py();
    let rows = |len: usize| depth.map(|d| (len / d.max(1), d));
    macro_rules! put {
        ($name:literal, $vec:expr) => {{
            let shape = rows($vec.len());
            let array = $vec.into_pyarray(py);
            match shape {
                Some(dims) => dict.set_item(format!("{prefix}_{}", $name), array.reshape(dims)?)?,
                None => dict.set_item(format!("{prefix}_{}", $name), array)?,
            }
        }};
    }
    put!("px", side.px);
    put!("sz", side.sz);
    put!("ct", side.ct);
    Ok(())
}

pub fn bbo_dict(py: Python<'_>, columns: BboColumns) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    put_keys(&dict, columns.keys)?;
    put_side(&dict, "bid", columns.bid, None)?;
    put_side(&dict, "ask", columns.ask, None)?;
    Ok(dict)
}

pub fn depth_dict(py: Python<'_>, columns: DepthColumns) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    let depth = Some(columns.depth);
    put_keys(&dict, columns.keys)?;
    put_side(&dict, "bid", columns.bid, depth)?;
    put_side(&dict, "ask", columns.ask, depth)?;
    Ok(dict)
}

pub fn snapshot_dict(py: Python<'_>, columns: SnapshotColumns) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    let depth = Some(columns.depth);
    dict.set_item("ts", columns.ts.into_pyarray(py))?;
    put_keys(&dict, columns.keys)?;
    put_side(&dict, "bid", columns.bid, depth)?;
    put_side(&dict, "ask", columns.ask, depth)?;
    Ok(dict)
}

pub fn records_dict(py: Python<'_>, columns: RecordColumns) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    put_keys(&dict, columns.keys)?;
    dict.set_item("order_id", columns.order_id.into_pyarray(py))?;
    dict.set_item("price", columns.price.into_pyarray(py))?;
    dict.set_item("size", columns.size.into_pyarray(py))?;
    dict.set_item("flags", columns.flags.into_pyarray(py))?;
    dict.set_item("action", columns.action.into_pyarray(py))?;
    dict.set_item("side", columns.side.into_pyarray(py))?;
    dict.set_item("sequence", columns.sequence.into_pyarray(py))?;
    dict.set_item("channel_id", columns.channel_id.into_pyarray(py))?;
    Ok(dict)
}
