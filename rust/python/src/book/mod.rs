//! `Book` (a live view into a `Market` or a `Replay`), `Bbo`, and what the book views share.

pub mod auction;
pub mod market;

use std::sync::{Arc, Mutex, MutexGuard};

use mbo_fast_core::book::consolidated::{Consolidated, ConsolidatedLevel};
use mbo_fast_core::book::json;
use mbo_fast_core::book::snapshot::{self, Stamp};
use mbo_fast_core::{Book, BookKey, Market, Replay, RestingOrder, Side, Top, UNDEF_PRICE};
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// Lock a mutex even if a panic poisoned it: the state is plain data, valid after any panic
/// that PyO3 turned into a Python exception.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn parse_side(side: &str) -> PyResult<Side> {
    match side {
        "B" | "b" | "bid" | "Bid" | "BID" => Ok(Side::Bid),
        "A" | "a" | "ask" | "Ask" | "ASK" => Ok(Side::Ask),
        _ => Err(PyValueError::new_err(format!(
            "side must be 'B'/'bid' or 'A'/'ask', not {side:?}"
        ))),
    }
}

/// A resting order as Python sees it: `(side, price, size, queue_position)`.
pub type RestingTuple = (String, i64, u32, usize);

pub fn resting_tuple(o: RestingOrder) -> RestingTuple {
    (
        char::from(o.side.as_byte()).to_string(),
        o.price,
        o.size,
        o.queue_position,
    )
}

fn optional_price(price: i64) -> Option<i64> {
    (price != UNDEF_PRICE).then_some(price)
}

/// Best bid and offer. An empty side has `px` None, size 0 and count 0. Sizes are exact here;
/// the numpy columns of `read_bbo` are uint32 and saturate, as in Databento's MBP records.
#[pyclass(frozen, eq, get_all, module = "mbo_fast._core")]
#[derive(Clone, PartialEq, Eq)]
pub struct Bbo {
    bid_px: Option<i64>,
    bid_sz: u64,
    bid_ct: u32,
    ask_px: Option<i64>,
    ask_sz: u64,
    ask_ct: u32,
}

impl Bbo {
    pub fn new(bid: Top, ask: Top) -> Self {
        Bbo {
            bid_px: optional_price(bid.price),
            bid_sz: bid.size,
            bid_ct: bid.count,
            ask_px: optional_price(ask.price),
            ask_sz: ask.size,
            ask_ct: ask.count,
        }
    }
}

#[pymethods]
impl Bbo {
    fn __repr__(&self) -> String {
        let px = |p: Option<i64>| p.map_or("None".to_owned(), |p| p.to_string());
        format!(
            "Bbo(bid_px={}, bid_sz={}, bid_ct={}, ask_px={}, ask_sz={}, ask_ct={})",
            px(self.bid_px),
            self.bid_sz,
            self.bid_ct,
            px(self.ask_px),
            self.ask_sz,
            self.ask_ct
        )
    }
}

/// Who holds the books a `Book` view reads.
#[derive(Clone)]
pub enum Owner {
    Market(Arc<Mutex<Market>>),
    Replay(Arc<Mutex<Replay>>),
}

impl Owner {
    pub fn with_market<T>(&self, f: impl FnOnce(&Market) -> T) -> T {
        match self {
            Owner::Market(market) => f(&lock(market)),
            Owner::Replay(replay) => f(lock(replay).market()),
        }
    }

    /// Run `f` on a book, or on an empty book if it does not exist (yet, in a replay).
    pub fn with_book<T>(
        &self,
        (instrument_id, publisher_id): BookKey,
        f: impl FnOnce(&Book) -> T,
    ) -> T {
        self.with_market(|market| match market.book(instrument_id, publisher_id) {
            Some(book) => f(book),
            None => f(&Book::new(instrument_id, publisher_id)),
        })
    }

