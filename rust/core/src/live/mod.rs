//! Live ingest: a DBN stream arriving in arbitrary pieces (TCP reads), decoded incrementally,
//! applied to a [`Market`], and published as the playback frames of subscribed books.
//!
//! [`LiveDecoder`] buffers pushed bytes, parses the DBN metadata once it has all arrived, then
//! yields whole MBO records; a record split across reads waits for its tail. Garbage or a
//! corrupt header is a typed [`Error::Decode`]: the caller drops the connection and reconnects
//! (calling [`LiveMarket::reconnect`]).
//!
//! [`LiveMarket`] adds sequence-gap detection (per `channel_id`, a sequence that jumps by more
//! than `max_seq_jump`), stale-book marking (after a gap on its channel or a reconnect, a book is
//! stale until a clear (`R`) or snapshot record for it arrives), and subscriptions: per
//! `(instrument, publisher, depth)`, [`LiveMarket::tick`] builds the frames since the last tick
//! (trades, then one book frame if the top levels changed, in playback's JSON shapes). Frame ids
//! are live record indexes: 0-based, counted over every MBO record applied, across reconnects.
//!
//! When persisting, every record applied is also kept as the exact bytes the framer took from
//! the input (56 bytes, 64 on a `ts_out` stream), never re-encoded from the decoded copy nor cut
//! by a length read from it, in [`PersistChunk`]s that carry their record count and `ts_recv`
//! range, so that a store never parses record bytes.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use dbn::{flags, MboMsg, Metadata, Schema};
use rustc_hash::FxHashMap;

use crate::book::market::{BookKey, Market};
use crate::dbn::{check_prelude, decode_metadata, HEADER_LEN, MBO_LEN, PRELUDE_LEN};
use crate::error::{Error, Result};
use crate::replay::player::{book_json, top_levels, trade_json, Frame, FrameKind, Levels};
use crate::replay::timing::{Histogram, HistogramSnapshot};

/// Records kept for persistence are handed over in chunks of at most this many bytes (whole
/// records): a persister copies ~1 MiB at a time, never one huge buffer that would hold Python's
/// GIL for milliseconds, and the buffer grows by whole chunks instead of by reallocation inside
/// the reader's apply loop.
pub const PERSIST_CHUNK_BYTES: usize = 1 << 20;
/// Read size of [`pump`]: several ms of a 1 M msg/s feed, and small enough to stay in L2.
const PUMP_READ_BYTES: usize = 256 << 10;

/// Incremental DBN decoder over pushed bytes.
#[derive(Default)]
pub struct LiveDecoder {
    buf: Vec<u8>,
    pos: usize,
    metadata: Option<Metadata>,
    /// Stream offset of `buf[pos]`.
    offset: u64,
    /// Length of the last record `next_mbo` returned: it ends at `buf[pos]`.
    last_len: usize,
    /// Records of other types passed over.
    pub skipped: u64,
}

