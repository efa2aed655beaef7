//! Order books. This file: one L3 limit order book ([`Book`]), every resting order in FIFO order
//! per price level, applied record by record with Databento's semantics. Its parts and the views
//! over books:
//! - `ladder`: one side's levels, sorted worst to best;
//! - `queue`: the order nodes and levels of both sides (FIFO queues through sentinels);
//! - [`market`]: every book of a stream, by `(instrument_id, publisher_id)`;
//! - [`auction`]: the indicative uncross of a crossed book;
//! - [`consolidated`]: one instrument's depth summed over its publishers;
//! - [`snapshot`]: books as the snapshot records that rebuild them;
//! - [`touch`]: the levels a record changes (for the derived MBP schemas);
//! - [`json`]: the JSON shapes of books that clients see.
//!
//! Layout, chosen for the hot loop (one `apply` per record, no allocation in steady state):
//! - orders live in a slab and are chained per level as a circular doubly linked list through a
//!   sentinel node, so a cancel or a move-to-back is O(1) once the order is found and never
//!   branches on an empty neighbour;
//! - `order_id -> slab slot` is a hash map with a fast integer hasher;
//! - each side's levels are sorted worst to best, so the best level is the last element and
//!   the levels that change most (near the touch) are the cheapest to insert and remove.
//!
//! At tens of millions of records a second, a mispredicted branch (~15 cycles) costs as much
//! as the work itself: bid/ask and "where near the touch" are computed as data, not branches.

pub mod auction;
pub mod consolidated;
pub mod json;
mod ladder;
pub mod market;
mod queue;
pub mod snapshot;
pub mod touch;

use dbn::{flags, MboMsg, UNDEF_PRICE};
use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap;

pub use queue::Level;
use queue::Queues;

/// A side of the book. Records say `B` (bid) or `A` (ask); anything else is "no side".
/// The discriminant indexes per-side arrays, so the hot path selects a side without branching.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    Bid = 0,
    Ask = 1,
}

impl Side {
    #[inline]
    pub fn from_byte(byte: u8) -> Option<Side> {
        // Bids and asks alternate at random in a feed: pick between them with arithmetic, not
        // a branch (only the rare "no side" takes one). b'A' - b'A' = 0 -> Ask, b'B' -> Bid.
        let offset = byte.wrapping_sub(b'A');
        if offset > 1 {
            return None;
        }
        Some(match offset ^ 1 {
            0 => Side::Bid,
            _ => Side::Ask,
        })
    }

    pub fn as_byte(self) -> u8 {
        match self {
            Side::Bid => b'B',
            Side::Ask => b'A',
        }
    }

    /// Sort key under which "better" is always "greater": bids by price, asks by inverted price.
    /// `!price` (bitwise not) is strictly decreasing in price and cannot overflow; it is taken
    /// as an xor with an all-ones mask so both sides run the same instructions.
    #[inline]
    pub(crate) fn key(self, price: i64) -> i64 {
        price ^ -(self as i64)
    }
}

/// Counters of records the book could not apply literally. They never stop processing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Anomalies {
    pub cancel_unknown: u64,
    pub cancel_oversize: u64,
    pub add_duplicate: u64,
    pub modify_unknown_as_add: u64,
    pub modify_to_zero: u64,
    pub modify_side_change: u64,
    pub side_n_book_action: u64,
    pub fill_unknown: u64,
    pub unknown_action: u64,
}

