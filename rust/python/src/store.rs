//! The block store's bindings: `Recording` (a stream as stored blocks, in memory or read through
//! two Python callables from a database), `BlockImport` (a stream cut into blocks on background
//! threads, handed out one block at a time), and the process-wide decoded-block cache.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use mbo_fast_core::capture::export::DepthExport;
use mbo_fast_core::capture::Filter;
use mbo_fast_core::dbn::framer::mbo_records;
use mbo_fast_core::replay::player::Player;
use mbo_fast_core::store::codec::Encoder;
use mbo_fast_core::store::{
    build_blocks, cache, query, raster, writer, BlockMeta, BlockSource, BlockWriter, BookStats,
    Layout, Recording, StoredBlock,
};
use mbo_fast_core::{Error, Replay, Result, Source};
use pyo3::exceptions::{PyKeyError, PyStopIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::book::lock;
use crate::capture::export::PyDepthExport;
use crate::capture::metadata_dict;
use crate::errors::{to_py, EnterCore};
use crate::replay::cursor::{timings_dict, PyReplay};
use crate::replay::player::PyPlayer;
use crate::source::RawSource;

/// `(first_index, records, ts_first, ts_last, ts_max)`
type MetaTuple = (u64, u32, u64, u64, u64);

fn meta_tuple(m: &BlockMeta) -> MetaTuple {
    (m.first_index, m.records, m.ts_first, m.ts_last, m.ts_max)
}

fn meta_of(t: MetaTuple) -> BlockMeta {
    BlockMeta {
        first_index: t.0,
        records: t.1,
        ts_first: t.2,
        ts_last: t.3,
        ts_max: t.4,
    }
}

/// Stored bytes fetched by calling Python (`fetch_block(first_index)`,
/// `fetch_checkpoint(position)`, each returning `bytes`). The bytes are copied out before decoding, so the GIL is held only for the
/// call itself.
struct PyBlockSource {
    fetch_block: Py<PyAny>,
    fetch_checkpoint: Py<PyAny>,
}

impl PyBlockSource {
    fn fetch(&self, which: &Py<PyAny>, arg: u64, what: &str) -> Result<Vec<u8>> {
        Python::attach(|py| {
            let got = which.call1(py, (arg,)).map_err(|err| Error::Store {
                message: format!("reading {what} {arg}: {err}"),
            })?;
            let bytes = got.cast_bound::<PyBytes>(py).map_err(|_| Error::Store {
                message: format!("reading {what} {arg}: the store returned no bytes"),
            })?;
            Ok(bytes.as_bytes().to_vec())
        })
    }
}

impl BlockSource for PyBlockSource {
    fn with_block(
        &self,
        _n: usize,
        first_index: u64,
        f: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        f(&self.fetch(&self.fetch_block, first_index, "the block at record")?)
    }

    fn with_checkpoint(&self, position: u64, f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        f(&self.fetch(&self.fetch_checkpoint, position, "the checkpoint at record")?)
    }
}

fn book_key(instrument_id: Option<u32>, publisher_id: Option<u16>) -> PyResult<Option<(u32, u16)>> {
    match (instrument_id, publisher_id) {
        (Some(iid), Some(pid)) => Ok(Some((iid, pid))),
        (None, None) => Ok(None),
        _ => Err(PyValueError::new_err(
            "give both instrument_id and publisher_id, or neither",
        )),
    }
}

fn book_rows(
    books: impl Iterator<Item = ((u32, u16), BookStats)>,
) -> Vec<(u32, u16, u64, u64, u64, u64)> {
    books
        .map(|((i, p), b)| (i, p, b.records, b.trades, b.ts_first, b.ts_last))
        .collect()
}

fn layout(block_records: usize, checkpoint_every: usize) -> PyResult<Layout> {
    Layout::new(block_records, checkpoint_every).map_err(to_py)
}

/// A stream held as stored blocks, shared by its cursors (`replay()`, `player()`).
#[pyclass(frozen, name = "Recording", module = "mbo_fast._core")]
pub struct PyRecording {
    pub recording: Arc<Recording>,
}

#[pymethods]
impl PyRecording {
    /// Read a whole stream into memory as blocks.
    #[staticmethod]
    #[pyo3(signature = (source, block_records=4096, checkpoint_every=32768))]
    fn open(
        py: Python<'_>,
        source: RawSource<'_>,
        block_records: usize,
        checkpoint_every: usize,
    ) -> PyResult<Self> {
        let layout = layout(block_records, checkpoint_every)?;
        let source = source.as_source();
        let recording = py.enter_core(move || Recording::open(source, layout))?;
        Ok(PyRecording {
            recording: Arc::new(recording),
        })
    }

    /// A recording whose blocks a database holds: `blocks` describes them in stream order
    /// (`(first_index, records, ts_first, ts_last, ts_max)` each), `checkpoints` lists the
    /// positions of its checkpoints, `keys` its books; `fetch_block(first_index)` and
    /// `fetch_checkpoint(position)` return the stored bytes.
    #[staticmethod]
    fn stored(
        label: String,
        blocks: Vec<MetaTuple>,
        checkpoints: Vec<u64>,
        keys: Vec<(u32, u16)>,
        fetch_block: Py<PyAny>,
        fetch_checkpoint: Py<PyAny>,
    ) -> PyResult<Self> {
        let source = Arc::new(PyBlockSource {
            fetch_block,
            fetch_checkpoint,
        });
        let recording = Recording::new(
            label,
            source,
            cache::BlockCache::shared(),
            blocks.into_iter().map(meta_of).collect(),
            checkpoints,
            keys,
        )
        .map_err(to_py)?;
        Ok(PyRecording {
            recording: Arc::new(recording),
        })
    }

    fn __len__(&self) -> usize {
        self.recording.len()
    }

    #[getter]
    fn label(&self) -> String {
        self.recording.label().to_owned()
    }

    /// Every `(instrument_id, publisher_id)` the stream touches, sorted.
    fn keys(&self) -> Vec<(u32, u16)> {
        self.recording.keys()
    }

    #[getter]
    fn block_count(&self) -> usize {
        self.recording.block_count()
    }

    fn block(&self, n: usize) -> Option<MetaTuple> {
        self.recording.block_meta(n).map(|m| meta_tuple(&m))
    }

    /// Extend a growing (live) recording by one stored block.
    #[pyo3(signature = (meta, checkpoint, keys))]
    fn append(&self, meta: MetaTuple, checkpoint: bool, keys: Vec<(u32, u16)>) -> PyResult<()> {
        self.recording
            .append(meta_of(meta), checkpoint, &keys)
            .map_err(to_py)
    }

    /// Latency histograms of every cursor and player over this recording (see
    /// `Replay.timings`).
    fn timings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let recording = Arc::clone(&self.recording);
        let snapshots = py.detach(move || recording.timings().counts());
        timings_dict(py, snapshots)
    }

    /// Records with `ts_recv <= ts` in stream order (as `Replay.seek(ts=…)` counts them).
    fn position_at_ts(&self, py: Python<'_>, ts: u64) -> PyResult<usize> {
        let recording = Arc::clone(&self.recording);
        py.enter_core(move || recording.position_at_ts(ts))
    }

    /// A new cursor at position 0: over every book, or over one book only (faster: its market
    /// holds that book alone).
    #[pyo3(signature = (instrument_id=None, publisher_id=None))]
    fn replay(&self, instrument_id: Option<u32>, publisher_id: Option<u16>) -> PyResult<PyReplay> {
        let rec = Arc::clone(&self.recording);
        let cursor = match book_key(instrument_id, publisher_id)? {
            None => Replay::new(Arc::clone(&rec)),
            Some(key) => Replay::for_book(Arc::clone(&rec), key),
        };
        Ok(PyReplay::over(rec, cursor))
    }

    /// One page of history as JSON items: `kind` "bbo" (after every F_LAST record), "trades"
    /// or "records", of one book (or every book), index > `after`, `start <= ts_recv`, up to
    /// `end`, at most `limit`. Returns `(items JSON, rows, index of the last row)`.
    #[pyo3(signature = (kind, instrument_id=None, publisher_id=None, after=None, start=None, end=None, limit=1000))]
    #[allow(clippy::too_many_arguments)]
    fn page<'py>(
        &self,
        py: Python<'py>,
        kind: &str,
        instrument_id: Option<u32>,
        publisher_id: Option<u16>,
        after: Option<u64>,
        start: Option<u64>,
        end: Option<u64>,
        limit: usize,
    ) -> PyResult<(Bound<'py, PyBytes>, usize, Option<u64>)> {
        let run = match kind {
            "bbo" => query::bbo_page,
            "trades" => query::trades_page,
            "records" => query::records_page,
            other => {
                return Err(PyValueError::new_err(format!(
                    "kind must be bbo, trades or records, not {other:?}"
                )))
            }
        };
        let q = query::PageQuery {
            key: book_key(instrument_id, publisher_id)?,
            after,
            start,
            end,
            limit,
        };
        let recording = Arc::clone(&self.recording);
        let page = py.enter_core(move || run(&recording, &q))?;
        Ok((
            PyBytes::new(py, page.json.as_bytes()),
            page.rows,
            page.last_index,
        ))
    }

    /// The JSON-lines depth export of records `[start, end)` (default: all), a chunk at a
    /// time (`DepthExport.next_chunk`), the books restored at `start`.
    #[pyo3(signature = (depth, instrument_id=None, publisher_id=None, start=0, end=None, chunk_bytes=262144))]
    #[allow(clippy::too_many_arguments)]
    fn export_depth(
        &self,
        py: Python<'_>,
        depth: usize,
        instrument_id: Option<u32>,
        publisher_id: Option<u16>,
        start: usize,
        end: Option<usize>,
        chunk_bytes: usize,
    ) -> PyResult<PyDepthExport> {
        let recording = Arc::clone(&self.recording);
        let filter = Filter {
            instrument_id,
            publisher_id,
        };
        let export = py.enter_core(move || {
            DepthExport::stored(
                recording,
                start,
                end.unwrap_or(usize::MAX),
                depth,
                filter,
                chunk_bytes,
            )
        })?;
        Ok(PyDepthExport::stored(export))
    }

    /// One book's heatmap raster over `(start, end]` (ns): `buckets` time buckets × `rows`
    /// price rows from `price_lo` by `price_step`, with the best prices and trades per bucket
    /// (`mbo_fast_core::store::raster`). Returns `(header, arrays)`: the scalars as a dict and
    /// the arrays as little-endian bytes in the documented order. GIL released.
    #[pyo3(signature = (instrument_id, publisher_id, start, end, buckets, price_lo=0, price_step=1, rows=0, max_trades=100_000))]
    #[allow(clippy::too_many_arguments)]
    fn raster<'py>(
        &self,
        py: Python<'py>,
        instrument_id: u32,
        publisher_id: u16,
        start: u64,
        end: u64,
        buckets: usize,
        price_lo: i64,
        price_step: i64,
        rows: usize,
        max_trades: usize,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyBytes>)> {
        let q = raster::RasterQuery {
            key: (instrument_id, publisher_id),
            start,
            end,
            buckets,
            price_lo,
            price_step,
            rows,
            max_trades,
        };
        let recording = Arc::clone(&self.recording);
        let (r, bytes) = py
            .detach(move || {
                raster::raster(&recording, &q).map(|r| {
                    let bytes = r.to_le_bytes();
                    (r, bytes)
                })
            })
            .map_err(to_py)?;
        let header = PyDict::new(py);
        header.set_item("buckets", r.buckets)?;
        header.set_item("rows", r.rows)?;
        header.set_item("trades", r.trades.len())?;
        header.set_item("max_size", r.max_size)?;
        header.set_item("records", r.records)?;
        header.set_item("position_start", r.position_start)?;
        header.set_item("position_end", r.position_end)?;
        header.set_item("truncated", r.truncated)?;
        Ok((header, PyBytes::new(py, &bytes)))
    }

    /// A streaming cursor for one book.
    #[pyo3(signature = (instrument_id, publisher_id, depth=10))]
    fn player(&self, instrument_id: u32, publisher_id: u16, depth: usize) -> PyResult<PyPlayer> {
        Player::new(
            Arc::clone(&self.recording),
            instrument_id,
            publisher_id,
            depth,
        )
        .map(PyPlayer::new)
        .map_err(|err| PyKeyError::new_err(err.to_string()))
    }
}

