//! One L3 limit order book: every resting order, in FIFO order per price level.
//!
//! Layout, chosen for the hot loop (one `apply` per record, no allocation in steady state):
//! - orders live in a slab (`Vec<Node>`) and are chained per level as a circular doubly linked
//!   list through a sentinel node, so a cancel or a move-to-back is O(1) once the order is found
//!   and never branches on an empty neighbour;
//! - `order_id -> slab slot` is a hash map with a fast integer hasher;
//! - each side's levels are sorted worst to best, so the best level is the last element and
//!   the levels that change most (near the touch) are the cheapest to insert and remove.
//!
//! At tens of millions of records a second, a mispredicted branch (~15 cycles) costs as much
//! as the work itself: bid/ask and "where near the touch" are computed as data, not branches.

pub mod auction;
pub mod market;
pub mod snapshot;

use dbn::{flags, MboMsg, UNDEF_PRICE};
use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap;

const NIL: u32 = u32::MAX;
/// Levels compared without branching before a binary search (see `Ladder::find`).
const NEAR_TOUCH: usize = 8;

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
    fn key(self, price: i64) -> i64 {
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

/// An aggregated price level. `count` is the number of resting orders; a level set by an F_TOB
/// add has a size but no orders (count 0), as in Databento's top-of-book records.
#[derive(Clone, Debug)]
pub struct Level {
    pub price: i64,
    pub size: u64,
    pub count: u32,
    /// Slab slot of the queue's sentinel: the queue is a circular list through it, so linking
    /// and unlinking never test for an empty neighbour.
    sentinel: u32,
    side: Side,
}

/// A resting order (or a level's sentinel). Its price and side are its level's.
#[derive(Clone, Debug)]
struct Node {
    order_id: u64,
    size: u32,
    /// Slot of its level in `Queues::levels`: a cancel never searches the ladder.
    level: u32,
    prev: u32,
    next: u32,
}

/// The levels of one side, sorted worst to best (best = last): sort keys in one vector (the
/// search reads only these, eight to a cache line) and level slots in another, in step.
#[derive(Clone, Debug, Default)]
struct Ladder {
    keys: Vec<i64>,
    ids: Vec<u32>,
}

impl Ladder {
    /// Position of the level with sort key `key`: `Ok(i)` if it exists, `Err(i)` where it would go.
    #[inline]
    fn find(&self, key: i64) -> Result<usize, usize> {
        let keys = &self.keys[..];
        let len = keys.len();
        // Most activity is within a few levels of the touch. Counting the better levels among
        // the best NEAR_TOUCH is branch-free, so it costs the same wherever the price falls
        // (a walk that stops at the first match mispredicts its exit).
        let at = if len >= NEAR_TOUCH && keys[len - NEAR_TOUCH] <= key {
            let near: &[i64; NEAR_TOUCH] = keys[len - NEAR_TOUCH..].try_into().unwrap();
            len - near.iter().map(|&k| usize::from(k > key)).sum::<usize>()
        } else {
            keys.partition_point(|&k| k <= key)
        };
        // `at` is the first position whose key is greater: the level, if any, is just before.
        match at.checked_sub(1) {
            Some(found) if keys[found] == key => Ok(found),
            _ => Err(at),
        }
    }

    fn insert(&mut self, at: usize, key: i64, id: u32) {
        self.keys.insert(at, key);
        self.ids.insert(at, id);
    }

    fn remove(&mut self, at: usize) {
        self.keys.remove(at);
        self.ids.remove(at);
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.ids.clear();
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn best(&self) -> Option<u32> {
        self.ids.last().copied()
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

/// The resting orders of both sides: slab-allocated nodes chained per level, levels in a slab
/// of their own. Knows nothing of order ids (the `Book` keeps that index), so moving an order
/// never touches the hash map.
#[derive(Clone, Debug, Default)]
struct Queues {
    /// Indexed by `Side`.
    ladders: [Ladder; 2],
    levels: Vec<Level>,
    free_levels: Vec<u32>,
    /// Order nodes and level sentinels.
    slab: Vec<Node>,
    free: Vec<u32>,
}

impl Queues {
    fn ladder(&self, side: Side) -> &Ladder {
        &self.ladders[side as usize]
    }

    fn level(&self, side: Side, price: i64) -> Option<&Level> {
        let ladder = self.ladder(side);
        let at = ladder.find(side.key(price)).ok()?;
        Some(&self.levels[ladder.ids[at] as usize])
    }

    /// Levels of one side, best first.
    fn side_levels(&self, side: Side) -> impl ExactSizeIterator<Item = &Level> + '_ {
        self.ladder(side)
            .ids
            .iter()
            .rev()
            .map(|&id| &self.levels[id as usize])
    }

    #[inline]
    fn best(&self, side: Side) -> Option<&Level> {
        Some(&self.levels[self.ladder(side).best()? as usize])
    }

    fn alloc(&mut self, order_id: u64) -> u32 {
        match self.free.pop() {
            Some(slot) => slot,
            None => self.push_node(order_id),
        }
    }

    fn push_node(&mut self, order_id: u64) -> u32 {
        let slot = self.slab.len() as u32;
        self.slab.push(Node {
            order_id,
            size: 0,
            level: NIL,
            prev: slot,
            next: slot,
        });
        slot
    }

    fn release(&mut self, slot: u32) {
        self.free.push(slot);
    }

    fn heap_bytes(&self) -> usize {
        let ladders: usize = self
            .ladders
            .iter()
            .map(|l| vec_bytes(&l.keys) + vec_bytes(&l.ids))
            .sum();
        ladders
            + vec_bytes(&self.levels)
            + vec_bytes(&self.free_levels)
            + vec_bytes(&self.slab)
            + vec_bytes(&self.free)
    }

    // The per-record path is forced inline (`level_slot`, `link_back`, `unlink`, `Book::apply`
    // and `apply_action`, `Market::apply`, `BboColumns::visit`): in the extension module (fat
    // LTO, one codegen unit) LLVM kept parts of it as calls, each with its own register saves,
    // and forcing them measured 3-5 % faster `read_bbo` per step in paired runs
    // (`benchmarks/ab_builds.py`). The standalone examples inlined them on their own. Forcing
    // `add`/`cancel`/`modify` as well measured no faster.

    /// The slot of the level at `(side, price)`, created empty if there is none.
    #[inline(always)]
    fn level_slot(&mut self, side: Side, price: i64, size: u64) -> u32 {
        let key = side.key(price);
        match self.ladders[side as usize].find(key) {
            Ok(at) => self.ladders[side as usize].ids[at],
            Err(at) => self.new_level(side, at, key, price, size),
        }
    }

    #[cold]
    fn new_level(&mut self, side: Side, at: usize, key: i64, price: i64, size: u64) -> u32 {
        let id = match self.free_levels.pop() {
            Some(id) => id,
            None => {
                let sentinel = self.push_node(0);
                self.levels.push(Level {
                    price,
                    size,
                    count: 0,
                    sentinel,
                    side,
                });
                (self.levels.len() - 1) as u32
            }
        };
        let level = &mut self.levels[id as usize];
        level.price = price;
        level.size = size;
        level.count = 0;
        level.side = side;
        let sentinel = level.sentinel;
        let node = &mut self.slab[sentinel as usize];
        node.prev = sentinel;
        node.next = sentinel;
        self.ladders[side as usize].insert(at, key, id);
        id
    }

    /// Append `slot` to the back of the level at `(side, price)`, creating the level if needed.
    #[inline(always)]
    fn link_back(&mut self, slot: u32, order_id: u64, side: Side, price: i64, size: u32) {
        let id = self.level_slot(side, price, 0);
        let level = &mut self.levels[id as usize];
        level.size += u64::from(size);
        level.count += 1;
        let sentinel = level.sentinel;
        let tail = self.slab[sentinel as usize].prev;
        self.slab[slot as usize] = Node {
            order_id,
            size,
            level: id,
            prev: tail,
            next: sentinel,
        };
        self.slab[tail as usize].next = slot;
        self.slab[sentinel as usize].prev = slot;
    }

    /// Take `slot` out of its level's queue, dropping the level when nothing is left in it.
    #[inline(always)]
    fn unlink(&mut self, slot: u32) {
        let Node {
            size,
            level: id,
            prev,
            next,
            ..
        } = self.slab[slot as usize];
        self.slab[prev as usize].next = next;
        self.slab[next as usize].prev = prev;
        let level = &mut self.levels[id as usize];
        level.size -= u64::from(size);
        level.count -= 1;
        if level.count == 0 && level.size == 0 {
            let (side, price) = (level.side, level.price);
            self.drop_level(side, price, id);
        }
    }

    #[cold]
    fn drop_level(&mut self, side: Side, price: i64, id: u32) {
        let ladder = &mut self.ladders[side as usize];
        if let Ok(at) = ladder.find(side.key(price)) {
            ladder.remove(at);
        }
        self.free_levels.push(id);
    }

    #[inline]
    fn resize_in_place(&mut self, slot: u32, new_size: u32) {
        let node = &mut self.slab[slot as usize];
        let old_size = node.size;
        node.size = new_size;
        let level = &mut self.levels[node.level as usize];
        level.size = level.size - u64::from(old_size) + u64::from(new_size);
    }

    /// The order slots of a level, front (highest priority) first.
    fn queue_slots(&self, level: &Level) -> QueueIter<'_> {
        QueueIter {
            slab: &self.slab,
            cursor: self.slab[level.sentinel as usize].next,
            end: level.sentinel,
        }
    }

    /// Empty one side; returns the slots of the orders that rested there.
    fn clear_side(&mut self, side: Side) -> Vec<u32> {
        let mut slots = Vec::new();
        for &id in &self.ladders[side as usize].ids {
            slots.extend(self.queue_slots(&self.levels[id as usize]));
        }
        self.free_levels
            .extend_from_slice(&self.ladders[side as usize].ids);
        self.ladders[side as usize].clear();
        self.free.extend_from_slice(&slots);
        slots
    }

    fn clear(&mut self) {
        for ladder in &mut self.ladders {
            ladder.clear();
        }
        self.levels.clear();
        self.free_levels.clear();
        self.slab.clear();
        self.free.clear();
    }
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

/// Walks a level's circular list of slab slots from the front to its sentinel.
struct QueueIter<'a> {
    slab: &'a [Node],
    cursor: u32,
    end: u32,
}

impl Iterator for QueueIter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.cursor == self.end {
            return None;
        }
        let slot = self.cursor;
        self.cursor = self.slab[slot as usize].next;
        Some(slot)
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