impl LiveDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget everything: a new connection starts with its own metadata.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    pub fn push(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    pub fn metadata(&self) -> Option<&Metadata> {
        self.metadata.as_ref()
    }

    /// Bytes received and not yet decoded (a partial record or metadata).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes consumed so far on this connection.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The bytes of the record the last `next_mbo` returned, exactly as framed from the input
    /// (its `length` field as checked against the bytes present: 56 bytes for an MBO record, 64
    /// with `ts_out`). Empty unless the last `next_mbo` returned a record.
    pub fn last_record(&self) -> &[u8] {
        &self.buf[self.pos - self.last_len..self.pos]
    }

    /// The next whole MBO record; `None` until more bytes arrive.
    pub fn next_mbo(&mut self) -> Result<Option<MboMsg>> {
        self.last_len = 0;
        if self.metadata.is_none() && !self.parse_metadata()? {
            return Ok(None);
        }
        loop {
            let available = &self.buf[self.pos..];
            let Some(&words) = available.first() else {
                return Ok(None);
            };
            let len = usize::from(words) * 4;
            if len < HEADER_LEN {
                return Err(Error::decode(
                    format!("corrupt record header: length {len} bytes"),
                    Some(self.offset),
                ));
            }
            if len > available.len() {
                return Ok(None);
            }
            let record = &available[..len];
            self.pos += len;
            self.offset += len as u64;
            if record[1] != dbn::rtype::MBO {
                self.skipped += 1;
                continue;
            }
            if len < MBO_LEN {
                return Err(Error::decode(
                    format!("an MBO record of {len} bytes is too short"),
                    Some(self.offset - len as u64),
                ));
            }
            // SAFETY: `record` holds at least `size_of::<MboMsg>()` bytes of plain old data.
            let msg = unsafe { std::ptr::read_unaligned(record.as_ptr().cast::<MboMsg>()) };
            self.last_len = len;
            return Ok(Some(msg));
        }
    }

    /// Check the prelude as soon as its bytes arrive; parse the metadata once it is whole.
    fn parse_metadata(&mut self) -> Result<bool> {
        let head = &self.buf[self.pos..];
        let Some(len) = check_prelude(head)? else {
            return Ok(false);
        };
        if head.len() < PRELUDE_LEN + len {
            return Ok(false);
        }
        let (metadata, used) = decode_metadata(&mut &head[..PRELUDE_LEN + len], "<live>")?;
        if let Some(schema) = metadata.schema.filter(|s| *s != Schema::Mbo) {
            return Err(Error::Schema {
                message: format!("expected an MBO stream, found schema {schema}"),
            });
        }
        self.metadata = Some(metadata);
        self.pos += used;
        self.offset += used as u64;
        Ok(true)
    }
}

/// Records applied by a [`LiveMarket`], kept for persistence: whole records exactly as framed
/// from the input, with what a store needs to index them, so the persister never parses them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PersistChunk {
    /// The records' bytes, back to back: 56 bytes each, 64 on a `ts_out` stream (each record's
    /// own `length`, as framed).
    pub bytes: Vec<u8>,
    /// How many records `bytes` holds.
    pub records: u64,
    pub ts_recv_first: u64,
    pub ts_recv_last: u64,
}

/// Chunks of at most [`PERSIST_CHUNK_BYTES`], oldest first.
#[derive(Default)]
struct PersistQueue {
    chunks: VecDeque<PersistChunk>,
}

impl PersistQueue {
    fn push(&mut self, record: &[u8], ts_recv: u64) {
        match self.chunks.back_mut() {
            Some(chunk) if chunk.bytes.len() + record.len() <= PERSIST_CHUNK_BYTES => {
                chunk.bytes.extend_from_slice(record);
                chunk.records += 1;
                chunk.ts_recv_last = ts_recv;
            }
            _ => {
                let mut bytes = Vec::with_capacity(PERSIST_CHUNK_BYTES);
                bytes.extend_from_slice(record);
                self.chunks.push_back(PersistChunk {
                    bytes,
                    records: 1,
                    ts_recv_first: ts_recv,
                    ts_recv_last: ts_recv,
                });
            }
        }
    }
}

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
    pub fn snapshots(&self) -> Vec<(&'static str, HistogramSnapshot)> {
        vec![
            ("live_apply", self.apply.snapshot()),
            (
                "live_receipt_to_applied",
                self.receipt_to_applied.snapshot(),
            ),
            (
                "live_receipt_to_published",
                self.receipt_to_published.snapshot(),
            ),
            ("live_tick", self.tick.snapshot()),
        ]
    }
}

