//! The JSON shapes of books that clients see, each written here and nowhere else, by hand (every
//! value is an integer, a bool or a fixed string):
//! - the `mbo-fast book` document ([`market_json`], one book: [`write_book_json`]): every book's
//!   levels as `[price,size,count]`, its L3 queues and its anomaly counters;
//! - a book's state in the `/api/v1/book` document ([`write_book_state`]): the top levels as
//!   objects (with their queues on request), the order count, the flags and the uncross;
//! - the parts other documents build from: levels as arrays ([`write_level_arrays`], the
//!   player's frames) or objects ([`write_level_object`], consolidated depth), and the indicative
//!   uncross ([`write_uncross`]).

use std::fmt::Write as _;

use super::auction::Uncross;
use super::market::Market;
use super::{Book, Level, Side};

/// `{"books":[...]}` with every book's levels, L3 queues and anomalies, books sorted by key.
pub fn market_json(market: &Market) -> String {
    let mut out = String::from("{\"books\":[");
    for (i, book) in market.books().into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_book_json(&mut out, book);
    }
    out.push_str("]}");
    out
}

/// One book of [`market_json`]: `{"instrument_id","publisher_id","bids","asks","bid_orders",
/// "ask_orders","anomalies"}`.
pub fn write_book_json(out: &mut String, book: &Book) {
    let _ = write!(
        out,
        "{{\"instrument_id\":{},\"publisher_id\":{},\"bids\":",
        book.instrument_id, book.publisher_id
    );
    write_side_arrays(out, book, Side::Bid, usize::MAX);
    out.push_str(",\"asks\":");
    write_side_arrays(out, book, Side::Ask, usize::MAX);
    out.push_str(",\"bid_orders\":");
    write_queues(out, book, Side::Bid);
    out.push_str(",\"ask_orders\":");
    write_queues(out, book, Side::Ask);
    out.push_str(",\"anomalies\":{");
    for (i, (name, count)) in book.anomalies.as_pairs().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{name}\":{count}");
    }
    out.push_str("}}");
}

/// The state part of the `/api/v1/book` document: `{"bids","asks","order_count","crossed",
/// "consistent","maybe_bad","uncross"}`, the top `depth` levels of each side as
/// `{"price","size","count"}` objects, best first, each with its queue
/// (`"orders":[[order_id,size],...]`, front first) when `orders`; `uncross` is the indicative
/// uncross of a crossed (or locked) book, else `null`. A book with no record applied yet is an
/// empty book.
pub fn write_book_state(out: &mut String, book: &Book, depth: usize, orders: bool) {
    out.push_str("{\"bids\":");
    write_side_objects(out, book, Side::Bid, depth, orders);
    out.push_str(",\"asks\":");
    write_side_objects(out, book, Side::Ask, depth, orders);
    let _ = write!(
        out,
        ",\"order_count\":{},\"crossed\":{},\"consistent\":{},\"maybe_bad\":{},\"uncross\":",
        book.order_count(),
        book.crossed(),
        book.consistent,
        book.maybe_bad
    );
    write_uncross(out, book.indicative_uncross(None));
    out.push('}');
}

/// `[[price,size,count],...]` in the order given.
pub fn write_level_arrays(out: &mut String, levels: impl IntoIterator<Item = (i64, u64, u32)>) {
    out.push('[');
    for (i, (price, size, count)) in levels.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "[{price},{size},{count}]");
    }
    out.push(']');
}

/// `{"price":…,"size":…,"count":…` (left open for more keys).
pub fn write_level_object(out: &mut String, price: i64, size: u64, count: u64) {
    let _ = write!(out, "{{\"price\":{price},\"size\":{size},\"count\":{count}");
}

/// `{"price","volume","bid_volume","ask_volume","imbalance"}`, or `null`.
pub fn write_uncross(out: &mut String, uncross: Option<Uncross>) {
    match uncross {
        Some(u) => {
            let _ = write!(
                out,
                "{{\"price\":{},\"volume\":{},\"bid_volume\":{},\"ask_volume\":{},\
                 \"imbalance\":{}}}",
                u.price, u.volume, u.bid_volume, u.ask_volume, u.imbalance
            );
        }
        None => out.push_str("null"),
    }
}

fn write_side_arrays(out: &mut String, book: &Book, side: Side, depth: usize) {
    let levels = book.levels(side).take(depth);
    write_level_arrays(out, levels.map(|l| (l.price, l.size, l.count)));
}

fn write_side_objects(out: &mut String, book: &Book, side: Side, depth: usize, orders: bool) {
    out.push('[');
    for (i, level) in book.levels(side).take(depth).enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_level_object(out, level.price, level.size, u64::from(level.count));
        if orders {
            out.push_str(",\"orders\":");
            write_queue(out, book, level);
        }
        out.push('}');
    }
    out.push(']');
}

/// `[{"price":px,"orders":[[order_id,size],...]},...]`, best level first, queue order inside.
fn write_queues(out: &mut String, book: &Book, side: Side) {
    out.push('[');
    for (i, level) in book.levels(side).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"price\":{},\"orders\":", level.price);
        write_queue(out, book, level);
        out.push('}');
    }
    out.push(']');
}

/// `[[order_id,size],...]`, front of the queue first.
fn write_queue(out: &mut String, book: &Book, level: &Level) {
    out.push('[');
    for (j, (order_id, size)) in book.queue(level).enumerate() {
        if j > 0 {
            out.push(',');
        }
        let _ = write!(out, "[{order_id},{size}]");
    }
    out.push(']');
}
