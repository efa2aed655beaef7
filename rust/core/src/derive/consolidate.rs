//! CMBP-1 and TCBBO: the consolidated top of each instrument's books, from their MBP-1 records.
//!
//! A book's top changes only where its MBP-1 stream has a record, so the publishers' latest
//! MBP-1 levels are always their tops, and the consolidated top (decision 8 in `derive/mod.rs`:
//! best price, size summed over the publishers quoting it, the publisher with the most size
//! there as `bid_pb`/`ask_pb`) is recomputed from them. A record is written when it changes and
//! for every trade.

use std::ffi::c_char;

use dbn::{
    BidAskPair, Cmbp1Msg, ConsolidatedBidAskPair, FlagSet, RecordHeader, Schema, UNDEF_PRICE,
};
use rustc_hash::FxHashMap;

use super::events::{MbpHead, MbpSink};
use super::records::{record_bytes, RecordOut};

/// Receives consolidated top-of-book records: the MBP-1 record's fields and the new top.
pub trait CmbpSink {
    fn record(&mut self, head: &MbpHead, top: &ConsolidatedBidAskPair);
    fn failed(&self) -> bool {
        false
    }
}

/// One instrument: each publisher's top and the consolidated top last written.
struct Instrument {
    tops: Vec<(u16, BidAskPair)>,
    shown: ConsolidatedBidAskPair,
}

/// The consolidated best of one side: `(price, summed size, publisher)`.
fn best_side(tops: &[(u16, BidAskPair)], bid: bool) -> (i64, u32, u16) {
    let quote = |pair: &BidAskPair| {
        if bid {
            (pair.bid_px, pair.bid_sz)
        } else {
            (pair.ask_px, pair.ask_sz)
        }
    };
    let mut best: Option<i64> = None;
    for (_, pair) in tops {
        let (px, _) = quote(pair);
        if px == UNDEF_PRICE {
            continue;
        }
        best = Some(match best {
            Some(b) if (bid && b >= px) || (!bid && b <= px) => b,
            _ => px,
        });
    }
    let Some(price) = best else {
        return (UNDEF_PRICE, 0, 0);
    };
    // `tops` are in publisher order: on a tie the first (lowest id) is kept.
    let mut size = 0u32;
    let mut largest: Option<(u32, u16)> = None;
    for &(publisher, ref pair) in tops {
        let (px, sz) = quote(pair);
        if px != price {
            continue;
        }
        size = size.saturating_add(sz);
        if largest.is_none_or(|(most, _)| sz > most) {
            largest = Some((sz, publisher));
        }
    }
    (price, size, largest.map_or(0, |(_, publisher)| publisher))
}

/// The consolidated top over the publishers' tops.
pub fn consolidated_top(tops: &[(u16, BidAskPair)]) -> ConsolidatedBidAskPair {
    let (bid_px, bid_sz, bid_pb) = best_side(tops, true);
    let (ask_px, ask_sz, ask_pb) = best_side(tops, false);
    ConsolidatedBidAskPair {
        bid_px,
        ask_px,
        bid_sz,
        ask_sz,
        bid_pb,
        ask_pb,
        ..Default::default()
    }
}

/// MBP-1 records in, consolidated records out (to a [`CmbpSink`]).
pub struct Consolidator<S> {
    pub sink: S,
    instruments: FxHashMap<u32, Instrument>,
}

impl<S: CmbpSink> Consolidator<S> {
    pub fn new(sink: S) -> Self {
        Consolidator {
            sink,
            instruments: FxHashMap::default(),
        }
    }
}

impl<S: CmbpSink> MbpSink<1> for Consolidator<S> {
    fn record(&mut self, head: &MbpHead, levels: &[BidAskPair; 1]) {
        let instrument = self
            .instruments
            .entry(head.instrument_id)
            .or_insert_with(|| Instrument {
                tops: Vec::new(),
                shown: ConsolidatedBidAskPair::default(),
            });
        match instrument
            .tops
            .iter_mut()
            .find(|(publisher, _)| *publisher == head.publisher_id)
        {
            Some((_, top)) => *top = levels[0],
            None => {
                instrument.tops.push((head.publisher_id, levels[0]));
                instrument
                    .tops
                    .sort_unstable_by_key(|(publisher, _)| *publisher);
            }
        }
        let top = consolidated_top(&instrument.tops);
        if head.is_trade() || top != instrument.shown {
            instrument.shown = top;
            self.sink.record(head, &instrument.shown);
        }
    }

    fn failed(&self) -> bool {
        self.sink.failed()
    }
}

/// CMBP-1 records, or only the trades (TCBBO).
pub struct CmbpRecords<O> {
    pub out: O,
    schema: Schema,
}

impl<O: RecordOut> CmbpRecords<O> {
    /// `schema`: `Cmbp1`, or `Tcbbo` for the trades only.
    pub fn new(schema: Schema, out: O) -> Self {
        CmbpRecords { out, schema }
    }
}

impl<O: RecordOut> CmbpSink for CmbpRecords<O> {
    fn record(&mut self, head: &MbpHead, top: &ConsolidatedBidAskPair) {
        if self.schema == Schema::Tcbbo && !head.is_trade() {
            return;
        }
        let mut msg = Cmbp1Msg::default_for_schema(self.schema);
        msg.hd = RecordHeader::new::<Cmbp1Msg>(
            msg.hd.rtype,
            head.publisher_id,
            head.instrument_id,
            head.ts_event,
        );
        msg.price = head.price;
        msg.size = head.size;
        msg.action = head.action as c_char;
        msg.side = head.side as c_char;
        msg.flags = FlagSet::new(head.flags);
        msg.ts_recv = head.ts_recv;
        msg.ts_in_delta = head.ts_in_delta;
        msg.levels = [*top];
        self.out.put(head.index, record_bytes(&msg));
    }

    fn failed(&self) -> bool {
        self.out.failed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(bid: (i64, u32), ask: (i64, u32)) -> BidAskPair {
        BidAskPair {
            bid_px: bid.0,
            bid_sz: bid.1,
            ask_px: ask.0,
            ask_sz: ask.1,
            ..Default::default()
        }
    }

    #[test]
    fn best_price_summed_size_and_the_largest_publisher() {
        let u = UNDEF_PRICE;
        let tops = [
            (1, pair((100, 5), (103, 1))),
            (2, pair((101, 2), (103, 4))),
            (3, pair((101, 2), (u, 0))),
        ];
        let top = consolidated_top(&tops);
        assert_eq!(
            (top.bid_px, top.bid_sz, top.bid_pb),
            (101, 4, 2),
            "a tie: the lowest id"
        );
        assert_eq!((top.ask_px, top.ask_sz, top.ask_pb), (103, 5, 2));
        let empty = consolidated_top(&[(1, pair((u, 0), (u, 0)))]);
        assert_eq!((empty.bid_px, empty.bid_sz, empty.bid_pb), (u, 0, 0));
    }
}
