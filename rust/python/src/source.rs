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

/// A source kept by an object that reads it across calls (a resumable pass): the path, or a
/// reference to the immutable `bytes` object, so the data outlives the call that handed it over.
pub enum OwnedSource {
    Path(String),
    Bytes(Py<PyBytes>),
}

impl OwnedSource {
    pub fn new(raw: RawSource<'_>) -> Self {
        match raw {
            RawSource::Path(path) => OwnedSource::Path(path),
            RawSource::Bytes(bytes) => OwnedSource::Bytes(bytes.unbind()),
        }
    }

    /// Borrow as a core source whose lifetime the compiler cannot see.
    ///
    /// # Safety
    /// The result must not be used after `self` is dropped. What it points to never moves while
    /// `self` lives: a `String`'s heap buffer, or the buffer of a `bytes` object, which Python
    /// never changes nor frees while a reference to the object is held.
    pub unsafe fn as_source_unbounded(&self, py: Python<'_>) -> Source<'static> {
        let source = match self {
            OwnedSource::Path(path) => Source::Path(path.as_str()),
            OwnedSource::Bytes(bytes) => Source::Bytes(bytes.bind(py).as_bytes()),
        };
        // SAFETY: see above; only the lifetime changes.
        unsafe { std::mem::transmute::<Source<'_>, Source<'static>>(source) }
    }
}
