//! What a record changes in its book's price levels, for the MBP schemas derived from MBO
//! (`crate::derive`): on each side, the shallowest level whose `(price, size, count)` differs
//! after the record, or nothing when the record leaves that side's levels as they were.
//!
//! "The level that differs" is read off the levels themselves, not off the action: a modify to
//! the same price and size, a cancel of size 0, a duplicate add of the same order at the same
//! price and size, a clear of an empty book or an `F_TOB` add restating the level already there
//! change no level, so they touch nothing (MBP data, which only sees levels, has no update for
//! them). An operation that does change levels changes the level at the shallowest price it
//! involves (its own price, and the order's stored price for a cancel or a move), and nothing
//! better: its depth is the number of levels strictly better than that price before the record.
//! That holds for a move too, since the level it leaves is counted only when it is better.
//!
//! Depths are capped (`cap`): a caller that shows `N` levels needs them only below `N`, and
//! counting the best `N` keys of a ladder is branch-free and cheap. The record is applied by
//! `Book::apply` afterwards, so the book's semantics stay in one place.

use dbn::{MboMsg, UNDEF_PRICE};

use super::{Book, Side};

/// A depth no capped depth reaches: the side was not touched.
pub const UNTOUCHED: u8 = u8::MAX;
/// The largest cap `Book::apply_touching` takes (below [`UNTOUCHED`]).
pub const MAX_CAP: u8 = UNTOUCHED - 1;

/// The shallowest level changed on each side (indexed by [`Side`]), capped, or [`UNTOUCHED`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Touch {
    pub depth: [u8; 2],
}

impl Touch {
    pub const NONE: Touch = Touch {
        depth: [UNTOUCHED; 2],
    };

    #[inline(always)]
    fn side(side: Side, depth: u8) -> Touch {
        let mut touch = Touch::NONE;
        touch.depth[side as usize] = depth;
        touch
    }

    #[inline(always)]
    pub fn is_none(&self) -> bool {
        self.depth == [UNTOUCHED; 2]
    }

    /// The shallowest of both, side by side.
    #[inline(always)]
    pub fn merge(&mut self, other: Touch) {
        self.depth[0] = self.depth[0].min(other.depth[0]);
        self.depth[1] = self.depth[1].min(other.depth[1]);
    }

    /// The shallowest level touched on either side ([`UNTOUCHED`] when none).
    #[inline(always)]
    pub fn min_depth(&self) -> u8 {
        self.depth[0].min(self.depth[1])
    }

    /// The side that touched the shallowest level: `B`, `A`, or `N` when both sides touched it
    /// (or neither did).
    #[inline]
    pub fn side_byte(&self) -> u8 {
        let [bid, ask] = self.depth;
        match bid.cmp(&ask) {
            std::cmp::Ordering::Less => b'B',
            std::cmp::Ordering::Greater => b'A',
            std::cmp::Ordering::Equal => b'N',
        }
    }
}

impl Book {
    /// Apply `msg` exactly as [`Book::apply`] does and return the levels it changed, each
    /// side's depth capped at `cap` (at most [`MAX_CAP`]).
    #[inline(always)]
    pub fn apply_touching(&mut self, msg: &MboMsg, cap: u8) -> Touch {
        let touch = self.touch_of(msg, cap.min(MAX_CAP));
        self.apply(msg);
        touch
    }

    /// The number of levels of `side` strictly better than `price`, at most `cap`.
    #[inline]
    pub fn levels_better_than(&self, side: Side, price: i64, cap: usize) -> usize {
        let keys = &self.queues.ladder(side).keys[..];
        let key = side.key(price);
        if cap <= 16 {
            // The best `cap` keys are the last ones: count without branching.
            let near = &keys[keys.len() - keys.len().min(cap)..];
            near.iter().map(|&k| usize::from(k > key)).sum()
        } else {
            (keys.len() - keys.partition_point(|&k| k <= key)).min(cap)
        }
    }

