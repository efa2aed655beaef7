//! Live ingest: a DBN stream arriving in arbitrary pieces (TCP reads), decoded incrementally,
//! applied to a [`Market`], and published as the playback frames of subscribed books.
//!
//! The bytes go through the DBN framer every reader shares ([`PushFramer`]): it buffers pushed
//! bytes, parses the DBN metadata once it has all arrived, then yields whole MBO records; a
//! record split across reads waits for its tail. Garbage or a corrupt header is a typed
//! [`Error::Decode`](crate::Error::Decode): the caller drops the connection and reconnects
//! (calling [`LiveMarket::reconnect`]).
//!
//! [`LiveMarket`] (this file) applies the records and adds, each in a file of its own:
//! - `gaps`: sequence-gap detection (per `channel_id`, a sequence that jumps by more than
//!   `max_seq_jump`) and stale-book marking (after a gap on its channel or a reconnect, a book
//!   is stale until a clear (`R`) or snapshot record for it arrives);
//! - `subscriptions`: per `(instrument, publisher, depth)`, [`LiveMarket::publish`] builds the
//!   frames since the last ones (trades, then one book frame if the top levels changed, in
//!   playback's JSON shapes). Frame ids are live record indexes: 0-based, counted over every MBO
//!   record applied, across reconnects;
//! - [`persist`]: when persisting, every record applied is also kept as the exact bytes the
//!   framer took from the input (56 bytes, 64 on a `ts_out` stream), never re-encoded from the
//!   decoded copy nor cut by a length read from it, in [`PersistChunk`]s that carry their record
//!   count and `ts_recv` range, so that a store never parses record bytes;
//! - [`pump()`]: the live socket's read-decode-apply loop.

mod gaps;
pub mod persist;
pub mod pump;
mod subscriptions;

use std::time::Instant;

use dbn::{MboMsg, Metadata};
use rustc_hash::FxHashMap;

use crate::book::market::{BookKey, Market};
use crate::dbn::PushFramer;
use crate::error::Result;
use crate::replay::timing::{Histogram, HistogramCounts};

use gaps::GapTracker;
use persist::PersistQueue;
pub use persist::{PersistChunk, PERSIST_CHUNK_BYTES};
pub use pump::pump;
use subscriptions::Subscription;

/// Latency histograms of a live market (log-linear ns buckets, see [`crate::replay::timing`]).
#[derive(Default)]
pub struct LiveTimings {
    /// Per-record apply time (batch means, weighted).
    pub apply: Histogram,
    /// Record receipt (its bytes pushed) until it is applied.
    pub receipt_to_applied: Histogram,
    /// Per published frame batch: receipt of the newest record it includes until it is handed
    /// to the clients (`LiveMarket::published`, else the end of the `publish` that built it).
    pub receipt_to_published: Histogram,
    /// One tick's frame building.
    pub tick: Histogram,
}

impl LiveTimings {
    pub fn counts(&self) -> Vec<(&'static str, HistogramCounts)> {
        vec![
            ("live_apply", self.apply.counts()),
            ("live_receipt_to_applied", self.receipt_to_applied.counts()),
            (
                "live_receipt_to_published",
                self.receipt_to_published.counts(),
            ),
            ("live_tick", self.tick.counts()),
        ]
    }
}

/// Counters of a live market.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveStats {
    pub records: u64,
    pub bytes: u64,
    pub gaps: u64,
    /// Sequence numbers skipped over by the gaps.
    pub missed: u64,
    pub stale_books: usize,
    pub connections: u64,
}

/// A market fed by live bytes, with sequence checks, stale books and subscriptions.
pub struct LiveMarket {
    framer: PushFramer,
    market: Market,
    /// Sequence gaps and stale books.
    gaps: GapTracker,
    subs: Vec<Option<Subscription>>,
    subs_by_key: FxHashMap<BookKey, Vec<usize>>,
    last_ts: (u64, u64),
    /// By market slot: records applied when it last changed, and that batch's receipt time.
    touched: Vec<(u64, Instant)>,
    /// The batch being applied was received at this instant.
    batch_received: Instant,
    /// Receipt times (newest record included) of frame batches built but not yet handed over.
    unpublished: Vec<Instant>,
    /// When persisting: the MBO records applied and not yet taken.
    persist: bool,
    raw: PersistQueue,
    stats: LiveStats,
    timings: LiveTimings,
}

impl LiveMarket {
    pub fn new(max_seq_jump: u32) -> Self {
        LiveMarket {
            framer: PushFramer::new(),
            market: Market::new(),
            gaps: GapTracker::new(max_seq_jump),
            subs: Vec::new(),
            subs_by_key: FxHashMap::default(),
            last_ts: (0, 0),
            touched: Vec::new(),
            batch_received: Instant::now(),
            unpublished: Vec::new(),
            persist: false,
            raw: PersistQueue::default(),
            stats: LiveStats {
                connections: 1,
                ..LiveStats::default()
            },
            timings: LiveTimings::default(),
        }
    }

