//! [`Recording`]: a stream held as stored blocks (in memory or in a database) with an index of
//! them, shared by any number of cursors. Blocks are decoded on demand into the process's
//! bounded [`BlockCache`]; the records are never all decoded at once.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use dbn::MboMsg;

use super::cache::{next_id, Block, BlockCache, Entry};
use super::codec::{Checkpoint, Decoder, Encoder};
use super::writer::{encode, BlockMeta, BlockWriter, Layout, RawBlock, StoredBlock};
use crate::book::market::{BookKey, Market};
use crate::dbn::{MboStream, Source};
use crate::error::{Error, Result};
use crate::replay::timing::Timings;

/// Where a recording's stored bytes come from: a database, or memory. Called with the index's
/// numbering: block `n` (0-based, in stream order) and the checkpoint at `position`.
pub trait BlockSource: Send + Sync {
    /// Call `f` with the stored data of block `n`, whose first record is `first_index`.
    fn with_block(
        &self,
        n: usize,
        first_index: u64,
        f: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()>;
    /// Call `f` with the stored checkpoint at `position` (every book before that record).
    fn with_checkpoint(&self, position: u64, f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()>;
}

/// Blocks and checkpoints kept in memory (an in-memory `Replay`, tests).
#[derive(Default)]
pub struct MemoryBlocks {
    blocks: RwLock<Vec<Vec<u8>>>,
    checkpoints: RwLock<BTreeMap<u64, Vec<u8>>>,
}

impl MemoryBlocks {
    pub fn push(&self, block: StoredBlock) {
        if let Some(checkpoint) = block.checkpoint {
            self.checkpoints
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(block.meta.first_index, checkpoint);
        }
        self.blocks
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(block.data);
    }

    /// Stored bytes held.
    pub fn bytes(&self) -> usize {
        let blocks: usize = self
            .blocks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(Vec::len)
            .sum();
        let checkpoints: usize = self
            .checkpoints
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(Vec::len)
            .sum();
        blocks + checkpoints
    }
}

impl BlockSource for MemoryBlocks {
    fn with_block(
        &self,
        n: usize,
        _first_index: u64,
        f: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let blocks = self.blocks.read().unwrap_or_else(PoisonError::into_inner);
        let data = blocks
            .get(n)
            .ok_or_else(|| Error::bad_argument(format!("no block {n}")))?;
        f(data)
    }

    fn with_checkpoint(&self, position: u64, f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let checkpoints = self
            .checkpoints
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let data = checkpoints
            .get(&position)
            .ok_or_else(|| Error::bad_argument(format!("no checkpoint at {position}")))?;
        f(data)
    }
}

#[derive(Default)]
struct Index {
    blocks: Vec<BlockMeta>,
    /// Positions of the stored checkpoints, ascending (0, the empty market, is implicit).
    checkpoints: Vec<u64>,
    keys: Vec<BookKey>,
}

/// Bytes a recording's blocks and checkpoints take where they are stored (when known).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoredSize {
    pub blocks: u64,
    pub checkpoints: u64,
}

/// A stream as stored blocks, with the index that finds them.
pub struct Recording {
    id: u64,
    label: String,
    /// The layout it was cut with (`checkpoint_every` as asked, rounded to whole blocks).
    layout: Option<Layout>,
    size: StoredSize,
    index: RwLock<Index>,
    source: Arc<dyn BlockSource>,
    cache: Arc<BlockCache>,
    timings: Timings,
}

thread_local! {
    static DECODER: RefCell<Option<Decoder>> = const { RefCell::new(None) };
}

fn with_decoder<T>(f: impl FnOnce(&mut Decoder) -> Result<T>) -> Result<T> {
    DECODER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Decoder::new()?);
        }
        f(slot.as_mut().expect("set above"))
    })
}

