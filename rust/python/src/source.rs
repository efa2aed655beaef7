//! What `mbo_fast` hands the core: a path string or DBN bytes (normalised in `_source.py`).

use mbo_fast_core::Source;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

#[derive(FromPyObject)]
pub enum RawSource<'py> {
    Path(String),
    Bytes(Bound<'py, PyBytes>),
}

impl RawSource<'_> {
    /// Borrow as a core source. `bytes` objects are immutable, so the slice stays valid while
    /// the GIL is released for as long as `self` holds its reference.
    pub fn as_source(&self) -> Source<'_> {
        match self {
            RawSource::Path(path) => Source::Path(path),
            RawSource::Bytes(bytes) => Source::Bytes(bytes.as_bytes()),
        }
    }
}
