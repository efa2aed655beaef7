//! Core errors as the Python exceptions of `mbo_fast.errors` (defined in Python so they can
//! inherit from both `MboError` and the matching builtin, e.g. `OSError`).

use mbo_fast_core::Error;
use pyo3::exceptions::PyValueError;
use pyo3::marker::Ungil;
use pyo3::{PyErr, PyResult, Python};

pyo3::import_exception!(mbo_fast.errors, DecodeError);
pyo3::import_exception!(mbo_fast.errors, OutOfMemoryError);
pyo3::import_exception!(mbo_fast.errors, SchemaError);
pyo3::import_exception!(mbo_fast.errors, SourceError);
pyo3::import_exception!(mbo_fast.errors, StoreError);

pub fn to_py(err: Error) -> PyErr {
    match err {
        Error::Source {
            ref path,
            ref source,
        }
        | Error::Output {
            ref path,
            ref source,
        } => {
            let errno = source.raw_os_error().unwrap_or(0);
            SourceError::new_err((errno, err.to_string(), path.clone()))
        }
        Error::Decode { offset, .. } => DecodeError::new_err((err.to_string(), offset)),
        Error::Schema { message } => SchemaError::new_err((message, Option::<u64>::None)),
        Error::BadArgument { message } => PyValueError::new_err(message),
        Error::Store { message } => StoreError::new_err(message),
        Error::OutOfMemory { bytes, .. } => OutOfMemoryError::new_err((err.to_string(), bytes)),
    }
}

/// Release the GIL, run a call into the core, and map its error to the Python exception: how
/// every binding runs work that takes time (after polars' `py.enter_polars`), written once.
pub trait EnterCore {
    fn enter_core<T, F>(self, f: F) -> PyResult<T>
    where
        F: Ungil + FnOnce() -> mbo_fast_core::Result<T>,
        T: Send;
}

impl EnterCore for Python<'_> {
    #[inline]
    fn enter_core<T, F>(self, f: F) -> PyResult<T>
    where
        F: Ungil + FnOnce() -> mbo_fast_core::Result<T>,
        T: Send,
    {
        self.detach(f).map_err(to_py)
    }
}