    pub fn market(&self) -> &Market {
        &self.market
    }

    pub fn timings(&self) -> &LiveTimings {
        &self.timings
    }

    pub fn metadata(&self) -> Option<&Metadata> {
        self.framer.metadata()
    }

    pub fn stats(&self) -> LiveStats {
        LiveStats {
            stale_books: self.gaps.stale_books(),
            ..self.stats.clone()
        }
    }

    /// Index of the last record applied (-1 before the first).
    pub fn index(&self) -> i64 {
        self.stats.records as i64 - 1
    }

    pub fn is_stale(&self, key: BookKey) -> bool {
        self.slot(key).is_some_and(|slot| self.gaps.is_stale(slot))
    }

    fn slot(&self, key: BookKey) -> Option<usize> {
        // Slots are assigned in order of first sight; find it through the book list.
        (0..self.gaps.books()).find(|&slot| {
            let b = self.market.book_at(slot);
            (b.instrument_id, b.publisher_id) == key
        })
    }

    /// A new connection: its bytes start with their own metadata; every book is stale until a
    /// clear or snapshot, and so is every book first seen from now on.
    pub fn reconnect(&mut self) {
        self.framer.reset();
        self.stats.connections += 1;
        self.gaps.reconnect(self.stats.records > 0);
    }

    /// Decode and apply `data` (any piece of the stream). Returns the records applied. On an
    /// error the records before it stay applied; the connection should be dropped.
    pub fn feed(&mut self, data: &[u8]) -> Result<u64> {
        let received = Instant::now();
        self.batch_received = received;
        self.stats.bytes += data.len() as u64;
        self.framer.push(data);
        let mut applied = 0u64;
        let result = loop {
            match self.framer.next_mbo() {
                Ok(Some(msg)) => {
                    if self.persist {
                        self.raw.push(self.framer.last_record(), msg.ts_recv);
                    }
                    self.apply(&msg);
                    applied += 1;
                }
                Ok(None) => break Ok(applied),
                Err(err) => break Err(err),
            }
        };
        let done = Instant::now();
        self.timings
            .apply
            .record_batch(done - received, applied as usize);
        if applied > 0 {
            let ns = u64::try_from((done - received).as_nanos()).unwrap_or(u64::MAX);
            self.timings.receipt_to_applied.record_n(ns, applied);
        }
        result
    }

    #[inline]
    fn apply(&mut self, msg: &MboMsg) {
        let slot = self.market.apply(msg);
        if let Some(missed) = self.gaps.on_record(slot, msg) {
            self.stats.gaps += 1;
            self.stats.missed += missed;
        }
        self.stats.records += 1;
        self.note_applied(slot, msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::json::market_json;
    use crate::dbn::{Source, MBO_LEN};
    use crate::error::Error;
    use crate::testing::{clx5, xorshift as rng};

    #[test]
    fn random_splits_give_the_file_books() {
        let Some(bytes) = clx5() else { return };
        let mut whole = Market::new();
        let n = whole.apply_stream(Source::Bytes(&bytes)).unwrap();
        let expected = market_json(&whole);
        for seed0 in [1u64, 7, 12345] {
            let mut seed = seed0;
            let mut live = LiveMarket::new(0);
            let mut pos = 0;
            while pos < bytes.len() {
                let step = match rng(&mut seed) % 4 {
                    0 => 1 + rng(&mut seed) as usize % 7,
                    1 => 1 + rng(&mut seed) as usize % 100,
                    _ => 1 + rng(&mut seed) as usize % 70_000,
                };
                let end = (pos + step).min(bytes.len());
                live.feed(&bytes[pos..end]).unwrap();
                pos = end;
            }
            assert_eq!(live.stats().records, n);
            assert_eq!(live.framer.buffered(), 0);
            assert_eq!(market_json(live.market()), expected, "seed {seed0}");
        }
    }

    #[test]
    fn garbage_and_corrupt_headers_are_decode_errors() {
        for bytes in [
            &b"hello"[..],
            b"DBX",
            b"DBN\x09",
            b"DBN\x03\xff\xff\xff\x7f",
        ] {
            let mut live = LiveMarket::new(1);
            assert!(
                matches!(live.feed(bytes), Err(Error::Decode { .. })),
                "{bytes:?}"
            );
        }
        let mut live = LiveMarket::new(1);
        assert_eq!(live.feed(b"DB").unwrap(), 0, "a prefix waits for more");
        let Some(bytes) = clx5() else { return };
        let meta_len = 8 + u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        let mut corrupt = bytes[..meta_len + 3 * MBO_LEN].to_vec();
        corrupt.extend_from_slice(&[1, 0xa0, 0, 0]); // a 4-byte record
        let mut live = LiveMarket::new(0);
        let err = live.feed(&corrupt).unwrap_err();
        assert!(
            matches!(err, Error::Decode { offset: Some(o), .. } if o == (meta_len + 3 * MBO_LEN) as u64)
        );
        assert_eq!(live.stats().records, 3);
    }
}
