//! BBO-1s/1m and CBBO-1s/1m: MBP-1 (or CMBP-1) records on a time grid.
//!
//! Databento's convention: the last best bid, best offer and sale at each interval's end; no
//! record for an interval without a trade or a BBO update; the last sale forward-filled into an
//! interval without trades, the BBO into one without BBO updates. Intervals are `(end - P, end]`
//! by `ts_recv` and stamped `end` (decision 7 in `derive/mod.rs`). An interval's records come out
//! once the stream passes its end (or at the end of the stream), per key in
//! `(instrument_id, publisher_id)` order; a BBO key is a book, a CBBO key an instrument.

use std::ffi::c_char;

use dbn::{
    BboMsg, BidAskPair, CbboMsg, ConsolidatedBidAskPair, FlagSet, RecordHeader, Schema,
    UNDEF_PRICE, UNDEF_TIMESTAMP,
};
use rustc_hash::FxHashMap;

use super::consolidate::CmbpSink;
use super::events::{MbpHead, MbpSink};
use super::records::{record_bytes, RecordOut};

/// The last trade of a key.
#[derive(Clone, Copy, Debug)]
struct Trade {
    price: i64,
    size: u32,
    side: u8,
    ts_event: u64,
}

/// One key's state: the top now, the last trade, and the open interval's last update.
#[derive(Clone, Copy, Debug)]
struct KeyState<T> {
    /// The MBO record of the last update.
    index: u64,
    instrument_id: u32,
    /// The key's publisher (BBO), or the publisher of the last update (CBBO).
    publisher_id: u16,
    top: T,
    trade: Option<Trade>,
    flags: u8,
    sequence: u32,
    /// An update arrived in the open interval.
    dirty: bool,
}

/// A sampled record type: BBO (per book, `BidAskPair`) or CBBO (per instrument, consolidated).
pub trait Sampled: Copy {
    fn put(state: &KeyStateView<'_, Self>, schema: Schema, end: u64, out: &mut impl RecordOut);
}

/// What a sampled record is built from.
pub struct KeyStateView<'a, T> {
    pub index: u64,
    pub instrument_id: u32,
    pub publisher_id: u16,
    pub top: &'a T,
    pub price: i64,
    pub size: u32,
    pub side: u8,
    pub ts_event: u64,
    pub flags: u8,
    pub sequence: u32,
}

impl Sampled for BidAskPair {
    fn put(s: &KeyStateView<'_, Self>, schema: Schema, end: u64, out: &mut impl RecordOut) {
        let mut msg = BboMsg::default_for_schema(schema);
        msg.hd =
            RecordHeader::new::<BboMsg>(msg.hd.rtype, s.publisher_id, s.instrument_id, s.ts_event);
        msg.price = s.price;
        msg.size = s.size;
        msg.side = s.side as c_char;
        msg.flags = FlagSet::new(s.flags);
        msg.ts_recv = end;
        msg.sequence = s.sequence;
        msg.levels = [*s.top];
        out.put(s.index, record_bytes(&msg));
    }
}

impl Sampled for ConsolidatedBidAskPair {
    fn put(s: &KeyStateView<'_, Self>, schema: Schema, end: u64, out: &mut impl RecordOut) {
        let mut msg = CbboMsg::default_for_schema(schema);
        msg.hd =
            RecordHeader::new::<CbboMsg>(msg.hd.rtype, s.publisher_id, s.instrument_id, s.ts_event);
        msg.price = s.price;
        msg.size = s.size;
        msg.side = s.side as c_char;
        msg.flags = FlagSet::new(s.flags);
        msg.ts_recv = end;
        msg.levels = [*s.top];
        out.put(s.index, record_bytes(&msg));
    }
}

