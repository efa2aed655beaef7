//! `Batches`: a capture's columns a batch at a time (the core's `capture::batches`), and the
//! Parquet export that streams them into a file.

use std::sync::Mutex;

use mbo_fast_core::capture::batches::{write_parquet as write_batches, Batches};
use mbo_fast_core::capture::Filter;
use mbo_fast_core::table::parquet::ParquetOptions;
use mbo_fast_core::table::{ArrowOptions, PriceType};
use mbo_fast_core::Error;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::columns::table_dict;
use crate::book::lock;
use crate::errors::{to_py, EnterCore};
use crate::source::{OwnedSource, RawSource};

/// What a batched capture produces: "bbo", "depth" (with `depth` levels) or "records".
fn open<'a>(
    source: mbo_fast_core::Source<'a>,
    what: &str,
    depth: usize,
    filter: Filter,
    batch_rows: usize,
) -> mbo_fast_core::Result<Batches<'a>> {
    match what {
        "bbo" => Batches::bbo(source, filter, batch_rows),
        "depth" => Batches::depth(source, depth, filter, batch_rows),
        "records" => Batches::records(source, filter, batch_rows),
        other => Err(Error::bad_argument(format!(
            "what must be \"bbo\", \"depth\" or \"records\", not {other:?}"
        ))),
    }
}

#[pyclass(frozen, name = "Batches", module = "mbo_fast._core")]
pub struct PyBatches {
    /// Declared before `_source`, so it is dropped first: it reads the source.
    batches: Mutex<Batches<'static>>,
    _source: OwnedSource,
}

#[pymethods]
impl PyBatches {
    #[new]
    #[pyo3(signature = (source, what, depth=10, instrument_id=None, publisher_id=None, batch_rows=65536))]
    fn new(
        py: Python<'_>,
        source: RawSource<'_>,
        what: &str,
        depth: usize,
        instrument_id: Option<u32>,
        publisher_id: Option<u16>,
        batch_rows: usize,
    ) -> PyResult<Self> {
        let owned = OwnedSource::new(source);
        // SAFETY: the batches that read `unbounded` are stored beside `owned` and dropped first.
        let unbounded = unsafe { owned.as_source_unbounded(py) };
        let filter = Filter {
            instrument_id,
            publisher_id,
        };
        let what = what.to_owned();
        let batches = py.enter_core(move || open(unbounded, &what, depth, filter, batch_rows))?;
        Ok(PyBatches {
            batches: Mutex::new(batches),
            _source: owned,
        })
    }

    /// The next batch's columns (decoded and applied with the GIL released), or None after the
    /// last. A DecodeError comes after the batch of the rows before it.
    fn next_batch<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        match py.enter_core(|| lock(&self.batches).next_table())? {
            Some(table) => Ok(Some(table_dict(py, table)?)),
            None => Ok(None),
        }
    }

    /// MBO records read so far.
    #[getter]
    fn records_read(&self, py: Python<'_>) -> u64 {
        py.detach(|| lock(&self.batches).records_read())
    }
}

/// Stream a capture into a Parquet file at `path` (zstd row groups, the DBN metadata in the
/// key-value metadata); returns the rows written.
#[pyfunction]
#[pyo3(signature = (source, path, what, depth=10, instrument_id=None, publisher_id=None, price_type="fixed", pretty_ts=false, batch_rows=65536, row_group_rows=1048576))]
#[allow(clippy::too_many_arguments)]
pub fn write_parquet(
    py: Python<'_>,
    source: RawSource<'_>,
    path: String,
    what: &str,
    depth: usize,
    instrument_id: Option<u32>,
    publisher_id: Option<u16>,
    price_type: &str,
    pretty_ts: bool,
    batch_rows: usize,
    row_group_rows: usize,
) -> PyResult<u64> {
    let source = source.as_source();
    let filter = Filter {
        instrument_id,
        publisher_id,
    };
    let options = ParquetOptions {
        arrow: ArrowOptions {
            price_type: PriceType::parse(price_type).map_err(to_py)?,
            pretty_ts,
        },
        row_group_rows,
        ..Default::default()
    };
    let what = what.to_owned();
    py.enter_core(move || {
        let batches = open(source, &what, depth, filter, batch_rows)?;
        write_batches(batches, &path, options)
    })
}