struct Subscription {
    key: BookKey,
    depth: usize,
    last_sent: Option<(Levels, Levels)>,
    trades: Vec<Frame>,
    /// Records applied (`stats.records`) when the book was last looked at for a frame.
    seen: u64,
    /// When its last frames were built (the rate cap).
    last_frame: Option<Instant>,
    /// Receipt of the newest record behind its pending trades.
    trades_received: Option<Instant>,
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
    decoder: LiveDecoder,
    market: Market,
    /// A sequence jump larger than this is a gap; 0 disables gap detection.
    max_seq_jump: u32,
    last_seq: Vec<Option<u32>>,
    /// By market slot: the channel its records came on, and whether it is stale.
    channel: Vec<u8>,
    stale: Vec<bool>,
    /// After a reconnect, books first seen are stale too (their earlier orders were missed).
    join_stale: bool,
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
            decoder: LiveDecoder::new(),
            market: Market::new(),
            max_seq_jump,
            last_seq: vec![None; 256],
            channel: Vec::new(),
            stale: Vec::new(),
            join_stale: false,
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

    /// Keep the raw bytes of every MBO record applied, for `take_records`.
    pub fn set_persist(&mut self, on: bool) {
        self.persist = on;
        if !on {
            self.raw = PersistQueue::default();
        }
    }

    /// The oldest chunk of records applied and not taken yet (at most [`PERSIST_CHUNK_BYTES`]);
    /// `None` when every record applied has been taken (or when not persisting). Call until
    /// `None` to take them all, in order.
    pub fn take_records(&mut self) -> Option<PersistChunk> {
        self.raw.chunks.pop_front()
    }

    pub fn market(&self) -> &Market {
        &self.market
    }

    pub fn timings(&self) -> &LiveTimings {
        &self.timings
    }

    pub fn metadata(&self) -> Option<&Metadata> {
        self.decoder.metadata()
    }

    pub fn stats(&self) -> LiveStats {
        LiveStats {
            stale_books: self.stale.iter().filter(|s| **s).count(),
            ..self.stats.clone()
        }
    }

    /// Index of the last record applied (-1 before the first).
    pub fn index(&self) -> i64 {
        self.stats.records as i64 - 1
    }

    pub fn is_stale(&self, key: BookKey) -> bool {
        self.slot(key).is_some_and(|slot| self.stale[slot])
    }

    fn slot(&self, key: BookKey) -> Option<usize> {
        // Slots are assigned in order of first sight; find it through the book list.
        (0..self.stale.len()).find(|&slot| {
            let b = self.market.book_at(slot);
            (b.instrument_id, b.publisher_id) == key
        })
    }

    /// A new connection: its bytes start with their own metadata; every book is stale until a
    /// clear or snapshot, and so is every book first seen from now on.
    pub fn reconnect(&mut self) {
        self.decoder.reset();
        self.last_seq.iter_mut().for_each(|s| *s = None);
        self.stats.connections += 1;
        if self.stats.records > 0 {
            self.stale.iter_mut().for_each(|s| *s = true);
            self.join_stale = true;
        }
    }

