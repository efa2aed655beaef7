//! MBO events to MBP-N records: the rules every derived schema is built on.
//!
//! One book per `(instrument_id, publisher_id)`, applied with the book's semantics (A/C/M/R
//! change it; T/F/N never do). Per book, an *event* runs up to its boundary (the record with
//! `F_LAST`, standalone `N` records included; or every record under
//! [`BoundaryPolicy::Record`]). At the boundary:
//!
//! - if the event changed some of the top `N` levels (`(price, size, count)` of either side;
//!   missing levels are `UNDEF_PRICE`/0/0), one record: those levels, finished; `action`,
//!   `price`, `size`, `ts_event`, `ts_recv`, `ts_in_delta`, `sequence` and `flags` of the
//!   event's last book-changing record (even one below the visible depth); `depth` the shallowest
//!   level the event touched and `side` the side that touched it (`N` when both did). An event
//!   that leaves the top `N` as they were (or changes only deeper levels) emits nothing;
//! - every `T` is a record of its own (action `T`, its side, price and size, the levels as they
//!   stand): it ends the piece of its event before it, which is emitted at the `T` by the rule
//!   above, and the rest of the event continues after it. `F` records are dropped.
//!
//! The decisions behind `side`, `flags` and a trade's `depth` are listed in `derive/mod.rs`.
//! Changes are found without comparing levels on every record: `Book::apply_touching` says
//! which depth each record touched (capped at `N`), so only an event that touched a depth below
//! `N` builds its top `N` levels, and those are compared with the last record's.

use dbn::{flags, BidAskPair, MboMsg, UNDEF_PRICE};

use super::BoundaryPolicy;
use crate::book::market::Market;
use crate::book::touch::Touch;
use crate::book::{Book, Side};

/// The fields of an MBP record besides its levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MbpHead {
    /// The MBO record at which this record was emitted (the event's boundary, or the trade).
    pub index: u64,
    pub ts_event: u64,
    pub publisher_id: u16,
    pub instrument_id: u32,
    pub action: u8,
    pub side: u8,
    pub depth: u8,
    pub price: i64,
    pub size: u32,
    pub flags: u8,
    pub ts_recv: u64,
    pub ts_in_delta: i32,
    pub sequence: u32,
}

impl MbpHead {
    pub fn is_trade(&self) -> bool {
        self.action == b'T'
    }
}

/// Receives the MBP-N records of a stream, in order.
pub trait MbpSink<const N: usize> {
    fn record(&mut self, head: &MbpHead, levels: &[BidAskPair; N]);
    /// The sink cannot take more (its output failed): the pass stops.
    fn failed(&self) -> bool {
        false
    }
}

/// An empty level pair: `UNDEF_PRICE`, size 0, count 0 on both sides.
pub const EMPTY_PAIR: BidAskPair = BidAskPair {
    bid_px: UNDEF_PRICE,
    ask_px: UNDEF_PRICE,
    bid_sz: 0,
    ask_sz: 0,
    bid_ct: 0,
    ask_ct: 0,
};

/// The open event of one book and the levels it last showed.
#[derive(Clone)]
struct BookState<const N: usize> {
    /// Shallowest depths touched by the open event (piece), per side.
    touch: Touch,
    /// The open event's last book-changing record (valid while `open`).
    last: MboMsg,
    open: bool,
    /// The levels of the last record emitted for this book (all empty at first).
    shown: [BidAskPair; N],
}

impl<const N: usize> BookState<N> {
    fn new() -> Self {
        BookState {
            touch: Touch::NONE,
            last: MboMsg::default(),
            open: false,
            shown: [EMPTY_PAIR; N],
        }
    }
}

/// MBO records in, MBP-`N` records out (`N` = 1 or 10; at most 254).
pub struct Deriver<const N: usize> {
    market: Market,
    /// By book slot (`Market`'s).
    states: Vec<BookState<N>>,
    policy: BoundaryPolicy,
}

impl<const N: usize> Deriver<N> {
    const CAP: u8 = {
        assert!(N >= 1 && N <= crate::book::touch::MAX_CAP as usize);
        N as u8
    };

    pub fn new(policy: BoundaryPolicy) -> Self {
        Deriver {
            market: Market::new(),
            states: Vec::new(),
            policy,
        }
    }

    pub fn policy(&self) -> BoundaryPolicy {
        self.policy
    }

    /// The books after the records applied so far.
    pub fn market(&self) -> &Market {
        &self.market
    }

    /// Apply one MBO record (its index in the stream) and hand `sink` the records it completes.
    #[inline(always)]
    pub fn apply(&mut self, index: u64, msg: &MboMsg, sink: &mut impl MbpSink<N>) {
        let slot = self
            .market
            .slot_for((msg.hd.instrument_id, msg.hd.publisher_id));
        if slot == self.states.len() {
            self.new_book();
        }
        let book = self.market.book_at_mut(slot);
        let state = &mut self.states[slot];
        if msg.action as u8 == b'T' {
            if state.open {
                finish(state, book, index, self.policy, sink);
            }
            book.apply(msg);
            // The piece before the trade is out, so `shown` holds the top N levels as they stand.
            let head = trade_head(index, msg, book, self.policy);
            sink.record(&head, &state.shown);
            return;
        }
        let touch = book.apply_touching(msg, Self::CAP);
        if !touch.is_none() {
            state.touch.merge(touch);
            state.last = *msg;
            state.open = true;
        }
        let boundary = self.policy == BoundaryPolicy::Record || msg.flags.raw() & flags::LAST != 0;
        if boundary && state.open {
            finish(state, book, index, self.policy, sink);
        }
    }

