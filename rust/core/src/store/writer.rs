//! Records in, blocks out: [`BlockWriter`] applies each record to a market (for checkpoints and
//! per-book statistics) and cuts the stream into blocks; [`encode`] compresses one. They are
//! separate steps so an import can run them on two threads ([`super::build_blocks`]).

use std::collections::BTreeMap;

use dbn::MboMsg;

use super::codec::{record_bytes, Encoder, RECORD_LEN};
use crate::book::market::{BookKey, Market};
use crate::book::snapshot::Stamp;
use crate::error::{try_reserve, Error, Result};

/// Records per block, and how often (in records, at a block start) every book is checkpointed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub block_records: usize,
    pub checkpoint_every: usize,
}

/// 4,096 records (229 KB raw, ~50 KB stored) a block: what one playback client holds decoded,
/// and shuffled zstd compresses them within 6 % of 64 k-record blocks. A checkpoint every
/// 32,768 records: a random seek decodes at most 8 blocks.
pub const DEFAULT_LAYOUT: Layout = Layout {
    block_records: 4096,
    checkpoint_every: 32_768,
};

/// Largest block: a block is decoded whole (56 MB at this size).
pub const MAX_BLOCK_RECORDS: usize = 1 << 20;

impl Layout {
    /// `checkpoint_every` is rounded up to a whole number of blocks. Checkpoints are taken that
    /// often unless their total size would exceed the records' (see [`BlockWriter`]), so a small
    /// interval cannot make a store many times larger than its data (`Replay(checkpoint_every=1)`
    /// once took 1.2 GB for a 2 MB file).
    pub fn new(block_records: usize, checkpoint_every: usize) -> Result<Self> {
        if !(1..=MAX_BLOCK_RECORDS).contains(&block_records) {
            return Err(Error::bad_argument(format!(
                "block_records must be in 1..={MAX_BLOCK_RECORDS}, got {block_records}"
            )));
        }
        if checkpoint_every == 0 {
            return Err(Error::bad_argument("checkpoint_every must be >= 1"));
        }
        Ok(Layout {
            block_records,
            checkpoint_every: checkpoint_every
                .div_ceil(block_records)
                .saturating_mul(block_records),
        })
    }
}

/// What the index knows of a block: its records are `[first_index, first_index + records)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockMeta {
    pub first_index: u64,
    pub records: u32,
    /// ts_recv of its first and last record.
    pub ts_first: u64,
    pub ts_last: u64,
    /// Running maximum of ts_recv over the stream up to its last record (seeks by time).
    pub ts_max: u64,
}

impl BlockMeta {
    pub fn end(&self) -> u64 {
        self.first_index + u64::from(self.records)
    }
}

/// A block before compression, and the checkpoint (already compressed) of every book before its
/// first record, when one is due there.
pub struct RawBlock {
    pub meta: BlockMeta,
    pub records: Vec<u8>,
    pub checkpoint: Option<Vec<u8>>,
}

/// A block ready to store.
pub struct StoredBlock {
    pub meta: BlockMeta,
    pub data: Vec<u8>,
    pub checkpoint: Option<Vec<u8>>,
}

/// Compress a raw block.
pub fn encode(encoder: &mut Encoder, raw: RawBlock) -> Result<StoredBlock> {
    Ok(StoredBlock {
        meta: raw.meta,
        data: encoder.encode_block(&raw.records)?,
        checkpoint: raw.checkpoint,
    })
}

/// Per book: records, trades and the ts_recv range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BookStats {
    pub records: u64,
    pub trades: u64,
    pub ts_first: u64,
    pub ts_last: u64,
}

/// Cuts a stream into blocks, applying every record to a market for the checkpoints.
///
/// A checkpoint is due at a block start `checkpoint_every` records after the last one, and is
/// taken only if the checkpoints' total size (56 bytes a snapshot record) stays within the
/// records' so far: the store is at most about twice its records, whatever the interval.
pub struct BlockWriter {
    layout: Layout,
    market: Market,
    checkpoints: Encoder,
    open: Vec<u8>,
    meta: BlockMeta,
    checkpoint: Option<Vec<u8>>,
    next_index: u64,
    last_checkpoint: u64,
    /// Snapshot records in the checkpoints taken so far (the size budget).
    checkpoint_records: u64,
    ts_max: u64,
    last_stamp: Stamp,
    /// Per market slot (`Market::apply`'s): the book's statistics.
    books: Vec<BookStats>,
}

