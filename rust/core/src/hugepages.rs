//! A global allocator for large blocks (Linux): huge-page aligned, and kept a moment for reuse.
//!
//! `read_bbo` writes ~100 MB of fresh output columns per call. Fresh pages cost a fault each and
//! are zeroed by the kernel: on the benchmark input that is a sixth of the pass. Two things cut it:
//!
//! - **Alignment.** With transparent huge pages a fault maps 2 MiB, but only for the 2 MiB spans
//!   lying wholly inside a block. glibc's large blocks start 16 bytes into a page (its header
//!   sits in front), so each column's first and last 2 MiB fault in 4 KiB pages: ~3,400 faults
//!   for the eleven BBO columns, against ~110 when they start on a boundary. Blocks of 2 MiB and
//!   more are therefore mapped here, 2 MiB-aligned, with `MADV_HUGEPAGE`.
//! - **Reuse.** A freed large block is kept, pages and all, for up to `KEEP_FOR`, within
//!   `KEEP_AT_MOST` bytes, and handed to the next large allocation it fits: repeated calls (a loop
//!   over files, a notebook re-running a cell) then write to pages that are already mapped. This
//!   is what general-purpose allocators do (glibc keeps freed memory at the top of its heap,
//!   jemalloc decays dirty pages over 10 s); here it is bounded and explicit. Blocks kept longer
//!   are unmapped at the next large allocation or free; until then the kernel may reclaim their
//!   pages whenever it is short of memory (`MADV_FREE`).
//!
//! Blocks grow with `mremap` (no copy, as glibc does for its mapped blocks). Smaller blocks go to
//! the system allocator. The extension module (`mbo-fast-python`) and the `throughput` example
//! install this as their global allocator; the core library itself does not depend on it, and
//! it is the only place that asks for huge pages for the output.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const HUGE: usize = 2 << 20;
/// Freed blocks kept for reuse: at most this many bytes...
pub const KEEP_AT_MOST: usize = 256 << 20;
/// ...for at most this long.
pub const KEEP_FOR: Duration = Duration::from_secs(1);
const KEEP_SLOTS: usize = 32;

/// See the module documentation.
pub struct HugePageAlloc {
    kept: Mutex<Kept>,
}

/// Freed blocks waiting for reuse (a fixed array: the allocator must not allocate to do its job).
struct Kept {
    blocks: [Option<KeptBlock>; KEEP_SLOTS],
}

#[derive(Clone, Copy)]
struct KeptBlock {
    addr: usize,
    len: usize,
    since: Instant,
}

impl HugePageAlloc {
    pub const fn new() -> Self {
        HugePageAlloc {
            kept: Mutex::new(Kept {
                blocks: [None; KEEP_SLOTS],
            }),
        }
    }

    fn is_large(layout: &Layout) -> bool {
        layout.size() >= HUGE && layout.align() <= HUGE
    }

    /// Bytes mapped for a block of `size` bytes.
    fn mapped_len(size: usize) -> usize {
        size.next_multiple_of(HUGE)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        // A panic cannot happen while the lock is held (no allocation, no indexing); recover
        // the data anyway rather than fail every later allocation.
        self.kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A large block of `len` mapped bytes: a kept one if one fits, else a fresh mapping.
    unsafe fn take(&self, len: usize) -> *mut u8 {
        let mut expired = Evicted::default();
        let reused = {
            let mut kept = self.kept();
            kept.expire(Instant::now(), &mut expired);
            kept.take_fitting(len)
        };
        expired.unmap();
        match reused {
            Some(block) => {
                // Give back what the caller does not need of a bigger block.
                if block.len > len {
                    libc::munmap((block.addr + len) as *mut libc::c_void, block.len - len);
                }
                block.addr as *mut u8
            }
            None => map(len),
        }
    }

    /// Keep a freed block for reuse, or unmap it.
    unsafe fn give_back(&self, addr: usize, len: usize) {
        // The kernel may take the pages back whenever it is short of memory (they are then
        // fresh zero pages again); until it does, rewriting them costs no fault.
        libc::madvise(addr as *mut libc::c_void, len, libc::MADV_FREE);
        let mut evicted = Evicted::default();
        {
            let now = Instant::now();
            let mut kept = self.kept();
            kept.expire(now, &mut evicted);
            kept.keep(
                KeptBlock {
                    addr,
                    len,
                    since: now,
                },
                &mut evicted,
            );
        }
        evicted.unmap();
    }
}

impl Default for HugePageAlloc {
    fn default() -> Self {
        Self::new()
    }
}

/// Blocks taken out of the keep under its lock, unmapped once the lock is released.
struct Evicted {
    blocks: [Option<KeptBlock>; KEEP_SLOTS + 1],
}

impl Default for Evicted {
    fn default() -> Self {
        Evicted {
            blocks: [None; KEEP_SLOTS + 1],
        }
    }
}

impl Evicted {
    fn push(&mut self, block: KeptBlock) {
        if let Some(free) = self.blocks.iter_mut().find(|slot| slot.is_none()) {
            *free = Some(block);
        }
    }