    /// Decode and apply `data` (any piece of the stream). Returns the records applied. On an
    /// error the records before it stay applied; the connection should be dropped.
    pub fn feed(&mut self, data: &[u8]) -> Result<u64> {
        let received = Instant::now();
        self.batch_received = received;
        self.stats.bytes += data.len() as u64;
        self.decoder.push(data);
        let mut applied = 0u64;
        let result = loop {
            match self.decoder.next_mbo() {
                Ok(Some(msg)) => {
                    if self.persist {
                        self.raw.push(self.decoder.last_record(), msg.ts_recv);
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
        if slot == self.stale.len() {
            self.channel.push(msg.channel_id);
            self.stale.push(self.join_stale);
            self.touched.push((0, self.batch_received));
        }
        self.channel[slot] = msg.channel_id;
        let action = msg.action as u8;
        if action == b'R' || msg.flags.raw() & flags::SNAPSHOT != 0 {
            self.stale[slot] = false;
        }
        if self.max_seq_jump > 0 {
            let last = &mut self.last_seq[usize::from(msg.channel_id)];
            if let Some(prev) = *last {
                if msg.sequence > prev.saturating_add(self.max_seq_jump) {
                    self.stats.gaps += 1;
                    self.stats.missed += u64::from(msg.sequence - prev - 1);
                    let channel = msg.channel_id;
                    for (s, stale) in self.stale.iter_mut().enumerate() {
                        if self.channel[s] == channel && s != slot {
                            *stale = true;
                        }
                    }
                    if action != b'R' {
                        self.stale[slot] = true;
                    }
                }
            }
            // A sequence going back (a restarted feed) starts over from there.
            if last.is_none_or(|prev| msg.sequence >= prev || prev - msg.sequence > 1 << 20) {
                *last = Some(msg.sequence);
            }
        }
        self.stats.records += 1;
        self.touched[slot] = (self.stats.records, self.batch_received);
        self.last_ts = (msg.ts_recv, msg.hd.ts_event);
        if action == b'T' && !self.subs_by_key.is_empty() {
            let key = (msg.hd.instrument_id, msg.hd.publisher_id);
            if let Some(ids) = self.subs_by_key.get(&key) {
                let index = self.index();
                for &id in ids {
                    if let Some(sub) = self.subs[id].as_mut() {
                        sub.trades_received = Some(self.batch_received);
                        sub.trades.push(Frame {
                            kind: FrameKind::Trade,
                            index,
                            json: trade_json(index, msg),
                        });
                    }
                }
            }
        }
    }

    /// Follow one book at `depth` levels; returns the subscription id.
    pub fn subscribe(
        &mut self,
        instrument_id: u32,
        publisher_id: u16,
        depth: usize,
    ) -> Result<usize> {
        if depth == 0 {
            return Err(Error::bad_argument("depth must be >= 1"));
        }
        let key = (instrument_id, publisher_id);
        let sub = Subscription {
            key,
            depth,
            last_sent: None,
            trades: Vec::new(),
            seen: 0,
            last_frame: None,
            trades_received: None,
        };
        let id = match self.subs.iter().position(Option::is_none) {
            Some(free) => {
                self.subs[free] = Some(sub);
                free
            }
            None => {
                self.subs.push(Some(sub));
                self.subs.len() - 1
            }
        };
        self.subs_by_key.entry(key).or_default().push(id);
        Ok(id)
    }

    pub fn unsubscribe(&mut self, id: usize) {
        if let Some(sub) = self.subs.get_mut(id).and_then(Option::take) {
            if let Some(ids) = self.subs_by_key.get_mut(&sub.key) {
                ids.retain(|&i| i != id);
                if ids.is_empty() {
                    self.subs_by_key.remove(&sub.key);
                }
            }
        }
    }

    /// The subscription's book now, as a snapshot frame (remembered as sent).
    pub fn snapshot(&mut self, id: usize) -> Result<Frame> {
        let index = self.index();
        let last_ts = self.last_ts;
        let sub = self
            .subs
            .get_mut(id)
            .and_then(Option::as_mut)
            .ok_or_else(|| Error::bad_argument(format!("no subscription {id}")))?;
        let book = self.market.book(sub.key.0, sub.key.1);
        let levels = top_levels(book, sub.depth);
        let json = book_json(index, last_ts.0, last_ts.1, sub.key, book, &levels);
        sub.last_sent = Some(levels);
        sub.trades.clear();
        sub.trades_received = None;
        sub.seen = self.stats.records;
        Ok(Frame {
            kind: FrameKind::Snapshot,
            index,
            json,
        })
    }

    /// The frames of every subscription since the last tick, with no rate cap.
    pub fn tick(&mut self) -> Vec<(usize, Vec<Frame>)> {
        self.publish(Duration::ZERO).0
    }

    /// Publish on apply: the frames of every subscription whose book changed since its last
    /// frames (its trades, then a book frame if its top levels changed; a book in the middle of
    /// an event waits, trades included, for the event's last record), unless its last frames are younger than
    /// `min_interval` (the rate cap). Also returns how long until the earliest subscription held
    /// back by the cap is due (`None`: none is). Call [`LiveMarket::published`] once the frames
    /// are handed to the clients, to time them.
    pub fn publish(
        &mut self,
        min_interval: Duration,
    ) -> (Vec<(usize, Vec<Frame>)>, Option<Duration>) {
        let start = Instant::now();
        self.published_at(start);
        let index = self.index();
        let records = self.stats.records;
        let mut out = Vec::new();
        let mut next_due: Option<Duration> = None;
        for (id, sub) in self.subs.iter_mut().enumerate() {
            let Some(sub) = sub.as_mut() else { continue };
            let touched = self
                .market
                .slot(sub.key)
                .map(|slot| self.touched[slot])
                .filter(|(at, _)| *at > sub.seen);
            if touched.is_none() && sub.trades.is_empty() {
                continue;
            }
            if let Some(last) = sub.last_frame {
                let age = start.saturating_duration_since(last);
                if age < min_interval {
                    let wait = min_interval - age;
                    next_due = Some(next_due.map_or(wait, |d| d.min(wait)));
                    continue;
                }
            }
            let book = self.market.book(sub.key.0, sub.key.1);
            if touched.is_some() && book.is_some_and(|b| !b.consistent) {
                // mid-event: its last record (in this batch or the next) publishes it whole
                continue;
            }
            let mut newest = sub.trades_received.take();
            let mut frames = std::mem::take(&mut sub.trades);
            if let Some((_, received)) = touched {
                // the frames account for every record of the book up to now, changed or not
                newest = Some(newest.map_or(received, |t| t.max(received)));
                sub.seen = records;
                let levels = top_levels(book, sub.depth);
                if sub.last_sent.as_ref() != Some(&levels) {
                    let json = book_json(
                        index,
                        self.last_ts.0,
                        self.last_ts.1,
                        sub.key,
                        book,
                        &levels,
                    );
                    frames.push(Frame {
                        kind: FrameKind::Book,
                        index,
                        json,
                    });
                    sub.last_sent = Some(levels);
                }
            }
            if !frames.is_empty() {
                sub.last_frame = Some(start);
                if let Some(t) = newest {
                    self.unpublished.push(t);
                }
                out.push((id, frames));
            }
        }
        self.timings.tick.record(start.elapsed());
        (out, next_due)
    }

    /// The frames of the last [`LiveMarket::publish`] are with the clients now: time them.
    pub fn published(&mut self) {
        self.published_at(Instant::now());
    }

    fn published_at(&mut self, now: Instant) {
        for received in self.unpublished.drain(..) {
            let ns = u64::try_from(now.saturating_duration_since(received).as_nanos())
                .unwrap_or(u64::MAX);
            self.timings.receipt_to_published.record_n(ns, 1);
        }
    }
}

/// Feed everything `reader` yields into `live` until the stream ends (`Ok`: the peer closed it
/// or it was shut down), a read fails ([`Error::Source`]) or the bytes are not an MBO DBN stream
/// ([`Error::Decode`], [`Error::Schema`]). The lock is held only while a read's bytes are applied,
/// and `on_applied` runs after each read that applied records, with the lock released.
///
/// This is the live reader's whole loop, so a caller can run it on a thread of its own that never
/// needs Python's GIL: the server's event loop, publishing, is then never waited on by ingest,
/// nor ingest by it. `reader` must block: a non-blocking one ends the loop with a `WouldBlock`
/// read error rather than spinning.
pub fn pump(
    reader: &mut impl Read,
    live: &Mutex<LiveMarket>,
    mut on_applied: impl FnMut(),
) -> Result<()> {
    let mut buf = vec![0u8; PUMP_READ_BYTES];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(Error::Source {
                    path: "<live stream>".into(),
                    source,
                })
            }
        };
        let applied = live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .feed(&buf[..n])?;
        if applied > 0 {
            on_applied();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::export::market_json;
    use crate::dbn::{MboStream, Source};

    const CLX5: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/CLX5_mbo.dbn"
    );

    fn clx5() -> Option<Vec<u8>> {
        std::fs::read(CLX5).ok()
    }

    /// A tiny xorshift: deterministic split points without a dependency.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

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
            assert_eq!(live.decoder.buffered(), 0);
            assert_eq!(market_json(live.market()), expected, "seed {seed0}");
        }
    }