impl BlockWriter {
    pub fn new(layout: Layout) -> Result<Self> {
        Ok(BlockWriter {
            layout,
            market: Market::new(),
            checkpoints: Encoder::new()?,
            open: Vec::new(),
            meta: BlockMeta::default(),
            checkpoint: None,
            next_index: 0,
            last_checkpoint: 0,
            checkpoint_records: 0,
            ts_max: 0,
            last_stamp: Stamp::default(),
            books: Vec::new(),
        })
    }

    /// Apply a record without storing it: how an interrupted import resumes (the records of the
    /// blocks already stored are re-applied, not re-encoded). Only before the first `push`, and
    /// only for imports cut into whole blocks (files), whose checkpoints fall where the first
    /// import put them.
    pub fn skip(&mut self, msg: &MboMsg) {
        debug_assert!(self.open.is_empty());
        if self
            .next_index
            .is_multiple_of(self.layout.block_records as u64)
        {
            self.checkpoint_due(); // that stored block carries it, if one was taken
        }
        let slot = self.market.apply(msg);
        self.account(slot, msg);
        self.next_index += 1;
    }

    /// Add a record; returns the block it completed, if any.
    #[inline]
    pub fn push(&mut self, msg: &MboMsg) -> Result<Option<RawBlock>> {
        if self.open.is_empty() {
            self.start_block(msg)?;
        }
        let slot = self.market.apply(msg);
        self.account(slot, msg);
        self.open.extend_from_slice(&record_bytes(msg));
        self.meta.records += 1;
        self.meta.ts_last = msg.ts_recv;
        self.meta.ts_max = self.ts_max;
        self.next_index += 1;
        if self.open.len() >= self.layout.block_records * RECORD_LEN {
            return Ok(self.finish_block());
        }
        Ok(None)
    }

    /// Whether a checkpoint is taken at this block start (and account for it).
    fn checkpoint_due(&mut self) -> bool {
        let position = self.next_index;
        if position - self.last_checkpoint < self.layout.checkpoint_every as u64 {
            return false;
        }
        // a snapshot record per order, plus a clear per book (F_TOB levels: at most 2 a book)
        let size: u64 = self
            .market
            .books()
            .iter()
            .map(|b| b.order_count() as u64 + 3)
            .sum();
        if self.checkpoint_records + size > position {
            return false;
        }
        self.checkpoint_records += size;
        self.last_checkpoint = position;
        true
    }

    #[cold]
    fn start_block(&mut self, first: &MboMsg) -> Result<()> {
        let position = self.next_index;
        if self.checkpoint_due() {
            self.checkpoint = Some(
                self.checkpoints
                    .encode_checkpoint(&self.market, self.last_stamp)?,
            );
        }
        let want = self.layout.block_records * RECORD_LEN; // `open` is empty here
        try_reserve(&mut self.open, want, "a block")?;
        self.meta = BlockMeta {
            first_index: position,
            records: 0,
            ts_first: first.ts_recv,
            ts_last: first.ts_recv,
            ts_max: self.ts_max,
        };
        Ok(())
    }

    #[inline]
    fn account(&mut self, slot: usize, msg: &MboMsg) {
        self.ts_max = self.ts_max.max(msg.ts_recv);
        self.last_stamp = Stamp {
            ts_recv: msg.ts_recv,
            ts_event: msg.hd.ts_event,
        };
        if slot == self.books.len() {
            self.books.push(BookStats {
                ts_first: msg.ts_recv,
                ..BookStats::default()
            });
        }
        let stats = &mut self.books[slot];
        stats.records += 1;
        stats.trades += u64::from(msg.action as u8 == b'T');
        stats.ts_last = msg.ts_recv;
    }

    /// Close the open block (a live flush, or the end of the stream); `None` when it is empty.
    pub fn finish_block(&mut self) -> Option<RawBlock> {
        if self.open.is_empty() {
            return None;
        }
        let records = std::mem::take(&mut self.open);
        Some(RawBlock {
            meta: self.meta,
            records,
            checkpoint: self.checkpoint.take(),
        })
    }

    pub fn market(&self) -> &Market {
        &self.market
    }

    /// Records pushed or skipped so far.
    pub fn records(&self) -> u64 {
        self.next_index
    }

    /// Every book seen so far and its statistics, sorted by key.
    pub fn books(&self) -> BTreeMap<BookKey, BookStats> {
        self.books
            .iter()
            .enumerate()
            .map(|(slot, stats)| {
                let book = self.market.book_at(slot);
                ((book.instrument_id, book.publisher_id), *stats)
            })
            .collect()
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }
}