impl Recording {
    /// A recording over stored blocks described by `blocks` (in stream order, contiguous from
    /// record 0), checkpoints at `checkpoints` and books `keys`.
    pub fn new(
        label: impl Into<String>,
        source: Arc<dyn BlockSource>,
        cache: Arc<BlockCache>,
        blocks: Vec<BlockMeta>,
        mut checkpoints: Vec<u64>,
        mut keys: Vec<BookKey>,
    ) -> Result<Self> {
        let label = label.into();
        let mut end = 0;
        for (n, meta) in blocks.iter().enumerate() {
            if meta.first_index != end || meta.records == 0 {
                return Err(Error::decode(
                    format!(
                        "corrupt index of {label}: block {n} starts at record {} where {end} \
                         was expected",
                        meta.first_index
                    ),
                    None,
                ));
            }
            end = meta.end();
        }
        checkpoints.sort_unstable();
        checkpoints.dedup();
        keys.sort_unstable();
        keys.dedup();
        Ok(Recording {
            id: next_id(),
            label,
            layout: None,
            size: StoredSize::default(),
            index: RwLock::new(Index {
                blocks,
                checkpoints,
                keys,
            }),
            source,
            cache,
            timings: Timings::default(),
        })
    }

    /// Read a whole stream into an in-memory recording (blocks compressed on a second thread).
    pub fn open(source: Source<'_>, layout: Layout) -> Result<Self> {
        let memory = Arc::new(MemoryBlocks::default());
        let mut blocks = Vec::new();
        let mut checkpoints = Vec::new();
        let mut size = StoredSize::default();
        let start = Instant::now();
        let writer = build_blocks(source, layout, 0, |block| {
            blocks.push(block.meta);
            size.blocks += block.data.len() as u64;
            if let Some(checkpoint) = &block.checkpoint {
                checkpoints.push(block.meta.first_index);
                size.checkpoints += checkpoint.len() as u64;
            }
            memory.push(block);
            Ok(())
        })?
        .writer;
        let mut recording = Recording::new(
            "<memory>",
            memory,
            BlockCache::shared(),
            blocks,
            checkpoints,
            writer.books().keys().copied().collect(),
        )?;
        recording
            .timings
            .apply_load
            .record_batch(start.elapsed(), writer.records() as usize);
        recording.layout = Some(layout);
        recording.size = size;
        Ok(recording)
    }

    /// An in-memory recording of `records` (tests, small streams built in code).
    pub fn from_records(records: &[MboMsg], layout: Layout) -> Result<Self> {
        let bytes = crate::dbn::writer::to_dbn_bytes(records, &Default::default())?;
        Self::open(Source::Bytes(&bytes), layout)
    }

    /// The layout the blocks were cut with, when this recording cut them.
    pub fn layout(&self) -> Option<Layout> {
        self.layout
    }

    /// Bytes of the stored blocks and checkpoints (zeros when another store holds them).
    pub fn stored_size(&self) -> StoredSize {
        self.size
    }