    #[inline(always)]
    fn depth_of(&self, side: Side, price: i64, cap: u8) -> u8 {
        self.levels_better_than(side, price, usize::from(cap)) as u8
    }

    /// (side, price, size) of a resting order.
    #[inline(always)]
    fn resting(&self, order_id: u64) -> Option<(Side, i64, u32)> {
        let &slot = self.index.get(&order_id)?;
        let node = &self.queues.slab[slot as usize];
        let level = &self.queues.levels[node.level as usize];
        Some((level.side, level.price, node.size))
    }

    /// What `msg` will change, read before it is applied (see the module header).
    #[inline(always)]
    fn touch_of(&self, msg: &MboMsg, cap: u8) -> Touch {
        let action = msg.action as u8;
        if action == b'R' {
            let mut touch = Touch::NONE;
            for side in [Side::Bid, Side::Ask] {
                if self.level_count(side) > 0 {
                    touch.depth[side as usize] = 0;
                }
            }
            return touch;
        }
        if !matches!(action, b'A' | b'C' | b'M') {
            return Touch::NONE; // T, F, N and unknown actions never change the book
        }
        let Some(side) = Side::from_byte(msg.side as u8) else {
            return Touch::NONE; // side N: ignored by the book
        };
        let (price, size) = (msg.price, msg.size);
        match action {
            b'A' if msg.flags.raw() & dbn::flags::TOB != 0 => self.tob_touch(side, price, size),
            b'A' => match self.resting(msg.order_id) {
                // a duplicate id: out of its level, then added again
                Some(old) => self.move_touch(old, side, price, size, cap),
                None if size > 0 => Touch::side(side, self.depth_of(side, price, cap)),
                None => Touch::NONE,
            },
            b'C' => match self.resting(msg.order_id) {
                Some((old_side, old_price, _)) if size > 0 => {
                    Touch::side(old_side, self.depth_of(old_side, old_price, cap))
                }
                _ => Touch::NONE, // unknown order, or a cancel of nothing
            },
            _ => match self.resting(msg.order_id) {
                Some(old) => self.move_touch(old, side, price, size, cap),
                None if size > 0 => Touch::side(side, self.depth_of(side, price, cap)),
                None => Touch::NONE,
            },
        }
    }

    /// An order at `old` (side, price, size) that ends at (`side`, `price`, `size`), or leaves
    /// when `size` is 0: nothing when it ends where it was with its size, else the shallower of
    /// the two places (each on its own side).
    #[inline(always)]
    fn move_touch(
        &self,
        (old_side, old_price, old_size): (Side, i64, u32),
        side: Side,
        price: i64,
        size: u32,
        cap: u8,
    ) -> Touch {
        if size > 0 && old_side == side && old_price == price && old_size == size {
            return Touch::NONE;
        }
        let mut touch = Touch::side(old_side, self.depth_of(old_side, old_price, cap));
        if size > 0 {
            touch.merge(Touch::side(side, self.depth_of(side, price, cap)));
        }
        touch
    }

