//! The queue model: a simulated order's place among the historical orders of its level (which
//! of them are ahead of it, by how much), how records and trades move it up and fill it, and
//! its entry into the book (crossing the displayed levels first when marketable).

use dbn::{flags, MboMsg, UNDEF_PRICE};
use rustc_hash::FxHashMap;

use super::Backtest;
use crate::book::market::BookKey;
use crate::book::Side;
use crate::error::Result;

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

    pub(super) fn effective_ahead(&self) -> u64 {
        self.ahead_volume.saturating_sub(self.traded_ahead)
    }

    /// The order ahead lost `by` of its size (cancel, fill reduction, priority-keeping modify).
    pub(super) fn reduce_ahead(&mut self, order_id: u64, by: u32) {
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
    pub(super) fn drop_ahead(&mut self, order_id: u64) {
        if let Some(entry) = self.ahead.get(&order_id) {
            let size = entry.size;
            self.reduce_ahead(order_id, size);
        }
    }

    pub(super) fn clear_ahead(&mut self) {
        self.ahead.clear();
        self.ahead_volume = 0;
        self.traded_ahead = 0;
    }

    pub(super) fn fill(
        &mut self,
        fills: &mut Vec<Fill>,
        fill: (u64, Option<u64>, i64, u32, FillKind),
    ) {
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
    pub(super) fn on_record(&mut self, index: u64, msg: &MboMsg, fills: &mut Vec<Fill>) {
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
    pub(super) fn on_trade(
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

impl SimOrder {
    /// A new order, pending until its request arrives.
    pub(super) fn new(
        id: u64,
        key: BookKey,
        side: Side,
        price: i64,
        size: u32,
        request_ts: u64,
    ) -> Self {
        SimOrder {
            id,
            key,
            side,
            price,
            size,
            filled: 0,
            remaining: size,
            status: OrderStatus::Pending,
            request_ts,
            entry_ts: None,
            orders_ahead_at_entry: 0,
            volume_ahead_at_entry: 0,
            ahead: FxHashMap::default(),
            ahead_volume: 0,
            traded_ahead: 0,
        }
    }
}

impl Backtest {
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

    pub(super) fn unrest(&mut self, idx: usize) {
        let key = self.orders[idx].key;
        if let Some(list) = self.resting.get_mut(&key) {
            list.retain(|&i| i != idx);
        }
        self.orders[idx].clear_ahead();
    }

    /// The order arrives at its queue: cross if marketable, then rest at the back.
    pub(super) fn enter(&mut self, idx: usize, ts: u64) {
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
}