    /// One instrument's top `depth` levels per side summed over its publishers.
    pub fn consolidated(&self, py: Python<'_>, instrument_id: u32, depth: usize) -> PyConsolidated {
        PyConsolidated(py.detach(|| self.with_market(|m| m.consolidated(instrument_id, depth))))
    }

    /// The state part of a book's `/api/v1/book` document (`book::json::write_book_state`), top
    /// `depth` levels (all: None), with their queues when `orders`; built with the GIL released.
    pub fn book_state_json<'py>(
        &self,
        py: Python<'py>,
        key: BookKey,
        depth: Option<usize>,
        orders: bool,
    ) -> Bound<'py, PyBytes> {
        let json = py.detach(|| {
            let mut out = String::new();
            self.with_book(key, |book| {
                json::write_book_state(&mut out, book, depth.unwrap_or(usize::MAX), orders)
            });
            out
        });
        PyBytes::new(py, json.as_bytes())
    }
}

/// A live view of one `(instrument_id, publisher_id)` book: every call reads the current state.
#[pyclass(frozen, name = "Book", module = "mbo_fast._core")]
pub struct PyBook {
    owner: Owner,
    instrument_id: u32,
    publisher_id: u16,
}

impl PyBook {
    pub fn new(owner: Owner, instrument_id: u32, publisher_id: u16) -> Self {
        PyBook {
            owner,
            instrument_id,
            publisher_id,
        }
    }

    /// Run `f` on the book, or on an empty book if it does not exist at this point of a replay.
    fn with_book<T>(&self, f: impl FnOnce(&Book) -> T) -> T {
        self.owner
            .with_book((self.instrument_id, self.publisher_id), f)
    }
}

#[pymethods]
impl PyBook {
    #[getter]
    fn instrument_id(&self) -> u32 {
        self.instrument_id
    }

    #[getter]
    fn publisher_id(&self) -> u16 {
        self.publisher_id
    }

    fn bbo(&self) -> Bbo {
        self.with_book(|book| Bbo::new(book.top(Side::Bid), book.top(Side::Ask)))
    }

    #[pyo3(signature = (side, depth=None))]
    fn levels(&self, side: &str, depth: Option<usize>) -> PyResult<Vec<(i64, u64, u32)>> {
        let side = parse_side(side)?;
        Ok(self.with_book(|book| {
            book.levels(side)
                .take(depth.unwrap_or(usize::MAX))
                .map(|level| (level.price, level.size, level.count))
                .collect()
        }))
    }

    fn orders(&self, side: &str, price: i64) -> PyResult<Vec<(u64, u32)>> {
        let side = parse_side(side)?;
        Ok(self.with_book(|book| book.orders_at(side, price)))
    }

    fn order(&self, order_id: u64) -> Option<RestingTuple> {
        self.with_book(|book| book.order(order_id).map(resting_tuple))
    }

    #[getter]
    fn order_count(&self) -> usize {
        self.with_book(Book::order_count)
    }

    #[getter]
    fn crossed(&self) -> bool {
        self.with_book(Book::crossed)
    }

    #[getter]
    fn maybe_bad(&self) -> bool {
        self.with_book(|book| book.maybe_bad)
    }

    #[getter]
    fn consistent(&self) -> bool {
        self.with_book(|book| book.consistent)
    }

