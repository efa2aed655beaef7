//! Record emission: the MBO records a Databento GLBX.MDP3 file holds for a matching engine's
//! events, packet by packet (sequence numbers, `ts_recv` after `ts_event`), in the shapes below.
//!
//! # Event shapes, as read in `CLX5_mbo.dbn` (GLBX.MDP3, CME crude, 38,212 records)
//!
//! - Every record: `rtype` MBO, `publisher_id` 1, `channel_id` 26 (one channel for the
//!   instrument), flags `0x00` inside an event and `0x80` (F_LAST) on its last record; this
//!   file has no `0x82`. `ts_event` is the same for every record of an event; `ts_recv` grows
//!   (never decreases, always ≥ `ts_event`, ~0.15–0.5 ms after it); `ts_in_delta` ~15 µs.
//!   `sequence` is the CME packet sequence: the same for records of one packet, increasing
//!   from packet to packet (with gaps: other instruments share the channel).
//! - Add, cancel, modify: a single `A`/`C`/`M` record with F_LAST. A cancel carries the order's
//!   price, side and full remaining size; a modify its new price and new total size.
//! - An aggressor that trades (`TF+C+`, `TF+C+M`, `TF+AC+`, ... — 1,577 such events):
//!   1. packet `s` (one `ts_recv`): per price level reached, one `T` — side = the aggressor's,
//!      `order_id` = the aggressor's id, price = the level, size = volume traded there — then one
//!      `F` per passive order filled at that level, in queue order: side = the passive side,
//!      the passive order's id, price, and the size filled. Several levels: `T F+ T F+ ...`.
//!   2. packet `s + 1` (a later `ts_recv`, same `ts_event`): a `C` for each passive order
//!      filled completely (size = the size filled) and an `M` for the one partially filled
//!      (size = what remains, same price: it keeps its place), in fill order. An aggressor
//!      whose remainder rests gets an `A` with its own id and limit price for the remainder;
//!      the file puts it before the `C`s (`TF+AC+`, 22 events) more often than after them
//!      (`TF+C+A`, 9): the engine puts it first. The last record carries F_LAST. Small events
//!      sometimes put everything in one packet; the engine always uses two.
//!   3. An aggressor order that does not rest (IOC remainder, or filled completely) leaves no
//!      record of its own besides the `T`s: no `A`, no `C`.
//! - Trades against orders outside this book (implied/spread legs, 109 events): `T` with side
//!   `N` and `order_id` 0, `F` with side `N` for the resting order, then its `C`/`M`. The
//!   engine uses this shape for the opening uncross (no single aggressor): one `T` (side `N`,
//!   `order_id` 0, the uncross price and volume), an `F` per order filled (with its own side),
//!   then the `C`/`M`s.
//! - A resting order modified to a crossing price trades as an aggressor at its new price; the
//!   file then ends the event with a `C` of the order at its old price (`TF+MC`). The engine
//!   does the same: after the passive `C`/`M`s, a `C` of the aggressor (size = its old resting
//!   size) when it is filled completely, or an `M` with its new price and remaining size.
//!
//! Not emitted: `R` clears, snapshots, F_TOB/F_MBP records, `0x82` publisher flags, packet
//! sequence gaps.

use dbn::{FlagSet, MboMsg, RecordHeader};

use super::engine::Fill;
use crate::book::Side;

/// Default gap between `ts_event` and the first packet's `ts_recv` (about the file's median).
pub const DEFAULT_RECV_LATENCY_NS: u64 = 400_000;
/// Default gap between the two packets of a trade event.
pub const DEFAULT_PACKET_GAP_NS: u64 = 10_000;
/// `ts_in_delta` written on every record.
pub const DEFAULT_TS_IN_DELTA: i32 = 15_000;

const F_LAST: u8 = dbn::flags::LAST;

/// The records of one instrument's events, stamped as the venue's feed would stamp them.
#[derive(Clone, Debug)]
pub struct RecordEmitter {
    pub instrument_id: u32,
    pub publisher_id: u16,
    pub channel_id: u8,
    pub recv_latency_ns: u64,
    pub packet_gap_ns: u64,
    pub ts_in_delta: i32,
    /// Sequence number of the next packet.
    sequence: u32,
    last_ts_recv: u64,
    records: Vec<MboMsg>,
}

impl RecordEmitter {
    pub fn new(instrument_id: u32, publisher_id: u16) -> Self {
        RecordEmitter {
            instrument_id,
            publisher_id,
            channel_id: 0,
            recv_latency_ns: DEFAULT_RECV_LATENCY_NS,
            packet_gap_ns: DEFAULT_PACKET_GAP_NS,
            ts_in_delta: DEFAULT_TS_IN_DELTA,
            sequence: 1,
            last_ts_recv: 0,
            records: Vec::new(),
        }
    }

