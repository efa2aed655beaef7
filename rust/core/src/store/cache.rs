//! A bounded cache of decoded blocks and checkpoints, shared by every recording of a process
//! (one budget for all of them): least recently used first out once the decoded bytes exceed
//! the budget. Entries are `Arc`s, so a cursor keeps the block it is reading even after the
//! cache lets it go; what cursors hold is bounded by their number, not by the data.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use dbn::MboMsg;

use super::codec::{Checkpoint, RECORD_LEN};

/// A decoded block's records, shared by the cache and the cursors reading it.
pub type Block = Arc<Vec<MboMsg>>;

/// What a cache entry holds.
#[derive(Clone)]
pub enum Entry {
    Records(Block),
    Checkpoint(Arc<Checkpoint>),
}

impl Entry {
    fn bytes(&self) -> usize {
        match self {
            Entry::Records(r) => r.len() * RECORD_LEN,
            Entry::Checkpoint(c) => c.decoded_bytes(),
        }
    }
}

/// (recording id, what: 0 = block / 1 = checkpoint, block number or checkpoint position)
pub type Key = (u64, u8, u64);

/// Hit, miss and eviction counts, and the bytes held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub bytes: usize,
    pub entries: usize,
    pub budget: usize,
}

struct Inner {
    map: HashMap<Key, (Entry, u64)>,
    bytes: usize,
    tick: u64,
    stats: CacheStats,
}

pub struct BlockCache {
    budget: usize,
    inner: Mutex<Inner>,
}

/// Default budget of a process's cache: 256 MiB of decoded records.
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh id for a recording's keys.
pub fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

impl BlockCache {
    pub fn new(budget: usize) -> Self {
        BlockCache {
            budget,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                bytes: 0,
                tick: 0,
                stats: CacheStats::default(),
            }),
        }
    }

    /// The process-wide cache (its budget is set by the first call of [`BlockCache::shared`] or
    /// [`set_shared_budget`]).
    pub fn shared() -> Arc<BlockCache> {
        SHARED
            .get_or_init(|| Arc::new(BlockCache::new(DEFAULT_CACHE_BYTES)))
            .clone()
    }

    pub fn budget(&self) -> usize {
        self.budget
    }

    pub fn get(&self, key: Key) -> Option<Entry> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.tick += 1;
        let tick = inner.tick;
        match inner.map.get_mut(&key) {
            Some((entry, used)) => {
                *used = tick;
                let entry = entry.clone();
                inner.stats.hits += 1;
                Some(entry)
            }
            None => {
                inner.stats.misses += 1;
                None
            }
        }
    }

    pub fn insert(&self, key: Key, entry: Entry) {
        let bytes = entry.bytes();
        if bytes > self.budget {
            return; // larger than the whole budget: the caller keeps its copy
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.tick += 1;
        let tick = inner.tick;
        if let Some((old, _)) = inner.map.insert(key, (entry, tick)) {
            inner.bytes -= old.bytes();
        }
        inner.bytes += bytes;
        while inner.bytes > self.budget {
            let Some((&oldest, _)) = inner.map.iter().min_by_key(|(_, (_, used))| *used) else {
                break;
            };
            if let Some((gone, _)) = inner.map.remove(&oldest) {
                inner.bytes -= gone.bytes();
                inner.stats.evictions += 1;
            }
        }
    }

    /// Forget every entry of one recording (it is closed or its data replaced).
    pub fn forget(&self, recording: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let keys: Vec<Key> = inner
            .map
            .keys()
            .filter(|k| k.0 == recording)
            .copied()
            .collect();
        for key in keys {
            if let Some((gone, _)) = inner.map.remove(&key) {
                inner.bytes -= gone.bytes();
            }
        }
    }

    pub fn stats(&self) -> CacheStats {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        CacheStats {
            bytes: inner.bytes,
            entries: inner.map.len(),
            budget: self.budget,
            ..inner.stats
        }
    }
}

static SHARED: std::sync::OnceLock<Arc<BlockCache>> = std::sync::OnceLock::new();

/// Set the process-wide cache's budget; `false` when the cache already exists (its budget stays).
pub fn set_shared_budget(bytes: usize) -> bool {
    SHARED.set(Arc::new(BlockCache::new(bytes))).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: usize) -> Entry {
        Entry::Records(Arc::new(vec![MboMsg::default(); n]))
    }

    #[test]
    fn the_budget_holds_and_the_least_recent_goes_first() {
        let cache = BlockCache::new(10 * RECORD_LEN * 100);
        for i in 0..10 {
            cache.insert((1, 0, i), block(100));
        }
        assert_eq!(cache.stats().bytes, 10 * 100 * RECORD_LEN);
        assert!(cache.get((1, 0, 0)).is_some()); // 0 is now the most recent
        cache.insert((1, 0, 10), block(100));
        assert!(cache.get((1, 0, 1)).is_none(), "1 was the least recent");
        assert!(cache.get((1, 0, 0)).is_some());
        let s = cache.stats();
        assert!(s.bytes <= s.budget && s.evictions == 1, "{s:?}");
        cache.insert((2, 0, 0), block(10_000)); // larger than the budget: not kept
        assert!(cache.get((2, 0, 0)).is_none());
        cache.forget(1);
        assert_eq!(cache.stats().bytes, 0);
    }
}