impl Anomalies {
    pub fn as_pairs(&self) -> [(&'static str, u64); 9] {
        [
            ("cancel_unknown", self.cancel_unknown),
            ("cancel_oversize", self.cancel_oversize),
            ("add_duplicate", self.add_duplicate),
            ("modify_unknown_as_add", self.modify_unknown_as_add),
            ("modify_to_zero", self.modify_to_zero),
            ("modify_side_change", self.modify_side_change),
            ("side_n_book_action", self.side_n_book_action),
            ("fill_unknown", self.fill_unknown),
            ("unknown_action", self.unknown_action),
        ]
    }

    pub fn add(&mut self, other: &Anomalies) {
        self.cancel_unknown += other.cancel_unknown;
        self.cancel_oversize += other.cancel_oversize;
        self.add_duplicate += other.add_duplicate;
        self.modify_unknown_as_add += other.modify_unknown_as_add;
        self.modify_to_zero += other.modify_to_zero;
        self.modify_side_change += other.modify_side_change;
        self.side_n_book_action += other.side_n_book_action;
        self.fill_unknown += other.fill_unknown;
        self.unknown_action += other.unknown_action;
    }
}

/// Heap bytes of a vector's allocation.
pub(crate) fn vec_bytes<T>(vec: &Vec<T>) -> usize {
    vec.capacity() * std::mem::size_of::<T>()
}

/// Heap bytes of a hash map's table, estimated: hashbrown keeps a load factor of at most 7/8 and
/// one control byte per bucket.
pub(crate) fn map_bytes<K, V>(map: &FxHashMap<K, V>) -> usize {
    map.capacity() * 8 / 7 * (std::mem::size_of::<(K, V)>() + 1)
}

/// A summary of one side's best level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Top {
    /// `UNDEF_PRICE` when the side is empty.
    pub price: i64,
    pub size: u64,
    pub count: u32,
}

impl Top {
    pub const EMPTY: Top = Top {
        price: UNDEF_PRICE,
        size: 0,
        count: 0,
    };

    pub fn is_empty(&self) -> bool {
        self.price == UNDEF_PRICE && self.size == 0 && self.count == 0
    }
}

/// A resting order as seen from outside the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestingOrder {
    pub side: Side,
    pub price: i64,
    pub size: u32,
    /// 0-based place in its level's queue.
    pub queue_position: usize,
}

#[derive(Clone, Debug)]
pub struct Book {
    pub instrument_id: u32,
    pub publisher_id: u16,
    /// order_id -> slab slot of every resting order.
    index: FxHashMap<u64, u32>,
    queues: Queues,
    pub anomalies: Anomalies,
    /// A record with F_MAYBE_BAD_BOOK was applied since the last clear.
    pub maybe_bad: bool,
    /// The last record applied carried F_LAST: the book is at an event boundary.
    pub consistent: bool,
}

impl Book {
    pub fn new(instrument_id: u32, publisher_id: u16) -> Self {
        Book {
            instrument_id,
            publisher_id,
            index: FxHashMap::default(),
            queues: Queues::default(),
            anomalies: Anomalies::default(),
            maybe_bad: false,
            consistent: false,
        }
    }

    /// The bytes this book holds on the heap (its allocations' sizes, estimated from their
    /// capacities): what a clone of it costs, since a clone has the same capacities or less.
    pub fn heap_bytes(&self) -> usize {
        self.queues.heap_bytes() + map_bytes(&self.index)
    }

    /// Apply one MBO record with Databento's semantics (see the README's "Book semantics").
    #[inline(always)]
    pub fn apply(&mut self, msg: &MboMsg) {
        let flag_bits = msg.flags.raw();
        self.apply_action(msg, flag_bits);
        if flag_bits & flags::MAYBE_BAD_BOOK != 0 {
            self.maybe_bad = true;
        }
        self.consistent = flag_bits & flags::LAST != 0;
    }

