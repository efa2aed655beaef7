//! Whole-stream functions: decode + apply + capture in one GIL-released pass.

pub mod arrow;
pub mod batches;
pub mod columns;
pub mod export;

use std::fs::File;

use mbo_fast_core::capture::export::export_depth_jsonl as export_jsonl;
use mbo_fast_core::capture::{self, Filter};
use mbo_fast_core::Error;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::errors::EnterCore;
use crate::source::RawSource;

fn filter(instrument_id: Option<u32>, publisher_id: Option<u16>) -> Filter {
    Filter {
        instrument_id,
        publisher_id,
    }
}

#[pyfunction]
#[pyo3(signature = (source, instrument_id=None, publisher_id=None))]
pub fn read_bbo_columns<'py>(
    py: Python<'py>,
    source: RawSource<'py>,
    instrument_id: Option<u32>,
    publisher_id: Option<u16>,
) -> PyResult<Bound<'py, PyDict>> {
    let source = source.as_source();
    let filter = filter(instrument_id, publisher_id);
    let columns = py.enter_core(move || capture::read_bbo(source, filter))?;
    columns::table_dict(py, columns.into_table())
}

#[pyfunction]
#[pyo3(signature = (source, depth, instrument_id=None, publisher_id=None))]
pub fn read_depth_columns<'py>(
    py: Python<'py>,
    source: RawSource<'py>,
    depth: usize,
    instrument_id: Option<u32>,
    publisher_id: Option<u16>,
) -> PyResult<Bound<'py, PyDict>> {
    let source = source.as_source();
    let filter = filter(instrument_id, publisher_id);
    let columns = py.enter_core(move || capture::read_depth(source, depth, filter))?;
    columns::table_dict(py, columns.into_table())
}

/// Every book's top `depth` levels at every multiple of `every` ns of `ts_recv`.
#[pyfunction]
#[pyo3(signature = (source, depth, every, only_changed=true))]
pub fn read_snapshot_columns<'py>(
    py: Python<'py>,
    source: RawSource<'py>,
    depth: usize,
    every: u64,
    only_changed: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let source = source.as_source();
    let columns =
        py.enter_core(move || capture::read_snapshots(source, depth, every, only_changed))?;
    columns::table_dict(py, columns.into_table())
}

#[pyfunction]
#[pyo3(signature = (source, instrument_id=None, publisher_id=None))]
pub fn read_records<'py>(
    py: Python<'py>,
    source: RawSource<'py>,
    instrument_id: Option<u32>,
    publisher_id: Option<u16>,
) -> PyResult<Bound<'py, PyDict>> {
    let source = source.as_source();
    let filter = filter(instrument_id, publisher_id);
    let columns = py.enter_core(move || capture::read_records_where(source, filter))?;
    columns::table_dict(py, columns.into_table())
}

/// Writes to `path` and returns the number of lines, or returns the bytes when `path` is None.
#[pyfunction]
#[pyo3(signature = (source, depth, path=None, instrument_id=None, publisher_id=None))]
pub fn export_depth_jsonl<'py>(
    py: Python<'py>,
    source: RawSource<'py>,
    depth: usize,
    path: Option<String>,
    instrument_id: Option<u32>,
    publisher_id: Option<u16>,
) -> PyResult<Bound<'py, PyAny>> {
    if depth == 0 {
        return Err(PyValueError::new_err("depth must be >= 1"));
    }
    let source = source.as_source();
    let filter = filter(instrument_id, publisher_id);
    match path {
        Some(path) => {
            let lines = py.enter_core(move || {
                // Unbuffered: the export hands the file 1 MiB chunks of whole lines.
                let mut file = File::create(&path).map_err(|err| Error::Output {
                    path: path.clone(),
                    source: err,
                })?;
                export_jsonl(source, depth, filter, &mut file, &path)
            })?;
            Ok(lines.into_pyobject(py)?.into_any())
        }
        None => {
            let bytes = py.enter_core(move || {
                let mut out = Vec::new();
                export_jsonl(source, depth, filter, &mut out, "<memory>").map(|_| out)
            })?;
            Ok(PyBytes::new(py, &bytes).into_any())
        }
    }
}

/// A DBN header's fields as a dict (`info()["metadata"]`, stored sources).
pub fn metadata_dict<'py>(py: Python<'py>, meta: &dbn::Metadata) -> PyResult<Bound<'py, PyDict>> {
    let metadata = PyDict::new(py);
    metadata.set_item("version", meta.version)?;
    metadata.set_item("dataset", &meta.dataset)?;
    metadata.set_item("schema", meta.schema.map(|s| s.to_string()))?;
    metadata.set_item("start", meta.start)?;
    metadata.set_item("end", meta.end.map(|e| e.get()))?;
    metadata.set_item("stype_in", meta.stype_in.map(|s| s.to_string()))?;
    metadata.set_item("stype_out", meta.stype_out.to_string())?;
    metadata.set_item("ts_out", meta.ts_out)?;
    metadata.set_item("symbols", meta.symbols.clone())?;
    Ok(metadata)
}

#[pyfunction]
pub fn info<'py>(py: Python<'py>, source: RawSource<'py>) -> PyResult<Bound<'py, PyDict>> {
    let source = source.as_source();
    let info = py.enter_core(move || mbo_fast_core::capture::info::info(source))?;
    let metadata = metadata_dict(py, &info.metadata)?;

    let by_action = PyDict::new(py);
    for (action, count) in &info.by_action {
        by_action.set_item(action.to_string(), count)?;
    }
    let books = info
        .books
        .iter()
        .map(|(&(iid, pid), &records)| -> PyResult<Bound<'py, PyDict>> {
            let book = PyDict::new(py);
            book.set_item("instrument_id", iid)?;
            book.set_item("publisher_id", pid)?;
            book.set_item("records", records)?;
            book.set_item("symbol", info.symbols.get(&iid))?;
            if let Some(state) = info.market.book(iid, pid) {
                let anomalies = PyDict::new(py);
                for (name, count) in state.anomalies.as_pairs() {
                    anomalies.set_item(name, count)?;
                }
                book.set_item("anomalies", anomalies)?;
                book.set_item("orders", state.order_count())?;
            }
            Ok(book)
        })
        .collect::<PyResult<Vec<_>>>()?;

    let out = PyDict::new(py);
    out.set_item("metadata", metadata)?;
    out.set_item("records", info.records)?;
    out.set_item("skipped_records", info.skipped)?;
    out.set_item("by_action", by_action)?;
    out.set_item("f_last", info.f_last)?;
    out.set_item("snapshot_records", info.snapshot_records)?;
    out.set_item("crossed_boundaries", info.crossed_boundaries)?;
    out.set_item("ts_recv_range", info.ts_recv_range)?;
    out.set_item("ts_event_range", info.ts_event_range)?;
    out.set_item("instruments", info.symbols.clone())?;
    out.set_item("books", books)?;
    Ok(out)
}
