//! `Backtest`: simulated limit orders against real MBO history (see `mbo_fast_core::backtest`).
//! The strategy loop lives in Python (`mbo_fast.backtest`); `run` here advances to the next
//! pause with the GIL released.

use std::sync::{Arc, Mutex};

use mbo_fast_core::backtest::{At, Backtest, Fill, Pause, SimOrder, Stop, Until};
use mbo_fast_core::{Side, Top};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::book::{lock, parse_side, Bbo};
use crate::errors::{to_py, EnterCore};
use crate::replay::cursor::PyReplay;
use crate::source::RawSource;

/// A fill of a simulated order (`mbo_fast.backtest.Fill` is built from it by name).
#[pyclass(frozen, get_all, name = "Fill", module = "mbo_fast._core")]
pub struct PyFill {
    order_id: u64,
    /// ts_recv of the trade record, or the arrival time for `entry` fills.
    ts: u64,
    /// The trade record that filled the order; None for `entry` fills.
    record_index: Option<u64>,
    price: i64,
    size: u32,
    /// "entry", "queue" or "through".
    kind: &'static str,
    orders_ahead_at_entry: u32,
    volume_ahead_at_entry: u64,
}

impl From<&Fill> for PyFill {
    fn from(f: &Fill) -> Self {
        PyFill {
            order_id: f.order_id,
            ts: f.ts,
            record_index: f.record_index,
            price: f.price,
            size: f.size,
            kind: f.kind.as_str(),
            orders_ahead_at_entry: f.orders_ahead_at_entry,
            volume_ahead_at_entry: f.volume_ahead_at_entry,
        }
    }
}

/// A simulated order's state (`mbo_fast.backtest.OrderState` is built from it by name).
#[pyclass(frozen, get_all, name = "OrderState", module = "mbo_fast._core")]
pub struct PyOrderState {
    order_id: u64,
    instrument_id: u32,
    publisher_id: u16,
    /// "B" or "A".
    side: String,
    price: i64,
    size: u32,
    filled: u32,
    remaining: u32,
    /// "pending", "open", "filled" or "cancelled".
    status: &'static str,
    request_ts: u64,
    /// When the order (last) joined its queue; None while pending.
    entry_ts: Option<u64>,
    orders_ahead_at_entry: u32,
    volume_ahead_at_entry: u64,
}

impl From<&SimOrder> for PyOrderState {
    fn from(o: &SimOrder) -> Self {
        PyOrderState {
            order_id: o.id,
            instrument_id: o.key.0,
            publisher_id: o.key.1,
            side: char::from(o.side.as_byte()).to_string(),
            price: o.price,
            size: o.size,
            filled: o.filled,
            remaining: o.remaining,
            status: o.status.as_str(),
            request_ts: o.request_ts,
            entry_ts: o.entry_ts,
            orders_ahead_at_entry: o.orders_ahead_at_entry,
            volume_ahead_at_entry: o.volume_ahead_at_entry,
        }
    }
}

#[pyclass(frozen, name = "Backtest", module = "mbo_fast._core")]
pub struct PyBacktest {
    inner: Arc<Mutex<Backtest>>,
}

fn at(at_ts: Option<u64>, at_index: Option<usize>) -> PyResult<At> {
    match (at_ts, at_index) {
        (None, None) => Ok(At::Now),
        (Some(ts), None) => Ok(At::Ts(ts)),
        (None, Some(index)) => Ok(At::Index(index)),
        _ => Err(PyValueError::new_err(
            "give at most one of at_ts= or at_index=",
        )),
    }
}

fn size_arg(size: i64) -> PyResult<u32> {
    u32::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .ok_or_else(|| PyValueError::new_err(format!("size must be in 1..=2**32-1, not {size}")))
}

#[pymethods]
impl PyBacktest {
    #[new]
    #[pyo3(signature = (source, latency_ns=0))]
    fn new(py: Python<'_>, source: RawSource<'_>, latency_ns: u64) -> PyResult<Self> {
        let source = source.as_source();
        let backtest = py.enter_core(move || Backtest::open(source, latency_ns))?;
        Ok(PyBacktest {
            inner: Arc::new(Mutex::new(backtest)),
        })
    }

    /// Over a Replay's records (shared, not copied), from its nearest market checkpoint at or
    /// before `position`; the checkpoint's market is cloned with the GIL released.
    #[staticmethod]
    #[pyo3(signature = (replay, position=0, latency_ns=0))]
    fn from_replay(
        py: Python<'_>,
        replay: PyRef<'_, PyReplay>,
        position: usize,
        latency_ns: u64,
    ) -> PyResult<Self> {
        let recording = Arc::clone(replay.recording());
        let backtest =
            py.enter_core(move || Backtest::from_recording(recording, position, latency_ns))?;
        Ok(PyBacktest {
            inner: Arc::new(Mutex::new(backtest)),
        })
    }

    fn __len__(&self) -> usize {
        lock(&self.inner).len()
    }

    #[getter]
    fn position(&self) -> usize {
        lock(&self.inner).position()
    }

    #[getter]
    fn now(&self) -> u64 {
        lock(&self.inner).now()
    }

