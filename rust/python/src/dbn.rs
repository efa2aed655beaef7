//! The DBN format: writing records (`write_dbn_columns`, and the engine's `take_dbn`), a
//! stream's raw records a chunk at a time (`MboChunks`), and the MBO record's layout for numpy.

use std::sync::Mutex;

use mbo_fast_core::dbn::writer::{self, DbnOptions};
use mbo_fast_core::dbn::MboChunks;
use mbo_fast_core::MboMsg;
use numpy::PyReadonlyArray1;
use pyo3::exceptions::{PyStopIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::book::lock;
use crate::errors::EnterCore;
use crate::source::{OwnedSource, RawSource};

pub fn options(symbols: Vec<String>, zstd: bool) -> DbnOptions {
    DbnOptions {
        symbols,
        zstd,
        ..DbnOptions::default()
    }
}

/// Encode `records` to `path` (returns the record count) or to bytes, with the GIL released.
pub fn write_records<'py>(
    py: Python<'py>,
    records: &[MboMsg],
    path: Option<String>,
    options: &DbnOptions,
) -> PyResult<Bound<'py, PyAny>> {
    match path {
        Some(path) => {
            let written = py.enter_core(|| writer::write_dbn_file(&path, records, options))?;
            Ok(written.into_pyobject(py)?.into_any())
        }
        None => {
            let bytes = py.enter_core(|| writer::to_dbn_bytes(records, options))?;
            Ok(PyBytes::new(py, &bytes).into_any())
        }
    }
}

/// Write MBO columns (as from `read_records` / `MatchingEngine.take_records`) as a DBN stream.
#[pyfunction]
#[pyo3(signature = (columns, path=None, symbols=Vec::new(), zstd=false))]
pub fn write_dbn_columns<'py>(
    py: Python<'py>,
    columns: &Bound<'py, PyDict>,
    path: Option<String>,
    symbols: Vec<String>,
    zstd: bool,
) -> PyResult<Bound<'py, PyAny>> {
    fn col<'py, T: numpy::Element>(
        columns: &Bound<'py, PyDict>,
        name: &str,
    ) -> PyResult<PyReadonlyArray1<'py, T>> {
        let value = columns
            .get_item(name)?
            .ok_or_else(|| PyValueError::new_err(format!("missing column {name:?}")))?;
        value.extract()
    }
    let ts_event = col::<u64>(columns, "ts_event")?;
    let ts_recv = col::<u64>(columns, "ts_recv")?;
    let instrument_id = col::<u32>(columns, "instrument_id")?;
    let publisher_id = col::<u16>(columns, "publisher_id")?;
    let order_id = col::<u64>(columns, "order_id")?;
    let price = col::<i64>(columns, "price")?;
    let size = col::<u32>(columns, "size")?;
    let flags = col::<u8>(columns, "flags")?;
    let action = col::<u8>(columns, "action")?;
    let side = col::<u8>(columns, "side")?;
    let sequence = col::<u32>(columns, "sequence")?;
    let channel_id = col::<u8>(columns, "channel_id")?;
    let (ts_event, ts_recv) = (ts_event.as_slice()?, ts_recv.as_slice()?);
    let (instrument_id, publisher_id) = (instrument_id.as_slice()?, publisher_id.as_slice()?);
    let (order_id, price, size) = (order_id.as_slice()?, price.as_slice()?, size.as_slice()?);
    let (flags, action, side) = (flags.as_slice()?, action.as_slice()?, side.as_slice()?);
    let (sequence, channel_id) = (sequence.as_slice()?, channel_id.as_slice()?);
    let n = ts_event.len();
    let lengths = [
        ts_recv.len(),
        instrument_id.len(),
        publisher_id.len(),
        order_id.len(),
        price.len(),
        size.len(),
        flags.len(),
        action.len(),
        side.len(),
        sequence.len(),
        channel_id.len(),
    ];
    if lengths.iter().any(|&len| len != n) {
        return Err(PyValueError::new_err("columns must have equal lengths"));
    }
    let records: Vec<MboMsg> = (0..n)
        .map(|i| MboMsg {
            hd: mbo_fast_core::dbn::writer::mbo_header(
                publisher_id[i],
                instrument_id[i],
                ts_event[i],
            ),
            order_id: order_id[i],
            price: price[i],
            size: size[i],
            flags: flags[i].into(),
            channel_id: channel_id[i],
            action: action[i] as std::ffi::c_char,
            side: side[i] as std::ffi::c_char,
            ts_recv: ts_recv[i],
            ts_in_delta: 0,
            sequence: sequence[i],
        })
        .collect();
    write_records(py, &records, path, &options(symbols, zstd))
}

