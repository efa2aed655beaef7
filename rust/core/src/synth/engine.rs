//! A price-time priority matching engine for one instrument (FIFO queues per price level,
//! limit/market orders, GTC/IOC/FOK, modifies, a pre-open phase and its opening uncross). Every
//! event is recorded through its [`RecordEmitter`] as the MBO records a Databento GLBX.MDP3 file
//! would contain for it (see `records.rs` for their shapes).
//!
//! The engine keeps its own matching state; it never goes through the core's [`Book`], so
//! replaying its records through a `Book` is a real check of both.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use dbn::{FlagSet, MboMsg};
use rustc_hash::FxHashMap;

use super::records::RecordEmitter;
use crate::book::{Book, RestingOrder, Side};
use crate::error::Error;

const F_LAST: u8 = dbn::flags::LAST;

/// How long an order lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeInForce {
    /// Good till cancelled: any remainder rests.
    Gtc,
    /// Immediate or cancel: trades what it can, the rest is dropped (no record).
    Ioc,
    /// Fill or kill: trades completely at once, or nothing happens (no record).
    Fok,
}

/// What is being asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderKind {
    Limit {
        price: i64,
    },
    /// Trades at any price; never rests (whatever the time in force, the remainder is dropped).
    Market,
}

/// The outcome of a submit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submitted {
    pub order_id: u64,
    /// Size traded at once.
    pub filled: u32,
    /// Size left resting in the book (0 for IOC/FOK/market orders).
    pub resting: u32,
}

/// Why an operation was refused. Nothing is emitted and the book is unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatchingError {
    /// Sizes must be at least 1.
    ZeroSize,
    /// A price that is not a multiple of the tick size.
    OffTick { price: i64, tick: i64 },
    /// No resting order has this id (never existed, filled, or cancelled).
    UnknownOrder(u64),
    /// `ts_event` earlier than the previous operation's.
    TimeWentBack { ts: u64, last: u64 },
    /// Market, IOC and FOK orders are refused before the open (nothing can trade).
    NotDuringPreOpen,
    /// `open` outside the pre-open phase.
    NotInPreOpen,
    /// Bad engine parameters (tick size ≤ 0).
    BadParameter(String),
}

impl fmt::Display for MatchingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchingError::ZeroSize => f.write_str("order size must be >= 1"),
            MatchingError::OffTick { price, tick } => {
                write!(f, "price {price} is not a multiple of the tick size {tick}")
            }
            MatchingError::UnknownOrder(id) => write!(f, "no resting order with id {id}"),
            MatchingError::TimeWentBack { ts, last } => {
                write!(f, "ts_event {ts} is before the previous event's {last}")
            }
            MatchingError::NotDuringPreOpen => {
                f.write_str("market, IOC and FOK orders cannot be sent before the open")
            }
            MatchingError::NotInPreOpen => f.write_str("the engine is not in its pre-open phase"),
            MatchingError::BadParameter(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for MatchingError {}

impl From<MatchingError> for Error {
    fn from(err: MatchingError) -> Self {
        Error::bad_argument(err.to_string())
    }
}

pub type MatchingResult<T> = std::result::Result<T, MatchingError>;

#[derive(Clone, Copy, Debug)]
struct Order {
    side: Side,
    price: i64,
    size: u32,
}

#[derive(Clone, Debug, Default)]
struct PriceLevel {
    size: u64,
    queue: VecDeque<u64>,
}

/// One passive order's part in a trade.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fill {
    pub(super) order_id: u64,
    pub(super) side: Side,
    pub(super) price: i64,
    pub(super) size: u32,
    /// What is left of the order after the fill (0: gone).
    pub(super) remaining: u32,
}

fn opposite(side: Side) -> Side {
    match side {
        Side::Bid => Side::Ask,
        Side::Ask => Side::Bid,
    }
}

/// A limit `price` on `side` reaches a resting level at `level` on the other side.
fn reaches(side: Side, limit: Option<i64>, level: i64) -> bool {
    match (side, limit) {
        (_, None) => true,
        (Side::Bid, Some(limit)) => level <= limit,
        (Side::Ask, Some(limit)) => level >= limit,
    }
}

/// The matching engine of one instrument.
#[derive(Clone, Debug)]
pub struct MatchingEngine {
    pub tick: i64,
    /// Its records, and how they are stamped (channel, latencies).
    pub emitter: RecordEmitter,
    /// Orders rest without matching until `open`.
    pre_open: bool,
    bids: BTreeMap<i64, PriceLevel>,
    asks: BTreeMap<i64, PriceLevel>,
    orders: FxHashMap<u64, Order>,
    next_order_id: u64,
    last_ts_event: u64,
}