    #[inline(always)]
    fn apply_action(&mut self, msg: &MboMsg, flag_bits: u8) {
        // One dispatch on the action: each arm reads its side itself, so adds, cancels and
        // modifies (interleaved at random) are told apart by a single indirect jump.
        match msg.action as u8 {
            b'A' => {
                if let Some(side) = self.book_side(msg) {
                    if flag_bits & flags::TOB != 0 {
                        self.set_top_of_book(side, msg.price, msg.size);
                    } else {
                        self.add(msg.order_id, side, msg.price, msg.size);
                    }
                }
            }
            b'C' => {
                if self.book_side(msg).is_some() {
                    self.cancel(msg.order_id, msg.size);
                }
            }
            b'M' => {
                if let Some(side) = self.book_side(msg) {
                    self.modify(msg.order_id, side, msg.price, msg.size);
                }
            }
            b'R' => self.clear(),
            b'F' => {
                if !self.index.contains_key(&msg.order_id) {
                    self.anomalies.fill_unknown += 1;
                }
            }
            // Trades and "none" records never change the book: the C/M that follow a fill do.
            b'T' | b'N' => {}
            _ => self.anomalies.unknown_action += 1,
        }
    }

    /// The side of an A/C/M record; side `N` is counted and the record ignored.
    #[inline]
    fn book_side(&mut self, msg: &MboMsg) -> Option<Side> {
        let side = Side::from_byte(msg.side as u8);
        if side.is_none() {
            self.anomalies.side_n_book_action += 1;
        }
        side
    }

    // Each operation below does exactly one hash-map operation on its order id.

    fn add(&mut self, order_id: u64, side: Side, price: i64, size: u32) {
        match self.index.entry(order_id) {
            Entry::Occupied(entry) => {
                // The same id again replaces the resting order: out of its queue, then re-added.
                self.anomalies.add_duplicate += 1;
                let slot = *entry.get();
                self.queues.unlink(slot);
                if size > 0 {
                    self.queues.link_back(slot, order_id, side, price, size);
                } else {
                    entry.remove();
                    self.queues.release(slot);
                }
            }
            Entry::Vacant(entry) => {
                if size > 0 {
                    let slot = self.queues.alloc(order_id);
                    entry.insert(slot);
                    self.queues.link_back(slot, order_id, side, price, size);
                }
            }
        }
    }

    fn cancel(&mut self, order_id: u64, size: u32) {
        let Entry::Occupied(entry) = self.index.entry(order_id) else {
            self.anomalies.cancel_unknown += 1;
            return;
        };
        let slot = *entry.get();
        let resting = self.queues.slab[slot as usize].size;
        if size >= resting {
            if size > resting {
                self.anomalies.cancel_oversize += 1;
            }
            entry.remove();
            self.queues.unlink(slot);
            self.queues.release(slot);
        } else {
            self.queues.resize_in_place(slot, resting - size);
        }
    }

    fn modify(&mut self, order_id: u64, side: Side, price: i64, size: u32) {
        let entry = match self.index.entry(order_id) {
            Entry::Occupied(entry) => entry,
            Entry::Vacant(entry) => {
                self.anomalies.modify_unknown_as_add += 1;
                if size > 0 {
                    let slot = self.queues.alloc(order_id);
                    entry.insert(slot);
                    self.queues.link_back(slot, order_id, side, price, size);
                }
                return;
            }
        };
        let slot = *entry.get();
        let node = &self.queues.slab[slot as usize];
        let level = &self.queues.levels[node.level as usize];
        let (old_side, old_price, old_size) = (level.side, level.price, node.size);
        if size == 0 {
            self.anomalies.modify_to_zero += 1;
            entry.remove();
            self.queues.unlink(slot);
            self.queues.release(slot);
        } else if side != old_side || price != old_price || size > old_size {
            // Loses priority: another side, a new price, or more size goes to the back.
            if side != old_side {
                self.anomalies.modify_side_change += 1;
            }
            self.queues.unlink(slot);
            self.queues.link_back(slot, order_id, side, price, size);
        } else {
            self.queues.resize_in_place(slot, size);
        }
    }

    /// F_TOB add: the side becomes one level with no individual orders (or empty for UNDEF_PRICE).
    fn set_top_of_book(&mut self, side: Side, price: i64, size: u32) {
        for slot in self.queues.clear_side(side) {
            self.index.remove(&self.queues.slab[slot as usize].order_id);
        }
        if price != UNDEF_PRICE && size > 0 {
            self.queues.level_slot(side, price, u64::from(size));
        }
    }

