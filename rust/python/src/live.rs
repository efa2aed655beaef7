//! `LiveMarket`: a market fed by live DBN bytes (any split), with subscriptions built per tick.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use mbo_fast_core::book::json::write_book_state;
use mbo_fast_core::live::LiveMarket;
use mbo_fast_core::Book;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::book::lock;
use crate::errors::{to_py, EnterCore};
use crate::replay::cursor::timings_dict;
use crate::replay::player::{to_py_frames, PyFrame};

#[pyclass(frozen, name = "LiveMarket", module = "mbo_fast._core")]
pub struct PyLiveMarket {
    live: Mutex<LiveMarket>,
    /// `read_fd` wrote a wake byte the event loop has not acknowledged (`woken()`) yet.
    wake_pending: AtomicBool,
}

#[pymethods]
impl PyLiveMarket {
    #[new]
    #[pyo3(signature = (max_seq_jump=1))]
    fn new(max_seq_jump: u32) -> Self {
        PyLiveMarket {
            live: Mutex::new(LiveMarket::new(max_seq_jump)),
            wake_pending: AtomicBool::new(false),
        }
    }

    /// Decode and apply a piece of the stream (GIL released); returns the records applied.
    /// Raises DecodeError on garbage: drop the connection, then `reconnect()`.
    fn feed(&self, py: Python<'_>, data: &[u8]) -> PyResult<u64> {
        py.enter_core(|| lock(&self.live).feed(data))
    }

    /// Read the connected socket `fd` to its end, decoding and applying every read, entirely
    /// with the GIL released (no Python runs per read, so ingest never waits for the event
    /// loop). After a read that applied records, one byte is written to `wake_fd` (the write end
    /// of a non-blocking pipe the event loop watches) unless a wake is already pending; the loop
    /// calls `woken()` before it publishes. Returns when the stream ends (the peer closed it, or
    /// another thread called `shutdown()` on the socket); raises DecodeError on garbage and
    /// SourceError on a read error. The caller owns both fds (neither is closed) and must leave
    /// `fd` in blocking mode; a receive timeout on it (SO_RCVTIMEO) ends the call after that
    /// much silence with a SourceError whose errno is EAGAIN (an idle feed, not garbage).
    #[cfg(unix)]
    fn read_fd(&self, py: Python<'_>, fd: i32, wake_fd: i32) -> PyResult<()> {
        use std::fs::File;
        use std::io::Write;
        use std::mem::ManuallyDrop;
        use std::os::fd::FromRawFd;

        py.enter_core(|| {
            // SAFETY: the caller keeps both fds open for this call; ManuallyDrop never closes them.
            let mut conn = ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
            let mut wake = ManuallyDrop::new(unsafe { File::from_raw_fd(wake_fd) });
            mbo_fast_core::live::pump(&mut *conn, &self.live, || {
                if !self.wake_pending.swap(true, Ordering::AcqRel) {
                    // A full pipe already holds a wake byte: nothing is lost by a failed write.
                    let _ = wake.write(&[1]);
                }
            })
        })
    }

