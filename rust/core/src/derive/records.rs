//! MBP-10, MBP-1 and TBBO records (`dbn::Mbp10Msg`, `dbn::Mbp1Msg`) from the deriver's output,
//! and [`RecordOut`], where every derived record's bytes go.

use std::ffi::c_char;

use dbn::{rtype, BidAskPair, FlagSet, Mbp10Msg, Mbp1Msg, RecordHeader};

use super::events::{MbpHead, MbpSink};

/// Where derived records go, as the bytes of whole DBN records (a DBN stream, or memory).
pub trait RecordOut {
    /// One record; `index` is the MBO record after which it was produced (its event's boundary,
    /// its trade; for a sampled record, the last update of its interval).
    fn put(&mut self, index: u64, record: &[u8]);
    /// The output failed (a write error, no memory): the pass stops and `finish` reports it.
    fn failed(&self) -> bool {
        false
    }
}

/// The bytes of a DBN record (`#[repr(C)]`, no padding, plain old data).
#[inline(always)]
pub fn record_bytes<R: dbn::Record>(record: &R) -> &[u8] {
    record.as_ref()
}

/// An MBP-`N` record type.
pub trait MbpRecord<const N: usize>: dbn::Record {
    fn build(head: &MbpHead, levels: &[BidAskPair; N]) -> Self;
}

impl MbpRecord<10> for Mbp10Msg {
    #[inline(always)]
    fn build(head: &MbpHead, levels: &[BidAskPair; 10]) -> Self {
        Mbp10Msg {
            hd: RecordHeader::new::<Mbp10Msg>(
                rtype::MBP_10,
                head.publisher_id,
                head.instrument_id,
                head.ts_event,
            ),
            price: head.price,
            size: head.size,
            action: head.action as c_char,
            side: head.side as c_char,
            flags: FlagSet::new(head.flags),
            depth: head.depth,
            ts_recv: head.ts_recv,
            ts_in_delta: head.ts_in_delta,
            sequence: head.sequence,
            levels: *levels,
        }
    }
}

impl MbpRecord<1> for Mbp1Msg {
    #[inline(always)]
    fn build(head: &MbpHead, levels: &[BidAskPair; 1]) -> Self {
        Mbp1Msg {
            hd: RecordHeader::new::<Mbp1Msg>(
                rtype::MBP_1,
                head.publisher_id,
                head.instrument_id,
                head.ts_event,
            ),
            price: head.price,
            size: head.size,
            action: head.action as c_char,
            side: head.side as c_char,
            flags: FlagSet::new(head.flags),
            depth: head.depth,
            ts_recv: head.ts_recv,
            ts_in_delta: head.ts_in_delta,
            sequence: head.sequence,
            levels: *levels,
        }
    }
}

/// MBP-10 or MBP-1 records, or only the trades (TBBO: MBP-1 trade records, whose levels are the
/// book just before the trade's fills).
pub struct MbpRecords<O> {
    pub out: O,
    trades_only: bool,
}

impl<O: RecordOut> MbpRecords<O> {
    pub fn new(out: O, trades_only: bool) -> Self {
        MbpRecords { out, trades_only }
    }
}

impl<O: RecordOut> MbpSink<10> for MbpRecords<O> {
    #[inline(always)]
    fn record(&mut self, head: &MbpHead, levels: &[BidAskPair; 10]) {
        if !self.trades_only || head.is_trade() {
            let record = <Mbp10Msg as MbpRecord<10>>::build(head, levels);
            self.out.put(head.index, record_bytes(&record));
        }
    }

    fn failed(&self) -> bool {
        self.out.failed()
    }
}

impl<O: RecordOut> MbpSink<1> for MbpRecords<O> {
    #[inline(always)]
    fn record(&mut self, head: &MbpHead, levels: &[BidAskPair; 1]) {
        if !self.trades_only || head.is_trade() {
            let record = <Mbp1Msg as MbpRecord<1>>::build(head, levels);
            self.out.put(head.index, record_bytes(&record));
        }
    }

    fn failed(&self) -> bool {
        self.out.failed()
    }
}