/// The process-wide cache of decoded blocks: `{"hits", "misses", "evictions", "bytes",
/// "entries", "budget"}`.
#[pyfunction]
pub fn block_cache_stats<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
    let s = cache::BlockCache::shared().stats();
    let d = PyDict::new(py);
    d.set_item("hits", s.hits)?;
    d.set_item("misses", s.misses)?;
    d.set_item("evictions", s.evictions)?;
    d.set_item("bytes", s.bytes)?;
    d.set_item("entries", s.entries)?;
    d.set_item("budget", s.budget)?;
    Ok(d)
}

/// Set the budget of the process-wide cache of decoded blocks; False when it is already in use
/// (its budget then stays).
#[pyfunction]
pub fn set_block_cache_budget(bytes: usize) -> bool {
    cache::set_shared_budget(bytes)
}

enum Owned {
    Path(String),
    Bytes(Vec<u8>),
}

type Item = StoredBlock;

struct Running {
    blocks: Receiver<Item>,
    thread: JoinHandle<Result<Summary>>,
}

/// What an import leaves besides its blocks.
struct Summary {
    records: u64,
    books: Vec<((u32, u16), BookStats)>,
    metadata: dbn::Metadata,
}

/// A stream cut into stored blocks on two background threads (decode + apply + checkpoints;
/// compression), at most `queue` blocks ahead of the consumer: iterate for
/// `(meta, data, checkpoint or None)`; then `summary()`.
#[pyclass(name = "BlockImport", module = "mbo_fast._core")]
pub struct PyBlockImport {
    running: Mutex<Option<Running>>,
    summary: Mutex<Option<Summary>>,
}

