//! The block store: a stream kept as compressed blocks of raw DBN MBO records plus periodic
//! checkpoints of every book, read back through a bounded cache, so that what a process holds
//! does not grow with the data.
//!
//! - [`codec`]: the bytes of a block (byte-shuffled records, one zstd frame with a checksum)
//!   and of a checkpoint (every book as snapshot records, with a directory).
//! - [`writer`]: records in, blocks out ([`BlockWriter`]: cutting and checkpoints; `encode`:
//!   compression), the [`Layout`] (records per block, checkpoint interval).
//! - [`recording`]: [`Recording`], a stream as stored blocks behind an index, with the
//!   [`BlockSource`] trait a database implements (in memory: [`MemoryBlocks`]), and
//!   [`build_blocks`], the two-thread import pipeline.
//! - [`cache`]: the process's bounded cache of decoded blocks and checkpoints.
//! - [`query`]: pages of BBO, trades and records derived from the blocks, as JSON items.
//! - [`raster`]: heatmap rasters (resting size on time buckets × price rows, trades per bucket).

pub mod cache;
pub mod codec;
pub mod query;
pub mod raster;
pub mod recording;
pub mod writer;

pub use cache::{Block, BlockCache, CacheStats};
pub use recording::{
    build_blocks, market_at, BlockSource, Built, MemoryBlocks, Recording, StoredSize,
};
pub use writer::{BlockMeta, BlockWriter, BookStats, Layout, StoredBlock, DEFAULT_LAYOUT};
