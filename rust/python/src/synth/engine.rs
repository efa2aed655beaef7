//! `MatchingEngine`: the matching engine of one instrument, recording GLBX-shaped MBO records.

use std::sync::Mutex;

use mbo_fast_core::capture::RecordColumns;
use mbo_fast_core::synth::engine::{
    MatchingEngine, MatchingError, OrderKind, Submitted, TimeInForce,
};
use mbo_fast_core::Error;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::book::{lock, parse_side, resting_tuple, RestingTuple};
use crate::capture::columns;
use crate::dbn::{options, write_records};
use crate::errors::{to_py, EnterCore};

fn engine_err(err: MatchingError) -> PyErr {
    to_py(Error::from(err))
}

fn size_arg(size: i64) -> PyResult<u32> {
    match u32::try_from(size) {
        Ok(0) | Err(_) if size <= 0 => Err(PyValueError::new_err(format!(
            "order size must be >= 1, not {size}"
        ))),
        Ok(size) => Ok(size),
        Err(_) => Err(PyValueError::new_err(format!(
            "order size {size} does not fit in 32 bits"
        ))),
    }
}

fn parse_tif(tif: &str) -> PyResult<TimeInForce> {
    match tif.to_ascii_uppercase().as_str() {
        "GTC" | "DAY" => Ok(TimeInForce::Gtc),
        "IOC" => Ok(TimeInForce::Ioc),
        "FOK" => Ok(TimeInForce::Fok),
        _ => Err(PyValueError::new_err(format!(
            "tif must be 'GTC', 'IOC' or 'FOK', not {tif:?}"
        ))),
    }
}

fn submitted(s: Submitted) -> (u64, u32, u32) {
    (s.order_id, s.filled, s.resting)
}

struct State {
    engine: MatchingEngine,
    /// Records taken so far: the `index` of the next record handed out.
    taken: u64,
}

/// A price-time priority matching engine for one instrument that records GLBX.MDP3-shaped
/// MBO records for everything it does.
#[pyclass(frozen, name = "MatchingEngine", module = "mbo_fast._core")]
pub struct PyMatchingEngine {
    state: Mutex<State>,
}

impl PyMatchingEngine {
    fn with<T>(&self, f: impl FnOnce(&mut MatchingEngine) -> T) -> T {
        f(&mut lock(&self.state).engine)
    }
}