#[pymethods]
impl PyBlockImport {
    #[new]
    #[pyo3(signature = (source, block_records=4096, checkpoint_every=32768, skip=0, queue=16))]
    fn new(
        source: RawSource<'_>,
        block_records: usize,
        checkpoint_every: usize,
        skip: u64,
        queue: usize,
    ) -> PyResult<Self> {
        let layout = layout(block_records, checkpoint_every)?;
        let owned = match source {
            RawSource::Path(path) => Owned::Path(path),
            RawSource::Bytes(bytes) => Owned::Bytes(bytes.as_bytes().to_vec()),
        };
        let (tx, rx) = sync_channel::<Item>(queue.clamp(1, 1024));
        let thread = std::thread::Builder::new()
            .name("mbo-import".into())
            .spawn(move || {
                let source = match &owned {
                    Owned::Path(p) => Source::Path(p),
                    Owned::Bytes(b) => Source::Bytes(b),
                };
                let built = build_blocks(source, layout, skip, |block| {
                    tx.send(block).map_err(|_| Error::Store {
                        message: "import abandoned".into(),
                    })
                })?;
                Ok(Summary {
                    records: built.writer.records(),
                    books: built.writer.books().iter().map(|(k, v)| (*k, *v)).collect(),
                    metadata: built.metadata,
                })
            })
            .map_err(|err| {
                to_py(Error::bad_argument(format!(
                    "cannot start an import: {err}"
                )))
            })?;
        Ok(PyBlockImport {
            running: Mutex::new(Some(Running { blocks: rx, thread })),
            summary: Mutex::new(None),
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(MetaTuple, Bound<'py, PyBytes>, Option<Bound<'py, PyBytes>>)> {
        // The receiver leaves the lock while waiting (the GIL is released meanwhile).
        let Some(run) = lock(&self.running).take() else {
            return Err(PyStopIteration::new_err(()));
        };
        let (run, next) = py.detach(move || {
            let next = run.blocks.recv().ok();
            (run, next)
        });
        *lock(&self.running) = Some(run);
        match next {
            Some(block) => Ok((
                meta_tuple(&block.meta),
                PyBytes::new(py, &block.data),
                block.checkpoint.map(|c| PyBytes::new(py, &c)),
            )),
            // the end of the stream, or the error that ended it
            None => {
                self.finish(py)?;
                Err(PyStopIteration::new_err(()))
            }
        }
    }

    /// After the last block: `{"records", "books": [(instrument_id, publisher_id, records,
    /// trades, ts_first, ts_last), …], "metadata": {…}, "symbols": {instrument_id: symbol},
    /// "metadata_dbn": bytes}` (the header as a DBN stream without records); None before.
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let summary = lock(&self.summary);
        let Some(s) = summary.as_ref() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("records", s.records)?;
        d.set_item("books", book_rows(s.books.iter().copied()))?;
        d.set_item("metadata", metadata_dict(py, &s.metadata)?)?;
        d.set_item(
            "symbols",
            mbo_fast_core::capture::info::symbols_of(&s.metadata),
        )?;
        let mut header = Vec::new();
        dbn::encode::dbn::MetadataEncoder::new(&mut header)
            .encode(&s.metadata)
            .map_err(|err| {
                to_py(Error::bad_argument(format!(
                    "cannot encode metadata: {err}"
                )))
            })?;
        d.set_item("metadata_dbn", PyBytes::new(py, &header))?;
        Ok(Some(d))
    }

    /// Stop early (the threads end at their next block).
    fn close(&self, py: Python<'_>) {
        let _ = self.finish(py);
    }
}

impl PyBlockImport {
    fn finish(&self, py: Python<'_>) -> PyResult<()> {
        let Some(run) = lock(&self.running).take() else {
            return Ok(());
        };
        drop(run.blocks);
        let summary = py
            .detach(move || run.thread.join())
            .map_err(|_| to_py(Error::bad_argument("the import thread panicked")))?
            .map_err(to_py)?;
        *lock(&self.summary) = Some(summary);
        Ok(())
    }
}

impl Drop for PyBlockImport {
    fn drop(&mut self) {
        if let Some(run) = lock(&self.running).take() {
            drop(run.blocks);
            let _ = run.thread.join();
        }
    }
}

/// Blocks built from records arriving in pieces (a live session): `push(records)` takes raw DBN
/// MBO records (each framed by its own header, 56 bytes or 64 with ts_out) and returns the
/// blocks they completed; `flush()` closes the open block. Applies and compresses with the GIL
/// released.
#[pyclass(frozen, name = "BlockBuilder", module = "mbo_fast._core")]
pub struct PyBlockBuilder {
    inner: Mutex<(BlockWriter, Encoder)>,
}

type BlockTuple<'py> = (MetaTuple, Bound<'py, PyBytes>, Option<Bound<'py, PyBytes>>);

fn block_tuple(py: Python<'_>, b: StoredBlock) -> BlockTuple<'_> {
    (
        meta_tuple(&b.meta),
        PyBytes::new(py, &b.data),
        b.checkpoint.map(|c| PyBytes::new(py, &c)),
    )
}

#[pymethods]
impl PyBlockBuilder {
    #[new]
    #[pyo3(signature = (block_records=4096, checkpoint_every=32768))]
    fn new(block_records: usize, checkpoint_every: usize) -> PyResult<Self> {
        let writer = BlockWriter::new(layout(block_records, checkpoint_every)?).map_err(to_py)?;
        let encoder = Encoder::new().map_err(to_py)?;
        Ok(PyBlockBuilder {
            inner: Mutex::new((writer, encoder)),
        })
    }

    fn push<'py>(&self, py: Python<'py>, records: &[u8]) -> PyResult<Vec<BlockTuple<'py>>> {
        let done = py.enter_core(|| -> Result<Vec<StoredBlock>> {
            let mut guard = lock(&self.inner);
            let (writer, encoder) = &mut *guard;
            let mut out = Vec::new();
            for msg in mbo_records(records)? {
                if let Some(raw) = writer.push(&msg)? {
                    out.push(writer::encode(encoder, raw)?);
                }
            }
            Ok(out)
        })?;
        Ok(done.into_iter().map(|b| block_tuple(py, b)).collect())
    }

    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Option<BlockTuple<'py>>> {
        let done = py.enter_core(|| -> Result<Option<StoredBlock>> {
            let mut guard = lock(&self.inner);
            let (writer, encoder) = &mut *guard;
            writer
                .finish_block()
                .map(|raw| writer::encode(encoder, raw))
                .transpose()
        })?;
        Ok(done.map(|b| block_tuple(py, b)))
    }

    /// Records pushed so far.
    #[getter]
    fn records(&self) -> u64 {
        lock(&self.inner).0.records()
    }

    /// Every book seen so far, sorted.
    fn keys(&self) -> Vec<(u32, u16)> {
        lock(&self.inner).0.books().keys().copied().collect()
    }

    /// Per book so far: `(instrument_id, publisher_id, records, trades, ts_first, ts_last)`.
    fn books(&self) -> Vec<(u32, u16, u64, u64, u64, u64)> {
        book_rows(lock(&self.inner).0.books().iter().map(|(k, v)| (*k, *v)))
    }
}