    /// The first packet's sequence number from here on.
    pub fn set_next_sequence(&mut self, sequence: u32) {
        self.sequence = sequence;
    }

    /// Records emitted and not yet taken.
    pub fn records(&self) -> &[MboMsg] {
        &self.records
    }

    /// The records emitted since the last take.
    pub fn take(&mut self) -> Vec<MboMsg> {
        std::mem::take(&mut self.records)
    }

    /// Drop the records emitted so far, keeping the buffer.
    pub fn clear(&mut self) {
        self.records.clear();
    }

    /// Sequence and `ts_recv` of a new packet for an event at `ts`; `second`: the follow-up
    /// packet of a trade event.
    pub(super) fn packet(&mut self, ts: u64, second: bool) -> (u32, u64) {
        let seq = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        let mut recv = ts.saturating_add(self.recv_latency_ns);
        if second {
            recv = recv.max(self.last_ts_recv.saturating_add(self.packet_gap_ns));
        }
        recv = recv.max(self.last_ts_recv);
        self.last_ts_recv = recv;
        (seq, recv)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn record(
        &self,
        ts: u64,
        recv: u64,
        seq: u32,
        action: u8,
        side: u8,
        order_id: u64,
        price: i64,
    ) -> MboMsg {
        MboMsg {
            hd: RecordHeader::new::<MboMsg>(
                dbn::rtype::MBO,
                self.publisher_id,
                self.instrument_id,
                ts,
            ),
            order_id,
            price,
            size: 0,
            flags: FlagSet::empty(),
            channel_id: self.channel_id,
            action: action as std::ffi::c_char,
            side: side as std::ffi::c_char,
            ts_recv: recv,
            ts_in_delta: self.ts_in_delta,
            sequence: seq,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn push_side(
        &mut self,
        ts: u64,
        recv: u64,
        seq: u32,
        action: u8,
        side: u8,
        order_id: u64,
        price: i64,
        size: u32,
        flag_bits: u8,
    ) {
        let mut msg = self.record(ts, recv, seq, action, side, order_id, price);
        msg.size = size;
        msg.flags = FlagSet::new(flag_bits);
        self.records.push(msg);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn push(
        &mut self,
        ts: u64,
        recv: u64,
        seq: u32,
        action: u8,
        side: Side,
        order_id: u64,
        price: i64,
        size: u32,
        flag_bits: u8,
    ) {
        self.push_side(
            ts,
            recv,
            seq,
            action,
            side.as_byte(),
            order_id,
            price,
            size,
            flag_bits,
        );
    }

    pub(super) fn mark_last(&mut self) {
        if let Some(last) = self.records.last_mut() {
            last.flags = FlagSet::new(last.flags.raw() | F_LAST);
        }
    }

    /// `T` per price level (aggressor's side and id), each followed by its `F`s.
    pub(super) fn push_trades(
        &mut self,
        ts: u64,
        recv: u64,
        seq: u32,
        side: Side,
        aggressor: u64,
        fills: &[Fill],
    ) {
        let mut at = 0;
        while at < fills.len() {
            let price = fills[at].price;
            let end = at + fills[at..].iter().take_while(|f| f.price == price).count();
            let volume: u64 = fills[at..end].iter().map(|f| u64::from(f.size)).sum();
            let volume = u32::try_from(volume).unwrap_or(u32::MAX);
            self.push(ts, recv, seq, b'T', side, aggressor, price, volume, 0);
            for fill in &fills[at..end] {
                let (id, s, p, size) = (fill.order_id, fill.side, fill.price, fill.size);
                self.push(ts, recv, seq, b'F', s, id, p, size, 0);
            }
            at = end;
        }
    }

    /// `C` (filled completely, size = the fill) or `M` (what remains) per passive order.
    pub(super) fn push_reductions(&mut self, ts: u64, recv: u64, seq: u32, fills: &[Fill]) {
        for fill in fills {
            if fill.remaining == 0 {
                let (id, s, p, size) = (fill.order_id, fill.side, fill.price, fill.size);
                self.push(ts, recv, seq, b'C', s, id, p, size, 0);
            } else {
                let (id, s, p, rest) = (fill.order_id, fill.side, fill.price, fill.remaining);
                self.push(ts, recv, seq, b'M', s, id, p, rest, 0);
            }
        }
    }
}
