//! Block store figures for one DBN file: build the blocks in memory (the import pipeline
//! without a database), then time random book rebuilds.
//!
//!     cargo run --release -p mbo-fast-core --example store_bench -- FILE [BLOCK] [CHECKPOINT]

use std::sync::Arc;
use std::time::Instant;

use mbo_fast_core::dbn::Source;
use mbo_fast_core::store::{build_blocks, market_at, BlockCache, Layout, MemoryBlocks, Recording};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .expect("usage: store_bench FILE [BLOCK] [CHECKPOINT]");
    let block: usize = args.get(2).map_or(4096, |s| s.parse().unwrap());
    let every: usize = args.get(3).map_or(32_768, |s| s.parse().unwrap());
    let layout = Layout::new(block, every).unwrap();
    let file_bytes = std::fs::metadata(path).unwrap().len();
    let memory = Arc::new(MemoryBlocks::default());
    let mut metas = Vec::new();
    let mut checkpoints = Vec::new();
    let (mut data, mut ckpt) = (0usize, 0usize);
    let t = Instant::now();
    let writer = build_blocks(Source::Path(path), layout, 0, |b| {
        data += b.data.len();
        ckpt += b.checkpoint.as_ref().map_or(0, Vec::len);
        metas.push(b.meta);
        if b.checkpoint.is_some() {
            checkpoints.push(b.meta.first_index);
        }
        memory.push(b);
        Ok(())
    })
    .unwrap()
    .writer;
    let secs = t.elapsed().as_secs_f64();
    let n = writer.records();
    println!(
        "{n} records in {secs:.2} s = {:.2} M/s; blocks {} ({} B data, {} B checkpoints = {:.3}x the file's {} B; raw/stored {:.2})",
        n as f64 / secs / 1e6,
        metas.len(),
        data,
        ckpt,
        (data + ckpt) as f64 / file_bytes as f64,
        file_bytes,
        (n as f64 * 56.0) / data as f64
    );
    let keys: Vec<_> = writer.books().keys().copied().collect();
    let rec = Recording::new(
        path.clone(),
        memory,
        Arc::new(BlockCache::new(64 << 20)),
        metas,
        checkpoints,
        keys.clone(),
    )
    .unwrap();
    let mut seed = 7u64;
    let mut times = Vec::new();
    for _ in 0..300 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let pos = (seed % n) as usize;
        let key = keys[(seed as usize / 7) % keys.len()];
        let t = Instant::now();
        let m = market_at(&rec, pos, Some(key)).unwrap();
        std::hint::black_box(m);
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "market_at one book, 300 random positions (64 MiB cache): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times[150], times[296], times[299]
    );
}
