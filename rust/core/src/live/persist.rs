//! Persistence hand-over: every record a [`LiveMarket`] applies, kept as the exact bytes framed
//! from the input, in bounded chunks a persister takes in order.

use std::collections::VecDeque;

use super::LiveMarket;

/// Records kept for persistence are handed over in chunks of at most this many bytes (whole
/// records): a persister copies ~1 MiB at a time, never one huge buffer that would hold Python's
/// GIL for milliseconds, and the buffer grows by whole chunks instead of by reallocation inside
/// the reader's apply loop.
pub const PERSIST_CHUNK_BYTES: usize = 1 << 20;

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
pub(super) struct PersistQueue {
    chunks: VecDeque<PersistChunk>,
}

impl PersistQueue {
    pub(super) fn push(&mut self, record: &[u8], ts_recv: u64) {
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

impl LiveMarket {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::json::market_json;
    use crate::dbn::MBO_LEN;
    use crate::testing::xorshift as rng;

    /// A simulated session: its DBN bytes and the length of their metadata.
    fn simulated(records: u64) -> (Vec<u8>, usize) {
        let config = crate::synth::session::SessionConfig {
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
}