    /// R: empty the book. Anomaly counters describe the stream, so they survive a clear.
    pub fn clear(&mut self) {
        self.index.clear();
        self.queues.clear();
        self.maybe_bad = false;
    }

    // ---- reading the book ----

    /// Levels of one side, best first.
    pub fn levels(&self, side: Side) -> impl ExactSizeIterator<Item = &Level> + '_ {
        self.queues.side_levels(side)
    }

    #[inline]
    pub fn top(&self, side: Side) -> Top {
        match self.queues.best(side) {
            Some(level) => Top {
                price: level.price,
                size: level.size,
                count: level.count,
            },
            None => Top::EMPTY,
        }
    }

    /// Both sides present and the best bid at or through the best ask (crossed or locked).
    pub fn crossed(&self) -> bool {
        match (self.queues.best(Side::Bid), self.queues.best(Side::Ask)) {
            (Some(bid), Some(ask)) => bid.price >= ask.price,
            _ => false,
        }
    }

    pub fn order_count(&self) -> usize {
        self.index.len()
    }

    pub fn level_count(&self, side: Side) -> usize {
        self.queues.ladder(side).len()
    }

    /// `(order_id, size)` of the orders at `price`, in priority order.
    pub fn orders_at(&self, side: Side, price: i64) -> Vec<(u64, u32)> {
        match self.queues.level(side, price) {
            Some(level) => self.queue(level).collect(),
            None => Vec::new(),
        }
    }

    /// The queue of a level, front (highest priority) first.
    pub fn queue<'a>(&'a self, level: &Level) -> impl Iterator<Item = (u64, u32)> + 'a {
        self.queues.queue_slots(level).map(move |slot| {
            let node = &self.queues.slab[slot as usize];
            (node.order_id, node.size)
        })
    }

    pub fn order(&self, order_id: u64) -> Option<RestingOrder> {
        let &slot = self.index.get(&order_id)?;
        let node = &self.queues.slab[slot as usize];
        let level = &self.queues.levels[node.level as usize];
        let mut queue_position = 0;
        let mut cursor = node.prev;
        while cursor != level.sentinel {
            queue_position += 1;
            cursor = self.queues.slab[cursor as usize].prev;
        }
        Some(RestingOrder {
            side: level.side,
            price: level.price,
            size: node.size,
            queue_position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::mbo;

    fn bids(book: &Book) -> Vec<(i64, u64, u32)> {
        book.levels(Side::Bid)
            .map(|l| (l.price, l.size, l.count))
            .collect()
    }

    #[test]
    fn add_appends_to_the_back_of_its_level() {
        let mut book = Book::new(1, 1);
        book.apply(&mbo(b'A', b'B', 1, 100, 5, 0x80));
        book.apply(&mbo(b'A', b'B', 2, 100, 3, 0x80));
        book.apply(&mbo(b'A', b'B', 3, 99, 1, 0x80));
        assert_eq!(bids(&book), vec![(100, 8, 2), (99, 1, 1)]);
        assert_eq!(book.orders_at(Side::Bid, 100), vec![(1, 5), (2, 3)]);
    }

    #[test]
    fn cancel_uses_the_stored_price_and_removes_at_zero() {
        let mut book = Book::new(1, 1);
        book.apply(&mbo(b'A', b'A', 7, 105, 10, 0x80));
        book.apply(&mbo(b'C', b'A', 7, 0, 4, 0x80)); // record price is irrelevant
        assert_eq!(book.top(Side::Ask).size, 6);
        book.apply(&mbo(b'C', b'A', 7, 0, 9, 0x80));
        assert_eq!(book.anomalies.cancel_oversize, 1);
        assert_eq!(book.order_count(), 0);
        assert!(book.top(Side::Ask).is_empty());
        book.apply(&mbo(b'C', b'A', 7, 0, 1, 0x80));
        assert_eq!(book.anomalies.cancel_unknown, 1);
    }

    #[test]
    fn modify_priority_rules() {
        let mut book = Book::new(1, 1);
        for id in 1..=3 {
            book.apply(&mbo(b'A', b'B', id, 100, 5, 0x80));
        }
        book.apply(&mbo(b'M', b'B', 1, 100, 4, 0x80)); // smaller: keeps its place
        assert_eq!(book.orders_at(Side::Bid, 100), vec![(1, 4), (2, 5), (3, 5)]);
        book.apply(&mbo(b'M', b'B', 1, 100, 6, 0x80)); // larger: back of the queue
        assert_eq!(book.orders_at(Side::Bid, 100), vec![(2, 5), (3, 5), (1, 6)]);
        book.apply(&mbo(b'M', b'A', 2, 101, 5, 0x80)); // side change
        assert_eq!(book.anomalies.modify_side_change, 1);
        assert_eq!(book.orders_at(Side::Ask, 101), vec![(2, 5)]);
        book.apply(&mbo(b'M', b'B', 3, 0, 0, 0x80));
        assert_eq!(book.anomalies.modify_to_zero, 1);
        book.apply(&mbo(b'M', b'B', 9, 98, 2, 0x80));
        assert_eq!(book.anomalies.modify_unknown_as_add, 1);
        assert_eq!(bids(&book), vec![(100, 6, 1), (98, 2, 1)]);
        assert_eq!(book.order(1).unwrap().queue_position, 0);
    }

    #[test]
    fn tob_add_replaces_the_side_and_undef_empties_it() {
        let mut book = Book::new(1, 1);
        book.apply(&mbo(b'A', b'B', 1, 100, 5, 0x80));
        book.apply(&mbo(b'A', b'B', 0, 101, 20, 0x80 | 0x40));
        assert_eq!(bids(&book), vec![(101, 20, 0)]);
        assert_eq!(book.order_count(), 0);
        book.apply(&mbo(b'A', b'B', 0, UNDEF_PRICE, 0, 0x80 | 0x40));
        assert!(book.top(Side::Bid).is_empty());
    }

    #[test]
    fn trades_fills_and_side_n_do_not_change_the_book() {
        let mut book = Book::new(1, 1);
        book.apply(&mbo(b'A', b'B', 1, 100, 5, 0x80));
        book.apply(&mbo(b'T', b'A', 0, 100, 5, 0));
        book.apply(&mbo(b'F', b'B', 1, 100, 5, 0));
        book.apply(&mbo(b'F', b'B', 77, 100, 5, 0));
        book.apply(&mbo(b'A', b'N', 2, 100, 5, 0x80));
        assert_eq!(bids(&book), vec![(100, 5, 1)]);
        assert_eq!(book.anomalies.fill_unknown, 1);
        assert_eq!(book.anomalies.side_n_book_action, 1);
        assert!(book.consistent);
    }

    #[test]
    fn clear_empties_and_crossed_is_kept() {
        let mut book = Book::new(1, 1);
        book.apply(&mbo(b'A', b'B', 1, 101, 5, 0));
        book.apply(&mbo(b'A', b'A', 2, 100, 5, 0x80 | 0x04));
        assert!(book.crossed() && book.maybe_bad);
        book.apply(&mbo(b'R', b'N', 0, UNDEF_PRICE, 0, 0x80));
        assert_eq!(book.order_count(), 0);
        assert!(!book.crossed() && !book.maybe_bad);
    }

    #[test]
    fn duplicate_add_replaces_the_resting_order() {
        let mut book = Book::new(1, 1);
        book.apply(&mbo(b'A', b'B', 1, 100, 5, 0x80));
        book.apply(&mbo(b'A', b'B', 2, 100, 5, 0x80));
        book.apply(&mbo(b'A', b'B', 1, 100, 7, 0x80));
        assert_eq!(book.anomalies.add_duplicate, 1);
        assert_eq!(book.orders_at(Side::Bid, 100), vec![(2, 5), (1, 7)]);
    }
}