    /// Checkpoints stored (position 0, the empty market, not counted).
    pub fn checkpoint_count(&self) -> usize {
        self.index().checkpoints.len()
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn timings(&self) -> &Timings {
        &self.timings
    }

    pub fn cache(&self) -> &Arc<BlockCache> {
        &self.cache
    }

    fn index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records stored.
    pub fn len(&self) -> usize {
        self.index().blocks.last().map_or(0, |b| b.end() as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every `(instrument_id, publisher_id)` the stream touches, sorted.
    pub fn keys(&self) -> Vec<BookKey> {
        self.index().keys.clone()
    }

    pub fn has_key(&self, key: BookKey) -> bool {
        self.index().keys.binary_search(&key).is_ok()
    }

    pub fn block_count(&self) -> usize {
        self.index().blocks.len()
    }

    pub fn block_meta(&self, n: usize) -> Option<BlockMeta> {
        self.index().blocks.get(n).copied()
    }

    /// Append a block stored after the last one (a live session growing).
    pub fn append(&self, meta: BlockMeta, checkpoint: bool, keys: &[BookKey]) -> Result<()> {
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        let end = index.blocks.last().map_or(0, BlockMeta::end);
        if meta.first_index != end || meta.records == 0 {
            return Err(Error::bad_argument(format!(
                "block at record {} does not continue {} (ends at {end})",
                meta.first_index, self.label
            )));
        }
        index.blocks.push(meta);
        if checkpoint {
            index.checkpoints.push(meta.first_index);
        }
        for key in keys {
            if let Err(at) = index.keys.binary_search(key) {
                index.keys.insert(at, *key);
            }
        }
        Ok(())
    }

    /// The block holding record `index`: its number and description.
    pub fn block_of(&self, index: usize) -> Option<(usize, BlockMeta)> {
        let idx = self.index();
        let n = idx
            .blocks
            .partition_point(|b| b.first_index <= index as u64)
            .checked_sub(1)?;
        let meta = idx.blocks[n];
        (index < meta.end() as usize).then_some((n, meta))
    }

    /// The records of block `n`, decoded (from the cache when it has them).
    pub fn block(&self, n: usize) -> Result<Block> {
        let key = (self.id, 0, n as u64);
        if let Some(Entry::Records(records)) = self.cache.get(key) {
            return Ok(records);
        }
        let meta = self
            .block_meta(n)
            .ok_or_else(|| Error::bad_argument(format!("{}: no block {n}", self.label)))?;
        let what = format!(
            "{} block {n} (records {}..{})",
            self.label,
            meta.first_index,
            meta.end()
        );
        let mut decoded = None;
        self.source.with_block(n, meta.first_index, &mut |data| {
            decoded = Some(with_decoder(|d| {
                d.decode_block(data, meta.records as usize, &what)
            })?);
            Ok(())
        })?;
        let records: Block =
            Arc::new(decoded.ok_or_else(|| Error::decode(format!("{what}: no data"), None))?);
        self.cache.insert(key, Entry::Records(Arc::clone(&records)));
        Ok(records)
    }

    /// Position of the newest checkpoint at or before `position` (0: the empty market).
    pub fn checkpoint_position(&self, position: usize) -> usize {
        let idx = self.index();
        let k = idx.checkpoints.partition_point(|&p| p <= position as u64);
        k.checked_sub(1).map_or(0, |k| idx.checkpoints[k] as usize)
    }

    /// The checkpoint stored at `position` (`None` for 0, the empty market).
    pub fn checkpoint(&self, position: usize) -> Result<Option<Arc<Checkpoint>>> {
        if position == 0 {
            return Ok(None);
        }
        let at = position as u64;
        let key = (self.id, 1, at);
        if let Some(Entry::Checkpoint(c)) = self.cache.get(key) {
            return Ok(Some(c));
        }
        let what = format!("{} checkpoint at record {at}", self.label);
        let mut decoded = None;
        self.source.with_checkpoint(at, &mut |data| {
            decoded = Some(with_decoder(|d| d.decode_checkpoint(data, &what))?);
            Ok(())
        })?;
        let checkpoint =
            Arc::new(decoded.ok_or_else(|| Error::decode(format!("{what}: no data"), None))?);
        self.cache
            .insert(key, Entry::Checkpoint(Arc::clone(&checkpoint)));
        Ok(Some(checkpoint))
    }

    /// Number of records with `ts_recv <= ts` in stream order (the first record stamped later
    /// than `ts`, under the running maximum, ends them).
    pub fn position_at_ts(&self, ts: u64) -> Result<usize> {
        let (n, before) = {
            let idx = self.index();
            let n = idx.blocks.partition_point(|b| b.ts_max <= ts);
            if n == idx.blocks.len() {
                return Ok(idx.blocks.last().map_or(0, |b| b.end() as usize));
            }
            let before = n.checked_sub(1).map_or(0, |p| idx.blocks[p].ts_max);
            (n, before)
        };
        let meta = self.block_meta(n).expect("in range");
        let records = self.block(n)?;
        let mut running = before;
        for (i, msg) in records.iter().enumerate() {
            running = running.max(msg.ts_recv);
            if running > ts {
                return Ok(meta.first_index as usize + i);
            }
        }
        Ok(meta.end() as usize)
    }

    /// The running maximum of ts_recv over the first `position` records (0 for none).
    pub fn ts_max_before(&self, position: usize) -> Result<u64> {
        let Some(last) = position.checked_sub(1) else {
            return Ok(0);
        };
        let (n, meta) = self
            .block_of(last)
            .ok_or_else(|| Error::bad_argument(format!("position {position} is past the end")))?;
        if last + 1 == meta.end() as usize {
            return Ok(meta.ts_max);
        }
        let before = n
            .checked_sub(1)
            .and_then(|p| self.block_meta(p))
            .map_or(0, |b| b.ts_max);
        let records = self.block(n)?;
        Ok(records[..=last - meta.first_index as usize]
            .iter()
            .fold(before, |m, r| m.max(r.ts_recv)))
    }

    /// Record `index`, if stored.
    pub fn record(&self, index: usize) -> Result<Option<MboMsg>> {
        let Some((n, meta)) = self.block_of(index) else {
            return Ok(None);
        };
        Ok(Some(self.block(n)?[index - meta.first_index as usize]))
    }

    /// Call `f` with each record of `[from, to)` and its index, block by block.
    pub fn for_each(
        &self,
        from: usize,
        to: usize,
        mut f: impl FnMut(usize, &MboMsg) -> bool,
    ) -> Result<()> {
        let mut at = from;
        let end = to.min(self.len());
        while at < end {
            let (n, meta) = self.block_of(at).expect("in range");
            let records = self.block(n)?;
            let first = meta.first_index as usize;
            let stop = end.min(meta.end() as usize);
            for (i, msg) in records[at - first..stop - first].iter().enumerate() {
                if !f(at + i, msg) {
                    return Ok(());
                }
            }
            at = stop;
        }
        Ok(())
    }
}

/// What [`build_blocks`] leaves: the writer at the end of the stream (market, per-book
/// statistics) and the stream's metadata.
pub struct Built {
    pub writer: BlockWriter,
    pub metadata: dbn::Metadata,
}

/// Decode `source`, cut it into blocks and compress them (on a second thread), handing each to
/// `sink` in order. The first `skip` records are applied but not stored (resuming an import
/// whose first blocks are stored already).
pub fn build_blocks(
    source: Source<'_>,
    layout: Layout,
    skip: u64,
    mut sink: impl FnMut(StoredBlock) -> Result<()>,
) -> Result<Built> {
    let mut stream = MboStream::open(source)?;
    let metadata = stream.metadata().clone();
    let mut writer = BlockWriter::new(layout)?;
    std::thread::scope(|scope| -> Result<Built> {
        let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel::<RawBlock>(4);
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<Result<StoredBlock>>(4);
        let compressor = scope.spawn(move || -> Result<()> {
            let mut encoder = Encoder::new()?;
            for raw in raw_rx {
                let stored = encode(&mut encoder, raw);
                let failed = stored.is_err();
                if done_tx.send(stored).is_err() || failed {
                    break;
                }
            }
            Ok(())
        });
        let mut failure: Option<Error> = None;
        let mut drain = |done_rx: &std::sync::mpsc::Receiver<Result<StoredBlock>>,
                         block: bool,
                         failure: &mut Option<Error>| {
            loop {
                let next = if block {
                    done_rx.recv().ok()
                } else {
                    done_rx.try_recv().ok()
                };
                let Some(next) = next else { break };
                if failure.is_none() {
                    if let Err(err) = next.and_then(&mut sink) {
                        *failure = Some(err);
                    }
                }
            }
        };
        // The compressor gone (its error comes from `join` below): nothing more to do.
        let mut stopped = false;
        let result = stream.for_each_mbo(|index, msg| {
            if failure.is_some() || stopped {
                return;
            }
            if index < skip {
                writer.skip(msg);
                return;
            }
            match writer.push(msg) {
                Ok(Some(raw)) => {
                    stopped = raw_tx.send(raw).is_err();
                    drain(&done_rx, false, &mut failure);
                }
                Ok(None) => {}
                Err(err) => failure = Some(err),
            }
        });
        if result.is_ok() && failure.is_none() {
            if let Some(raw) = writer.finish_block() {
                let _ = raw_tx.send(raw);
            }
        }
        drop(raw_tx);
        drain(&done_rx, true, &mut failure);
        let compressed = compressor
            .join()
            .unwrap_or_else(|_| Err(Error::bad_argument("block compressor panicked")));
        // the first error wins: the sink's or the writer's, else the compressor's
        if let Some(err) = failure {
            return Err(err);
        }
        compressed?;
        result?;
        Ok(Built { writer, metadata })
    })
}

/// A market at `position` of `recording`: the newest checkpoint at or before it, then the
/// records after it (only book `only`'s, when given).
pub fn market_at(recording: &Recording, position: usize, only: Option<BookKey>) -> Result<Market> {
    let at = recording.checkpoint_position(position);
    let mut market = Market::new();
    if let Some(checkpoint) = recording.checkpoint(at)? {
        checkpoint.restore(&mut market, only);
    }
    recording.for_each(at, position, |_, msg| {
        if only.is_none_or(|k| k == (msg.hd.instrument_id, msg.hd.publisher_id)) {
            market.apply(msg);
        }
        true
    })?;
    Ok(market)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::json::market_json;
    use crate::testing::mbo_for;

    fn stream(n: u64) -> Vec<u8> {
        let records: Vec<MboMsg> = (0..n)
            .map(|i| {
                let side = if i % 2 == 0 { b'B' } else { b'A' };
                let px = if side == b'B' {
                    100 - (i % 5) as i64
                } else {
                    101 + (i % 5) as i64
                };
                let action = if i > 10 && i % 7 == 0 { b'C' } else { b'A' };
                let id = if action == b'C' { i - 7 } else { i };
                let mut m = mbo_for(1 + (i % 3) as u32, 1, action, side, id, px, 1, 0x80);
                m.ts_recv = 1_000 + i / 3;
                m
            })
            .collect();
        crate::dbn::writer::to_dbn_bytes(&records, &Default::default()).unwrap()
    }

    #[test]
    fn markets_from_blocks_equal_a_linear_pass() {
        let bytes = stream(20_000);
        let layout = Layout::new(256, 1024).unwrap();
        let rec = Recording::open(Source::Bytes(&bytes), layout).unwrap();
        assert_eq!(rec.len(), 20_000);
        assert!(rec.block_count() > 70);
        let mut linear = Market::new();
        let mut stream = MboStream::open(Source::Bytes(&bytes)).unwrap();
        let mut at = 0;
        for target in [0, 1, 255, 256, 257, 1023, 1024, 1025, 5000, 19_999, 20_000] {
            while at < target {
                let (_, msg) = stream.next_mbo().unwrap().unwrap();
                linear.apply(&msg);
                at += 1;
            }
            let m = market_at(&rec, target, None).unwrap();
            assert_eq!(market_json(&m), market_json(&linear), "at {target}");
            let one = market_at(&rec, target, Some((2, 1))).unwrap();
            assert_eq!(
                one.book(2, 1).map(|b| b.order_count()),
                linear.book(2, 1).map(|b| b.order_count())
            );
        }
        assert_eq!(rec.position_at_ts(0).unwrap(), 0);
        assert_eq!(rec.position_at_ts(1_000).unwrap(), 3);
        assert_eq!(rec.position_at_ts(u64::MAX).unwrap(), 20_000);
        assert_eq!(rec.record(19_998).unwrap().unwrap().order_id, 19_998);
        assert!(rec.record(20_000).unwrap().is_none());
    }

    #[test]
    fn a_checkpoint_every_record_stays_within_the_size_budget() {
        // books of a few dozen orders: each add is cancelled 40 records later
        let records: Vec<MboMsg> = (0..20_000u64)
            .map(|i| {
                let (action, id) = if i % 2 == 1 && i > 40 {
                    (b'C', i - 41)
                } else {
                    (b'A', i)
                };
                let mut m = mbo_for(
                    1 + (id % 3) as u32,
                    1,
                    action,
                    b'B',
                    id,
                    100 - (id % 9) as i64,
                    1,
                    0x80,
                );
                m.ts_recv = 1_000 + i;
                m
            })
            .collect();
        let bytes = crate::dbn::writer::to_dbn_bytes(&records, &Default::default()).unwrap();
        let layout = Layout::new(1, 1).unwrap();
        let memory = MemoryBlocks::default();
        let mut checkpoints = 0;
        build_blocks(Source::Bytes(&bytes), layout, 0, |b| {
            checkpoints += usize::from(b.checkpoint.is_some());
            memory.push(b);
            Ok(())
        })
        .unwrap();
        // every record is its own block; checkpoints stop where they would outgrow the records
        assert!(checkpoints > 300, "{checkpoints}");
        assert!(memory.bytes() < 3 * 20_000 * 56, "{}", memory.bytes());
        // and the answers stay exact
        let rec = Recording::open(Source::Bytes(&bytes), layout).unwrap();
        let whole = market_at(&rec, 20_000, None).unwrap();
        let mut linear = Market::new();
        linear.apply_stream(Source::Bytes(&bytes)).unwrap();
        assert_eq!(market_json(&whole), market_json(&linear));
    }
}
