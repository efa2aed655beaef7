//! A stream held in memory (`Recording`) and seekable cursors over it (`Replay`).
//!
//! Every `every` records the market is cloned into a checkpoint, so a seek restores the nearest
//! checkpoint at or before the target and applies at most `every` records: with the default
//! (16,384) that is well under a millisecond wherever the target is.
//!
//! Checkpoints take at most a budget of memory (default [`DEFAULT_CHECKPOINT_BUDGET`]), however
//! large the books or small `every`: when a new checkpoint takes them over it, every other one
//! is dropped and the interval doubles (the ones kept are then at multiples of the new interval),
//! as often as needed. A requested interval is honoured up to the budget; seeks stay exact and
//! apply at most the interval in effect ([`Recording::checkpoint_every`]).

use std::sync::Arc;
use std::time::Instant;

use dbn::MboMsg;

use crate::decode::{MboStream, Source};
use crate::error::{Error, Result};
use crate::market::{BookKey, Market};
use crate::timing::Timings;

/// Records per timed batch while building checkpoints (two clock reads per batch).
const LOAD_TIMING_BATCH: usize = 4096;

pub const DEFAULT_CHECKPOINT_EVERY: usize = 1 << 14;
/// Default bound on the memory of a recording's checkpoints: CLX5's books (~30 KB a market)
/// checkpointed at the default interval take well under 1 MiB; a checkpoint at every record of it
/// would take 1.2 GB.
pub const DEFAULT_CHECKPOINT_BUDGET: usize = 256 << 20;

/// A stream held in memory with market checkpoints: immutable, shared by any number of cursors.
pub struct Recording {
    records: Vec<MboMsg>,
    /// Running maximum of ts_recv: a seek by time is a binary search even when ts_recv steps back.
    ts_recv_max: Vec<u64>,
    /// `checkpoints[k]` is the market after `k * every` records.
    checkpoints: Vec<Market>,
    /// The interval in effect: the one asked for, doubled as often as the budget required.
    every: usize,
    /// Bytes of all checkpoints (estimated, `Market::heap_bytes`).
    checkpoint_bytes: usize,
    /// Every book the stream ever touches, sorted.
    keys: Vec<BookKey>,
    /// Apply and playback latencies of every cursor over this recording.
    timings: Timings,
}

impl Recording {
    /// `every`: records per checkpoint (default [`DEFAULT_CHECKPOINT_EVERY`]); `budget`: bytes
    /// all checkpoints may take (default [`DEFAULT_CHECKPOINT_BUDGET`]).
    pub fn open(source: Source<'_>, every: Option<usize>, budget: Option<usize>) -> Result<Self> {
        let every = every.unwrap_or(DEFAULT_CHECKPOINT_EVERY);
        if every == 0 {
            return Err(Error::bad_argument("checkpoint_every must be >= 1"));
        }
        let records = MboStream::open(source)?.collect_records()?;
        let budget = budget.unwrap_or(DEFAULT_CHECKPOINT_BUDGET);
        Ok(Self::with_budget(records, every, budget))
    }

    /// A recording with the default checkpoint budget.
    pub fn from_records(records: Vec<MboMsg>, every: usize) -> Self {
        Self::with_budget(records, every, DEFAULT_CHECKPOINT_BUDGET)
    }

    /// A checkpoint every `every` records, thinned (interval doubled) while the checkpoints take
    /// more than `budget` bytes.
    pub fn with_budget(records: Vec<MboMsg>, every: usize, budget: usize) -> Self {
        let mut every = every.max(1);
        let mut ts_recv_max = Vec::with_capacity(records.len());
        let mut running = 0u64;
        let mut checkpoints = vec![Market::new()];
        let checkpoint_size = |m: &Market| std::mem::size_of::<Market>() + m.heap_bytes();
        let mut sizes = vec![checkpoint_size(&checkpoints[0])];
        let mut checkpoint_bytes = sizes[0];
        let mut market = Market::new();
        let timings = Timings::default();
        let mut batch_start = Instant::now();
        let mut batch_n = 0;
        // Records until the next checkpoint: a decrement per record instead of a division.
        let mut left = every;
        for msg in &records {
            running = running.max(msg.ts_recv);
            ts_recv_max.push(running);
            market.apply(msg);
            batch_n += 1;
            left -= 1;
            let at_checkpoint = left == 0;
            if at_checkpoint || batch_n == LOAD_TIMING_BATCH {
                timings
                    .apply_load
                    .record_batch(batch_start.elapsed(), batch_n);
                batch_n = 0;
                if at_checkpoint {
                    let checkpoint = market.clone();
                    sizes.push(checkpoint_size(&checkpoint));
                    checkpoint_bytes += sizes[sizes.len() - 1];
                    checkpoints.push(checkpoint);
                    while checkpoint_bytes > budget && checkpoints.len() > 1 {
                        // Keep the even ones: the markets after multiples of twice the interval.
                        keep_even(&mut checkpoints);
                        keep_even(&mut sizes);
                        checkpoint_bytes = sizes.iter().sum();
                        every = every.saturating_mul(2);
                    }
                    // up to the next multiple of the interval in effect
                    let position = ts_recv_max.len();
                    left = every - position % every;
                }
                batch_start = Instant::now();
            }
        }
        timings
            .apply_load
            .record_batch(batch_start.elapsed(), batch_n);
        Recording {
            keys: market.keys(),
            records,
            ts_recv_max,
            checkpoints,
            every,
            checkpoint_bytes,
            timings,
        }
    }