/// The layout of a DBN MBO record as numpy dtype fields `[(name, format, offset), …]` (56
/// bytes, little-endian): `numpy.dtype({"names": …, "formats": …, "offsets": …})` views raw
/// records without copying. Offsets come from `dbn::MboMsg` itself; the header's are fixed by
/// the DBN format.
#[pyfunction]
pub fn mbo_record_fields() -> Vec<(&'static str, &'static str, usize)> {
    use dbn::MboMsg;
    use std::mem::offset_of;
    let hd = offset_of!(MboMsg, hd);
    vec![
        ("length", "u1", hd),
        ("rtype", "u1", hd + 1),
        ("publisher_id", "<u2", hd + 2),
        ("instrument_id", "<u4", hd + 4),
        ("ts_event", "<u8", hd + 8),
        ("order_id", "<u8", offset_of!(MboMsg, order_id)),
        ("price", "<i8", offset_of!(MboMsg, price)),
        ("size", "<u4", offset_of!(MboMsg, size)),
        ("flags", "u1", offset_of!(MboMsg, flags)),
        ("channel_id", "u1", offset_of!(MboMsg, channel_id)),
        ("action", "u1", offset_of!(MboMsg, action)),
        ("side", "u1", offset_of!(MboMsg, side)),
        ("ts_recv", "<u8", offset_of!(MboMsg, ts_recv)),
        ("ts_in_delta", "<i4", offset_of!(MboMsg, ts_in_delta)),
        ("sequence", "<u4", offset_of!(MboMsg, sequence)),
    ]
}

/// A stream's MBO records as raw bytes a chunk at a time (`mbo-fast feed` forwards them):
/// `metadata` is the stream's prelude and metadata as it holds them; iterating gives
/// `(chunk, record_len)`, whole MBO records exactly as framed (records of other types left
/// out), all `record_len` bytes long, about `chunk_bytes` a chunk. Decoded with the GIL released.
#[pyclass(frozen, name = "MboChunks", module = "mbo_fast._core")]
pub struct PyMboChunks {
    /// Declared before `_source`, so it is dropped first: it reads the source.
    chunks: Mutex<MboChunks<'static>>,
    _source: OwnedSource,
    chunk_bytes: usize,
}

#[pymethods]
impl PyMboChunks {
    #[new]
    #[pyo3(signature = (source, chunk_bytes=1048576))]
    fn new(py: Python<'_>, source: RawSource<'_>, chunk_bytes: usize) -> PyResult<Self> {
        let owned = OwnedSource::new(source);
        // SAFETY: the chunks that read `unbounded` are stored beside `owned` and dropped first.
        let unbounded = unsafe { owned.as_source_unbounded(py) };
        let chunks = py.enter_core(move || MboChunks::open(unbounded))?;
        Ok(PyMboChunks {
            chunks: Mutex::new(chunks),
            _source: owned,
            chunk_bytes: chunk_bytes.max(1),
        })
    }

    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, lock(&self.chunks).metadata_bytes())
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyBytes>, usize)> {
        let max = self.chunk_bytes;
        match py.enter_core(|| lock(&self.chunks).next_chunk(max))? {
            Some((record_len, chunk)) => Ok((PyBytes::new(py, &chunk), record_len)),
            None => Err(PyStopIteration::new_err(())),
        }
    }
}