impl MatchingEngine {
    /// A continuous-trading engine. `tick` is the price increment in 1e-9 units (> 0).
    pub fn new(instrument_id: u32, publisher_id: u16, tick: i64) -> MatchingResult<Self> {
        if tick <= 0 {
            return Err(MatchingError::BadParameter(format!(
                "tick size must be > 0, not {tick}"
            )));
        }
        Ok(MatchingEngine {
            tick,
            emitter: RecordEmitter::new(instrument_id, publisher_id),
            pre_open: false,
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            orders: FxHashMap::default(),
            next_order_id: 1,
            last_ts_event: 0,
        })
    }

    /// Start in (or return to) the pre-open phase: limit orders rest without matching, so the
    /// book can cross, until `open`.
    pub fn set_pre_open(&mut self, pre_open: bool) {
        self.pre_open = pre_open;
    }

    pub fn pre_open(&self) -> bool {
        self.pre_open
    }

    /// Ids are handed out from here on (they must stay unique: only raise it).
    pub fn set_next_order_id(&mut self, next: u64) {
        self.next_order_id = self.next_order_id.max(next);
    }

    /// The first packet's sequence number from here on.
    pub fn set_next_sequence(&mut self, sequence: u32) {
        self.emitter.set_next_sequence(sequence);
    }

    pub fn instrument_id(&self) -> u32 {
        self.emitter.instrument_id
    }

    pub fn publisher_id(&self) -> u16 {
        self.emitter.publisher_id
    }

    // ---- order entry ----

    /// Send a new order at `ts` (ns since the epoch, ≥ the previous operation's).
    pub fn submit(
        &mut self,
        ts: u64,
        side: Side,
        kind: OrderKind,
        size: u32,
        tif: TimeInForce,
    ) -> MatchingResult<Submitted> {
        if size == 0 {
            return Err(MatchingError::ZeroSize);
        }
        let limit = match kind {
            OrderKind::Limit { price } => {
                self.check_tick(price)?;
                Some(price)
            }
            OrderKind::Market => None,
        };
        self.check_ts(ts)?;
        if self.pre_open && (limit.is_none() || tif != TimeInForce::Gtc) {
            return Err(MatchingError::NotDuringPreOpen);
        }
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        self.last_ts_event = ts;

        let can_match = !self.pre_open && self.first_reachable(side, limit);
        if !can_match {
            let resting = match (limit, tif) {
                (Some(price), TimeInForce::Gtc) => {
                    self.rest(order_id, side, price, size);
                    let (seq, recv) = self.emitter.packet(ts, false);
                    self.emitter
                        .push(ts, recv, seq, b'A', side, order_id, price, size, F_LAST);
                    size
                }
                _ => 0,
            };
            return Ok(Submitted {
                order_id,
                filled: 0,
                resting,
            });
        }
        if tif == TimeInForce::Fok && self.available(side, limit, size) < u64::from(size) {
            return Ok(Submitted {
                order_id,
                filled: 0,
                resting: 0,
            });
        }
        let fills = self.take_liquidity(side, limit, size);
        let filled: u32 = fills.iter().map(|fill| fill.size).sum();
        let remainder = size - filled;
        let rests = remainder > 0 && tif == TimeInForce::Gtc && limit.is_some();

        let (seq, recv) = self.emitter.packet(ts, false);
        self.emitter
            .push_trades(ts, recv, seq, side, order_id, &fills);
        let (seq, recv) = self.emitter.packet(ts, true);
        if let (true, Some(price)) = (rests, limit) {
            self.rest(order_id, side, price, remainder);
            self.emitter
                .push(ts, recv, seq, b'A', side, order_id, price, remainder, 0);
        }
        self.emitter.push_reductions(ts, recv, seq, &fills);
        self.emitter.mark_last();
        Ok(Submitted {
            order_id,
            filled,
            resting: if rests { remainder } else { 0 },
        })
    }

    /// Cancel a resting order completely. Returns the size it had.
    pub fn cancel(&mut self, ts: u64, order_id: u64) -> MatchingResult<u32> {
        let order = *self
            .orders
            .get(&order_id)
            .ok_or(MatchingError::UnknownOrder(order_id))?;
        self.check_ts(ts)?;
        self.last_ts_event = ts;
        self.unrest(order_id);
        let (seq, recv) = self.emitter.packet(ts, false);
        let Order { side, price, size } = order;
        self.emitter
            .push(ts, recv, seq, b'C', side, order_id, price, size, F_LAST);
        Ok(size)
    }