    fn unmap(self) {
        for block in self.blocks.into_iter().flatten() {
            // SAFETY: a block taken out of the keep is a mapping nobody else refers to.
            unsafe { libc::munmap(block.addr as *mut libc::c_void, block.len) };
        }
    }
}

impl Kept {
    /// Bytes kept (32 slots at most: summed when asked rather than tracked).
    fn bytes(&self) -> usize {
        self.blocks.iter().flatten().map(|block| block.len).sum()
    }

    /// Evict the blocks kept longer than `KEEP_FOR`.
    fn expire(&mut self, now: Instant, evicted: &mut Evicted) {
        for slot in &mut self.blocks {
            if let Some(block) = *slot {
                if now.duration_since(block.since) > KEEP_FOR {
                    *slot = None;
                    evicted.push(block);
                }
            }
        }
    }

    /// The smallest kept block of at least `len` bytes, removed from the keep.
    fn take_fitting(&mut self, len: usize) -> Option<KeptBlock> {
        let slot = self
            .blocks
            .iter_mut()
            .filter(|slot| slot.is_some_and(|block| block.len >= len))
            .min_by_key(|slot| slot.map(|block| block.len))?;
        slot.take()
    }

    /// Keep `block`, evicting the oldest kept blocks to make room; a block bigger than the
    /// whole keep is evicted itself.
    fn keep(&mut self, block: KeptBlock, evicted: &mut Evicted) {
        if block.len > KEEP_AT_MOST {
            evicted.push(block);
            return;
        }
        while self.bytes() + block.len > KEEP_AT_MOST || self.blocks.iter().all(Option::is_some) {
            let Some(oldest) = self
                .blocks
                .iter_mut()
                .filter(|slot| slot.is_some())
                .min_by_key(|slot| slot.map(|block| block.since))
            else {
                break;
            };
            if let Some(old) = oldest.take() {
                evicted.push(old);
            }
        }
        if let Some(free) = self.blocks.iter_mut().find(|slot| slot.is_none()) {
            *free = Some(block);
        }
    }
}

/// A fresh 2 MiB-aligned mapping of `len` bytes (a multiple of HUGE), or null.
unsafe fn map(len: usize) -> *mut u8 {
    // Over-map by one huge page and trim to the boundary.
    let Some(over) = len.checked_add(HUGE) else {
        return ptr::null_mut();
    };
    let raw = libc::mmap(
        ptr::null_mut(),
        over,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
        0,
    );
    if raw == libc::MAP_FAILED {
        return ptr::null_mut();
    }
    let start = raw as usize;
    let aligned = start.next_multiple_of(HUGE);
    let head = aligned - start;
    if head > 0 {
        libc::munmap(raw, head);
    }
    let tail = HUGE - head;
    if tail > 0 {
        libc::munmap((aligned + len) as *mut libc::c_void, tail);
    }
    advise(aligned, len);
    aligned as *mut u8
}

/// Transparent huge pages for `[start, start + len)`: advice, harmless if refused.
unsafe fn advise(start: usize, len: usize) {
    libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
}

// SAFETY: large blocks are private anonymous mappings owned by one block (or by the keep) at a
// time; `mremap` keeps their contents; everything else is delegated to `System`.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::is_large(&layout) {
            self.take(Self::mapped_len(layout.size()))
        } else {
            System.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if Self::is_large(&layout) {
            // Fresh anonymous pages read as zero; kept ones would need clearing.
            map(Self::mapped_len(layout.size()))
        } else {
            System.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if Self::is_large(&layout) {
            self.give_back(block as usize, Self::mapped_len(layout.size()));
        } else {
            System.dealloc(block, layout)
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        match (Self::is_large(&layout), Self::is_large(&new_layout)) {
            (false, false) => System.realloc(block, layout, new_size),
            (true, true) => {
                let (old_len, new_len) =
                    (Self::mapped_len(layout.size()), Self::mapped_len(new_size));
                if old_len == new_len {
                    return block;
                }
                let moved = libc::mremap(block.cast(), old_len, new_len, libc::MREMAP_MAYMOVE);
                if moved == libc::MAP_FAILED {
                    return ptr::null_mut();
                }
                // A moved block may no longer start on a boundary; its aligned part still
                // gets huge pages.
                advise(moved as usize, new_len);
                moved.cast()
            }
            // Crossing the threshold: a new block and a copy, as `GlobalAlloc` does by default.
            _ => {
                let fresh = self.alloc(new_layout);
                if !fresh.is_null() {
                    ptr::copy_nonoverlapping(block, fresh, layout.size().min(new_size));
                    self.dealloc(block, layout);
                }
                fresh
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    #[test]
    fn large_blocks_are_aligned_and_keep_their_contents_when_resized() {
        let alloc = HugePageAlloc::new();
        unsafe {
            let first = layout(3 * HUGE + 5);
            let block = alloc.alloc(first);
            assert!(!block.is_null());
            assert_eq!(block as usize % HUGE, 0);
            for i in 0..first.size() {
                *block.add(i) = (i % 251) as u8;
            }
            let grown = alloc.realloc(block, first, 9 * HUGE);
            assert!(!grown.is_null());
            assert!((0..first.size()).all(|i| *grown.add(i) == (i % 251) as u8));
            *grown.add(9 * HUGE - 1) = 7;
            let small = alloc.realloc(grown, layout(9 * HUGE), 100);
            assert!((0..100).all(|i| *small.add(i) == (i % 251) as u8));
            alloc.dealloc(small, layout(100));
        }
    }

    #[test]
    fn zeroed_large_blocks_read_as_zero_even_after_a_freed_one_is_kept() {
        let alloc = HugePageAlloc::new();
        unsafe {
            let dirty = alloc.alloc(layout(HUGE));
            ptr::write_bytes(dirty, 0xAB, HUGE);
            alloc.dealloc(dirty, layout(HUGE));
            let block = alloc.alloc_zeroed(layout(HUGE));
            assert!((0..HUGE).all(|i| *block.add(i) == 0));
            alloc.dealloc(block, layout(HUGE));
        }
    }

    #[test]
    fn a_freed_block_is_reused_and_a_bigger_one_is_trimmed_to_fit() {
        let alloc = HugePageAlloc::new();
        unsafe {
            let big = alloc.alloc(layout(4 * HUGE));
            alloc.dealloc(big, layout(4 * HUGE));
            assert_eq!(alloc.kept().bytes(), 4 * HUGE);
            let again = alloc.alloc(layout(HUGE + 1));
            assert_eq!(again, big, "the kept block is handed out again");
            assert_eq!(alloc.kept().bytes(), 0);
            // Its trimmed tail was unmapped: the block is now two huge pages.
            alloc.dealloc(again, layout(HUGE + 1));
            assert_eq!(alloc.kept().bytes(), 2 * HUGE);
        }
    }

    #[test]
    fn the_keep_is_bounded_in_bytes_and_time() {
        let alloc = HugePageAlloc::new();
        unsafe {
            let blocks: Vec<*mut u8> = (0..3).map(|_| alloc.alloc(layout(100 << 20))).collect();
            for &block in &blocks {
                alloc.dealloc(block, layout(100 << 20));
            }
            // 3 x 100 MiB freed, 256 MiB kept at most: the oldest went back to the kernel.
            assert_eq!(alloc.kept().bytes(), 2 * (100 << 20));
            let oversized = alloc.alloc(layout(KEEP_AT_MOST + HUGE));
            alloc.dealloc(oversized, layout(KEEP_AT_MOST + HUGE));
            assert_eq!(alloc.kept().bytes(), 2 * (100 << 20));
            let mut expired = Evicted::default();
            let later = Instant::now() + KEEP_FOR + Duration::from_millis(1);
            alloc.kept().expire(later, &mut expired);
            expired.unmap();
            assert_eq!(alloc.kept().bytes(), 0);
            assert!(alloc.kept().blocks.iter().all(Option::is_none));
        }
    }

    #[test]
    fn vectors_grow_through_it() {
        let alloc = HugePageAlloc::new();
        unsafe {
            let mut cap = 1usize;
            let mut block = alloc
                .alloc(Layout::array::<u64>(cap).unwrap())
                .cast::<u64>();
            for value in 0..1_000_000u64 {
                let len = value as usize;
                if len == cap {
                    let old = Layout::array::<u64>(cap).unwrap();
                    cap *= 2;
                    let new_size = Layout::array::<u64>(cap).unwrap().size();
                    block = alloc.realloc(block.cast(), old, new_size).cast();
                }
                block.add(len).write(value);
            }
            assert!((0..1_000_000).all(|i| *block.add(i) == i as u64));
            alloc.dealloc(block.cast(), Layout::array::<u64>(cap).unwrap());
        }
    }
}