    /// The event loop took the wake `read_fd` sent: the next applied read sends another.
    fn woken(&self) {
        self.wake_pending.store(false, Ordering::Release);
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
        let frame = py.enter_core(|| lock(&self.live).snapshot(id))?;
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

    /// Publish on apply: `([(subscription, frames), …], due_s)`, the frames of every changed
    /// subscription whose last frames are at least `min_interval_s` old, and the seconds until
    /// the earliest one held back is due (None: none is). Call `published()` once handed over.
    #[allow(clippy::type_complexity)]
    fn publish<'py>(
        &self,
        py: Python<'py>,
        min_interval_s: f64,
    ) -> PyResult<(Vec<(usize, Vec<PyFrame<'py>>)>, Option<f64>)> {
        let interval = std::time::Duration::try_from_secs_f64(min_interval_s.max(0.0))
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        let (out, due) = py.detach(|| lock(&self.live).publish(interval));
        let out = out
            .into_iter()
            .map(|(id, frames)| (id, to_py_frames(py, frames)))
            .collect();
        Ok((out, due.map(|d| d.as_secs_f64())))
    }

    /// `publish()` with each subscription's frames already SSE-encoded (playback's framing:
    /// `id:`, `event:`, one `data:` line, CRLF) in one payload, built with the GIL released:
    /// `([(subscription, payload, (index, json) of its last book frame or None), …], due_s)`.
    #[allow(clippy::type_complexity)]
    fn publish_sse<'py>(
        &self,
        py: Python<'py>,
        min_interval_s: f64,
    ) -> PyResult<(
        Vec<(
            usize,
            Bound<'py, PyBytes>,
            Option<(i64, Bound<'py, PyBytes>)>,
        )>,
        Option<f64>,
    )> {
        let interval = std::time::Duration::try_from_secs_f64(min_interval_s.max(0.0))
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        let (out, due) = py.detach(|| {
            let (out, due) = lock(&self.live).publish(interval);
            let encoded: Vec<(usize, Vec<u8>, Option<(i64, String)>)> = out
                .into_iter()
                .map(|(id, frames)| {
                    let mut payload =
                        Vec::with_capacity(frames.iter().map(|f| f.json.len() + 48).sum::<usize>());
                    let mut last = None;
                    for f in frames {
                        use std::io::Write;
                        let _ = write!(
                            payload,
                            "id: {}\r\nevent: {}\r\ndata: {}\r\n\r\n",
                            f.index,
                            f.kind.name(),
                            f.json
                        );
                        if f.kind != mbo_fast_core::replay::player::FrameKind::Trade {
                            last = Some((f.index, f.json));
                        }
                    }
                    (id, payload, last)
                })
                .collect();
            (encoded, due)
        });
        let out = out
            .into_iter()
            .map(|(id, payload, last)| {
                (
                    id,
                    PyBytes::new(py, &payload),
                    last.map(|(i, j)| (i, PyBytes::new(py, j.as_bytes()))),
                )
            })
            .collect();
        Ok((out, due.map(|d| d.as_secs_f64())))
    }

    /// The frames of the last `publish()` are with the clients: record their latency.
    fn published(&self) {
        lock(&self.live).published();
    }

    /// Keep the raw bytes of every MBO record applied, for `take_records()`.
    fn set_persist(&self, on: bool) {
        lock(&self.live).set_persist(on);
    }

    /// The oldest chunk of applied records not taken yet, as `(bytes, records, ts_recv_first,
    /// ts_recv_last)`: whole records exactly as received, at most ~1 MiB. Call until None to
    /// take them all, in order; None unless persisting.
    #[allow(clippy::type_complexity)]
    fn take_records<'py>(&self, py: Python<'py>) -> Option<(Bound<'py, PyBytes>, u64, u64, u64)> {
        let chunk = lock(&self.live).take_records()?;
        Some((
            PyBytes::new(py, &chunk.bytes),
            chunk.records,
            chunk.ts_recv_first,
            chunk.ts_recv_last,
        ))
    }

    /// Index of the last record applied (-1 before the first).
    #[getter]
    fn index(&self) -> i64 {
        lock(&self.live).index()
    }

    /// The publishers with a book for `instrument_id` so far, ascending.
    fn publishers(&self, instrument_id: u32) -> Vec<u16> {
        let live = lock(&self.live);
        let keys = live.market().keys();
        keys.into_iter()
            .filter(|&(iid, _)| iid == instrument_id)
            .map(|(_, pid)| pid)
            .collect()
    }

    /// Every `(instrument_id, publisher_id)` with a book so far, sorted.
    fn book_keys(&self) -> Vec<(u32, u16)> {
        let mut keys = lock(&self.live).market().keys();
        keys.sort_unstable();
        keys
    }

    /// `(index, JSON)`: the index of the last record applied and the state part of the book's
    /// `/api/v1/book` document (`book::json::write_book_state`: top `depth` levels, with their
    /// queues when `orders`; an empty book before its first record), read together.
    #[pyo3(signature = (instrument_id, publisher_id, depth=None, orders=false))]
    fn book_state<'py>(
        &self,
        py: Python<'py>,
        instrument_id: u32,
        publisher_id: u16,
        depth: Option<usize>,
        orders: bool,
    ) -> (i64, Bound<'py, PyBytes>) {
        let (index, json) = py.detach(|| {
            let live = lock(&self.live);
            let mut json = String::new();
            let empty;
            let book = match live.market().book(instrument_id, publisher_id) {
                Some(book) => book,
                None => {
                    empty = Book::new(instrument_id, publisher_id);
                    &empty
                }
            };
            write_book_state(&mut json, book, depth.unwrap_or(usize::MAX), orders);
            (live.index(), json)
        });
        (index, PyBytes::new(py, json.as_bytes()))
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
        let counts = lock(&self.live).timings().counts();
        timings_dict(py, counts)
    }

    /// The `mbo-fast book` JSON document of every book (as `Market.to_json()`).
    fn to_json(&self, py: Python<'_>) -> String {
        py.detach(|| mbo_fast_core::book::json::market_json(lock(&self.live).market()))
    }
}
