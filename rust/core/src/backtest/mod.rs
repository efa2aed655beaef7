//! Order injection against history: simulated limit orders tracked against real MBO records.
//!
//! The historical records are replayed through an ordinary [`Market`], untouched: simulated
//! orders never change a historical book. Each simulated order remembers exactly which
//! historical orders were ahead of it when it joined its queue, and fills by these rules:
//!
//! - **Entry.** An order takes effect `latency_ns` after it is requested. If it crosses the
//!   displayed opposite side at that moment it fills against the displayed levels, best first,
//!   each at the level's price (kind `entry`, taker); the history is not changed, so the same
//!   displayed size can fill several simulated orders. Any remainder joins the *back* of the
//!   queue at its price: every historical order resting there is ahead of it.
//! - **Ahead volume.** Orders ahead leave by cancel (`C`), by a modify that loses priority
//!   (price or side change, size increase: they move behind us), by a duplicate add (replaced
//!   at the back), by a clear (`R`) or an `F_TOB` add on that side. A size reduction that keeps
//!   priority (partial `C`, `M` down) reduces the volume ahead. Historical orders added after
//!   us are behind us.
//! - **Queue fills.** A trade `T` at our price whose aggressor is on the other side (or has no
//!   side, `N`) first consumes the volume still ahead of us; only what is left fills us (kind
//!   `queue`, maker, at our price). Volume a trade took from the orders ahead is remembered
//!   until their `C`/`M` records arrive (matched through their `F` records), so it is not
//!   counted twice.
//! - **Trade-through.** A trade at a strictly better price for its aggressor than our price (a
//!   sell below our bid, a buy above our ask) fills our whole remaining size at our price
//!   (kind `through`): the aggressor would have met us first. This is the common convention;
//!   the trade's own size is not a limit.
//!   In a crossed (or locked) historical book (pre-open) nothing fills on arrival: the order
//!   rests and the opening trades fill it by the rules below.
//! - Only trades fill resting orders. A historical order that rests at or through our price
//!   without trading does not fill us (conservative).
//! - Simulated orders do not see each other: each is matched against the history alone.
//!
//! **Time.** A request made at time `t` takes effect at `t + latency_ns`, before the first
//! record whose `ts_recv` is later than that (records stamped at or before the arrival time
//! come first). A request "now" with zero latency takes effect at once; a request at a record
//! index with zero latency takes effect right after that record. Cancels and modifies follow
//! the same rule; a modify that changes the price or raises the size re-queues at the back
//! (and may cross on arrival); a size reduction keeps the place.
//!
//! **Start.** A backtest over its own records starts before the first one. One over a shared
//! [`Recording`] ([`Backtest::from_recording`]) starts from the recording's nearest market
//! checkpoint at or before a position, without copying the records: a simulated order only
//! needs the historical book at its placement, which the checkpoint rebuilds exactly, so every
//! answer about orders placed from there on is the same as a backtest's started from record 0.

use std::sync::Arc;

use dbn::{flags, MboMsg, UNDEF_PRICE};
use rustc_hash::FxHashMap;

use crate::book::market::{BookKey, Market};
use crate::book::Side;
use crate::dbn::{MboStream, Source};
use crate::error::{Error, Result};
use crate::store::cache::Block;
use crate::store::{BlockMeta, Recording};

/// Lifecycle of a simulated order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    /// Requested, not yet arrived (latency).
    Pending,
    /// Resting in its queue (possibly partly filled).
    Open,
    Filled,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Open => "open",
            OrderStatus::Filled => "filled",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

/// How a fill happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FillKind {
    /// On arrival, against the displayed opposite side (taker).
    Entry,
    /// A trade at our price after the volume ahead was gone (maker).
    Queue,
    /// A trade through our price (maker, whole remaining size).
    Through,
}

impl FillKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FillKind::Entry => "entry",
            FillKind::Queue => "queue",
            FillKind::Through => "through",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill {
    pub order_id: u64,
    /// ts_recv of the record that caused it, or the arrival time for entry fills.
    pub ts: u64,
    /// Index of the trade record, `None` for entry fills.
    pub record_index: Option<u64>,
    pub price: i64,
    pub size: u32,
    pub kind: FillKind,
    /// Queue position when the order (last) joined its queue: orders and volume ahead.
    pub orders_ahead_at_entry: u32,
    pub volume_ahead_at_entry: u64,
}

/// A historical order ahead of a simulated one.
#[derive(Clone, Copy, Debug, Default)]
struct Ahead {
    /// Its size as the book holds it.
    size: u32,
    /// Traded (seen in `F` records) and not yet taken off by its `C`/`M`.
    filled: u32,
}

#[derive(Clone, Debug)]
pub struct SimOrder {
    pub id: u64,
    pub key: BookKey,
    pub side: Side,
    pub price: i64,
    /// Filled plus remaining.
    pub size: u32,
    pub filled: u32,
    pub remaining: u32,
    pub status: OrderStatus,
    /// When the order was requested and when it (last) joined its queue.
    pub request_ts: u64,
    pub entry_ts: Option<u64>,
    pub orders_ahead_at_entry: u32,
    pub volume_ahead_at_entry: u64,
    ahead: FxHashMap<u64, Ahead>,
    /// Sum of `ahead[*].size`.
    ahead_volume: u64,
    /// Volume trades took from the orders ahead whose `C`/`M` has not arrived yet.
    traded_ahead: u64,
}

impl SimOrder {
    /// (orders ahead, volume ahead) now.
    pub fn queue_position(&self) -> (u32, u64) {
        (
            self.ahead.len() as u32,
            self.ahead_volume.saturating_sub(self.traded_ahead),
        )
    }

    fn effective_ahead(&self) -> u64 {
        self.ahead_volume.saturating_sub(self.traded_ahead)
    }

    /// The order ahead lost `by` of its size (cancel, fill reduction, priority-keeping modify).
    fn reduce_ahead(&mut self, order_id: u64, by: u32) {
        let Some(entry) = self.ahead.get_mut(&order_id) else {
            return;
        };
        let by = by.min(entry.size);
        let from_fill = by.min(entry.filled);
        entry.filled -= from_fill;
        entry.size -= by;
        let gone = entry.size == 0;
        self.ahead_volume -= u64::from(by);
        self.traded_ahead = self.traded_ahead.saturating_sub(u64::from(from_fill));
        if gone {
            self.ahead.remove(&order_id);
        }
        self.traded_ahead = self.traded_ahead.min(self.ahead_volume);
    }

