//! mbo-fast core: exact L3 order books from Databento MBO data. No Python in here: the
//! `mbo-fast-python` crate binds it.

pub mod auction;
pub mod backtest;
pub mod book;
pub mod capture;
pub mod decode;
pub mod encode;
pub mod engine;
pub mod error;
pub mod export;
pub mod fmt;
#[cfg(target_os = "linux")]
pub mod hugepages;
pub mod info;
pub mod live;
#[cfg(unix)]
mod mapped;
pub mod market;
pub mod playback;
pub mod replay;
pub mod simulate;
pub mod snapshot;
pub mod store;
#[cfg(test)]
mod testing;
pub mod timing;

pub use auction::{indicative_uncross, Uncross};
pub use book::{Anomalies, Book, Level, RestingOrder, Side, Top};
pub use decode::{MboStream, Source};
pub use error::{Error, Result};
pub use market::{BookKey, Market};
pub use replay::Replay;
pub use store::Recording;

pub use dbn::{flags, MboMsg, UNDEF_PRICE};