    /// Records per checkpoint in effect: the interval asked for, doubled as often as the
    /// checkpoint budget required.
    pub fn checkpoint_every(&self) -> usize {
        self.every
    }

    /// How many checkpoints are kept (the empty market at position 0 included) and their bytes
    /// (estimated).
    pub fn checkpoints(&self) -> (usize, usize) {
        (self.checkpoints.len(), self.checkpoint_bytes)
    }

    /// Apply and playback latencies of every cursor over this recording.
    pub fn timings(&self) -> &Timings {
        &self.timings
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn records(&self) -> &[MboMsg] {
        &self.records
    }

    pub fn record(&self, index: usize) -> Option<&MboMsg> {
        self.records.get(index)
    }

    /// Every `(instrument_id, publisher_id)` the stream touches, sorted.
    pub fn keys(&self) -> &[BookKey] {
        &self.keys
    }

    /// The nearest market checkpoint at or before `position` (records applied, at most
    /// `len()`): its position and the market there.
    pub fn checkpoint_at_or_before(&self, position: usize) -> (usize, &Market) {
        let k = (position.min(self.len()) / self.every).min(self.checkpoints.len() - 1);
        (k * self.every, &self.checkpoints[k])
    }

    /// The largest `ts_recv` among the first `position` records (0 for none).
    pub fn ts_recv_max_before(&self, position: usize) -> u64 {
        position
            .checked_sub(1)
            .and_then(|last| self.ts_recv_max.get(last))
            .copied()
            .unwrap_or(0)
    }

    /// Number of records with `ts_recv <= ts` (in stream order, under the running maximum).
    pub fn position_at_ts(&self, ts: u64) -> usize {
        self.ts_recv_max.partition_point(|&max| max <= ts)
    }
}

/// Keep the items at even indexes.
fn keep_even<T>(items: &mut Vec<T>) {
    let mut index = 0;
    items.retain(|_| {
        index += 1;
        index % 2 == 1
    });
}

/// A cursor over a shared `Recording`: its own market and position.
#[derive(Clone)]
pub struct Replay {
    recording: Arc<Recording>,
    market: Market,
    position: usize,
}

impl Replay {
    pub fn open(source: Source<'_>, every: Option<usize>, budget: Option<usize>) -> Result<Self> {
        Ok(Self::new(Arc::new(Recording::open(source, every, budget)?)))
    }

    pub fn from_records(records: Vec<MboMsg>, every: usize) -> Self {
        Self::new(Arc::new(Recording::from_records(records, every)))
    }

    /// A cursor at position 0.
    pub fn new(recording: Arc<Recording>) -> Self {
        Replay {
            recording,
            market: Market::new(),
            position: 0,
        }
    }

    pub fn recording(&self) -> &Arc<Recording> {
        &self.recording
    }

    pub fn len(&self) -> usize {
        self.recording.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recording.is_empty()
    }

    /// Records applied so far: the market reflects records `[0, position)`.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Every `(instrument_id, publisher_id)` the stream touches, sorted.
    pub fn keys(&self) -> &[BookKey] {
        self.recording.keys()
    }

    pub fn market(&self) -> &Market {
        &self.market
    }

    pub fn record(&self, index: usize) -> Option<&MboMsg> {
        self.recording.record(index)
    }

    pub fn records(&self) -> &[MboMsg] {
        self.recording.records()
    }

    /// ts_recv of the last applied record.
    pub fn ts_recv(&self) -> Option<u64> {
        self.position
            .checked_sub(1)
            .map(|last| self.recording.records[last].ts_recv)
    }

    /// Move so that exactly the first `position` records are applied.
    pub fn seek_position(&mut self, position: usize) -> Result<usize> {
        if position > self.len() {
            return Err(Error::bad_argument(format!(
                "position {position} is past the end ({} records)",
                self.len()
            )));
        }
        let every = self.recording.every;
        let checkpoint = position / every;
        let forward_is_cheaper = position >= self.position && checkpoint == self.position / every;
        if !forward_is_cheaper {
            self.market
                .clone_from(&self.recording.checkpoints[checkpoint]);
            self.position = checkpoint * every;
        }
        self.apply_until(position);
        Ok(self.position)
    }