    #[cold]
    fn new_book(&mut self) {
        self.states.push(BookState::new());
    }
}

/// The top `N` levels of both sides, empty ones `UNDEF_PRICE`/0/0; sizes saturate at u32.
#[inline]
pub fn top_levels<const N: usize>(book: &Book) -> [BidAskPair; N] {
    let mut out = [EMPTY_PAIR; N];
    for (pair, level) in out.iter_mut().zip(book.levels(Side::Bid)) {
        pair.bid_px = level.price;
        pair.bid_sz = u32::try_from(level.size).unwrap_or(u32::MAX);
        pair.bid_ct = level.count;
    }
    for (pair, level) in out.iter_mut().zip(book.levels(Side::Ask)) {
        pair.ask_px = level.price;
        pair.ask_sz = u32::try_from(level.size).unwrap_or(u32::MAX);
        pair.ask_ct = level.count;
    }
    out
}

/// Close the open piece of a book's event: one record when it changed the top `N` levels.
#[inline]
fn finish<const N: usize>(
    state: &mut BookState<N>,
    book: &Book,
    index: u64,
    policy: BoundaryPolicy,
    sink: &mut impl MbpSink<N>,
) {
    state.open = false;
    let touch = std::mem::replace(&mut state.touch, Touch::NONE);
    let depth = touch.min_depth();
    if usize::from(depth) >= N {
        return; // only deeper levels changed
    }
    let levels = top_levels::<N>(book);
    if levels == state.shown {
        return; // changed and changed back within the event
    }
    state.shown = levels;
    let last = &state.last;
    let head = MbpHead {
        index,
        ts_event: last.hd.ts_event,
        publisher_id: last.hd.publisher_id,
        instrument_id: last.hd.instrument_id,
        action: last.action as u8,
        side: touch.side_byte(),
        depth,
        price: last.price,
        size: last.size,
        flags: event_flags(last.flags.raw(), policy),
        ts_recv: last.ts_recv,
        ts_in_delta: last.ts_in_delta,
        sequence: last.sequence,
    };
    sink.record(&head, &state.shown);
}

/// An MBP record is a whole event: `F_LAST` set, except under the per-record policy, where
/// records keep their own flags.
#[inline(always)]
fn event_flags(raw: u8, policy: BoundaryPolicy) -> u8 {
    match policy {
        BoundaryPolicy::Event => raw | flags::LAST,
        BoundaryPolicy::Record => raw,
    }
}