    /// A reader handing out the stream in pieces of the given sizes, then `end`.
    struct Pieces<'a> {
        bytes: &'a [u8],
        sizes: std::iter::Cycle<std::vec::IntoIter<usize>>,
        end: Option<ErrorKind>,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.bytes.is_empty() {
                return match self.end.take() {
                    Some(kind) => Err(kind.into()),
                    None => Ok(0),
                };
            }
            let n = self
                .sizes
                .next()
                .unwrap()
                .min(out.len())
                .min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    fn pieces(bytes: &[u8], sizes: Vec<usize>, end: Option<ErrorKind>) -> Pieces<'_> {
        Pieces {
            bytes,
            sizes: sizes.into_iter().cycle(),
            end,
        }
    }

    #[test]
    fn pump_feeds_a_stream_to_its_end_and_wakes_per_applied_read() {
        let Some(bytes) = clx5() else { return };
        let mut whole = Market::new();
        let n = whole.apply_stream(Source::Bytes(&bytes)).unwrap();
        let live = Mutex::new(LiveMarket::new(0));
        let mut wakes = 0;
        // 3-byte reads make many reads that complete no record: those must not wake.
        let mut reader = pieces(&bytes, vec![3, 3, 3, 50_000, 1, 700], None);
        pump(&mut reader, &live, || wakes += 1).unwrap();
        let live = live.into_inner().unwrap();
        assert_eq!(live.stats().records, n);
        assert_eq!(market_json(live.market()), market_json(&whole));
        assert!(wakes > 0 && wakes < bytes.len() / 3, "{wakes} wakes");
    }

    #[test]
    fn pump_reports_read_errors_and_garbage() {
        let live = Mutex::new(LiveMarket::new(0));
        let mut reader = pieces(b"", vec![1], Some(ErrorKind::ConnectionReset));
        let err = pump(&mut reader, &live, || {}).unwrap_err();
        assert!(
            matches!(err, Error::Source { ref source, .. } if source.kind() == ErrorKind::ConnectionReset)
        );
        let mut reader = pieces(b"", vec![1], Some(ErrorKind::Interrupted));
        pump(&mut reader, &live, || {}).unwrap(); // retried, then the end
        let mut reader = pieces(b"not a DBN stream", vec![4], None);
        let err = pump(&mut reader, &live, || panic!("nothing applied")).unwrap_err();
        assert!(matches!(err, Error::Decode { .. }));
    }

    /// A simulated session: its DBN bytes and the length of their metadata.
    fn simulated(records: u64) -> (Vec<u8>, usize) {
        let config = crate::synth::session::SimConfig {
            records,
            ..Default::default()
        };
        let bytes = crate::synth::session::simulate_dbn_bytes(&config, false).unwrap();
        let meta_len = 8 + u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        (bytes, meta_len)
    }

    /// Every chunk `take_records` hands over, checked for size and bookkeeping.
    fn take_all(live: &mut LiveMarket) -> Vec<PersistChunk> {
        let mut chunks = Vec::new();
        while let Some(chunk) = live.take_records() {
            assert!(chunk.records > 0 && chunk.bytes.len() <= PERSIST_CHUNK_BYTES);
            chunks.push(chunk);
        }
        chunks
    }

    /// ts_recv of each record of a stream body whose records are `record_len` bytes.
    fn ts_recv_of(body: &[u8], record_len: usize) -> Vec<u64> {
        body.chunks(record_len)
            .map(|r| u64::from_le_bytes(r[40..48].try_into().unwrap()))
            .collect()
    }

    #[test]
    fn persisted_records_come_out_in_bounded_chunks_in_order() {
        let (bytes, meta_len) = simulated(50_000);
        let mut live = LiveMarket::new(0);
        live.set_persist(true);
        live.feed(&bytes).unwrap();
        let chunks = take_all(&mut live);
        let body = &bytes[meta_len..];
        assert_eq!(
            chunks.len(),
            body.len().div_ceil(PERSIST_CHUNK_BYTES / MBO_LEN * MBO_LEN)
        );
        let taken: Vec<u8> = chunks.iter().flat_map(|c| c.bytes.clone()).collect();
        assert_eq!(taken, body, "every record, byte for byte, in order");
        let ts = ts_recv_of(body, MBO_LEN);
        let mut at = 0;
        for chunk in &chunks {
            let n = chunk.records as usize;
            assert_eq!(chunk.bytes.len(), n * MBO_LEN);
            assert_eq!(
                (chunk.ts_recv_first, chunk.ts_recv_last),
                (ts[at], ts[at + n - 1])
            );
            at += n;
        }
        assert_eq!(at as u64, live.stats().records);
        live.feed(&[]).unwrap();
        assert!(live.take_records().is_none());
    }

    /// A record whose length field claims more than an MBO record (1,008 bytes) persists as the
    /// 1,008 bytes the input held for it, and counts as one record.
    #[test]
    fn a_record_longer_than_mbo_persists_as_its_input_bytes_only() {
        let (bytes, meta_len) = simulated(100);
        let records = &bytes[meta_len..];
        let mut input = bytes[..meta_len + 2 * MBO_LEN].to_vec();
        let long = input.len();
        input.extend_from_slice(&records[2 * MBO_LEN..3 * MBO_LEN]);
        input[long] = (1008 / 4) as u8;
        input.extend((0..1008 - MBO_LEN).map(|i| (i % 251) as u8)); // the claimed tail: present
        input.extend_from_slice(&records[3 * MBO_LEN..4 * MBO_LEN]);
        let mut live = LiveMarket::new(0);
        live.set_persist(true);
        for piece in input.chunks(97) {
            live.feed(piece).unwrap();
        }
        assert_eq!(live.stats().records, 4);
        let chunks = take_all(&mut live);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].records, 4);
        assert_eq!(
            chunks[0].bytes,
            &input[meta_len..],
            "the input's bytes, nothing else"
        );
    }

    /// A `ts_out` stream (64-byte records) persists every record whole.
    #[test]
    fn a_ts_out_stream_persists_every_record() {
        const TS_OUT_LEN: usize = MBO_LEN + 8;
        let (bytes, meta_len) = simulated(30_000);
        let mut ts_out = bytes[..meta_len].to_vec();
        for (i, record) in bytes[meta_len..].chunks(MBO_LEN).enumerate() {
            ts_out.push((TS_OUT_LEN / 4) as u8);
            ts_out.extend_from_slice(&record[1..]);
            ts_out.extend_from_slice(&(1_000_000 + i as u64).to_le_bytes());
        }
        let mut plain = LiveMarket::new(0);
        plain.feed(&bytes).unwrap();
        let mut live = LiveMarket::new(0);
        live.set_persist(true);
        let mut seed = 99u64;
        let mut pos = 0;
        while pos < ts_out.len() {
            let end = (pos + 1 + rng(&mut seed) as usize % 5_000).min(ts_out.len());
            live.feed(&ts_out[pos..end]).unwrap();
            pos = end;
        }
        let n = plain.stats().records;
        assert_eq!(live.stats().records, n);
        assert_eq!(market_json(live.market()), market_json(plain.market()));
        let chunks = take_all(&mut live);
        assert!(chunks.len() > 1);
        assert_eq!(chunks.iter().map(|c| c.records).sum::<u64>(), n);
        let body = &ts_out[meta_len..];
        let ts = ts_recv_of(body, TS_OUT_LEN);
        let mut at = 0;
        for chunk in &chunks {
            let k = chunk.records as usize;
            assert_eq!(chunk.bytes, &body[at * TS_OUT_LEN..(at + k) * TS_OUT_LEN]);
            assert_eq!(
                (chunk.ts_recv_first, chunk.ts_recv_last),
                (ts[at], ts[at + k - 1])
            );
            at += k;
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

    #[test]
    fn gaps_mark_books_stale_until_a_clear() {
        let Some(bytes) = clx5() else { return };
        let mut stream = MboStream::open(Source::Bytes(&bytes)).unwrap();
        let meta_len = 8 + u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        let mut records = Vec::new();
        while let Some((_, msg)) = stream.next_mbo().unwrap() {
            records.push(msg);
            if records.len() == 1000 {
                break;
            }
        }
        let key = (records[0].hd.instrument_id, records[0].hd.publisher_id);
        // resequence contiguously, then drop record 500
        let mut out = bytes[..meta_len].to_vec();
        for (i, msg) in records.iter_mut().enumerate() {
            msg.sequence = 10 + i as u32;
            if i != 500 {
                out.extend_from_slice(AsRef::<[u8]>::as_ref(msg));
            }
        }
        let mut live = LiveMarket::new(1);
        live.feed(&out[..meta_len + 400 * MBO_LEN]).unwrap();
        assert_eq!((live.stats().gaps, live.is_stale(key)), (0, false));
        live.feed(&out[meta_len + 400 * MBO_LEN..]).unwrap();
        let stats = live.stats();
        assert_eq!((stats.gaps, stats.missed, stats.stale_books), (1, 1, 1));
        assert!(live.is_stale(key));
        // a clear of that book ends it
        let mut clear = records[999];
        clear.action = b'R' as _;
        clear.sequence = 2000;
        live.feed(AsRef::<[u8]>::as_ref(&clear)).unwrap();
        assert_eq!(live.stats().gaps, 2); // 1009 -> 2000 jumps too, but R clears the book
        assert!(!live.is_stale(key));
        // a reconnect marks every book stale
        live.reconnect();
        live.feed(&out[..meta_len]).unwrap();
        assert!(live.is_stale(key));
    }

    #[test]
    fn ticks_publish_trades_and_changed_books() {
        let Some(bytes) = clx5() else { return };
        let mut whole = Market::new();
        whole.apply_stream(Source::Bytes(&bytes)).unwrap();
        let key = whole.keys()[0];
        let mut live = LiveMarket::new(0);
        let id = live.subscribe(key.0, key.1, 5).unwrap();
        let snap = live.snapshot(id).unwrap();
        assert_eq!(snap.index, -1);
        let mut trades = 0;
        let mut books = 0;
        for chunk in bytes.chunks(4096) {
            live.feed(chunk).unwrap();
            for (sid, frames) in live.tick() {
                assert_eq!(sid, id);
                for f in frames {
                    match f.kind {
                        FrameKind::Trade => trades += 1,
                        FrameKind::Book => books += 1,
                        FrameKind::Snapshot => unreachable!(),
                    }
                }
            }
        }
        assert!(trades > 0 && books > 0);
        live.published();
        let t = live.timings().receipt_to_published.snapshot();
        assert!(t.count > 0 && t.count <= live.stats().records);
        live.unsubscribe(id);
        assert!(live.tick().is_empty());
    }

    #[test]
    fn publish_on_apply_holds_the_rate_cap() {
        let Some(bytes) = clx5() else { return };
        let mut whole = Market::new();
        whole.apply_stream(Source::Bytes(&bytes)).unwrap();
        let key = whole.keys()[0];
        let mut live = LiveMarket::new(0);
        let id = live.subscribe(key.0, key.1, 5).unwrap();
        live.snapshot(id).unwrap();
        let (out, due) = live.publish(Duration::from_secs(60));
        assert!(out.is_empty() && due.is_none());
        let mut published = 0;
        let mut held = 0;
        for chunk in bytes.chunks(4096) {
            live.feed(chunk).unwrap();
            let (out, due) = live.publish(Duration::from_secs(60));
            published += out.len();
            if let Some(d) = due {
                assert!(d <= Duration::from_secs(60));
                held += 1;
            }
        }
        assert_eq!(published, 1, "one frame batch per interval");
        assert!(held > 0);
        // with no cap every changed book publishes at once and is timed when handed over
        let (out, due) = live.publish(Duration::ZERO);
        assert!(!out.is_empty() && due.is_none());
        live.published();
        assert_eq!(live.timings().receipt_to_published.snapshot().count, 2);
    }
}