    #[getter]
    fn anomalies<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let pairs = self.with_book(|book| book.anomalies.as_pairs());
        let dict = PyDict::new(py);
        for (name, count) in pairs {
            dict.set_item(name, count)?;
        }
        Ok(dict)
    }

    /// Indicative uncross price and volumes, or None when the book is not crossed or locked.
    #[pyo3(signature = (reference=None))]
    fn indicative_uncross(&self, reference: Option<i64>) -> Option<crate::book::auction::Uncross> {
        self.with_book(|book| book.indicative_uncross(reference).map(Into::into))
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut json = String::new();
        self.with_book(|book| json::write_book_json(&mut json, book));
        py.import("json")?.call_method1("loads", (json,))
    }

    /// The state part of the `/api/v1/book` document as JSON bytes: `{"bids", "asks",
    /// "order_count", "crossed", "consistent", "maybe_bad", "uncross"}`, the top `depth` levels
    /// (all: None) as `{"price", "size", "count"}` objects, each with `"orders": [[order_id,
    /// size], …]` when `orders`.
    #[pyo3(signature = (depth=None, orders=false))]
    fn state_json<'py>(
        &self,
        py: Python<'py>,
        depth: Option<usize>,
        orders: bool,
    ) -> Bound<'py, PyBytes> {
        let key = (self.instrument_id, self.publisher_id);
        self.owner.book_state_json(py, key, depth, orders)
    }

    fn __repr__(&self) -> String {
        let (orders, crossed) = self.with_book(|book| (book.order_count(), book.crossed()));
        format!(
            "Book(instrument_id={}, publisher_id={}, orders={orders}, crossed={crossed})",
            self.instrument_id, self.publisher_id
        )
    }
}

/// The book named by `snapshot_dbn(instrument_id, publisher_id)`: both or neither.
pub fn snapshot_key(
    instrument_id: Option<u32>,
    publisher_id: Option<u16>,
) -> PyResult<Option<BookKey>> {
    match (instrument_id, publisher_id) {
        (Some(iid), Some(pid)) => Ok(Some((iid, pid))),
        (None, None) => Ok(None),
        _ => Err(PyValueError::new_err(
            "give both instrument_id and publisher_id (one book) or neither (every book)",
        )),
    }
}

/// DBN bytes of the snapshot records of one book (none if it does not exist in `market`) or of
/// every book: applied to an empty `Market`, they rebuild the same books (see
/// `mbo_fast_core::snapshot`).
pub fn snapshot_bytes(
    market: &Market,
    key: Option<BookKey>,
    stamp: Stamp,
) -> mbo_fast_core::Result<Vec<u8>> {
    let records = match key {
        None => snapshot::market_snapshot(market, stamp),
        Some((iid, pid)) => {
            let mut records = Vec::new();
            if let Some(book) = market.book(iid, pid) {
                snapshot::book_snapshot(book, stamp, &mut records);
            }
            records
        }
    };
    snapshot::snapshot_dbn(&records)
}

pub fn book_view(
    owner: &Owner,
    keys: &[(u32, u16)],
    instrument_id: u32,
    publisher_id: u16,
) -> PyResult<PyBook> {
    if !keys.contains(&(instrument_id, publisher_id)) {
        return Err(PyKeyError::new_err(format!(
            "no book for instrument_id={instrument_id}, publisher_id={publisher_id}"
        )));
    }
    Ok(PyBook::new(owner.clone(), instrument_id, publisher_id))
}

/// One instrument's top levels per side summed over its publishers (`Market.consolidated`).
#[pyclass(frozen, name = "Consolidated", module = "mbo_fast._core")]
pub struct PyConsolidated(Consolidated);

type ConsolidatedTuple = (i64, u64, u64, Vec<u16>);

fn level_tuples(levels: &[ConsolidatedLevel]) -> Vec<ConsolidatedTuple> {
    levels
        .iter()
        .map(|l| (l.price, l.size, l.count, l.publishers.clone()))
        .collect()
}

#[pymethods]
impl PyConsolidated {
    /// `(price, size, count, publishers)` per level, best first.
    #[getter]
    fn bids(&self) -> Vec<ConsolidatedTuple> {
        level_tuples(&self.0.bids)
    }

    #[getter]
    fn asks(&self) -> Vec<ConsolidatedTuple> {
        level_tuples(&self.0.asks)
    }

    /// Both sides present and the best bid at or through the best ask.
    #[getter]
    fn crossed(&self) -> bool {
        self.0.crossed()
    }

    /// `{"bids": […], "asks": […], "crossed": …}` with levels as `{"price", "size", "count"}`.
    fn to_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let mut out = String::new();
        self.0.write_json(&mut out);
        PyBytes::new(py, out.as_bytes())
    }
}