    /// The state after record `index`.
    pub fn seek_index(&mut self, index: usize) -> Result<usize> {
        if index >= self.len() {
            return Err(Error::bad_argument(format!(
                "index {index} is out of range (0..{})",
                self.len()
            )));
        }
        self.seek_position(index + 1)
    }

    /// The state after every record with `ts_recv <= ts`.
    pub fn seek_ts(&mut self, ts: u64) -> Result<usize> {
        self.seek_position(self.recording.position_at_ts(ts))
    }

    /// Apply up to `n` more records; returns how many were applied.
    pub fn step(&mut self, n: usize) -> usize {
        let target = self.position.saturating_add(n).min(self.len());
        let before = self.position;
        self.apply_until(target);
        self.position - before
    }

    fn apply_until(&mut self, target: usize) {
        let records = &self.recording.records[self.position..target];
        if !records.is_empty() {
            let start = Instant::now();
            for msg in records {
                self.market.apply(msg);
            }
            self.recording
                .timings
                .apply_seek
                .record_batch(start.elapsed(), records.len());
        }
        self.position = target;
    }

    /// Apply the next record, if any, and return (a copy of) it.
    pub fn apply_next(&mut self) -> Option<MboMsg> {
        let msg = *self.recording.records.get(self.position)?;
        self.market.apply(&msg);
        self.position += 1;
        Some(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::Side;
    use crate::export::market_json;
    use crate::testing::mbo;

    fn records() -> Vec<MboMsg> {
        (0..100u64)
            .map(|i| {
                let mut msg = mbo(b'A', b'B', i, 100 + (i % 7) as i64, 1 + i as u32, 0x80);
                msg.ts_recv = 1_000 + i * 10;
                msg
            })
            .collect()
    }

    fn state_after(records: &[MboMsg], n: usize) -> Vec<(i64, u64, u32)> {
        let mut market = Market::new();
        for msg in &records[..n] {
            market.apply(msg);
        }
        levels(&market)
    }

    fn levels(market: &Market) -> Vec<(i64, u64, u32)> {
        market
            .book(1, 1)
            .map(|b| {
                b.levels(Side::Bid)
                    .map(|l| (l.price, l.size, l.count))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn seeks_match_a_linear_replay_in_any_order() {
        let records = records();
        let mut replay = Replay::from_records(records.clone(), 8);
        for target in [50, 3, 99, 0, 64, 65, 17, 100] {
            replay.seek_position(target).unwrap();
            assert_eq!(
                levels(replay.market()),
                state_after(&records, target),
                "{target}"
            );
        }
        assert_eq!(replay.seek_ts(1_000 + 42 * 10).unwrap(), 43);
        assert_eq!(replay.seek_ts(0).unwrap(), 0);
        assert_eq!(replay.step(5), 5);
        assert!(replay.seek_index(100).is_err());
    }

    #[test]
    fn checkpoints_are_thinned_to_the_budget_and_seeks_stay_exact() {
        let config = crate::simulate::SimConfig {
            records: 6_000,
            instruments: 3,
            ..Default::default()
        };
        let records = crate::simulate::simulate(&config).unwrap();
        let every_record = Recording::with_budget(records.clone(), 1, usize::MAX);
        let (count, all_bytes) = every_record.checkpoints();
        assert_eq!(
            (count, every_record.checkpoint_every()),
            (records.len() + 1, 1)
        );
        for budget in [all_bytes / 5, all_bytes / 100, 0] {
            let thinned = Arc::new(Recording::with_budget(records.clone(), 1, budget));
            let (count, bytes) = thinned.checkpoints();
            let every = thinned.checkpoint_every();
            assert!(
                bytes <= budget.max(std::mem::size_of::<Market>()),
                "{bytes} > {budget}"
            );
            assert!(every.is_power_of_two() && every > 1, "{every}");
            if budget > 0 {
                // thinned no further than needed: at half the interval they would not fit
                assert_eq!(count, records.len() / every + 1);
                let denser = Recording::with_budget(records.clone(), every / 2, usize::MAX);
                assert!(denser.checkpoints().1 > budget);
            }
            let mut replay = Replay::new(Arc::clone(&thinned));
            let mut seed = 17u64;
            let mut targets: Vec<usize> = (0..40)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (seed >> 33) as usize % (records.len() + 1)
                })
                .collect();
            targets.extend([0, records.len(), every, every - 1, every + 1]);
            targets.retain(|&t| t <= records.len());
            for target in targets {
                replay.seek_position(target).unwrap();
                let mut linear = Market::new();
                for msg in &records[..target] {
                    linear.apply(msg);
                }
                let (got, want) = (market_json(replay.market()), market_json(&linear));
                assert!(got == want, "seek to {target}: another market"); // levels, queues, flags
            }
        }
    }
}
