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

//!
//! The parts: `queue` (the queue model: an order's place, its fills, its entry), `requests`
//! (when requests are made and take effect), `run` (the record loop and its pauses).

mod queue;
mod requests;
mod run;

use std::sync::Arc;

use dbn::MboMsg;
use rustc_hash::FxHashMap;

use crate::book::market::{BookKey, Market};
use crate::dbn::{MboStream, Source};
use crate::error::{Error, Result};
use crate::store::Recording;

pub use queue::{Fill, FillKind, OrderStatus, SimOrder};
pub use requests::At;
use requests::PendingRequest;
use run::History;
pub use run::{Pause, Stop, Until};

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::Side;
    use crate::testing::mbo;
    use dbn::UNDEF_PRICE;

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
        use crate::synth::session::{simulate, SessionConfig, DEFAULT_TICK};
        let records = simulate(&SessionConfig {
            seed: 7,
            records: 6_000,
            instruments: 2,
            ..SessionConfig::default()
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
