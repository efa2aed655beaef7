//! A seekable cursor over a stream held in memory.
//!
//! Every `every` records the market is cloned into a checkpoint, so a seek restores the nearest
//! checkpoint at or before the target and applies at most `every` records: with the default
//! (16,384) that is well under a millisecond wherever the target is.

use dbn::MboMsg;

use crate::decode::{MboStream, Source};
use crate::error::{Error, Result};
use crate::market::{BookKey, Market};

pub const DEFAULT_CHECKPOINT_EVERY: usize = 1 << 14;

pub struct Replay {
    records: Vec<MboMsg>,
    /// Running maximum of ts_recv: a seek by time is a binary search even when ts_recv steps back.
    ts_recv_max: Vec<u64>,
    /// `checkpoints[k]` is the market after `k * every` records.
    checkpoints: Vec<Market>,
    every: usize,
    market: Market,
    position: usize,
    /// Every book the stream ever touches, sorted.
    keys: Vec<BookKey>,
}

impl Replay {
    pub fn open(source: Source<'_>, every: Option<usize>) -> Result<Self> {
        let every = every.unwrap_or(DEFAULT_CHECKPOINT_EVERY);
        if every == 0 {
            return Err(Error::bad_argument("checkpoint_every must be >= 1"));
        }
        let mut stream = MboStream::open(source)?;
        let mut records = Vec::new();
        while let Some((_, msg)) = stream.next_mbo()? {
            records.push(msg);
        }
        Ok(Self::from_records(records, every))
    }

    pub fn from_records(records: Vec<MboMsg>, every: usize) -> Self {
        let mut ts_recv_max = Vec::with_capacity(records.len());
        let mut running = 0u64;
        let mut checkpoints = vec![Market::new()];
        let mut market = Market::new();
        for (i, msg) in records.iter().enumerate() {
            running = running.max(msg.ts_recv);
            ts_recv_max.push(running);
            market.apply(msg);
            if (i + 1) % every == 0 {
                checkpoints.push(market.clone());
            }
        }
        Replay {
            keys: market.keys(),
            records,
            ts_recv_max,
            checkpoints,
            every,
            market: Market::new(),
            position: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records applied so far: the market reflects records `[0, position)`.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Every `(instrument_id, publisher_id)` the stream touches, sorted.
    pub fn keys(&self) -> &[BookKey] {
        &self.keys
    }

    pub fn market(&self) -> &Market {
        &self.market
    }

    pub fn record(&self, index: usize) -> Option<&MboMsg> {
        self.records.get(index)
    }

    pub fn records(&self) -> &[MboMsg] {
        &self.records
    }

    /// ts_recv of the last applied record.
    pub fn ts_recv(&self) -> Option<u64> {
        self.position
            .checked_sub(1)
            .map(|last| self.records[last].ts_recv)
    }

    /// Move so that exactly the first `position` records are applied.
    pub fn seek_position(&mut self, position: usize) -> Result<usize> {
        if position > self.records.len() {
            return Err(Error::bad_argument(format!(
                "position {position} is past the end ({} records)",
                self.records.len()
            )));
        }
        let checkpoint = position / self.every;
        let forward_is_cheaper =
            position >= self.position && position / self.every == self.position / self.every;
        if !forward_is_cheaper {
            self.market.clone_from(&self.checkpoints[checkpoint]);
            self.position = checkpoint * self.every;
        }
        self.apply_until(position);
        Ok(self.position)
    }

    /// The state after record `index`.
    pub fn seek_index(&mut self, index: usize) -> Result<usize> {
        if index >= self.records.len() {
            return Err(Error::bad_argument(format!(
                "index {index} is out of range (0..{})",
                self.records.len()
            )));
        }
        self.seek_position(index + 1)
    }

    /// The state after every record with `ts_recv <= ts`.
    pub fn seek_ts(&mut self, ts: u64) -> Result<usize> {
        let position = self.ts_recv_max.partition_point(|&max| max <= ts);
        self.seek_position(position)
    }

    /// Apply up to `n` more records; returns how many were applied.
    pub fn step(&mut self, n: usize) -> usize {
        let target = self.position.saturating_add(n).min(self.records.len());
        let before = self.position;
        self.apply_until(target);
        self.position - before
    }

    fn apply_until(&mut self, target: usize) {
        for msg in &self.records[self.position..target] {
            self.market.apply(msg);
        }
        self.position = target;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::Side;
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
}
