//! `DepthExport`: the JSON-lines depth export a chunk at a time (the core's resumable pass).

use std::sync::Mutex;

use mbo_fast_core::capture::export::DepthExport;
use mbo_fast_core::capture::Filter;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::book::lock;
use crate::errors::EnterCore;
use crate::source::{OwnedSource, RawSource};

#[pyclass(frozen, name = "DepthExport", module = "mbo_fast._core")]
pub struct PyDepthExport {
    /// Declared before `_source`, so it is dropped first: it reads the source.
    export: Mutex<DepthExport<'static>>,
    /// The source a file or bytes export reads (a stored one holds its recording itself).
    _source: Option<OwnedSource>,
}

impl PyDepthExport {
    /// The export of a stored recording's records `[from, to)`.
    pub fn stored(export: DepthExport<'static>) -> Self {
        PyDepthExport {
            export: Mutex::new(export),
            _source: None,
        }
    }
}

#[pymethods]
impl PyDepthExport {
    #[new]
    #[pyo3(signature = (source, depth, instrument_id=None, publisher_id=None, chunk_bytes=262144))]
    fn new(
        py: Python<'_>,
        source: RawSource<'_>,
        depth: usize,
        instrument_id: Option<u32>,
        publisher_id: Option<u16>,
        chunk_bytes: usize,
    ) -> PyResult<Self> {
        let owned = OwnedSource::new(source);
        // SAFETY: the export that reads `unbounded` is stored beside `owned` and dropped first.
        let unbounded = unsafe { owned.as_source_unbounded(py) };
        let filter = Filter {
            instrument_id,
            publisher_id,
        };
        let export =
            py.enter_core(move || DepthExport::open(unbounded, depth, filter, chunk_bytes))?;
        Ok(PyDepthExport {
            export: Mutex::new(export),
            _source: Some(owned),
        })
    }

    /// The next whole lines (about `chunk_bytes`; b"" at the end), decoded, applied and
    /// formatted with the GIL released. Raises DecodeError after the lines before it.
    fn next_chunk<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let chunk = py.enter_core(|| {
            lock(&self.export)
                .next_chunk()
                .map(|chunk| chunk.map(<[u8]>::to_vec).unwrap_or_default())
        })?;
        Ok(PyBytes::new(py, &chunk))
    }

    /// Lines produced so far.
    #[getter]
    fn lines(&self, py: Python<'_>) -> u64 {
        py.detach(|| lock(&self.export).lines())
    }
}
