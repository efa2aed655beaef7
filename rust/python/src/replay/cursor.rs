//! `Replay`: a seekable cursor over a stream held in memory.

use std::sync::{Arc, Mutex};

use mbo_fast_core::book::snapshot::Stamp;
use mbo_fast_core::replay::player::Player;
use mbo_fast_core::replay::timing::{bucket_bound_ns, HistogramCounts};
use mbo_fast_core::{Recording, Replay};

use pyo3::exceptions::{PyIndexError, PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::book::{
    book_view, lock, snapshot_bytes, snapshot_key, Bbo, Owner, PyBook, PyConsolidated,
};
use crate::errors::EnterCore;
use crate::replay::player::PyPlayer;
use crate::source::RawSource;

#[pyclass(frozen, name = "Replay", module = "mbo_fast._core")]
pub struct PyReplay {
    replay: Arc<Mutex<Replay>>,
    /// The shared records (and their timings), readable without the cursor's lock.
    recording: Arc<Recording>,
}

impl PyReplay {
    /// A Python cursor over a recording (`Recording.replay()`).
    pub fn over(recording: Arc<Recording>, replay: Replay) -> Self {
        PyReplay {
            recording,
            replay: Arc::new(Mutex::new(replay)),
        }
    }

    fn owner(&self) -> Owner {
        Owner::Replay(Arc::clone(&self.replay))
    }

    /// The shared records and checkpoints (a Backtest can start over them).
    pub fn recording(&self) -> &Arc<Recording> {
        &self.recording
    }
}

#[pymethods]
impl PyReplay {
    #[new]
    #[pyo3(signature = (source, checkpoint_every=None))]
    fn new(
        py: Python<'_>,
        source: RawSource<'_>,
        checkpoint_every: Option<usize>,
    ) -> PyResult<Self> {
        let source = source.as_source();
        let replay = py.enter_core(move || Replay::open(source, checkpoint_every))?;
        Ok(PyReplay {
            recording: Arc::clone(replay.recording()),
            replay: Arc::new(Mutex::new(replay)),
        })
    }

    fn __len__(&self) -> usize {
        lock(&self.replay).len()
    }

    /// Records between checkpoints as asked (rounded up to whole blocks); None for a stored
    /// recording cut elsewhere.
    #[getter]
    fn checkpoint_every(&self) -> Option<usize> {
        self.recording.layout().map(|l| l.checkpoint_every)
    }

    /// `(count, bytes)` of the stored checkpoints (bytes 0 when a database holds them).
    #[getter]
    fn checkpoints(&self) -> (usize, u64) {
        (
            self.recording.checkpoint_count(),
            self.recording.stored_size().checkpoints,
        )
    }

    #[getter]
    fn position(&self) -> usize {
        lock(&self.replay).position()
    }

    #[getter]
    fn ts_recv(&self) -> Option<u64> {
        lock(&self.replay).ts_recv()
    }

    #[pyo3(signature = (index=None, ts=None))]
    fn seek(&self, py: Python<'_>, index: Option<i64>, ts: Option<u64>) -> PyResult<usize> {
        let replay = Arc::clone(&self.replay);
        match (index, ts) {
            (Some(index), None) => {
                let len = lock(&replay).len() as i64;
                // Negative indexes count from the end, as in Python sequences.
                let index = if index < 0 { index + len } else { index };
                if index < 0 || index >= len {
                    return Err(PyIndexError::new_err(format!(
                        "index out of range: 0 <= index < {len}"
                    )));
                }
                py.enter_core(move || lock(&replay).seek_index(index as usize))
            }
            (None, Some(ts)) => py.enter_core(move || lock(&replay).seek_ts(ts)),
            _ => Err(PyValueError::new_err("give exactly one of index= or ts=")),
        }
    }

    #[pyo3(signature = (n=1))]
    fn step(&self, py: Python<'_>, n: usize) -> PyResult<usize> {
        let replay = Arc::clone(&self.replay);
        py.enter_core(move || lock(&replay).step(n))
    }

    fn rewind(&self, py: Python<'_>) -> PyResult<()> {
        let replay = Arc::clone(&self.replay);
        py.enter_core(move || lock(&replay).seek_position(0).map(drop))
    }

    fn book(&self, instrument_id: u32, publisher_id: u16) -> PyResult<PyBook> {
        let keys = self.recording.keys();
        book_view(&self.owner(), &keys, instrument_id, publisher_id)
    }

    fn books(&self) -> Vec<PyBook> {
        let keys = lock(&self.replay).market().keys();
        keys.into_iter()
            .map(|(iid, pid)| PyBook::new(self.owner(), iid, pid))
            .collect()
    }

    fn consolidated_bbo(&self, instrument_id: u32) -> Bbo {
        let (bid, ask) = lock(&self.replay).market().consolidated_top(instrument_id);
        Bbo::new(bid, ask)
    }

    /// `Market.consolidated` at the current position.
    fn consolidated(&self, py: Python<'_>, instrument_id: u32, depth: usize) -> PyConsolidated {
        self.owner().consolidated(py, instrument_id, depth)
    }

    /// The books at the current position as a DBN stream of snapshot records (one book, or
    /// every book), stamped with the last applied record's times. A book of the stream that
    /// does not exist yet at this position gives a stream with no records. Built and encoded
    /// with the GIL released.
    #[pyo3(signature = (instrument_id=None, publisher_id=None))]
    fn snapshot_dbn<'py>(
        &self,
        py: Python<'py>,
        instrument_id: Option<u32>,
        publisher_id: Option<u16>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let key = snapshot_key(instrument_id, publisher_id)?;
        if let Some((iid, pid)) = key {
            if !self.recording.has_key((iid, pid)) {
                return Err(PyKeyError::new_err(format!(
                    "no book for instrument_id={iid}, publisher_id={pid}"
                )));
            }
        }
        let replay = Arc::clone(&self.replay);
        let bytes = py.enter_core(move || {
            let replay = lock(&replay);
            let stamp = match replay.last_record() {
                Some(last) => Stamp {
                    ts_recv: last.ts_recv,
                    ts_event: last.hd.ts_event,
                },
                None => Stamp::default(),
            };
            snapshot_bytes(replay.market(), key, stamp)
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// A streaming cursor for one book, sharing this replay's records and checkpoints.
    #[pyo3(signature = (instrument_id, publisher_id, depth=10))]
    fn player(&self, instrument_id: u32, publisher_id: u16, depth: usize) -> PyResult<PyPlayer> {
        let recording = Arc::clone(&self.recording);
        Player::new(recording, instrument_id, publisher_id, depth)
            .map(PyPlayer::new)
            .map_err(|err| PyKeyError::new_err(err.to_string()))
    }

    /// Latency histograms of every cursor and player over this replay's records:
    /// `{name: {"bounds_ns": [...], "buckets": [...], "count": n, "sum_ns": s}}` with
    /// log-linear bucket upper bounds in ns, four per power of two (`buckets` has one more entry
    /// than `bounds_ns`: the +Inf bucket), and non-cumulative counts. Read without the GIL or
    /// the cursor's lock.
    fn timings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let recording = Arc::clone(&self.recording);
        let counts = py.detach(move || recording.timings().counts());
        timings_dict(py, counts)
    }

    fn record<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyDict>> {
        let recording = Arc::clone(&self.recording);
        let msg = py
            .enter_core(move || recording.record(index))?
            .ok_or_else(|| PyIndexError::new_err(format!("record index {index} out of range")))?;
        let dict = PyDict::new(py);
        dict.set_item("index", index)?;
        dict.set_item("ts_recv", msg.ts_recv)?;
        dict.set_item("ts_event", msg.hd.ts_event)?;
        dict.set_item("instrument_id", msg.hd.instrument_id)?;
        dict.set_item("publisher_id", msg.hd.publisher_id)?;
        dict.set_item("order_id", msg.order_id)?;
        dict.set_item("price", msg.price)?;
        dict.set_item("size", msg.size)?;
        dict.set_item("flags", msg.flags.raw())?;
        dict.set_item("action", char::from(msg.action as u8).to_string())?;
        dict.set_item("side", char::from(msg.side as u8).to_string())?;
        dict.set_item("sequence", msg.sequence)?;
        dict.set_item("channel_id", msg.channel_id)?;
        Ok(dict)
    }
}

/// Latency histograms as `{name: {bounds_ns, buckets, count, sum_ns}}` (shared by `Replay` and
/// `LiveMarket`).
pub fn timings_dict<'py>(
    py: Python<'py>,
    counts: Vec<(&'static str, HistogramCounts)>,
) -> PyResult<Bound<'py, PyDict>> {
    let bounds: Vec<u64> = (0..mbo_fast_core::replay::timing::BUCKETS)
        .filter_map(bucket_bound_ns)
        .collect();
    let out = PyDict::new(py);
    for (name, snap) in counts {
        let hist = PyDict::new(py);
        hist.set_item("bounds_ns", &bounds)?;
        hist.set_item("buckets", snap.buckets)?;
        hist.set_item("count", snap.count)?;
        hist.set_item("sum_ns", snap.sum_ns)?;
        out.set_item(name, hist)?;
    }
    Ok(out)
}
