//! mbo-fast core: exact L3 order books from Databento MBO data. No Python in here: the
//! `mbo-fast-python` crate binds it.
//!
//! One folder per subsystem, one file per part:
//! - [`dbn`]: DBN streams in and out: framing, metadata, inputs (mapped windows, readers), the
//!   MBO record stream, the writer.
//! - [`book`]: one L3 book (ladder, order queues), every book of a stream (`Market`), the
//!   indicative uncross, snapshot records.
//! - [`capture`]: passes over a stream that capture books at event boundaries (BBO, depth,
//!   records as columns; the JSON-lines export; the stream summary; books on a time grid).
//! - [`derive`]: Databento's derived schemas (MBP-10, MBP-1, TBBO, BBO, CMBP-1, CBBO) from MBO.
//! - [`replay`]: seekable cursors over a recording, the streaming player, latency histograms.
//! - [`store`]: the block store (a stream as compressed blocks plus checkpoints).
//! - [`live`]: live ingest (gaps and stale books, subscriptions, persistence, the socket pump).
//! - [`synth`]: synthetic data (the matching engine, its records, whole sessions).
//! - [`backtest`]: simulated orders against history.
//! - [`table`]: captured columns as named, typed columns; their Arrow form; Parquet files.

pub mod backtest;
pub mod book;
pub mod capture;
pub mod dbn;
pub mod derive;
pub mod error;
#[cfg(target_os = "linux")]
pub mod hugepages;
pub mod live;
pub mod replay;
pub mod store;
pub mod synth;
pub mod table;
#[cfg(test)]
mod testing;

pub use book::auction::{indicative_uncross, Uncross};
pub use book::market::{BookKey, Market};
pub use book::{Anomalies, Book, Level, RestingOrder, Side, Top};
pub use dbn::{MboStream, Source};
pub use error::{Error, Result};
pub use replay::Replay;
pub use store::Recording;

pub use ::dbn::{flags, MboMsg, UNDEF_PRICE};
