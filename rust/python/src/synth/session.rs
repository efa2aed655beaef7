//! `simulate`: a synthetic session as DBN bytes or a file, generated with the GIL released.

use mbo_fast_core::synth::session::{self, SessionConfig};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{to_py, EnterCore};

/// Generate a session (see `mbo_fast_core::synth::session`): written to `path` (zstd when it ends in
/// `.zst`; returns the record count) or returned as DBN bytes (zstd-compressed with `zstd`).
#[pyfunction]
#[pyo3(signature = (
    seed, records, instruments, path=None, zstd=false, tick=None, start_price=None, start=None,
    publisher_id=1, pre_open_events=None
))]
#[allow(clippy::too_many_arguments)]
pub fn simulate_session<'py>(
    py: Python<'py>,
    seed: u64,
    records: u64,
    instruments: u32,
    path: Option<String>,
    zstd: bool,
    tick: Option<i64>,
    start_price: Option<i64>,
    start: Option<u64>,
    publisher_id: u16,
    pre_open_events: Option<u64>,
) -> PyResult<Bound<'py, PyAny>> {
    let defaults = SessionConfig::default();
    let config = SessionConfig {
        seed,
        records,
        instruments,
        tick: tick.unwrap_or(defaults.tick),
        start_price: start_price.unwrap_or(defaults.start_price),
        start: start.unwrap_or(defaults.start),
        publisher_id,
        pre_open_events,
    };
    config.validate().map_err(to_py)?;
    match path {
        Some(path) => {
            let written = py.enter_core(|| session::simulate_to_file(&config, &path))?;
            Ok(written.into_pyobject(py)?.into_any())
        }
        None => {
            let bytes = py.enter_core(|| session::simulate_dbn_bytes(&config, zstd))?;
            Ok(PyBytes::new(py, &bytes).into_any())
        }
    }
}
