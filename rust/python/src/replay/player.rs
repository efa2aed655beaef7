//! `Player`: one streaming client's cursor over a replay's shared records, producing JSON frames.

use std::sync::Mutex;

use mbo_fast_core::replay::player::{Frame, Player};
use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::book::lock;
use crate::errors::{to_py, EnterCore};

#[pyclass(frozen, name = "Player", module = "mbo_fast._core")]
pub struct PyPlayer {
    player: Mutex<Player>,
}

impl PyPlayer {
    pub fn new(player: Player) -> Self {
        PyPlayer {
            player: Mutex::new(player),
        }
    }
}

/// A frame as Python gets it: `(event, id, json)`.
pub type PyFrame<'py> = (&'static str, i64, Bound<'py, PyBytes>);

/// Frames as `(event, id, json)` tuples (shared by `Player` and `LiveMarket`).
pub fn to_py_frames(py: Python<'_>, frames: Vec<Frame>) -> Vec<PyFrame<'_>> {
    frames
        .into_iter()
        .map(|f| (f.kind.name(), f.index, PyBytes::new(py, f.json.as_bytes())))
        .collect()
}

#[pymethods]
impl PyPlayer {
    /// Go to the state after record `index` (or after every record with ts_recv <= `ts`), then
    /// on to the end of the book's event. Returns the trade frames met finishing that event.
    #[pyo3(signature = (index=None, ts=None))]
    fn seek<'py>(
        &self,
        py: Python<'py>,
        index: Option<usize>,
        ts: Option<u64>,
    ) -> PyResult<Vec<PyFrame<'py>>> {
        let frames = py.detach(|| {
            let mut player = lock(&self.player);
            match (index, ts) {
                (Some(index), None) => player.seek_index(index).map_err(Some),
                (None, Some(ts)) => player.seek_ts(ts).map_err(Some),
                _ => Err(None),
            }
        });
        match frames {
            Ok(frames) => Ok(to_py_frames(py, frames)),
            Err(Some(err)) => Err(match err {
                mbo_fast_core::Error::BadArgument { message } => PyIndexError::new_err(message),
                other => to_py(other),
            }),
            Err(None) => Err(PyValueError::new_err("give exactly one of index= or ts=")),
        }
    }

    fn rewind(&self, py: Python<'_>) -> PyResult<()> {
        py.enter_core(|| lock(&self.player).rewind())
    }

    /// `(index, json)` of the full state now.
    fn snapshot<'py>(&self, py: Python<'py>) -> (i64, Bound<'py, PyBytes>) {
        let frame = py.detach(|| lock(&self.player).snapshot());
        (frame.index, PyBytes::new(py, frame.json.as_bytes()))
    }

    /// Apply records up to and including `until_index` (or every record with ts_recv <=
    /// `until_ts`), then to the end of the book's event: `[(event, id, json), …]`.
    #[pyo3(signature = (until_index=None, until_ts=None))]
    fn advance<'py>(
        &self,
        py: Python<'py>,
        until_index: Option<usize>,
        until_ts: Option<u64>,
    ) -> PyResult<Vec<PyFrame<'py>>> {
        let frames = match (until_index, until_ts) {
            (Some(index), None) => py.enter_core(|| lock(&self.player).advance_to_index(index)),
            (None, Some(ts)) => py.enter_core(|| lock(&self.player).advance_to_ts(ts)),
            _ => {
                return Err(PyValueError::new_err(
                    "give exactly one of until_index= or until_ts=",
                ))
            }
        };
        Ok(to_py_frames(py, frames?))
    }

    #[getter]
    fn position(&self) -> usize {
        lock(&self.player).position()
    }

    /// Index of the last record applied (-1 before the first).
    #[getter]
    fn index(&self) -> i64 {
        lock(&self.player).index()
    }

    #[getter]
    fn ts_recv(&self) -> Option<u64> {
        lock(&self.player).ts_recv()
    }

    /// ts_recv of the next record to apply, None at the end.
    #[getter]
    fn next_ts_recv(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        py.enter_core(|| lock(&self.player).next_ts_recv())
    }

    #[getter]
    fn done(&self) -> bool {
        lock(&self.player).done()
    }
}
