//! Seekable cursors (`Replay`) over a stream held as stored blocks (`store::Recording`: in
//! memory for `Replay::open`, in a database for the server).
//!
//! A seek restores the newest checkpoint at or before the target (every book as snapshot
//! records, taken every `Layout::checkpoint_every` records) and applies the records after it,
//! block by block through the process's bounded cache of decoded blocks; moving forward within
//! reach just applies the records in between. A cursor holds its market and the one decoded
//! block it is reading, nothing that grows with the stream.

use std::sync::Arc;
use std::time::Instant;

use dbn::MboMsg;

use crate::book::market::{BookKey, Market};
use crate::dbn::Source;
use crate::error::{Error, Result};
use crate::store::cache::Block;
use crate::store::{BlockMeta, Layout, Recording, DEFAULT_LAYOUT};

/// A cursor over a shared `Recording`: its own market and position.
#[derive(Clone)]
pub struct Replay {
    recording: Arc<Recording>,
    market: Market,
    position: usize,
    /// The block being read, decoded.
    block: Option<(BlockMeta, Block)>,
    /// Apply only this book's records (a player's cursor): its market holds that book alone.
    only: Option<BookKey>,
    /// The last record applied (also when it belongs to another book).
    last: Option<MboMsg>,
}

impl Replay {
    /// Read a whole stream into memory as blocks; `checkpoint_every` (default 32,768) records
    /// between checkpoints, within the size budget of [`crate::store::BlockWriter`].
    pub fn open(source: Source<'_>, checkpoint_every: Option<usize>) -> Result<Self> {
        let layout = match checkpoint_every {
            None => DEFAULT_LAYOUT,
            Some(every) => Layout::new(DEFAULT_LAYOUT.block_records.min(every), every)?,
        };
        Ok(Self::new(Arc::new(Recording::open(source, layout)?)))
    }

    /// A cursor at position 0.
    pub fn new(recording: Arc<Recording>) -> Self {
        Replay {
            recording,
            market: Market::new(),
            position: 0,
            block: None,
            only: None,
            last: None,
        }
    }

    /// A cursor that keeps one book only (faster, and its market is that book alone).
    pub fn for_book(recording: Arc<Recording>, key: BookKey) -> Self {
        Replay {
            only: Some(key),
            ..Self::new(recording)
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
    pub fn keys(&self) -> Vec<BookKey> {
        self.recording.keys()
    }

    pub fn market(&self) -> &Market {
        &self.market
    }

    /// Record `index` of the stream.
    pub fn record(&self, index: usize) -> Result<Option<MboMsg>> {
        if let Some((meta, records)) = &self.block {
            let first = meta.first_index as usize;
            if (first..meta.end() as usize).contains(&index) {
                return Ok(Some(records[index - first]));
            }
        }
        self.recording.record(index)
    }

    /// The last record applied.
    pub fn last_record(&self) -> Option<&MboMsg> {
        self.last.as_ref()
    }

    /// ts_recv of the last applied record.
    pub fn ts_recv(&self) -> Option<u64> {
        self.last.map(|msg| msg.ts_recv)
    }

    /// Move so that exactly the first `position` records are applied.
    pub fn seek_position(&mut self, position: usize) -> Result<usize> {
        if position > self.len() {
            return Err(Error::bad_argument(format!(
                "position {position} is past the end ({} records)",
                self.len()
            )));
        }
        let at = self.recording.checkpoint_position(position);
        // Forward within reach: no checkpoint between here and the target.
        if position < self.position || at > self.position {
            let mut market = Market::new();
            if let Some(checkpoint) = self.recording.checkpoint(at)? {
                checkpoint.restore(&mut market, self.only);
            }
            self.market = market;
            self.position = at;
            self.last = match at.checked_sub(1) {
                Some(prev) => self.record(prev)?,
                None => None,
            };
        }
        self.apply_until(position)?;
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
        let position = self.recording.position_at_ts(ts)?;
        self.seek_position(position)
    }

    /// Apply up to `n` more records; returns how many were applied.
    pub fn step(&mut self, n: usize) -> Result<usize> {
        let target = self.position.saturating_add(n).min(self.len());
        let before = self.position;
        self.apply_until(target)?;
        Ok(self.position - before)
    }

    /// The decoded block holding record `self.position`.
    fn current_block(&mut self) -> Result<Option<(BlockMeta, Block)>> {
        if let Some((meta, records)) = &self.block {
            if (meta.first_index as usize..meta.end() as usize).contains(&self.position) {
                return Ok(Some((*meta, Arc::clone(records))));
            }
        }
        let Some((n, meta)) = self.recording.block_of(self.position) else {
            return Ok(None);
        };
        let records = self.recording.block(n)?;
        self.block = Some((meta, Arc::clone(&records)));
        Ok(Some((meta, records)))
    }

    fn apply_until(&mut self, target: usize) -> Result<()> {
        let start = Instant::now();
        let from = self.position;
        while self.position < target {
            let Some((meta, records)) = self.current_block()? else {
                break;
            };
            let first = meta.first_index as usize;
            let stop = target.min(meta.end() as usize);
            let run = &records[self.position - first..stop - first];
            match self.only {
                None => run.iter().for_each(|msg| {
                    self.market.apply(msg);
                }),
                Some(key) => run
                    .iter()
                    .filter(|m| (m.hd.instrument_id, m.hd.publisher_id) == key)
                    .for_each(|msg| {
                        self.market.apply(msg);
                    }),
            }
            self.last = run.last().copied().or(self.last);
            self.position = stop;
        }
        if self.position > from {
            self.recording
                .timings()
                .apply_seek
                .record_batch(start.elapsed(), self.position - from);
        }
        Ok(())
    }

    /// The next record, not applied.
    pub fn peek(&mut self) -> Result<Option<MboMsg>> {
        Ok(self
            .current_block()?
            .map(|(meta, records)| records[self.position - meta.first_index as usize]))
    }

    /// Apply the next record, if any, and return (a copy of) it.
    pub fn apply_next(&mut self) -> Result<Option<MboMsg>> {
        let Some(msg) = self.peek()? else {
            return Ok(None);
        };
        if self
            .only
            .is_none_or(|key| key == (msg.hd.instrument_id, msg.hd.publisher_id))
        {
            self.market.apply(&msg);
        }
        self.position += 1;
        self.last = Some(msg);
        Ok(Some(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::Side;
    use crate::testing::mbo;

    fn records() -> Vec<MboMsg> {
        (0..5000u64)
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
        let bytes = crate::dbn::writer::to_dbn_bytes(&records, &Default::default()).unwrap();
        let mut replay = Replay::open(Source::Bytes(&bytes), Some(1024)).unwrap();
        for target in [2500, 3, 4999, 0, 1024, 1025, 17, 5000, 1023] {
            replay.seek_position(target).unwrap();
            assert_eq!(
                levels(replay.market()),
                state_after(&records, target),
                "{target}"
            );
            let last = target.checked_sub(1).map(|i| records[i].ts_recv);
            assert_eq!(replay.ts_recv(), last, "{target}");
        }
        assert_eq!(replay.seek_ts(1_000 + 42 * 10).unwrap(), 43);
        assert_eq!(replay.seek_ts(0).unwrap(), 0);
        assert_eq!(replay.step(5).unwrap(), 5);
        assert!(replay.seek_index(5000).is_err());
        assert!(Replay::open(Source::Bytes(&bytes), Some(0)).is_err());
    }
}