    /// The order ahead left the queue entirely (moved behind us or removed).
    fn drop_ahead(&mut self, order_id: u64) {
        if let Some(entry) = self.ahead.get(&order_id) {
            let size = entry.size;
            self.reduce_ahead(order_id, size);
        }
    }

    fn clear_ahead(&mut self) {
        self.ahead.clear();
        self.ahead_volume = 0;
        self.traded_ahead = 0;
    }

    fn fill(&mut self, fills: &mut Vec<Fill>, fill: (u64, Option<u64>, i64, u32, FillKind)) {
        let (ts, record_index, price, size, kind) = fill;
        if size == 0 {
            return;
        }
        self.filled += size;
        self.remaining -= size;
        if self.remaining == 0 {
            self.status = OrderStatus::Filled;
        }
        fills.push(Fill {
            order_id: self.id,
            ts,
            record_index,
            price,
            size,
            kind,
            orders_ahead_at_entry: self.orders_ahead_at_entry,
            volume_ahead_at_entry: self.volume_ahead_at_entry,
        });
    }

    /// Track one historical record of this order's book (before the market applies it).
    fn on_record(&mut self, index: u64, msg: &MboMsg, fills: &mut Vec<Fill>) {
        let action = msg.action as u8;
        let side = Side::from_byte(msg.side as u8);
        match action {
            b'T' => self.on_trade(index, msg, side, fills),
            b'F' => {
                if let Some(entry) = self.ahead.get_mut(&msg.order_id) {
                    entry.filled = entry.filled.saturating_add(msg.size).min(entry.size);
                }
            }
            // The book ignores C/M/A with side N: so do we.
            b'C' if side.is_some() => self.reduce_ahead(msg.order_id, msg.size),
            b'M' => {
                if let Some(entry) = self.ahead.get(&msg.order_id) {
                    let keeps = side == Some(self.side)
                        && msg.price == self.price
                        && msg.size > 0
                        && msg.size <= entry.size;
                    if keeps {
                        let by = entry.size - msg.size;
                        self.reduce_ahead(msg.order_id, by);
                    } else if side.is_some() {
                        self.drop_ahead(msg.order_id);
                    }
                }
            }
            b'A' => {
                if side.is_none() {
                    return;
                }
                if msg.flags.raw() & flags::TOB != 0 {
                    if side == Some(self.side) {
                        self.clear_ahead();
                    }
                } else {
                    // A duplicate add replaces the order at the back: behind us.
                    self.drop_ahead(msg.order_id);
                }
            }
            b'R' => self.clear_ahead(),
            _ => {}
        }
    }

    /// A trade: `aggressor` is the record's side (`None` for `N`, e.g. auction prints).
    fn on_trade(
        &mut self,
        index: u64,
        msg: &MboMsg,
        aggressor: Option<Side>,
        fills: &mut Vec<Fill>,
    ) {
        if aggressor == Some(self.side) || msg.price == UNDEF_PRICE || msg.size == 0 {
            return;
        }
        let through = match self.side {
            Side::Bid => msg.price < self.price,
            Side::Ask => msg.price > self.price,
        };
        let fill = if through {
            (self.remaining, FillKind::Through)
        } else if msg.price == self.price {
            let traded = u64::from(msg.size);
            let take = traded.min(self.effective_ahead());
            self.traded_ahead += take;
            let excess = (traded - take).min(u64::from(self.remaining)) as u32;
            (excess, FillKind::Queue)
        } else {
            return;
        };
        let (size, kind) = fill;
        self.fill(fills, (msg.ts_recv, Some(index), self.price, size, kind));
    }
}

/// What a request does when it arrives.
#[derive(Clone, Copy, Debug)]
enum Request {
    Place,
    Cancel,
    Modify { price: i64, size: u32 },
}

#[derive(Clone, Copy, Debug)]
struct PendingRequest {
    seq: u64,
    order: usize,
    request: Request,
    /// Not before this many records are applied.
    not_before: usize,
    arrival: u64,
    /// Takes effect at `not_before` exactly (zero latency at a record index or "now").
    immediate: bool,
}

/// A resolved request time.
#[derive(Clone, Copy, Debug)]
struct When {
    request_ts: u64,
    not_before: usize,
    arrival: u64,
    immediate: bool,
}

/// When a request is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// At the current position and time.
    Now,
    /// At time `ts` (ns): after every record with `ts_recv <= ts`.
    Ts(u64),
    /// Right after record `index`.
    Index(usize),
}

/// Where `run` stops at the latest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    End,
    /// After every record with `ts_recv <= ts`.
    Ts(u64),
    /// Right after record `index`.
    Index(usize),
}

/// Where `run` pauses early, to hand control to a strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pause {
    Never,
    /// After each record carrying F_LAST (of this book only, if given).
    Boundary(Option<BookKey>),
    /// At every multiple of this many nanoseconds of `ts_recv`.
    Every(u64),
    /// After every record.
    Record,
}

/// Why `run` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The `Until` target was reached (or the data ended first).
    Done,
    /// Paused after the boundary record at this index.
    Boundary(u64),
    /// Paused at this scheduled time.
    Scheduled(u64),
    /// Paused after this record (`Pause::Record`).
    Record(u64),
}

/// The records a backtest replays: its own, or a shared recording's (read block by block).
enum History {
    Owned(Vec<MboMsg>),
    Shared {
        recording: Arc<Recording>,
        /// The block read last, decoded.
        block: Option<(BlockMeta, Block)>,
    },
}

impl History {
    fn len(&self) -> usize {
        match self {
            History::Owned(records) => records.len(),
            History::Shared { recording, .. } => recording.len(),
        }
    }

    /// Record `index` (below `len()`).
    #[inline]
    fn record(&mut self, index: usize) -> Result<MboMsg> {
        match self {
            History::Owned(records) => Ok(records[index]),
            History::Shared { recording, block } => {
                if let Some((meta, records)) = block {
                    let first = meta.first_index as usize;
                    if (first..meta.end() as usize).contains(&index) {
                        return Ok(records[index - first]);
                    }
                }
                let (n, meta) = recording
                    .block_of(index)
                    .ok_or_else(|| Error::bad_argument(format!("no record {index}")))?;
                let records = recording.block(n)?;
                let msg = records[index - meta.first_index as usize];
                *block = Some((meta, records));
                Ok(msg)
            }
        }
    }
}