    /// An `F_TOB` add: the side becomes one order-less level (or empty). The first level that
    /// differs: none when the side is that already; 1 when its best level is that one and
    /// deeper levels go; else 0.
    fn tob_touch(&self, side: Side, price: i64, size: u32) -> Touch {
        let mut levels = self.levels(side);
        let count = levels.len();
        let first_kept = price != UNDEF_PRICE
            && size > 0
            && levels.next().is_some_and(|level| {
                level.price == price && level.size == u64::from(size) && level.count == 0
            });
        let emptied = price == UNDEF_PRICE || size == 0;
        match (first_kept, count) {
            (true, 1) => Touch::NONE,
            (true, _) => Touch::side(side, 1),
            (false, 0) if emptied => Touch::NONE,
            (false, _) => Touch::side(side, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{mbo, xorshift};

    type Levels = Vec<(i64, u64, u32)>;

    fn levels(book: &Book, side: Side) -> Levels {
        book.levels(side)
            .map(|l| (l.price, l.size, l.count))
            .collect()
    }

    /// The definition: the first index at which the side's levels differ.
    fn first_difference(before: &Levels, after: &Levels) -> Option<usize> {
        if before == after {
            return None;
        }
        Some(
            before
                .iter()
                .zip(after)
                .position(|(a, b)| a != b)
                .unwrap_or(before.len().min(after.len())),
        )
    }

    /// Random records (adds, cancels, modifies, duplicates, TOB adds, clears, no-ops) on one
    /// book: each touch is the first difference of the level lists, capped.
    #[test]
    fn touch_is_the_first_level_that_differs() {
        let mut seed = 99u64;
        for cap in [1u8, 3, 10, 200] {
            let mut book = Book::new(1, 1);
            for _ in 0..20_000 {
                let r = xorshift(&mut seed);
                let action = b"AAAACCCMMMRTFN"[(r % 14) as usize];
                let side = b"BBBAAAN"[(r >> 8) as usize % 7];
                let id = 1 + (r >> 12) % 40;
                let base = if side == b'B' { 100 } else { 104 };
                let price = base + (r >> 20) as i64 % 9 - 4;
                let size = [0, 1, 1, 2, 3, 5][(r >> 28) as usize % 6];
                let mut flags = 0x80;
                if action == b'A' && (r >> 40).is_multiple_of(50) {
                    flags |= dbn::flags::TOB;
                }
                if action == b'R' && !(r >> 44).is_multiple_of(8) {
                    continue; // clears are rare
                }
                let msg = mbo(action, side, id, price, size, flags);
                let before = [levels(&book, Side::Bid), levels(&book, Side::Ask)];
                let touch = book.apply_touching(&msg, cap);
                for side in [Side::Bid, Side::Ask] {
                    let want = first_difference(&before[side as usize], &levels(&book, side))
                        .map_or(UNTOUCHED, |d| d.min(usize::from(cap)) as u8);
                    assert_eq!(touch.depth[side as usize], want, "{msg:?} cap {cap}");
                }
            }
        }
    }

    /// A TOB add restating the best level while deeper levels rest (orders added after an
    /// earlier TOB add) changes the levels from the second on.
    #[test]
    fn a_tob_add_keeping_the_best_level_touches_the_next() {
        let tob = dbn::flags::TOB | 0x80;
        let mut book = Book::new(1, 1);
        book.apply_touching(&mbo(b'A', b'B', 0, 100, 5, tob), 10);
        book.apply_touching(&mbo(b'A', b'B', 1, 99, 1, 0x80), 10);
        let touch = book.apply_touching(&mbo(b'A', b'B', 0, 100, 5, tob), 10);
        assert_eq!(touch.depth, [1, UNTOUCHED]);
        assert_eq!(levels(&book, Side::Bid), [(100, 5, 0)]);
    }

    #[test]
    fn no_ops_touch_nothing_and_sides_are_named() {
        let mut book = Book::new(1, 1);
        assert!(book
            .apply_touching(&mbo(b'R', b'N', 0, 0, 0, 0x80), 10)
            .is_none());
        let t = book.apply_touching(&mbo(b'A', b'B', 1, 100, 5, 0x80), 10);
        assert_eq!((t.min_depth(), t.side_byte()), (0, b'B'));
        for noop in [
            mbo(b'M', b'B', 1, 100, 5, 0x80), // same price and size
            mbo(b'C', b'B', 1, 100, 0, 0x80), // cancels nothing
            mbo(b'A', b'B', 1, 100, 5, 0x80), // the same order again
            mbo(b'C', b'A', 9, 100, 1, 0x80), // unknown order
            mbo(b'A', b'N', 2, 100, 1, 0x80), // side N
        ] {
            assert!(book.apply_touching(&noop, 10).is_none(), "{noop:?}");
        }
        book.apply_touching(&mbo(b'A', b'A', 3, 101, 1, 0x80), 10);
        let both = book.apply_touching(&mbo(b'R', b'N', 0, 0, 0, 0x80), 10);
        assert_eq!((both.min_depth(), both.side_byte()), (0, b'N'));
    }
}
