//! `Market`: every book of one or more streams, applied with the GIL released.

use std::sync::{Arc, Mutex};

use mbo_fast_core::book::json::market_json;
use mbo_fast_core::book::snapshot::Stamp;
use mbo_fast_core::Market;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::{book_view, lock, snapshot_bytes, snapshot_key, Bbo, Owner, PyBook, PyConsolidated};
use crate::errors::EnterCore;
use crate::source::RawSource;

/// Every book of one or more streams.
#[pyclass(frozen, name = "Market", module = "mbo_fast._core")]
pub struct PyMarket {
    market: Arc<Mutex<Market>>,
    record_count: Mutex<u64>,
}

#[pymethods]
impl PyMarket {
    #[new]
    fn new() -> Self {
        PyMarket {
            market: Arc::new(Mutex::new(Market::new())),
            record_count: Mutex::new(0),
        }
    }

    /// Decode and apply every record of `source` with the GIL released.
    fn apply(&self, py: Python<'_>, source: RawSource<'_>) -> PyResult<u64> {
        let source = source.as_source();
        let market = Arc::clone(&self.market);
        let applied = py.enter_core(move || lock(&market).apply_stream(source))?;
        *lock(&self.record_count) += applied;
        Ok(applied)
    }

    #[getter]
    fn record_count(&self) -> u64 {
        *lock(&self.record_count)
    }

    fn book(&self, instrument_id: u32, publisher_id: u16) -> PyResult<PyBook> {
        let keys = lock(&self.market).keys();
        book_view(&self.owner(), &keys, instrument_id, publisher_id)
    }

    fn books(&self) -> Vec<PyBook> {
        let keys = lock(&self.market).keys();
        keys.into_iter()
            .map(|(iid, pid)| PyBook::new(self.owner(), iid, pid))
            .collect()
    }

    fn consolidated_bbo(&self, instrument_id: u32) -> Bbo {
        let (bid, ask) = lock(&self.market).consolidated_top(instrument_id);
        Bbo::new(bid, ask)
    }

    /// One instrument's top `depth` levels per side summed over its publishers.
    fn consolidated(&self, py: Python<'_>, instrument_id: u32, depth: usize) -> PyConsolidated {
        self.owner().consolidated(py, instrument_id, depth)
    }

    /// `Book.state_json` of one book, an empty book's when it has no record.
    #[pyo3(signature = (instrument_id, publisher_id, depth=None, orders=false))]
    fn book_state_json<'py>(
        &self,
        py: Python<'py>,
        instrument_id: u32,
        publisher_id: u16,
        depth: Option<usize>,
        orders: bool,
    ) -> Bound<'py, PyBytes> {
        let key = (instrument_id, publisher_id);
        self.owner().book_state_json(py, key, depth, orders)
    }

    fn to_json(&self, py: Python<'_>) -> String {
        let market = Arc::clone(&self.market);
        py.detach(move || market_json(&lock(&market)))
    }

    /// The books as a DBN stream of snapshot records (one book, or every book), stamped
    /// `ts_recv`; built and encoded with the GIL released.
    #[pyo3(signature = (instrument_id=None, publisher_id=None, ts_recv=0))]
    fn snapshot_dbn<'py>(
        &self,
        py: Python<'py>,
        instrument_id: Option<u32>,
        publisher_id: Option<u16>,
        ts_recv: u64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let key = snapshot_key(instrument_id, publisher_id)?;
        let market = Arc::clone(&self.market);
        if let Some((iid, pid)) = key {
            if lock(&market).book(iid, pid).is_none() {
                return Err(PyKeyError::new_err(format!(
                    "no book for instrument_id={iid}, publisher_id={pid}"
                )));
            }
        }
        let stamp = Stamp {
            ts_recv,
            ts_event: ts_recv,
        };
        let bytes = py.enter_core(move || snapshot_bytes(&lock(&market), key, stamp))?;
        Ok(PyBytes::new(py, &bytes))
    }
}

impl PyMarket {
    fn owner(&self) -> Owner {
        Owner::Market(Arc::clone(&self.market))
    }
}