pub struct Backtest {
    history: History,
    position: usize,
    market: Market,
    latency_ns: u64,
    now: u64,
    orders: Vec<SimOrder>,
    /// Open orders per book, as indexes into `orders`.
    resting: FxHashMap<BookKey, Vec<usize>>,
    pending: Vec<PendingRequest>,
    seq: u64,
    fills: Vec<Fill>,
    /// `(every, next tick)` of the last `Pause::Every` run.
    next_tick: Option<(u64, u64)>,
}

impl Backtest {
    pub fn open(source: Source<'_>, latency_ns: u64) -> Result<Self> {
        let records = MboStream::open(source)?.collect_records()?;
        Ok(Self::from_records(records, latency_ns))
    }

    pub fn from_records(records: Vec<MboMsg>, latency_ns: u64) -> Self {
        Self::starting(History::Owned(records), 0, Market::new(), 0, latency_ns)
    }

    /// A backtest over a shared recording's records (not copied), started from its nearest
    /// market checkpoint at or before `position` (records applied): `position()` is that
    /// checkpoint's, so requests can be made at any index from `position - 1` on, and their
    /// answers are those of a backtest started from record 0 (see the module docs).
    pub fn from_recording(
        recording: Arc<Recording>,
        position: usize,
        latency_ns: u64,
    ) -> Result<Self> {
        if position > recording.len() {
            return Err(Error::bad_argument(format!(
                "position {position} is past the end ({} records)",
                recording.len()
            )));
        }
        let start = recording.checkpoint_position(position);
        let mut market = Market::new();
        if let Some(checkpoint) = recording.checkpoint(start)? {
            checkpoint.restore(&mut market, None);
        }
        let now = recording.ts_max_before(start)?;
        Ok(Self::starting(
            History::Shared {
                recording,
                block: None,
            },
            start,
            market,
            now,
            latency_ns,
        ))
    }

    fn starting(
        history: History,
        position: usize,
        market: Market,
        now: u64,
        latency_ns: u64,
    ) -> Self {
        Backtest {
            history,
            position,
            market,
            latency_ns,
            now,
            orders: Vec::new(),
            resting: FxHashMap::default(),
            pending: Vec::new(),
            seq: 0,
            fills: Vec::new(),
            next_tick: None,
        }
    }

