//! `Conversion`: an MBO stream to a derived schema (`mbo_fast.convert`), a step at a time so
//! Python can show progress and be interrupted between steps; `derived_record_fields`: the
//! numpy dtype of each derived schema's records.

use std::sync::Mutex;

use mbo_fast_core::derive::convert::{Conversion, Target};
use mbo_fast_core::derive::layout::record_fields;
use mbo_fast_core::derive::{BoundaryPolicy, DerivedSchema};
use mbo_fast_core::Source;
use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;

use crate::book::lock;
use crate::errors::{to_py, EnterCore};
use crate::source::{OwnedSource, RawSource};

type DtypeFields = (Vec<(String, &'static str, usize)>, usize);

/// `(fields, itemsize)` of `schema`'s records: each field as `(name, numpy format, offset)`.
#[pyfunction]
pub fn derived_record_fields(schema: &str) -> PyResult<DtypeFields> {
    let schema = DerivedSchema::parse(schema).map_err(to_py)?;
    Ok(record_fields(schema))
}

#[pyclass(frozen, name = "Conversion", module = "mbo_fast._core")]
pub struct PyConversion {
    /// Declared before `_sources`, so it is dropped first: it reads them. `None` once finished.
    conversion: Mutex<Option<Conversion<'static>>>,
    _sources: Vec<OwnedSource>,
    schema: DerivedSchema,
}

#[pymethods]
impl PyConversion {
    /// Check every source and create the output: a DBN file at `path` (zstd when `zstd`),
    /// written under a temporary name, or the records in memory when `path` is None.
    #[new]
    #[pyo3(signature = (sources, schema, path=None, zstd=false, policy=None))]
    fn new(
        py: Python<'_>,
        sources: Vec<RawSource<'_>>,
        schema: &str,
        path: Option<String>,
        zstd: bool,
        policy: Option<&str>,
    ) -> PyResult<Self> {
        let schema = DerivedSchema::parse(schema).map_err(to_py)?;
        let policy = policy
            .map(BoundaryPolicy::parse)
            .transpose()
            .map_err(to_py)?;
        let owned: Vec<OwnedSource> = sources.into_iter().map(OwnedSource::new).collect();
        // SAFETY: the conversion that reads these is stored beside `owned` and dropped first.
        let unbounded: Vec<Source<'static>> = owned
            .iter()
            .map(|source| unsafe { source.as_source_unbounded(py) })
            .collect();
        let target = match path {
            Some(path) => Target::File { path, zstd },
            None => Target::Records,
        };
        let conversion =
            py.enter_core(move || Conversion::new(unbounded, schema, policy, target))?;
        Ok(PyConversion {
            conversion: Mutex::new(Some(conversion)),
            _sources: owned,
            schema,
        })
    }

    /// Databento's name of the output schema.
    #[getter]
    fn schema(&self) -> &'static str {
        self.schema.name()
    }

    /// Read up to `max_records` more MBO records (GIL released); True once every input is read.
    /// An error ends the conversion: the output file is removed.
    fn step(&self, py: Python<'_>, max_records: u64) -> PyResult<bool> {
        py.enter_core(|| {
            let mut guard = lock(&self.conversion);
            let Some(conversion) = guard.as_mut() else {
                return Ok(true);
            };
            let result = conversion.step(max_records);
            if result.is_err() {
                *guard = None; // drops the pending file
            }
            result
        })
    }

    /// MBO records read so far.
    #[getter]
    fn records_read(&self, py: Python<'_>) -> u64 {
        py.detach(|| {
            lock(&self.conversion)
                .as_ref()
                .map_or(0, |c| c.records_read())
        })
    }

    /// At most this many MBO records in all (known when every input is an uncompressed file).
    #[getter]
    fn estimated_records(&self, py: Python<'_>) -> Option<u64> {
        py.detach(|| {
            lock(&self.conversion)
                .as_ref()
                .and_then(|c| c.estimated_records())
        })
    }

    /// Run to the end and complete the output: the file gets its name. Returns the records'
    /// bytes (uint8) and the index of the MBO record each was produced at, both empty for a
    /// file. Once only.
    #[allow(clippy::type_complexity)]
    fn finish<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyArray1<u8>>, Bound<'py, PyArray1<u64>>)> {
        let records = py.enter_core(|| {
            let conversion = lock(&self.conversion).take().ok_or_else(|| {
                mbo_fast_core::Error::bad_argument("the conversion is already finished")
            })?;
            conversion.finish()
        })?;
        Ok((
            records.bytes.into_pyarray(py),
            records.indexes.into_pyarray(py),
        ))
    }

    /// Stop without completing the output (the file is removed).
    fn abort(&self, py: Python<'_>) {
        py.detach(|| drop(lock(&self.conversion).take()));
    }
}