fn trade_head(index: u64, msg: &MboMsg, book: &Book, policy: BoundaryPolicy) -> MbpHead {
    // The passive side: a buy aggressor (B) lifts the ask, a sell aggressor (A) hits the bid.
    let passive = match msg.side as u8 {
        b'B' => Some(Side::Ask),
        b'A' => Some(Side::Bid),
        _ => None,
    };
    let depth = passive.map_or(0, |side| book.levels_better_than(side, msg.price, 255));
    MbpHead {
        index,
        ts_event: msg.hd.ts_event,
        publisher_id: msg.hd.publisher_id,
        instrument_id: msg.hd.instrument_id,
        action: b'T',
        side: msg.side as u8,
        depth: depth as u8,
        price: msg.price,
        size: msg.size,
        flags: event_flags(msg.flags.raw(), policy),
        ts_recv: msg.ts_recv,
        ts_in_delta: msg.ts_in_delta,
        sequence: msg.sequence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{mbo, mbo_for};

    /// Every record a deriver emits, with its levels as (bid px/sz/ct, ask px/sz/ct) tuples.
    #[derive(Default)]
    struct Collect<const N: usize>(Vec<(MbpHead, [BidAskPair; N])>);

    impl<const N: usize> MbpSink<N> for Collect<N> {
        fn record(&mut self, head: &MbpHead, levels: &[BidAskPair; N]) {
            self.0.push((*head, *levels));
        }
    }

    fn run<const N: usize>(
        records: &[MboMsg],
        policy: BoundaryPolicy,
    ) -> Vec<(MbpHead, [BidAskPair; N])> {
        let mut deriver = Deriver::<N>::new(policy);
        let mut out = Collect::<N>::default();
        for (i, msg) in records.iter().enumerate() {
            deriver.apply(i as u64, msg, &mut out);
        }
        out.0
    }

    fn with_seq(mut records: Vec<MboMsg>) -> Vec<MboMsg> {
        for (i, r) in records.iter_mut().enumerate() {
            r.sequence = i as u32;
            r.ts_recv = 1_000 + i as u64;
        }
        records
    }

    #[test]
    fn an_event_is_one_record_with_its_last_change_and_shallowest_touch() {
        let records = with_seq(vec![
            mbo(b'A', b'B', 1, 100, 5, 0x80),
            mbo(b'A', b'A', 2, 102, 5, 0x80),
            // one event: a deep bid, then a better ask (shallower), then a deep ask
            mbo(b'A', b'B', 3, 99, 1, 0),
            mbo(b'A', b'A', 4, 101, 2, 0),
            mbo(b'A', b'A', 5, 103, 1, 0),
            mbo(b'N', b'N', 0, UNDEF_PRICE, 0, 0x80), // the standalone-N form
        ]);
        let out = run::<10>(&records, BoundaryPolicy::Event);
        assert_eq!(out.len(), 3);
        let (head, levels) = &out[2];
        assert_eq!(head.index, 5);
        assert_eq!((head.action, head.side, head.depth), (b'A', b'A', 0));
        assert_eq!((head.price, head.size, head.sequence), (103, 1, 4));
        assert_eq!(head.flags, 0x80, "F_LAST on the event's record");
        assert_eq!(
            (levels[0].ask_px, levels[1].ask_px, levels[2].ask_px),
            (101, 102, 103)
        );
        assert_eq!((levels[0].bid_px, levels[1].bid_px), (100, 99));
        assert_eq!(levels[2].bid_px, UNDEF_PRICE);
        // MBP-1: the same events, and the deep-only ones drop out
        let top = run::<1>(&records, BoundaryPolicy::Event);
        assert_eq!(top.len(), 3);
        assert_eq!(top[2].0, *head);
    }

    #[test]
    fn a_trade_splits_its_event_and_fills_are_dropped() {
        let records = with_seq(vec![
            mbo(b'A', b'A', 1, 101, 3, 0x80),
            mbo(b'A', b'B', 2, 100, 1, 0), // before the trade: a new best bid
            mbo(b'T', b'B', 0, 101, 2, 0), // a buy lifts the ask
            mbo(b'F', b'A', 1, 101, 2, 0),
            mbo(b'C', b'A', 1, 101, 2, 0x80),
        ]);
        let out = run::<1>(&records, BoundaryPolicy::Event);
        let kinds: Vec<(u64, u8)> = out.iter().map(|(h, _)| (h.index, h.action)).collect();
        assert_eq!(kinds, [(0, b'A'), (2, b'A'), (2, b'T'), (4, b'C')]);
        let (trade, levels) = &out[2];
        assert_eq!(
            (trade.side, trade.price, trade.size, trade.depth),
            (b'B', 101, 2, 0)
        );
        assert_eq!(trade.flags, 0x80);
        assert_eq!(
            (levels[0].bid_px, levels[0].ask_sz),
            (100, 3),
            "the book before the fill"
        );
        assert_eq!(out[3].1[0].ask_sz, 1);
    }

    #[test]
    fn unchanged_visible_levels_emit_nothing_and_policies_differ() {
        let records = with_seq(vec![
            mbo(b'A', b'B', 1, 100, 5, 0x80),
            mbo(b'A', b'B', 2, 99, 5, 0x80), // level 1: invisible in MBP-1
            mbo(b'A', b'B', 3, 100, 1, 0),
            mbo(b'C', b'B', 3, 100, 1, 0x80), // changed and back
            mbo(b'M', b'B', 1, 100, 5, 0x80), // no change at all
        ]);
        assert_eq!(run::<1>(&records, BoundaryPolicy::Event).len(), 1);
        assert_eq!(run::<10>(&records, BoundaryPolicy::Event).len(), 2);
        // per record: the add and the cancel of order 3 are records of their own
        let per_record = run::<1>(&records, BoundaryPolicy::Record);
        assert_eq!(per_record.len(), 3);
        assert_eq!(
            per_record[1].0.flags, 0,
            "own flags under the per-record policy"
        );
    }

    #[test]
    fn books_are_separate_and_a_clear_is_two_sided() {
        let records = with_seq(vec![
            mbo_for(1, 1, b'A', b'B', 1, 100, 5, 0),
            mbo_for(2, 1, b'A', b'B', 1, 50, 5, 0x80),
            mbo_for(1, 1, b'A', b'A', 2, 101, 5, 0x80),
            mbo_for(1, 1, b'R', b'N', 0, UNDEF_PRICE, 0, 0x80),
            mbo_for(1, 1, b'R', b'N', 0, UNDEF_PRICE, 0, 0x80), // empty already: nothing
        ]);
        let out = run::<10>(&records, BoundaryPolicy::Event);
        let heads: Vec<(u32, u64, u8, u8)> = out
            .iter()
            .map(|(h, _)| (h.instrument_id, h.index, h.action, h.side))
            .collect();
        assert_eq!(
            heads,
            [(2, 1, b'A', b'B'), (1, 2, b'A', b'N'), (1, 3, b'R', b'N')]
        );
        assert_eq!(out[2].1, [EMPTY_PAIR; 10]);
    }
}