    #[getter]
    fn latency_ns(&self) -> u64 {
        lock(&self.inner).latency_ns()
    }

    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (instrument_id, publisher_id, side, price, size, at_ts=None, at_index=None))]
    fn place(
        &self,
        instrument_id: u32,
        publisher_id: u16,
        side: &str,
        price: i64,
        size: i64,
        at_ts: Option<u64>,
        at_index: Option<usize>,
    ) -> PyResult<u64> {
        let side = parse_side(side)?;
        let size = size_arg(size)?;
        let when = at(at_ts, at_index)?;
        lock(&self.inner)
            .place(
                (instrument_id, publisher_id),
                side.as_byte(),
                price,
                size,
                when,
            )
            .map_err(to_py)
    }

    #[pyo3(signature = (order_id, at_ts=None, at_index=None))]
    fn cancel(&self, order_id: u64, at_ts: Option<u64>, at_index: Option<usize>) -> PyResult<bool> {
        let when = at(at_ts, at_index)?;
        lock(&self.inner).cancel(order_id, when).map_err(to_py)
    }

    #[pyo3(signature = (order_id, price=None, size=None, at_ts=None, at_index=None))]
    fn modify(
        &self,
        order_id: u64,
        price: Option<i64>,
        size: Option<i64>,
        at_ts: Option<u64>,
        at_index: Option<usize>,
    ) -> PyResult<bool> {
        let size = size.map(size_arg).transpose()?;
        let when = at(at_ts, at_index)?;
        lock(&self.inner)
            .modify(order_id, price, size, when)
            .map_err(to_py)
    }

    /// Advance to `until` or the next pause. Returns ("done", None), ("boundary", index),
    /// ("scheduled", ts) or ("record", index).
    #[pyo3(signature = (until_ts=None, until_index=None, pause="never", book=None, every=None))]
    fn run(
        &self,
        py: Python<'_>,
        until_ts: Option<u64>,
        until_index: Option<usize>,
        pause: &str,
        book: Option<(u32, u16)>,
        every: Option<u64>,
    ) -> PyResult<(&'static str, Option<u64>)> {
        let until = match (until_ts, until_index) {
            (None, None) => Until::End,
            (Some(ts), None) => Until::Ts(ts),
            (None, Some(index)) => Until::Index(index),
            _ => {
                return Err(PyValueError::new_err(
                    "give at most one of until_ts= or until_index=",
                ))
            }
        };
        let pause = match (pause, every) {
            ("never", _) => Pause::Never,
            ("boundary", _) => Pause::Boundary(book),
            ("record", _) => Pause::Record,
            ("every", Some(every)) => Pause::Every(every),
            _ => {
                return Err(PyValueError::new_err(format!(
                    "pause must be 'never', 'boundary', 'record' or 'every' (with every=), \
                     not {pause:?}"
                )))
            }
        };
        let inner = Arc::clone(&self.inner);
        let stop = py.enter_core(move || lock(&inner).run(until, pause))?;
        Ok(match stop {
            Stop::Done => ("done", None),
            Stop::Boundary(index) => ("boundary", Some(index)),
            Stop::Scheduled(ts) => ("scheduled", Some(ts)),
            Stop::Record(index) => ("record", Some(index)),
        })
    }

    fn fills(&self) -> Vec<PyFill> {
        lock(&self.inner).fills().iter().map(PyFill::from).collect()
    }

    fn orders(&self) -> Vec<PyOrderState> {
        lock(&self.inner)
            .orders()
            .iter()
            .map(PyOrderState::from)
            .collect()
    }

    fn order(&self, order_id: u64) -> PyResult<PyOrderState> {
        lock(&self.inner)
            .order(order_id)
            .map(PyOrderState::from)
            .map_err(to_py)
    }

    fn queue_position(&self, order_id: u64) -> PyResult<Option<(u32, u64)>> {
        lock(&self.inner).queue_position(order_id).map_err(to_py)
    }

    /// The historical orders ahead of an open order now, in queue order: (order_id, size).
    fn ahead(&self, order_id: u64) -> PyResult<Vec<(u64, u32)>> {
        lock(&self.inner).ahead(order_id).map_err(to_py)
    }

    /// (order_id, size) resting at a price of a historical book now, in queue order.
    fn orders_at(
        &self,
        instrument_id: u32,
        publisher_id: u16,
        side: &str,
        price: i64,
    ) -> PyResult<Vec<(u64, u32)>> {
        let side = parse_side(side)?;
        let inner = lock(&self.inner);
        Ok(inner
            .market()
            .book(instrument_id, publisher_id)
            .map(|book| book.orders_at(side, price))
            .unwrap_or_default())
    }

    /// Best bid/offer of a historical book now (empty if the book has not appeared yet).
    fn bbo(&self, instrument_id: u32, publisher_id: u16) -> Bbo {
        let inner = lock(&self.inner);
        match inner.market().book(instrument_id, publisher_id) {
            Some(book) => Bbo::new(book.top(Side::Bid), book.top(Side::Ask)),
            None => Bbo::new(Top::EMPTY, Top::EMPTY),
        }
    }

    /// (price, size, count) per level of a historical book now, best first.
    #[pyo3(signature = (instrument_id, publisher_id, side, depth=None))]
    fn levels(
        &self,
        instrument_id: u32,
        publisher_id: u16,
        side: &str,
        depth: Option<usize>,
    ) -> PyResult<Vec<(i64, u64, u32)>> {
        let side = parse_side(side)?;
        let inner = lock(&self.inner);
        Ok(inner
            .market()
            .book(instrument_id, publisher_id)
            .map(|book| {
                book.levels(side)
                    .take(depth.unwrap_or(usize::MAX))
                    .map(|l| (l.price, l.size, l.count))
                    .collect()
            })
            .unwrap_or_default())
    }
}
