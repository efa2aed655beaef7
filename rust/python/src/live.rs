//! `LiveMarket`: a market fed by live DBN bytes (any split), with subscriptions built per tick.

use std::sync::Mutex;

use mbo_fast_core::live::LiveMarket;
use mbo_fast_core::playback::Frame;
use mbo_fast_core::timing::bucket_bound_ns;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::books::lock;
use crate::errors::to_py;

#[pyclass(frozen, name = "LiveMarket", module = "mbo_fast._core")]
pub struct PyLiveMarket {
    live: Mutex<LiveMarket>,
}

type PyFrame<'py> = (&'static str, i64, Bound<'py, PyBytes>);

fn to_py_frames(py: Python<'_>, frames: Vec<Frame>) -> Vec<PyFrame<'_>> {
    frames
        .into_iter()
        .map(|f| (f.kind.name(), f.index, PyBytes::new(py, f.json.as_bytes())))
        .collect()
}

#[pymethods]
impl PyLiveMarket {
    #[new]
    #[pyo3(signature = (max_seq_jump=1))]
    fn new(max_seq_jump: u32) -> Self {
        PyLiveMarket {
            live: Mutex::new(LiveMarket::new(max_seq_jump)),
        }
    }

    /// Decode and apply a piece of the stream (GIL released); returns the records applied.
    /// Raises DecodeError on garbage: drop the connection, then `reconnect()`.
    fn feed(&self, py: Python<'_>, data: &[u8]) -> PyResult<u64> {
        py.detach(|| lock(&self.live).feed(data)).map_err(to_py)
    }

    /// A new connection: its bytes start with metadata; every book is marked stale.
    fn reconnect(&self) {
        lock(&self.live).reconnect();
    }

    fn subscribe(&self, instrument_id: u32, publisher_id: u16, depth: usize) -> PyResult<usize> {
        lock(&self.live)
            .subscribe(instrument_id, publisher_id, depth)
            .map_err(to_py)
    }

    fn unsubscribe(&self, id: usize) {
        lock(&self.live).unsubscribe(id);
    }

    /// `(index, json)` of the subscription's book now (remembered as sent).
    fn snapshot<'py>(&self, py: Python<'py>, id: usize) -> PyResult<(i64, Bound<'py, PyBytes>)> {
        let frame = py.detach(|| lock(&self.live).snapshot(id)).map_err(to_py)?;
        Ok((frame.index, PyBytes::new(py, frame.json.as_bytes())))
    }

    /// Frames since the last tick: `[(subscription, [(event, id, json), …]), …]`.
    fn tick<'py>(&self, py: Python<'py>) -> Vec<(usize, Vec<PyFrame<'py>>)> {
        let ticks = py.detach(|| lock(&self.live).tick());
        ticks
            .into_iter()
            .map(|(id, frames)| (id, to_py_frames(py, frames)))
            .collect()
    }

    /// Index of the last record applied (-1 before the first).
    #[getter]
    fn index(&self) -> i64 {
        lock(&self.live).index()
    }

    fn is_stale(&self, instrument_id: u32, publisher_id: u16) -> bool {
        lock(&self.live).is_stale((instrument_id, publisher_id))
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (stats, has_meta) = {
            let live = lock(&self.live);
            (live.stats(), live.metadata().is_some())
        };
        let out = PyDict::new(py);
        out.set_item("records", stats.records)?;
        out.set_item("bytes", stats.bytes)?;
        out.set_item("gaps", stats.gaps)?;
        out.set_item("missed", stats.missed)?;
        out.set_item("stale_books", stats.stale_books)?;
        out.set_item("connections", stats.connections)?;
        out.set_item("metadata", has_meta)?;
        Ok(out)
    }

    /// `{name: {bounds_ns, buckets, count, sum_ns}}` like `Replay.timings()`.
    fn timings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let snapshots = lock(&self.live).timings().snapshots();
        let bounds: Vec<u64> = (0..mbo_fast_core::timing::BUCKETS)
            .filter_map(bucket_bound_ns)
            .collect();
        let out = PyDict::new(py);
        for (name, snap) in snapshots {
            let hist = PyDict::new(py);
            hist.set_item("bounds_ns", &bounds)?;
            hist.set_item("buckets", snap.buckets)?;
            hist.set_item("count", snap.count)?;
            hist.set_item("sum_ns", snap.sum_ns)?;
            out.set_item(name, hist)?;
        }
        Ok(out)
    }

    /// The `mbo-fast book` JSON document of every book (as `Market.to_json()`).
    fn to_json(&self, py: Python<'_>) -> String {
        py.detach(|| mbo_fast_core::export::market_json(lock(&self.live).market()))
    }
}