/// Samples MBP-1 records (as BBO) or CMBP-1 records (as CBBO) every `schema`'s interval.
pub struct Sampler<T, O> {
    pub out: O,
    schema: Schema,
    interval: u64,
    /// The end of the interval being filled (0 before the first update).
    end: u64,
    states: Vec<KeyState<T>>,
    by_key: FxHashMap<(u32, u16), usize>,
    /// Keys with an update in the open interval.
    dirty: Vec<usize>,
}

impl<T: Sampled, O: RecordOut> Sampler<T, O> {
    /// `schema`: BBO-1s/1m for `BidAskPair`, CBBO-1s/1m for `ConsolidatedBidAskPair`.
    pub fn new(schema: Schema, interval: u64, out: O) -> Self {
        Sampler {
            out,
            schema,
            interval: interval.max(1),
            end: 0,
            states: Vec::new(),
            by_key: FxHashMap::default(),
            dirty: Vec::new(),
        }
    }

    /// The end of the interval holding `ts`: `ts` rounded up to a multiple of the interval.
    fn end_of(&self, ts: u64) -> u64 {
        let rem = ts % self.interval;
        if rem == 0 {
            ts
        } else {
            ts.saturating_add(self.interval - rem)
        }
    }

    fn update(&mut self, key: (u32, u16), head: &MbpHead, top: T, empty: T) {
        let end = self.end_of(head.ts_recv);
        if end > self.end {
            self.flush();
            self.end = end;
        }
        let n = self.states.len();
        let at = *self.by_key.entry(key).or_insert(n);
        if at == n {
            self.states.push(KeyState {
                index: head.index,
                instrument_id: head.instrument_id,
                publisher_id: head.publisher_id,
                top: empty,
                trade: None,
                flags: 0,
                sequence: 0,
                dirty: false,
            });
        }
        let state = &mut self.states[at];
        state.index = head.index;
        state.publisher_id = head.publisher_id;
        state.top = top;
        state.flags = head.flags;
        state.sequence = head.sequence;
        if head.is_trade() {
            state.trade = Some(Trade {
                price: head.price,
                size: head.size,
                side: head.side,
                ts_event: head.ts_event,
            });
        }
        if !state.dirty {
            state.dirty = true;
            self.dirty.push(at);
        }
    }

    /// Write the open interval's records, in key order.
    pub fn flush(&mut self) {
        let states = &mut self.states;
        self.dirty
            .sort_unstable_by_key(|&i| (states[i].instrument_id, states[i].publisher_id));
        for &i in &self.dirty {
            let state = &mut states[i];
            state.dirty = false;
            let trade = state.trade;
            let view = KeyStateView {
                index: state.index,
                instrument_id: state.instrument_id,
                publisher_id: state.publisher_id,
                top: &state.top,
                price: trade.map_or(UNDEF_PRICE, |t| t.price),
                size: trade.map_or(0, |t| t.size),
                side: trade.map_or(b'N', |t| t.side),
                ts_event: trade.map_or(UNDEF_TIMESTAMP, |t| t.ts_event),
                flags: state.flags,
                sequence: state.sequence,
            };
            T::put(&view, self.schema, self.end, &mut self.out);
        }
        self.dirty.clear();
    }
}

impl<O: RecordOut> MbpSink<1> for Sampler<BidAskPair, O> {
    #[inline]
    fn record(&mut self, head: &MbpHead, levels: &[BidAskPair; 1]) {
        let key = (head.instrument_id, head.publisher_id);
        self.update(key, head, levels[0], super::events::EMPTY_PAIR);
    }

    fn failed(&self) -> bool {
        self.out.failed()
    }
}

impl<O: RecordOut> CmbpSink for Sampler<ConsolidatedBidAskPair, O> {
    fn record(&mut self, head: &MbpHead, top: &ConsolidatedBidAskPair) {
        self.update(
            (head.instrument_id, 0),
            head,
            *top,
            ConsolidatedBidAskPair::default(),
        );
    }

    fn failed(&self) -> bool {
        self.out.failed()
    }
}