    /// Change a resting order's price and/or size (`size` is the new total). A new price or a
    /// larger size sends it to the back of its (new) level; a smaller size keeps its place. A
    /// new price that crosses the other side trades at once (outside the pre-open), as an
    /// aggressor; what remains rests at the new price. Returns what the submit of the modified
    /// order would: the size traded and the size resting.
    pub fn modify(
        &mut self,
        ts: u64,
        order_id: u64,
        price: i64,
        size: u32,
    ) -> MatchingResult<Submitted> {
        let old = *self
            .orders
            .get(&order_id)
            .ok_or(MatchingError::UnknownOrder(order_id))?;
        if size == 0 {
            return Err(MatchingError::ZeroSize);
        }
        self.check_tick(price)?;
        self.check_ts(ts)?;
        self.last_ts_event = ts;
        let side = old.side;

        if self.pre_open || !self.first_reachable(side, Some(price)) {
            let keeps_place = price == old.price && size <= old.size;
            if keeps_place {
                self.resize(order_id, size);
            } else {
                self.unrest(order_id);
                self.rest(order_id, side, price, size);
            }
            let (seq, recv) = self.emitter.packet(ts, false);
            self.emitter
                .push(ts, recv, seq, b'M', side, order_id, price, size, F_LAST);
            return Ok(Submitted {
                order_id,
                filled: 0,
                resting: size,
            });
        }
        // Crossing: out of the book, trade as an aggressor, then the rest back in at `price`.
        self.unrest(order_id);
        let fills = self.take_liquidity(side, Some(price), size);
        let filled: u32 = fills.iter().map(|fill| fill.size).sum();
        let remainder = size - filled;
        let (seq, recv) = self.emitter.packet(ts, false);
        self.emitter
            .push_trades(ts, recv, seq, side, order_id, &fills);
        let (seq, recv) = self.emitter.packet(ts, true);
        self.emitter.push_reductions(ts, recv, seq, &fills);
        if remainder > 0 {
            self.rest(order_id, side, price, remainder);
            self.emitter
                .push(ts, recv, seq, b'M', side, order_id, price, remainder, 0);
        } else {
            self.emitter
                .push(ts, recv, seq, b'C', side, order_id, old.price, old.size, 0);
        }
        self.emitter.mark_last();
        Ok(Submitted {
            order_id,
            filled,
            resting: remainder,
        })
    }

    /// End the pre-open at `price`: every order that can trade there does, in price-time
    /// priority on each side, and the engine goes over to continuous trading. `price` should be
    /// the book's uncross price (see [`MatchingEngine::open`]); at any other price the book may stay
    /// crossed. Returns the volume traded.
    pub fn open_at(&mut self, ts: u64, price: i64) -> MatchingResult<u64> {
        if !self.pre_open {
            return Err(MatchingError::NotInPreOpen);
        }
        self.check_tick(price)?;
        self.check_ts(ts)?;
        self.last_ts_event = ts;
        self.pre_open = false;
        let bid_volume = self.available(Side::Ask, Some(price), u32::MAX);
        let ask_volume = self.available(Side::Bid, Some(price), u32::MAX);
        let volume = bid_volume.min(ask_volume);
        if volume == 0 {
            return Ok(0);
        }
        // Both sides give up `volume`: the bids at or above the price, the asks at or below.
        let mut fills = Vec::new();
        let mut bid_fills = self.take_volume(Side::Bid, price, volume);
        let mut ask_fills = self.take_volume(Side::Ask, price, volume);
        fills.append(&mut bid_fills);
        fills.append(&mut ask_fills);
        let (seq, recv) = self.emitter.packet(ts, false);
        let size = u32::try_from(volume).unwrap_or(u32::MAX);
        self.emitter
            .push_side(ts, recv, seq, b'T', b'N', 0, price, size, 0);
        for fill in &fills {
            self.emitter.push(
                ts,
                recv,
                seq,
                b'F',
                fill.side,
                fill.order_id,
                price,
                fill.size,
                0,
            );
        }
        let (seq, recv) = self.emitter.packet(ts, true);
        self.emitter.push_reductions(ts, recv, seq, &fills);
        self.emitter.mark_last();
        Ok(volume)
    }

    /// End the pre-open at the book's indicative uncross price (maximum volume, then minimum
    /// imbalance, then nearest `reference`; see `crate::auction`). A book that does not cross
    /// just opens. Returns the uncross (price, volume), if any.
    pub fn open(&mut self, ts: u64, reference: Option<i64>) -> MatchingResult<Option<(i64, u64)>> {
        if !self.pre_open {
            return Err(MatchingError::NotInPreOpen);
        }
        self.check_ts(ts)?;
        let uncross = crate::book::auction::indicative_uncross(&self.to_book(), reference);
        match uncross {
            Some(uncross) if uncross.volume > 0 => {
                let volume = self.open_at(ts, uncross.price)?;
                Ok(Some((uncross.price, volume)))
            }
            _ => {
                self.pre_open = false;
                self.last_ts_event = ts;
                Ok(None)
            }
        }
    }

    // ---- records ----

    /// Records emitted and not yet taken.
    pub fn records(&self) -> &[MboMsg] {
        self.emitter.records()
    }

    /// The records emitted since the last take.
    pub fn take_records(&mut self) -> Vec<MboMsg> {
        self.emitter.take()
    }

    /// Drop the records emitted so far, keeping the buffer (for callers that copied them).
    pub fn clear_records(&mut self) {
        self.emitter.clear();
    }

    // ---- read-outs ----

    fn ladder(&self, side: Side) -> &BTreeMap<i64, PriceLevel> {
        match side {
            Side::Bid => &self.bids,
            Side::Ask => &self.asks,
        }
    }