    pub fn len(&self) -> usize {
        self.history.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records applied so far.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The current time: the latest `ts_recv` applied, or the time `run` paused or stopped at.
    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn latency_ns(&self) -> u64 {
        self.latency_ns
    }

    /// The historical market, exactly as the records alone make it.
    pub fn market(&self) -> &Market {
        &self.market
    }

    pub fn fills(&self) -> &[Fill] {
        &self.fills
    }

    pub fn orders(&self) -> &[SimOrder] {
        &self.orders
    }

    pub fn order(&self, id: u64) -> Result<&SimOrder> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.orders.get(i))
            .ok_or_else(|| Error::bad_argument(format!("unknown simulated order id {id}")))
    }

    /// (orders ahead, volume ahead) of an open order now; `None` unless it is open.
    pub fn queue_position(&self, id: u64) -> Result<Option<(u32, u64)>> {
        let order = self.order(id)?;
        Ok((order.status == OrderStatus::Open).then(|| order.queue_position()))
    }

    /// The historical orders ahead of an open order now, in queue order: `(order_id, size)`.
    /// Empty unless the order is open.
    pub fn ahead(&self, id: u64) -> Result<Vec<(u64, u32)>> {
        let order = self.order(id)?;
        if order.status != OrderStatus::Open {
            return Ok(Vec::new());
        }
        let Some(book) = self.market.book(order.key.0, order.key.1) else {
            return Ok(Vec::new());
        };
        Ok(book
            .orders_at(order.side, order.price)
            .into_iter()
            .filter_map(|(oid, _)| order.ahead.get(&oid).map(|a| (oid, a.size)))
            .collect())
    }

    /// Resolve a request time into (request ts, not_before, arrival, immediate).
    fn schedule(&mut self, at: At) -> Result<When> {
        let latency = self.latency_ns;
        match at {
            At::Now => Ok(When {
                request_ts: self.now,
                not_before: self.position,
                arrival: self.now.saturating_add(latency),
                immediate: latency == 0,
            }),
            At::Ts(ts) => {
                if ts < self.now {
                    return Err(Error::bad_argument(format!(
                        "at_ts {ts} is in the past (now is {})",
                        self.now
                    )));
                }
                Ok(When {
                    request_ts: ts,
                    not_before: self.position,
                    arrival: ts.saturating_add(latency),
                    immediate: false,
                })
            }
            At::Index(index) => {
                if index >= self.len() {
                    return Err(Error::bad_argument(format!(
                        "at_index {index} is out of range (0..{})",
                        self.len()
                    )));
                }
                if index + 1 < self.position {
                    return Err(Error::bad_argument(format!(
                        "at_index {index} is in the past ({} records applied)",
                        self.position
                    )));
                }
                let ts = self.history.record(index)?.ts_recv;
                Ok(When {
                    request_ts: ts,
                    not_before: index + 1,
                    arrival: ts.saturating_add(latency),
                    immediate: latency == 0,
                })
            }
        }
    }

    fn push_request(&mut self, order: usize, request: Request, when: When) -> Result<()> {
        let When {
            not_before,
            arrival,
            immediate,
            ..
        } = when;
        self.seq += 1;
        self.pending.push(PendingRequest {
            seq: self.seq,
            order,
            request,
            not_before,
            arrival,
            immediate,
        });
        if immediate && not_before <= self.position {
            self.process_due(|_| true);
        }
        Ok(())
    }

    /// Place a simulated limit order; returns its id. `side` is `b'B'` or `b'A'`.
    pub fn place(&mut self, key: BookKey, side: u8, price: i64, size: u32, at: At) -> Result<u64> {
        let side = Side::from_byte(side).ok_or_else(|| {
            Error::bad_argument(format!(
                "side must be 'B' or 'A', not {:?}",
                char::from(side)
            ))
        })?;
        if size == 0 {
            return Err(Error::bad_argument("size must be >= 1"));
        }
        if price == UNDEF_PRICE {
            return Err(Error::bad_argument("price must be defined"));
        }
        let when = self.schedule(at)?;
        let id = self.orders.len() as u64;
        self.orders.push(SimOrder {
            id,
            key,
            side,
            price,
            size,
            filled: 0,
            remaining: size,
            status: OrderStatus::Pending,
            request_ts: when.request_ts,
            entry_ts: None,
            orders_ahead_at_entry: 0,
            volume_ahead_at_entry: 0,
            ahead: FxHashMap::default(),
            ahead_volume: 0,
            traded_ahead: 0,
        });
        self.push_request(id as usize, Request::Place, when)?;
        Ok(id)
    }

    /// Checks shared by cancel and modify: a known order, requested no earlier than placed.
    /// Returns `None` when the order is already finished (the request would do nothing).
    fn later_request(&mut self, id: u64, at: At) -> Result<Option<(usize, When)>> {
        let when = self.schedule(at)?;
        let order = self.order(id)?;
        if when.request_ts < order.request_ts {
            return Err(Error::bad_argument(format!(
                "order {id} is placed at {}; a request at {} comes before it",
                order.request_ts, when.request_ts
            )));
        }
        if matches!(order.status, OrderStatus::Filled | OrderStatus::Cancelled) {
            return Ok(None);
        }
        Ok(Some((id as usize, when)))
    }

    /// Cancel after the latency. Returns false (and does nothing) if the order is already
    /// filled or cancelled; a cancel that arrives after the order filled does nothing either.
    pub fn cancel(&mut self, id: u64, at: At) -> Result<bool> {
        match self.later_request(id, at)? {
            Some((order, when)) => {
                self.push_request(order, Request::Cancel, when)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Change price and/or remaining size after the latency (see the module docs for priority).
    pub fn modify(
        &mut self,
        id: u64,
        price: Option<i64>,
        size: Option<u32>,
        at: At,
    ) -> Result<bool> {
        if size == Some(0) {
            return Err(Error::bad_argument(
                "size must be >= 1 (cancel to remove an order)",
            ));
        }
        if price == Some(UNDEF_PRICE) {
            return Err(Error::bad_argument("price must be defined"));
        }
        match self.later_request(id, at)? {
            Some((order, when)) => {
                let current = &self.orders[order];
                let request = Request::Modify {
                    price: price.unwrap_or(current.price),
                    size: size.unwrap_or(current.remaining),
                };
                self.push_request(order, request, when)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Process pending requests for which `due` holds, in arrival order.
    fn process_due(&mut self, due: impl Fn(&PendingRequest) -> bool) {
        let position = self.position;
        if !self
            .pending
            .iter()
            .any(|p| p.not_before <= position && due(p))
        {
            return;
        }
        let mut ready: Vec<PendingRequest> = Vec::new();
        self.pending.retain(|p| {
            let take = p.not_before <= position && due(p);
            if take {
                ready.push(*p);
            }
            !take
        });
        ready.sort_by_key(|p| (p.arrival, p.seq));
        for p in ready {
            let ts = if p.immediate {
                self.now
            } else {
                p.arrival.max(self.now)
            };
            self.arrive(p.order, p.request, ts);
        }
    }

    fn arrive(&mut self, idx: usize, request: Request, ts: u64) {
        match request {
            Request::Place => {
                if self.orders[idx].status == OrderStatus::Pending {
                    self.enter(idx, ts);
                }
            }
            Request::Cancel => match self.orders[idx].status {
                OrderStatus::Open => {
                    self.unrest(idx);
                    self.orders[idx].status = OrderStatus::Cancelled;
                }
                OrderStatus::Pending => self.orders[idx].status = OrderStatus::Cancelled,
                _ => {}
            },
            Request::Modify { price, size } => {
                let order = &mut self.orders[idx];
                match order.status {
                    OrderStatus::Open => {
                        if price == order.price && size <= order.remaining {
                            order.size -= order.remaining - size;
                            order.remaining = size;
                        } else {
                            self.unrest(idx);
                            let order = &mut self.orders[idx];
                            order.price = price;
                            order.size = order.filled + size;
                            order.remaining = size;
                            self.enter(idx, ts);
                        }
                    }
                    OrderStatus::Pending => {
                        order.price = price;
                        order.size = order.filled + size;
                        order.remaining = size;
                    }
                    _ => {}
                }
            }
        }
    }

    fn unrest(&mut self, idx: usize) {
        let key = self.orders[idx].key;
        if let Some(list) = self.resting.get_mut(&key) {
            list.retain(|&i| i != idx);
        }
        self.orders[idx].clear_ahead();
    }

    /// The order arrives at its queue: cross if marketable, then rest at the back.
    fn enter(&mut self, idx: usize, ts: u64) {
        let order = &mut self.orders[idx];
        order.entry_ts = Some(ts);
        order.orders_ahead_at_entry = 0;
        order.volume_ahead_at_entry = 0;
        order.clear_ahead();
        if let Some(book) = self.market.book(order.key.0, order.key.1) {
            let opposite = match order.side {
                Side::Bid => Side::Ask,
                Side::Ask => Side::Bid,
            };
            // A crossed (or locked) historical book is a pre-open book: nothing trades until
            // the auction, so the order only rests; the opening trades fill it by the rules.
            let levels = if book.crossed() {
                None
            } else {
                Some(book.levels(opposite))
            };
            for level in levels.into_iter().flatten() {
                let crosses = match order.side {
                    Side::Bid => level.price <= order.price,
                    Side::Ask => level.price >= order.price,
                };
                if !crosses || order.remaining == 0 {
                    break;
                }
                let size = u64::from(order.remaining).min(level.size) as u32;
                order.fill(
                    &mut self.fills,
                    (ts, None, level.price, size, FillKind::Entry),
                );
            }
            if order.remaining == 0 {
                return;
            }
            for (order_id, size) in book.orders_at(order.side, order.price) {
                order.ahead.insert(order_id, Ahead { size, filled: 0 });
                order.ahead_volume += u64::from(size);
            }
        }
        if order.remaining == 0 {
            return;
        }
        order.status = OrderStatus::Open;
        order.orders_ahead_at_entry = order.ahead.len() as u32;
        order.volume_ahead_at_entry = order.ahead_volume;
        self.resting.entry(order.key).or_default().push(idx);
    }

    /// Apply record `position` (`msg`) to the market and to the simulated orders of its book.
    fn step(&mut self, msg: MboMsg) {
        let index = self.position;
        let key = (msg.hd.instrument_id, msg.hd.publisher_id);
        if let Some(list) = self.resting.get_mut(&key) {
            let mut any_done = false;
            for &idx in list.iter() {
                let order = &mut self.orders[idx];
                order.on_record(index as u64, &msg, &mut self.fills);
                any_done |= order.status != OrderStatus::Open;
            }
            if any_done {
                let orders = &self.orders;
                list.retain(|&i| orders[i].status == OrderStatus::Open);
            }
        }
        self.market.apply(&msg);
        self.position += 1;
        self.now = self.now.max(msg.ts_recv);
    }

    /// Advance until `until`, pausing early as `pause` asks. Requests due on the way take
    /// effect at their arrival times.
    pub fn run(&mut self, until: Until, pause: Pause) -> Result<Stop> {
        let end = match until {
            Until::Index(index) => {
                if index >= self.len() {
                    return Err(Error::bad_argument(format!(
                        "until_index {index} is out of range (0..{})",
                        self.len()
                    )));
                }
                index + 1
            }
            _ => self.len(),
        };
        if let Pause::Every(0) = pause {
            return Err(Error::bad_argument("every must be >= 1 ns"));
        }
        while self.position < end {
            let next = self.history.record(self.position)?;
            if let Until::Ts(ts) = until {
                if next.ts_recv > ts {
                    break;
                }
            }
            if let Pause::Every(every) = pause {
                let tick = match self.next_tick {
                    Some((interval, tick)) if interval == every => tick,
                    _ => {
                        // The first multiple of `every` after the current time.
                        let base = if self.position == 0 {
                            next.ts_recv.saturating_sub(1)
                        } else {
                            self.now
                        };
                        let tick = (base / every).saturating_add(1).saturating_mul(every);
                        self.next_tick = Some((every, tick));
                        tick
                    }
                };
                if next.ts_recv > tick {
                    self.next_tick = Some((every, tick.saturating_add(every)));
                    self.now = self.now.max(tick);
                    self.process_due(|p| p.immediate || p.arrival <= tick);
                    return Ok(Stop::Scheduled(tick));
                }
            }
            self.process_due(|p| p.immediate || p.arrival < next.ts_recv);
            self.step(next);
            let index = (self.position - 1) as u64;
            match pause {
                Pause::Record => return Ok(Stop::Record(index)),
                Pause::Boundary(book) if next.flags.raw() & flags::LAST != 0 => {
                    let key = (next.hd.instrument_id, next.hd.publisher_id);
                    if book.is_none_or(|b| b == key) {
                        return Ok(Stop::Boundary(index));
                    }
                }
                _ => {}
            }
        }
        if let Until::Ts(ts) = until {
            self.now = self.now.max(ts);
        }
        let now = self.now;
        self.process_due(|p| p.immediate || p.arrival <= now);
        Ok(Stop::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::mbo;

    const KEY: BookKey = (1, 1);

    /// Records with ts_recv 10, 20, 30, ... (one per record).
    fn timed(records: Vec<MboMsg>) -> Vec<MboMsg> {
        records
            .into_iter()
            .enumerate()
            .map(|(i, mut msg)| {
                msg.ts_recv = 10 * (i as u64 + 1);
                msg
            })
            .collect()
    }

    /// Two bids ahead at 100 (ids 1: 3 lots, 2: 2 lots) and an ask at 102.
    fn opening() -> Vec<MboMsg> {
        vec![
            mbo(b'A', b'B', 1, 100, 3, 0x80),
            mbo(b'A', b'B', 2, 100, 2, 0x80),
            mbo(b'A', b'A', 9, 102, 5, 0x80),
        ]
    }

    /// A sell aggressor trade of `size` at `price` with its F records.
    fn sell_trade(price: i64, size: u32, fills: &[(u64, u32)]) -> Vec<MboMsg> {
        let mut out = vec![mbo(b'T', b'A', 0, price, size, 0)];
        for &(id, sz) in fills {
            out.push(mbo(b'F', b'B', id, price, sz, 0));
        }
        out
    }

    fn backtest(tail: Vec<MboMsg>) -> Backtest {
        let mut records = opening();
        records.extend(tail);
        Backtest::from_records(timed(records), 0)
    }

    fn sizes(bt: &Backtest) -> Vec<(u32, FillKind)> {
        bt.fills().iter().map(|f| (f.size, f.kind)).collect()
    }

    #[test]
    fn ahead_volume_is_consumed_by_fills_before_we_fill() {
        let mut tail = sell_trade(100, 4, &[(1, 3), (2, 1)]);
        tail.push(mbo(b'C', b'B', 1, 100, 3, 0));
        tail.push(mbo(b'C', b'B', 2, 100, 1, 0x80)); // index 7
        tail.extend(sell_trade(100, 3, &[(2, 1), (5, 2)])); // index 8..10
        tail.push(mbo(b'C', b'B', 2, 100, 1, 0x80));
        tail.extend(sell_trade(100, 5, &[(6, 5)]));
        let mut bt = backtest(tail);
        bt.run(Until::Index(2), Pause::Never).unwrap();
        let id = bt.place(KEY, b'B', 100, 4, At::Now).unwrap();
        assert_eq!(bt.queue_position(id).unwrap(), Some((2, 5)));
        bt.run(Until::Index(7), Pause::Never).unwrap();
        assert!(bt.fills().is_empty());
        assert_eq!(bt.queue_position(id).unwrap(), Some((1, 1)));
        bt.run(Until::Index(8), Pause::Never).unwrap();
        // 3 traded: 1 for the order still ahead, 2 for us.
        assert_eq!(sizes(&bt), vec![(2, FillKind::Queue)]);
        assert_eq!(bt.queue_position(id).unwrap(), Some((1, 0)));
        bt.run(Until::End, Pause::Never).unwrap();
        assert_eq!(sizes(&bt), vec![(2, FillKind::Queue), (2, FillKind::Queue)]);
        let order = bt.order(id).unwrap();
        assert_eq!(order.status, OrderStatus::Filled);
        assert_eq!((order.filled, order.remaining), (4, 0));
        let fill = bt.fills()[0];
        assert_eq!(
            (fill.orders_ahead_at_entry, fill.volume_ahead_at_entry),
            (2, 5)
        );
        assert_eq!((fill.price, fill.record_index, fill.ts), (100, Some(8), 90));
    }

    #[test]
    fn trades_before_their_cancels_are_not_counted_twice() {
        // Two trades of 2 each before any C: the first two lots of ahead are gone, then 1 more
        // lot ahead, then 1 for us.
        let mut tail = sell_trade(100, 2, &[(1, 2)]);
        tail.extend(sell_trade(100, 4, &[(1, 1), (2, 2), (7, 1)]));
        tail.push(mbo(b'C', b'B', 1, 100, 3, 0));
        tail.push(mbo(b'C', b'B', 2, 100, 2, 0x80));
        let mut bt = backtest(tail);
        bt.run(Until::Index(2), Pause::Never).unwrap();
        let id = bt.place(KEY, b'B', 100, 5, At::Now).unwrap();
        bt.run(Until::End, Pause::Never).unwrap();
        assert_eq!(sizes(&bt), vec![(1, FillKind::Queue)]);
        assert_eq!(bt.queue_position(id).unwrap(), Some((0, 0)));
    }

    #[test]
    fn cancels_and_reductions_ahead_move_us_up() {
        let tail = vec![
            mbo(b'C', b'N', 1, 100, 3, 0x80), // 3: side N: ignored by the book and by us
            mbo(b'C', b'B', 1, 100, 3, 0x80), // 4: id 1 gone
            mbo(b'M', b'B', 2, 100, 1, 0x80), // 5: id 2 down to 1, keeps priority
            mbo(b'A', b'B', 3, 100, 10, 0x80), // 6: behind us
            mbo(b'T', b'A', 0, 100, 3, 0),    // 7: 1 for id 2, 2 for us
        ];
        let mut bt = backtest(tail);
        bt.run(Until::Index(2), Pause::Never).unwrap();
        let id = bt.place(KEY, b'B', 100, 5, At::Now).unwrap();
        bt.run(Until::Index(3), Pause::Never).unwrap();
        assert_eq!(bt.queue_position(id).unwrap(), Some((2, 5)));
        bt.run(Until::Index(4), Pause::Never).unwrap();
        assert_eq!(bt.queue_position(id).unwrap(), Some((1, 2)));
        bt.run(Until::Index(6), Pause::Never).unwrap();
        assert_eq!(bt.queue_position(id).unwrap(), Some((1, 1)));
        bt.run(Until::End, Pause::Never).unwrap();
        assert_eq!(sizes(&bt), vec![(2, FillKind::Queue)]);
        assert_eq!(bt.order(id).unwrap().remaining, 3);
    }

    #[test]
    fn an_order_ahead_that_modifies_up_moves_behind_us() {
        let tail = vec![
            mbo(b'M', b'B', 1, 100, 4, 0x80), // 3: size up: back of the queue, behind us
            mbo(b'T', b'A', 0, 100, 3, 0),    // 4: 2 for id 2, 1 for us
        ];
        let mut bt = backtest(tail);
        bt.run(Until::Index(2), Pause::Never).unwrap();
        let id = bt.place(KEY, b'B', 100, 5, At::Now).unwrap();
        bt.run(Until::Index(3), Pause::Never).unwrap();
        assert_eq!(bt.queue_position(id).unwrap(), Some((1, 2)));
        assert_eq!(bt.ahead(id).unwrap(), vec![(2, 2)]);
        let queue = bt.market().book(1, 1).unwrap().orders_at(Side::Bid, 100);
        assert_eq!(queue, vec![(2, 2), (1, 4)]);
        bt.run(Until::End, Pause::Never).unwrap();
        assert_eq!(sizes(&bt), vec![(1, FillKind::Queue)]);
        // A price change also loses priority.
        let tail = vec![mbo(b'M', b'B', 2, 99, 2, 0x80)];
        let mut bt = backtest(tail);
        bt.run(Until::Index(2), Pause::Never).unwrap();
        let id = bt.place(KEY, b'B', 100, 5, At::Now).unwrap();
        bt.run(Until::End, Pause::Never).unwrap();
        assert_eq!(bt.queue_position(id).unwrap(), Some((1, 3)));
    }

    #[test]
    fn trade_through_fills_everything_at_our_price() {
        let tail = vec![mbo(b'T', b'A', 0, 99, 1, 0)];
        let mut bt = backtest(tail);
        bt.run(Until::Index(2), Pause::Never).unwrap();
        let id = bt.place(KEY, b'B', 100, 7, At::Now).unwrap();
        // A buy trade (aggressor on our side) never fills a bid.
        bt.run(Until::End, Pause::Never).unwrap();
        assert_eq!(sizes(&bt), vec![(7, FillKind::Through)]);
        assert_eq!(bt.fills()[0].price, 100);
        assert_eq!(bt.order(id).unwrap().status, OrderStatus::Filled);
        assert_eq!(bt.queue_position(id).unwrap(), None);
    }

    #[test]
    fn trades_on_our_side_or_at_worse_prices_do_not_fill() {
        let tail = vec![
            mbo(b'T', b'B', 0, 102, 5, 0), // buy aggressor
            mbo(b'T', b'A', 0, 101, 5, 0), // sell above our bid: not us
        ];
        let mut bt = backtest(tail);
        bt.run(Until::Index(2), Pause::Never).unwrap();
        bt.place(KEY, b'B', 100, 1, At::Now).unwrap();
        bt.place(KEY, b'B', 101, 1, At::Now).unwrap();
        bt.run(Until::End, Pause::Never).unwrap();
        // Only the 101 bid: no one ahead of it at 101, sell trade at 101 fills it.
        assert_eq!(sizes(&bt), vec![(1, FillKind::Queue)]);
        assert_eq!(bt.fills()[0].order_id, 1);
    }

    #[test]
    fn latency_delays_arrival_past_a_trade() {
        // Trade at index 3 (ts 40) would fill a bid at 101 with no one ahead.
        let tail = vec![
            mbo(b'T', b'A', 0, 101, 1, 0x80),
            mbo(b'T', b'A', 0, 101, 1, 0x80),
        ];
        let records = {
            let mut r = opening();
            r.extend(tail);
            timed(r)
        };
        // Requested at ts 35, latency 10: arrives at 45, after the first trade (ts 40).
        let mut bt = Backtest::from_records(records.clone(), 10);
        let id = bt.place(KEY, b'B', 101, 2, At::Ts(35)).unwrap();
        assert_eq!(bt.order(id).unwrap().status, OrderStatus::Pending);
        bt.run(Until::End, Pause::Never).unwrap();
        assert_eq!(bt.fills().len(), 1);
        assert_eq!(bt.fills()[0].record_index, Some(4));
        assert_eq!(bt.order(id).unwrap().entry_ts, Some(45));
        // Without latency it catches both.
        let mut bt = Backtest::from_records(records.clone(), 0);
        bt.place(KEY, b'B', 101, 2, At::Ts(35)).unwrap();
        bt.run(Until::End, Pause::Never).unwrap();
        assert_eq!(bt.fills().len(), 2);
        // Arriving exactly at a record's ts_recv: that record comes first.
        let mut bt = Backtest::from_records(records, 5);
        bt.place(KEY, b'B', 101, 2, At::Ts(35)).unwrap();
        bt.run(Until::End, Pause::Never).unwrap();
        assert_eq!(bt.fills().len(), 1);
    }

    #[test]
    fn cancel_before_fill_and_late_cancel() {
        let tail = vec![
            mbo(b'A', b'B', 4, 101, 1, 0x80), // 3
            mbo(b'T', b'A', 0, 99, 1, 0x80),  // 4: trade-through
        ];
        let records = {
            let mut r = opening();
            r.extend(tail);
            timed(r)
        };
        let mut bt = Backtest::from_records(records.clone(), 0);
        let id = bt.place(KEY, b'B', 100, 1, At::Index(1)).unwrap();
        assert!(bt.cancel(id, At::Index(3)).unwrap());
        bt.run(Until::End, Pause::Never).unwrap();
        assert!(bt.fills().is_empty());
        assert_eq!(bt.order(id).unwrap().status, OrderStatus::Cancelled);
        assert!(!bt.cancel(id, At::Now).unwrap());
        // With latency 20 the cancel (requested at ts 40) arrives at ts 60: too late.
        let mut bt = Backtest::from_records(records, 20);
        let id = bt.place(KEY, b'B', 100, 1, At::Index(0)).unwrap();
        bt.cancel(id, At::Index(3)).unwrap();
        bt.run(Until::End, Pause::Never).unwrap();
        assert_eq!(bt.order(id).unwrap().status, OrderStatus::Filled);
    }

    #[test]
    fn marketable_orders_walk_the_displayed_book() {
        let tail = vec![mbo(b'A', b'A', 10, 103, 4, 0x80)];
        let mut bt = backtest(tail);
        bt.run(Until::End, Pause::Never).unwrap();
        let id = bt.place(KEY, b'B', 103, 12, At::Now).unwrap();
        let fills: Vec<(i64, u32, FillKind)> = bt
            .fills()
            .iter()
            .map(|f| (f.price, f.size, f.kind))
            .collect();
        assert_eq!(
            fills,
            vec![(102, 5, FillKind::Entry), (103, 4, FillKind::Entry)]
        );
        let order = bt.order(id).unwrap();
        assert_eq!((order.status, order.remaining), (OrderStatus::Open, 3));
        // The history is untouched.
        let book = bt.market().book(1, 1).unwrap();
        assert_eq!(book.top(Side::Ask).price, 102);
        assert_eq!(book.orders_at(Side::Ask, 103), vec![(10, 4)]);
    }

    #[test]
    fn nothing_fills_on_arrival_in_a_crossed_book() {
        let tail = vec![mbo(b'A', b'A', 10, 99, 4, 0x80)]; // ask below the best bid: crossed
        let mut bt = backtest(tail);
        bt.run(Until::End, Pause::Never).unwrap();
        let id = bt.place(KEY, b'B', 102, 3, At::Now).unwrap();
        assert!(bt.fills().is_empty());
        assert_eq!(bt.queue_position(id).unwrap(), Some((0, 0)));
    }

    #[test]
    fn modify_down_keeps_the_place_and_up_requeues() {
        let tail = vec![
            mbo(b'A', b'B', 3, 100, 1, 0x80), // 3: behind us
            mbo(b'T', b'A', 0, 100, 6, 0x80), // 4: 5 ahead, 1 for us
        ];
        let records = {
            let mut r = opening();
            r.extend(tail);
            timed(r)
        };
        let mut bt = Backtest::from_records(records.clone(), 0);
        let id = bt.place(KEY, b'B', 100, 4, At::Index(2)).unwrap();
        bt.modify(id, None, Some(2), At::Index(3)).unwrap();
        bt.run(Until::End, Pause::Never).unwrap();
        assert_eq!(sizes(&bt), vec![(1, FillKind::Queue)]);
        assert_eq!(bt.order(id).unwrap().size, 2);
        // Size up after id 3 arrived: back of the queue, 6 ahead, nothing left for us.
        let mut bt = Backtest::from_records(records, 0);
        let id = bt.place(KEY, b'B', 100, 4, At::Index(2)).unwrap();
        bt.modify(id, None, Some(5), At::Index(3)).unwrap();
        bt.run(Until::Index(3), Pause::Never).unwrap();
        assert_eq!(bt.queue_position(id).unwrap(), Some((3, 6)));
        bt.run(Until::End, Pause::Never).unwrap();
        assert!(bt.fills().is_empty());
    }

    #[test]
    fn the_historical_book_never_changes() {
        let mut tail = sell_trade(100, 4, &[(1, 3), (2, 1)]);
        tail.push(mbo(b'C', b'B', 1, 100, 3, 0));
        tail.push(mbo(b'C', b'B', 2, 100, 1, 0x80));
        let records = {
            let mut r = opening();
            r.extend(tail);
            timed(r)
        };
        let mut plain = Market::new();
        for msg in &records {
            plain.apply(msg);
        }
        let mut bt = Backtest::from_records(records, 3);
        bt.place(KEY, b'B', 100, 4, At::Index(0)).unwrap();
        bt.place(KEY, b'A', 100, 4, At::Index(2)).unwrap();
        bt.place(KEY, b'B', 102, 1, At::Index(2)).unwrap();
        bt.run(Until::End, Pause::Never).unwrap();
        let a = bt.market().book(1, 1).unwrap();
        let b = plain.book(1, 1).unwrap();
        for side in [Side::Bid, Side::Ask] {
            let la: Vec<_> = a.levels(side).map(|l| (l.price, l.size, l.count)).collect();
            let lb: Vec<_> = b.levels(side).map(|l| (l.price, l.size, l.count)).collect();
            assert_eq!(la, lb);
        }
    }

    #[test]
    fn pauses_at_boundaries_and_on_a_schedule() {
        let mut bt = backtest(sell_trade(100, 1, &[(1, 1)]));
        let mut stops = Vec::new();
        loop {
            let stop = bt.run(Until::End, Pause::Boundary(Some(KEY))).unwrap();
            if stop == Stop::Done {
                break;
            }
            stops.push(stop);
        }
        assert_eq!(
            stops,
            vec![Stop::Boundary(0), Stop::Boundary(1), Stop::Boundary(2)]
        );
        let mut bt = backtest(Vec::new());
        let mut ticks = Vec::new();
        while let Stop::Scheduled(ts) = bt.run(Until::End, Pause::Every(15)).unwrap() {
            ticks.push((ts, bt.position()));
        }
        // Ticks at 15 and 30 (after the record stamped 30); the data ends at ts 30.
        assert_eq!(ticks, vec![(15, 1)]);
        let mut bt = backtest(vec![mbo(b'N', b'N', 0, 0, 0, 0x80)]);
        let mut ticks = Vec::new();
        while let Stop::Scheduled(ts) = bt.run(Until::End, Pause::Every(10)).unwrap() {
            ticks.push((ts, bt.position()));
        }
        assert_eq!(ticks, vec![(10, 1), (20, 2), (30, 3)]);
        let mut bt = backtest(Vec::new());
        assert_eq!(bt.run(Until::Ts(20), Pause::Never).unwrap(), Stop::Done);
        assert_eq!((bt.position(), bt.now()), (2, 20));
    }

    #[test]
    fn bad_arguments_are_typed_errors() {
        let mut bt = backtest(Vec::new());
        let bad = |r: Result<u64>| matches!(r, Err(Error::BadArgument { .. }));
        assert!(bad(bt.place(KEY, b'X', 100, 1, At::Now)));
        assert!(bad(bt.place(KEY, b'B', 100, 0, At::Now)));
        assert!(bad(bt.place(KEY, b'B', UNDEF_PRICE, 1, At::Now)));
        assert!(bad(bt.place(KEY, b'B', 100, 1, At::Index(99))));
        assert!(matches!(
            bt.cancel(7, At::Now),
            Err(Error::BadArgument { .. })
        ));
        let id = bt.place(KEY, b'B', 100, 1, At::Ts(1_000)).unwrap();
        assert!(matches!(
            bt.cancel(id, At::Ts(999)),
            Err(Error::BadArgument { .. })
        ));
        assert!(matches!(
            bt.modify(id, None, Some(0), At::Ts(1_000)),
            Err(Error::BadArgument { .. })
        ));
        bt.run(Until::Ts(500), Pause::Never).unwrap();
        assert!(bad(bt.place(KEY, b'B', 100, 1, At::Ts(400))));
        assert!(bad(bt.place(KEY, b'B', 100, 1, At::Index(0))));
        assert!(matches!(
            bt.run(Until::Index(99), Pause::Never),
            Err(Error::BadArgument { .. })
        ));
    }

    /// Everything observable about the simulated orders: states, queue places, fills.
    type Observed = (
        Vec<(
            OrderStatus,
            u32,
            u32,
            Option<u64>,
            u32,
            u64,
            Option<(u32, u64)>,
        )>,
        Vec<Vec<(u64, u32)>>,
        Vec<Fill>,
    );

    fn observe(bt: &Backtest) -> Observed {
        let orders = bt
            .orders()
            .iter()
            .map(|o| {
                (
                    o.status,
                    o.filled,
                    o.remaining,
                    o.entry_ts,
                    o.orders_ahead_at_entry,
                    o.volume_ahead_at_entry,
                    bt.queue_position(o.id).unwrap(),
                )
            })
            .collect();
        let ahead = (0..bt.orders().len() as u64)
            .map(|id| bt.ahead(id).unwrap())
            .collect();
        (orders, ahead, bt.fills().to_vec())
    }

    #[test]
    fn a_backtest_from_a_checkpoint_answers_like_one_from_the_start() {
        use crate::synth::rng::Rng;
        use crate::synth::session::{simulate, SimConfig, DEFAULT_TICK};
        let records = simulate(&SimConfig {
            seed: 7,
            records: 6_000,
            instruments: 2,
            ..SimConfig::default()
        })
        .unwrap();
        let n = records.len();
        let layout = crate::store::Layout::new(64, 256).unwrap();
        let recording = Arc::new(Recording::from_records(&records, layout).unwrap());
        let mut rng = Rng::new(11);
        let (mut fills, mut queued) = (0, 0);
        for _ in 0..40 {
            // Orders at a few indexes near the best prices, asked about at a few later points.
            let mut at: Vec<usize> = (0..1 + rng.below(4))
                .map(|_| rng.below(n as u64) as usize)
                .collect();
            at.sort_unstable();
            let first = at[0];
            let mut zero = Backtest::from_records(records.clone(), 0);
            let mut shared =
                Backtest::from_recording(Arc::clone(&recording), first + 1, 0).unwrap();
            assert_eq!(shared.position(), (first + 1) / 256 * 256);
            assert!(shared.position() <= first + 1);
            for &index in &at {
                for bt in [&mut zero, &mut shared] {
                    if bt.position() <= index {
                        bt.run(Until::Index(index), Pause::Never).unwrap();
                    }
                }
                assert_eq!(zero.now(), shared.now());
                let key = (1 + rng.below(2) as u32, 1);
                let side = if rng.chance(0.5) { b'B' } else { b'A' };
                let top = zero
                    .market()
                    .book(key.0, key.1)
                    .map(|b| b.top(Side::from_byte(side).unwrap()).price);
                let price = match top {
                    Some(p) if p != UNDEF_PRICE => p + (rng.below(3) as i64 - 1) * DEFAULT_TICK,
                    _ => crate::synth::session::DEFAULT_START_PRICE,
                };
                let size = 1 + rng.below(20) as u32;
                let a = zero
                    .place(key, side, price, size, At::Index(index))
                    .unwrap();
                let b = shared
                    .place(key, side, price, size, At::Index(index))
                    .unwrap();
                assert_eq!(a, b);
                assert_eq!(observe(&zero), observe(&shared));
            }
            let last = *at.last().unwrap();
            for target in [last, (last + n) / 2, n - 1] {
                for bt in [&mut zero, &mut shared] {
                    if bt.position() <= target {
                        bt.run(Until::Index(target), Pause::Never).unwrap();
                    }
                }
                assert_eq!(observe(&zero), observe(&shared), "at {target}");
            }
            fills += zero.fills().len();
            queued += zero
                .orders()
                .iter()
                .filter(|o| o.volume_ahead_at_entry > 0)
                .count();
        }
        // not vacuous: orders queued behind others, and some filled
        assert!(fills > 20 && queued > 20, "{fills} fills, {queued} queued");
        assert!(Backtest::from_recording(Arc::clone(&recording), n + 1, 0).is_err());
        let end = Backtest::from_recording(recording, n, 0).unwrap();
        assert_eq!((end.position(), end.len()), (n / 256 * 256, n));
    }
}