#[pymethods]
impl PyMatchingEngine {
    #[new]
    #[pyo3(signature = (
        instrument_id, publisher_id, tick, channel_id=0, first_order_id=1, first_sequence=1,
        recv_latency_ns=None, pre_open=false
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        instrument_id: u32,
        publisher_id: u16,
        tick: i64,
        channel_id: u8,
        first_order_id: u64,
        first_sequence: u32,
        recv_latency_ns: Option<u64>,
        pre_open: bool,
    ) -> PyResult<Self> {
        let mut engine =
            MatchingEngine::new(instrument_id, publisher_id, tick).map_err(engine_err)?;
        engine.emitter.channel_id = channel_id;
        engine.set_next_order_id(first_order_id);
        engine.set_next_sequence(first_sequence);
        if let Some(latency) = recv_latency_ns {
            engine.emitter.recv_latency_ns = latency;
        }
        engine.set_pre_open(pre_open);
        Ok(PyMatchingEngine {
            state: Mutex::new(State { engine, taken: 0 }),
        })
    }

    #[getter]
    fn instrument_id(&self) -> u32 {
        self.with(|e| e.instrument_id())
    }

    #[getter]
    fn publisher_id(&self) -> u16 {
        self.with(|e| e.publisher_id())
    }

    #[getter]
    fn tick(&self) -> i64 {
        self.with(|e| e.tick)
    }

    #[getter]
    fn pre_open(&self) -> bool {
        self.with(|e| e.pre_open())
    }

    fn set_pre_open(&self, pre_open: bool) {
        self.with(|e| e.set_pre_open(pre_open));
    }

    #[pyo3(signature = (ts, side, size, price=None, tif="GTC"))]
    fn submit(
        &self,
        ts: u64,
        side: &str,
        size: i64,
        price: Option<i64>,
        tif: &str,
    ) -> PyResult<(u64, u32, u32)> {
        let side = parse_side(side)?;
        let size = size_arg(size)?;
        let tif = parse_tif(tif)?;
        let kind = match price {
            Some(price) => OrderKind::Limit { price },
            None => OrderKind::Market,
        };
        self.with(|e| e.submit(ts, side, kind, size, tif))
            .map(submitted)
            .map_err(engine_err)
    }

    fn cancel(&self, ts: u64, order_id: u64) -> PyResult<u32> {
        self.with(|e| e.cancel(ts, order_id)).map_err(engine_err)
    }

    fn modify(&self, ts: u64, order_id: u64, price: i64, size: i64) -> PyResult<(u64, u32, u32)> {
        let size = size_arg(size)?;
        self.with(|e| e.modify(ts, order_id, price, size))
            .map(submitted)
            .map_err(engine_err)
    }

    #[pyo3(signature = (ts, reference=None))]
    fn open(&self, ts: u64, reference: Option<i64>) -> PyResult<Option<(i64, u64)>> {
        self.with(|e| e.open(ts, reference)).map_err(engine_err)
    }

    fn open_at(&self, ts: u64, price: i64) -> PyResult<u64> {
        self.with(|e| e.open_at(ts, price)).map_err(engine_err)
    }

    #[pyo3(signature = (side, depth=None))]
    fn levels(&self, side: &str, depth: Option<usize>) -> PyResult<Vec<(i64, u64, u32)>> {
        let side = parse_side(side)?;
        let mut levels = self.with(|e| e.levels(side));
        levels.truncate(depth.unwrap_or(usize::MAX));
        Ok(levels)
    }

    fn orders(&self, side: &str, price: i64) -> PyResult<Vec<(u64, u32)>> {
        let side = parse_side(side)?;
        Ok(self.with(|e| e.queue(side, price)))
    }

    fn order(&self, order_id: u64) -> Option<RestingTuple> {
        self.with(|e| e.order(order_id).map(resting_tuple))
    }

    #[getter]
    fn order_count(&self) -> usize {
        self.with(|e| e.order_count())
    }

    /// Records emitted and not yet taken.
    #[getter]
    fn pending(&self) -> usize {
        self.with(|e| e.records().len())
    }

    /// The records emitted since the last take, as numpy columns (like `read_records`).
    fn take_records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (records, first) = {
            let mut state = lock(&self.state);
            let records = state.engine.take_records();
            let first = state.taken;
            state.taken += records.len() as u64;
            (records, first)
        };
        let columns = py.enter_core(move || RecordColumns::from_records(first, &records))?;
        columns::table_dict(py, columns.into_table())
    }

    /// Take the pending records as a DBN stream: written to `path` (zstd for `.zst`; returns
    /// the record count) or returned as bytes.
    #[pyo3(signature = (path=None, symbols=Vec::new(), zstd=false))]
    fn take_dbn<'py>(
        &self,
        py: Python<'py>,
        path: Option<String>,
        symbols: Vec<String>,
        zstd: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let records = {
            let mut state = lock(&self.state);
            let records = state.engine.take_records();
            state.taken += records.len() as u64;
            records
        };
        write_records(py, &records, path, &options(symbols, zstd))
    }

    fn __repr__(&self) -> String {
        self.with(|e| {
            format!(
                // the public class is `mbo_fast.Engine`, whose repr this is
                "Engine(instrument_id={}, publisher_id={}, tick={}, orders={}, pending={})",
                e.instrument_id(),
                e.publisher_id(),
                e.tick,
                e.order_count(),
                e.records().len()
            )
        })
    }
}