    fn ladder_mut(&mut self, side: Side) -> &mut BTreeMap<i64, PriceLevel> {
        match side {
            Side::Bid => &mut self.bids,
            Side::Ask => &mut self.asks,
        }
    }

    fn best_first(&self, side: Side) -> Box<dyn Iterator<Item = (&i64, &PriceLevel)> + '_> {
        match side {
            Side::Bid => Box::new(self.bids.iter().rev()),
            Side::Ask => Box::new(self.asks.iter()),
        }
    }

    /// `(price, size, count)` of one side's levels, best first.
    pub fn levels(&self, side: Side) -> Vec<(i64, u64, u32)> {
        self.best_first(side)
            .map(|(&price, level)| (price, level.size, level.queue.len() as u32))
            .collect()
    }

    /// `(order_id, size)` resting at `price`, front of the queue first.
    pub fn queue(&self, side: Side, price: i64) -> Vec<(u64, u32)> {
        match self.ladder(side).get(&price) {
            Some(level) => level
                .queue
                .iter()
                .map(|id| (*id, self.orders[id].size))
                .collect(),
            None => Vec::new(),
        }
    }

    pub fn order(&self, order_id: u64) -> Option<RestingOrder> {
        let order = self.orders.get(&order_id)?;
        let level = &self.ladder(order.side)[&order.price];
        let queue_position = level.queue.iter().position(|id| *id == order_id)?;
        Some(RestingOrder {
            side: order.side,
            price: order.price,
            size: order.size,
            queue_position,
        })
    }

    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    /// Best bid and ask prices (None for an empty side).
    pub fn best(&self, side: Side) -> Option<i64> {
        // Not through `best_first`: its boxed iterator allocates, and this runs on every submit.
        match side {
            Side::Bid => self.bids.last_key_value(),
            Side::Ask => self.asks.first_key_value(),
        }
        .map(|(&price, _)| price)
    }

    /// `(side, price, size)` of a resting order, without the queue search of [`MatchingEngine::order`].
    pub fn resting(&self, order_id: u64) -> Option<(Side, i64, u32)> {
        self.orders
            .get(&order_id)
            .map(|order| (order.side, order.price, order.size))
    }

    /// The resting orders as a core book (levels and queues in priority order), e.g. for
    /// `crate::auction`.
    pub fn to_book(&self) -> Book {
        let mut book = Book::new(self.instrument_id(), self.publisher_id());
        for side in [Side::Bid, Side::Ask] {
            for (&price, level) in self.ladder(side) {
                for &order_id in &level.queue {
                    let size = self.orders[&order_id].size;
                    let mut msg =
                        self.emitter
                            .record(0, 0, 0, b'A', side.as_byte(), order_id, price);
                    msg.size = size;
                    msg.flags = FlagSet::new(F_LAST);
                    book.apply(&msg);
                }
            }
        }
        book
    }

    // ---- internals ----

    fn check_tick(&self, price: i64) -> MatchingResult<()> {
        if price.rem_euclid(self.tick) != 0 || price == dbn::UNDEF_PRICE {
            return Err(MatchingError::OffTick {
                price,
                tick: self.tick,
            });
        }
        Ok(())
    }

    fn check_ts(&self, ts: u64) -> MatchingResult<()> {
        if ts < self.last_ts_event {
            return Err(MatchingError::TimeWentBack {
                ts,
                last: self.last_ts_event,
            });
        }
        Ok(())
    }

    fn rest(&mut self, order_id: u64, side: Side, price: i64, size: u32) {
        self.orders.insert(order_id, Order { side, price, size });
        let level = self.ladder_mut(side).entry(price).or_default();
        level.size += u64::from(size);
        level.queue.push_back(order_id);
    }

    fn unrest(&mut self, order_id: u64) {
        let Some(order) = self.orders.remove(&order_id) else {
            return;
        };
        let ladder = self.ladder_mut(order.side);
        if let Some(level) = ladder.get_mut(&order.price) {
            // From the back: cancels mostly hit recent orders, which queue at the back.
            if let Some(at) = level.queue.iter().rposition(|id| *id == order_id) {
                level.queue.remove(at);
            }
            level.size -= u64::from(order.size);
            if level.queue.is_empty() {
                ladder.remove(&order.price);
            }
        }
    }

    fn resize(&mut self, order_id: u64, size: u32) {
        let Some(order) = self.orders.get_mut(&order_id) else {
            return;
        };
        let old = std::mem::replace(&mut order.size, size);
        let (side, price) = (order.side, order.price);
        if let Some(level) = self.ladder_mut(side).get_mut(&price) {
            level.size = level.size - u64::from(old) + u64::from(size);
        }
    }

    /// An order on `side` with `limit` would trade with the other side's best level.
    fn first_reachable(&self, side: Side, limit: Option<i64>) -> bool {
        self.best(opposite(side))
            .is_some_and(|best| reaches(side, limit, best))
    }

    /// Size resting on the other side within `limit`, counted up to `want`.
    fn available(&self, side: Side, limit: Option<i64>, want: u32) -> u64 {
        let mut total = 0;
        for (&price, level) in self.best_first(opposite(side)) {
            if !reaches(side, limit, price) || total >= u64::from(want) {
                break;
            }
            total += level.size;
        }
        total
    }

    /// Trade `size` on `side` against the other side, best level first, FIFO within a level.
    fn take_liquidity(&mut self, side: Side, limit: Option<i64>, size: u32) -> Vec<Fill> {
        let passive = opposite(side);
        let mut left = size;
        let mut fills = Vec::new();
        while left > 0 {
            let Some(price) = self.best(passive) else {
                break;
            };
            if !reaches(side, limit, price) {
                break;
            }
            left = self.fill_level(passive, price, left, &mut fills);
        }
        fills
    }

    /// Take `volume` out of `side`'s levels that trade at `price` (an uncross), best first.
    fn take_volume(&mut self, side: Side, price: i64, volume: u64) -> Vec<Fill> {
        let mut left = u32::try_from(volume).unwrap_or(u32::MAX);
        let mut fills = Vec::new();
        while left > 0 {
            let Some(best) = self.best(side) else { break };
            // The other side's limit at `price` must reach this level.
            if !reaches(opposite(side), Some(price), best) {
                break;
            }
            left = self.fill_level(side, best, left, &mut fills);
        }
        fills
    }

    /// Fill up to `left` from the front of `side`'s level at `price`; returns what is left.
    fn fill_level(&mut self, side: Side, price: i64, mut left: u32, fills: &mut Vec<Fill>) -> u32 {
        let orders = &mut self.orders;
        let ladder = match side {
            Side::Bid => &mut self.bids,
            Side::Ask => &mut self.asks,
        };
        let Some(level) = ladder.get_mut(&price) else {
            return left;
        };
        while left > 0 {
            let Some(&order_id) = level.queue.front() else {
                break;
            };
            let order = orders
                .get_mut(&order_id)
                .expect("queued orders are indexed");
            let take = left.min(order.size);
            order.size -= take;
            level.size -= u64::from(take);
            left -= take;
            fills.push(Fill {
                order_id,
                side,
                price,
                size: take,
                remaining: order.size,
            });
            if order.size == 0 {
                level.queue.pop_front();
                orders.remove(&order_id);
            }
        }
        if level.queue.is_empty() {
            ladder.remove(&price);
        }
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::market::Market;
    use crate::synth::records::DEFAULT_RECV_LATENCY_NS;

    const TICK: i64 = 10_000_000; // 0.01

    fn px(ticks: i64) -> i64 {
        6_000 * TICK + ticks * TICK
    }

    fn engine() -> MatchingEngine {
        MatchingEngine::new(42, 1, TICK).unwrap()
    }

    fn gtc(e: &mut MatchingEngine, ts: u64, side: Side, ticks: i64, size: u32) -> Submitted {
        let kind = OrderKind::Limit { price: px(ticks) };
        e.submit(ts, side, kind, size, TimeInForce::Gtc).unwrap()
    }

    /// (action, side, order_id, price, size, flags) of each record.
    fn shape(records: &[MboMsg]) -> Vec<(char, char, u64, i64, u32, u8)> {
        records
            .iter()
            .map(|r| {
                (
                    r.action as u8 as char,
                    r.side as u8 as char,
                    r.order_id,
                    r.price,
                    r.size,
                    r.flags.raw(),
                )
            })
            .collect()
    }

    /// Replaying the engine's records through a core book reproduces its levels and queues.
    fn assert_round_trip(engine: &MatchingEngine, market: &mut Market) {
        let mut slot = None;
        for msg in engine.records() {
            slot = Some(market.apply(msg));
        }
        let Some(book) = market.book(engine.instrument_id(), engine.publisher_id()) else {
            assert_eq!(engine.order_count(), 0);
            return;
        };
        if slot.is_some() {
            assert!(book.consistent, "events end with F_LAST");
        }
        for side in [Side::Bid, Side::Ask] {
            let levels: Vec<_> = book
                .levels(side)
                .map(|l| (l.price, l.size, l.count))
                .collect();
            assert_eq!(levels, engine.levels(side));
            for (price, _, _) in engine.levels(side) {
                assert_eq!(book.orders_at(side, price), engine.queue(side, price));
            }
        }
        assert_eq!(book.anomalies, crate::book::Anomalies::default());
    }

    #[test]
    fn resting_orders_emit_one_add() {
        let mut e = engine();
        let s = gtc(&mut e, 100, Side::Bid, 0, 5);
        assert_eq!((s.filled, s.resting), (0, 5));
        let r = e.records();
        assert_eq!(shape(r), vec![('A', 'B', s.order_id, px(0), 5, 0x80)]);
        assert_eq!(r[0].hd.ts_event, 100);
        assert_eq!(r[0].ts_recv, 100 + DEFAULT_RECV_LATENCY_NS);
        assert_eq!(r[0].hd.rtype, dbn::rtype::MBO);
        assert_eq!(r[0].hd.publisher_id, 1);
        assert_eq!(r[0].hd.instrument_id, 42);
    }

    #[test]
    fn sweep_through_three_levels() {
        let mut e = engine();
        let mut market = Market::new();
        let a1 = gtc(&mut e, 1, Side::Ask, 1, 2).order_id;
        let a2 = gtc(&mut e, 2, Side::Ask, 1, 3).order_id;
        let b1 = gtc(&mut e, 3, Side::Ask, 2, 4).order_id;
        let c1 = gtc(&mut e, 4, Side::Ask, 3, 5).order_id;
        assert_round_trip(&e, &mut market);
        e.take_records();
        let s = gtc(&mut e, 10, Side::Bid, 3, 12);
        assert_eq!((s.filled, s.resting), (12, 0));
        let id = s.order_id;
        assert_eq!(
            shape(e.records()),
            vec![
                ('T', 'B', id, px(1), 5, 0),
                ('F', 'A', a1, px(1), 2, 0),
                ('F', 'A', a2, px(1), 3, 0),
                ('T', 'B', id, px(2), 4, 0),
                ('F', 'A', b1, px(2), 4, 0),
                ('T', 'B', id, px(3), 3, 0),
                ('F', 'A', c1, px(3), 3, 0),
                ('C', 'A', a1, px(1), 2, 0),
                ('C', 'A', a2, px(1), 3, 0),
                ('C', 'A', b1, px(2), 4, 0),
                ('M', 'A', c1, px(3), 2, 0x80),
            ]
        );
        let r = e.records();
        let seqs: Vec<u32> = r.iter().map(|m| m.sequence).collect();
        assert!(seqs[..7].iter().all(|&s| s == seqs[0]));
        assert!(seqs[7..].iter().all(|&s| s == seqs[0] + 1));
        assert!(r.iter().all(|m| m.hd.ts_event == 10 && m.ts_recv >= 10));
        assert!(r[7].ts_recv > r[6].ts_recv);
        assert_round_trip(&e, &mut market);
        assert_eq!(e.levels(Side::Ask), vec![(px(3), 2, 1)]);
        assert_eq!(e.order(c1).unwrap().queue_position, 0);
    }

    #[test]
    fn partial_fill_rests_the_remainder_with_its_own_add() {
        let mut e = engine();
        let mut market = Market::new();
        let a = gtc(&mut e, 1, Side::Ask, 0, 3).order_id;
        let s = gtc(&mut e, 2, Side::Bid, 1, 5);
        assert_eq!((s.filled, s.resting), (3, 2));
        let id = s.order_id;
        assert_eq!(
            shape(&e.records()[1..]),
            vec![
                ('T', 'B', id, px(0), 3, 0),
                ('F', 'A', a, px(0), 3, 0),
                ('A', 'B', id, px(1), 2, 0),
                ('C', 'A', a, px(0), 3, 0x80),
            ]
        );
        assert_round_trip(&e, &mut market);
        assert_eq!(e.levels(Side::Bid), vec![(px(1), 2, 1)]);
        assert!(e.levels(Side::Ask).is_empty());
    }

    #[test]
    fn ioc_remainder_is_dropped_and_fok_that_cannot_fill_emits_nothing() {
        let mut e = engine();
        let mut market = Market::new();
        let a = gtc(&mut e, 1, Side::Ask, 0, 3).order_id;
        assert_round_trip(&e, &mut market);
        e.take_records();
        let limit = OrderKind::Limit { price: px(0) };
        let fok = e.submit(2, Side::Bid, limit, 4, TimeInForce::Fok).unwrap();
        assert_eq!((fok.filled, fok.resting), (0, 0));
        assert!(e.records().is_empty());
        let ioc = e.submit(3, Side::Bid, limit, 4, TimeInForce::Ioc).unwrap();
        assert_eq!((ioc.filled, ioc.resting), (3, 0));
        assert_eq!(
            shape(e.records()),
            vec![
                ('T', 'B', ioc.order_id, px(0), 3, 0),
                ('F', 'A', a, px(0), 3, 0),
                ('C', 'A', a, px(0), 3, 0x80),
            ]
        );
        assert_round_trip(&e, &mut market);
        e.take_records();
        // Nothing to trade against: IOC and market orders leave no trace.
        let none = e.submit(4, Side::Bid, limit, 4, TimeInForce::Ioc).unwrap();
        assert_eq!((none.filled, none.resting), (0, 0));
        let market_order = e.submit(5, Side::Ask, OrderKind::Market, 1, TimeInForce::Gtc);
        assert_eq!(market_order.unwrap().filled, 0);
        assert!(e.records().is_empty());
        assert_eq!(e.order_count(), 0);
    }

    #[test]
    fn fok_that_can_fill_trades_completely() {
        let mut e = engine();
        let mut market = Market::new();
        gtc(&mut e, 1, Side::Bid, 0, 3);
        gtc(&mut e, 1, Side::Bid, -1, 3);
        let limit = OrderKind::Limit { price: px(-1) };
        let fok = e.submit(2, Side::Ask, limit, 5, TimeInForce::Fok).unwrap();
        assert_eq!((fok.filled, fok.resting), (5, 0));
        assert_round_trip(&e, &mut market);
        assert_eq!(e.levels(Side::Bid), vec![(px(-1), 1, 1)]);
    }

    #[test]
    fn modify_priority_rules() {
        let mut e = engine();
        let mut market = Market::new();
        let ids: Vec<u64> = (0..3)
            .map(|i| gtc(&mut e, i, Side::Bid, 0, 5).order_id)
            .collect();
        e.modify(10, ids[0], px(0), 4).unwrap(); // smaller: keeps its place
        assert_eq!(
            e.queue(Side::Bid, px(0)),
            vec![(ids[0], 4), (ids[1], 5), (ids[2], 5)]
        );
        e.modify(11, ids[0], px(0), 6).unwrap(); // larger: back
        assert_eq!(
            e.queue(Side::Bid, px(0)),
            vec![(ids[1], 5), (ids[2], 5), (ids[0], 6)]
        );
        e.modify(12, ids[1], px(-1), 5).unwrap(); // new price: back of the new level
        assert_eq!(e.order(ids[1]).unwrap().price, px(-1));
        let last = e.records().last().unwrap();
        assert_eq!(
            shape(std::slice::from_ref(last)),
            vec![('M', 'B', ids[1], px(-1), 5, 0x80)]
        );
        assert_round_trip(&e, &mut market);
    }

    #[test]
    fn crossing_modify_trades_as_an_aggressor() {
        let mut e = engine();
        let mut market = Market::new();
        let ask = gtc(&mut e, 1, Side::Ask, 2, 3).order_id;
        let bid = gtc(&mut e, 2, Side::Bid, 0, 5).order_id;
        assert_round_trip(&e, &mut market);
        e.take_records();
        let s = e.modify(3, bid, px(2), 5).unwrap();
        assert_eq!((s.filled, s.resting), (3, 2));
        assert_eq!(
            shape(e.records()),
            vec![
                ('T', 'B', bid, px(2), 3, 0),
                ('F', 'A', ask, px(2), 3, 0),
                ('C', 'A', ask, px(2), 3, 0),
                ('M', 'B', bid, px(2), 2, 0x80),
            ]
        );
        assert_round_trip(&e, &mut market);
        e.take_records();
        // Filled completely: the order's own C at its old price ends the event.
        gtc(&mut e, 4, Side::Ask, 3, 10);
        let b2 = gtc(&mut e, 5, Side::Bid, 1, 4).order_id;
        e.modify(6, b2, px(3), 4).unwrap();
        assert_eq!(
            shape(&e.records()[e.records().len() - 1..]),
            vec![('C', 'B', b2, px(1), 4, 0x80)]
        );
        assert_round_trip(&e, &mut market);
    }

    #[test]
    fn errors_are_typed_and_change_nothing() {
        let mut e = engine();
        let limit = OrderKind::Limit { price: px(0) };
        assert_eq!(
            e.submit(1, Side::Bid, limit, 0, TimeInForce::Gtc),
            Err(MatchingError::ZeroSize)
        );
        let off = OrderKind::Limit { price: px(0) + 1 };
        assert!(matches!(
            e.submit(1, Side::Bid, off, 1, TimeInForce::Gtc),
            Err(MatchingError::OffTick { .. })
        ));
        assert_eq!(e.cancel(1, 99), Err(MatchingError::UnknownOrder(99)));
        assert_eq!(
            e.modify(1, 99, px(0), 1),
            Err(MatchingError::UnknownOrder(99))
        );
        let id = gtc(&mut e, 5, Side::Bid, 0, 1).order_id;
        assert!(matches!(
            e.cancel(4, id),
            Err(MatchingError::TimeWentBack { .. })
        ));
        assert_eq!(e.modify(6, id, px(0), 0), Err(MatchingError::ZeroSize));
        assert!(MatchingEngine::new(1, 1, 0).is_err());
        assert!(e.open_at(7, px(0)).is_err());
        let err: Error = MatchingError::UnknownOrder(7).into();
        assert!(matches!(err, Error::BadArgument { .. }));
        assert_eq!(e.records().len(), 1);
        assert_eq!(e.cancel(6, id), Ok(1));
        assert_eq!(
            shape(&e.records()[1..]),
            vec![('C', 'B', id, px(0), 1, 0x80)]
        );
        // Negative prices are fine on the grid (crude went below zero once).
        let neg = OrderKind::Limit { price: -3 * TICK };
        assert!(e.submit(7, Side::Ask, neg, 1, TimeInForce::Gtc).is_ok());
    }

    #[test]
    fn pre_open_rests_crossing_orders_and_open_uncrosses() {
        let mut e = engine();
        e.set_pre_open(true);
        let mut market = Market::new();
        let b1 = gtc(&mut e, 1, Side::Bid, 2, 5).order_id;
        let b2 = gtc(&mut e, 2, Side::Bid, 1, 5).order_id;
        let a1 = gtc(&mut e, 3, Side::Ask, 0, 4).order_id;
        let a2 = gtc(&mut e, 4, Side::Ask, 1, 4).order_id;
        assert!(e
            .submit(5, Side::Bid, OrderKind::Market, 1, TimeInForce::Gtc)
            .is_err());
        assert_round_trip(&e, &mut market);
        assert!(market.book(42, 1).unwrap().crossed());
        e.take_records();
        let volume = e.open_at(10, px(1)).unwrap();
        // Bids >= 1: 10; asks <= 1: 8.
        assert_eq!(volume, 8);
        assert_eq!(
            shape(e.records()),
            vec![
                ('T', 'N', 0, px(1), 8, 0),
                ('F', 'B', b1, px(1), 5, 0),
                ('F', 'B', b2, px(1), 3, 0),
                ('F', 'A', a1, px(1), 4, 0),
                ('F', 'A', a2, px(1), 4, 0),
                ('C', 'B', b1, px(2), 5, 0),
                ('M', 'B', b2, px(1), 2, 0),
                ('C', 'A', a1, px(0), 4, 0),
                ('C', 'A', a2, px(1), 4, 0x80),
            ]
        );
        assert_round_trip(&e, &mut market);
        assert!(!market.book(42, 1).unwrap().crossed());
        assert!(!e.pre_open());
    }

    #[test]
    fn open_uses_the_indicative_uncross() {
        let mut e = engine();
        e.set_pre_open(true);
        let mut market = Market::new();
        gtc(&mut e, 1, Side::Bid, 2, 5);
        gtc(&mut e, 2, Side::Bid, 1, 5);
        gtc(&mut e, 3, Side::Ask, 0, 4);
        gtc(&mut e, 4, Side::Ask, 1, 4);
        let expected = crate::book::auction::indicative_uncross(&e.to_book(), None);
        let opened = e.open(10, None).unwrap();
        assert_eq!(opened.map(|(p, _)| p), expected.map(|u| u.price));
        assert_round_trip(&e, &mut market);
        assert!(!market.book(42, 1).unwrap().crossed());
        // A book that does not cross just opens.
        let mut quiet = engine();
        quiet.set_pre_open(true);
        gtc(&mut quiet, 1, Side::Bid, 0, 1);
        assert_eq!(quiet.open(2, None).unwrap(), None);
        assert!(!quiet.pre_open());
    }

    /// A small deterministic generator (xorshift) for a randomized round trip.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn random_flows_round_trip_after_every_event() {
        for seed in 1..=20u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut e = engine();
            let mut market = Market::new();
            let mut live: Vec<u64> = Vec::new();
            for step in 0..400u64 {
                let ts = step * 1_000;
                let side = if rng.below(2) == 0 {
                    Side::Bid
                } else {
                    Side::Ask
                };
                let price = px(rng.below(9) as i64 - 4);
                let size = 1 + rng.below(9) as u32;
                match rng.below(10) {
                    0..=4 => {
                        let tif = [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok]
                            [rng.below(3) as usize];
                        let kind = OrderKind::Limit { price };
                        let s = e.submit(ts, side, kind, size, tif).unwrap();
                        if s.resting > 0 {
                            live.push(s.order_id);
                        }
                    }
                    5 => {
                        e.submit(ts, side, OrderKind::Market, size, TimeInForce::Ioc)
                            .unwrap();
                    }
                    6 | 7 if !live.is_empty() => {
                        let id = live.swap_remove(rng.below(live.len() as u64) as usize);
                        if e.order(id).is_some() {
                            e.cancel(ts, id).unwrap();
                        }
                    }
                    _ if !live.is_empty() => {
                        let id = live[rng.below(live.len() as u64) as usize];
                        if e.order(id).is_some() {
                            e.modify(ts, id, price, size).unwrap();
                        }
                    }
                    _ => {}
                }
                assert_round_trip(&e, &mut market);
                assert!(!market.book(42, 1).is_some_and(|b| b.crossed()));
                let records = e.take_records();
                for pair in records.windows(2) {
                    assert!(pair[0].sequence <= pair[1].sequence);
                    assert!(pair[0].ts_recv <= pair[1].ts_recv);
                }
                if let Some(last) = records.last() {
                    assert_eq!(last.flags.raw() & F_LAST, F_LAST);
                    let lasts = records.iter().filter(|r| r.flags.raw() & F_LAST != 0);
                    assert_eq!(lasts.count(), 1);
                }
            }
        }
    }
}
