//! The resting orders of both sides of a book: order nodes in a slab, chained per level as a
//! circular doubly linked list through a sentinel node (so a cancel or a move-to-back is O(1)
//! once the order is found, and linking never tests for an empty neighbour), levels in a slab of
//! their own, each side's levels ordered by its [`Ladder`]. Knows nothing of order ids: the
//! `Book` keeps that index, so moving an order never touches the hash map.

use super::ladder::Ladder;
use super::{vec_bytes, Side};

const NIL: u32 = u32::MAX;

/// An aggregated price level. `count` is the number of resting orders; a level set by an F_TOB
/// add has a size but no orders (count 0), as in Databento's top-of-book records.
#[derive(Clone, Debug)]
pub struct Level {
    pub price: i64,
    pub size: u64,
    pub count: u32,
    /// Slab slot of the queue's sentinel: the queue is a circular list through it, so linking
    /// and unlinking never test for an empty neighbour.
    pub(super) sentinel: u32,
    pub(super) side: Side,
}

/// A resting order (or a level's sentinel). Its price and side are its level's.
#[derive(Clone, Debug)]
pub(super) struct Node {
    pub(super) order_id: u64,
    pub(super) size: u32,
    /// Slot of its level in `Queues::levels`: a cancel never searches the ladder.
    pub(super) level: u32,
    pub(super) prev: u32,
    pub(super) next: u32,
}

/// The resting orders of both sides: slab-allocated nodes chained per level, levels in a slab
/// of their own. Knows nothing of order ids (the `Book` keeps that index), so moving an order
/// never touches the hash map.
#[derive(Clone, Debug, Default)]
pub(super) struct Queues {
    /// Indexed by `Side`.
    pub(super) ladders: [Ladder; 2],
    pub(super) levels: Vec<Level>,
    pub(super) free_levels: Vec<u32>,
    /// Order nodes and level sentinels.
    pub(super) slab: Vec<Node>,
    pub(super) free: Vec<u32>,
}

impl Queues {
    pub(super) fn ladder(&self, side: Side) -> &Ladder {
        &self.ladders[side as usize]
    }

    pub(super) fn level(&self, side: Side, price: i64) -> Option<&Level> {
        let ladder = self.ladder(side);
        let at = ladder.find(side.key(price)).ok()?;
        Some(&self.levels[ladder.ids[at] as usize])
    }

    /// Levels of one side, best first.
    pub(super) fn side_levels(&self, side: Side) -> impl ExactSizeIterator<Item = &Level> + '_ {
        self.ladder(side)
            .ids
            .iter()
            .rev()
            .map(|&id| &self.levels[id as usize])
    }

    #[inline]
    pub(super) fn best(&self, side: Side) -> Option<&Level> {
        Some(&self.levels[self.ladder(side).best()? as usize])
    }

    pub(super) fn alloc(&mut self, order_id: u64) -> u32 {
        match self.free.pop() {
            Some(slot) => slot,
            None => self.push_node(order_id),
        }
    }

    pub(super) fn push_node(&mut self, order_id: u64) -> u32 {
        let slot = self.slab.len() as u32;
        self.slab.push(Node {
            order_id,
            size: 0,
            level: NIL,
            prev: slot,
            next: slot,
        });
        slot
    }

    pub(super) fn release(&mut self, slot: u32) {
        self.free.push(slot);
    }

    pub(super) fn heap_bytes(&self) -> usize {
        let ladders: usize = self
            .ladders
            .iter()
            .map(|l| vec_bytes(&l.keys) + vec_bytes(&l.ids))
            .sum();
        ladders
            + vec_bytes(&self.levels)
            + vec_bytes(&self.free_levels)
            + vec_bytes(&self.slab)
            + vec_bytes(&self.free)
    }

    // The per-record path is forced inline (`level_slot`, `link_back`, `unlink`, `Book::apply`
    // and `apply_action`, `Market::apply`, `BboColumns::visit`): in the extension module (fat
    // LTO, one codegen unit) LLVM kept parts of it as calls, each with its own register saves,
    // and forcing them measured 3-5 % faster `read_bbo` per step in paired runs
    // (`benchmarks/ab_builds.py`). The standalone examples inlined them on their own. Forcing
    // `add`/`cancel`/`modify` as well measured no faster.

    /// The slot of the level at `(side, price)`, created empty if there is none.
    #[inline(always)]
    pub(super) fn level_slot(&mut self, side: Side, price: i64, size: u64) -> u32 {
        let key = side.key(price);
        match self.ladders[side as usize].find(key) {
            Ok(at) => self.ladders[side as usize].ids[at],
            Err(at) => self.new_level(side, at, key, price, size),
        }
    }

    #[cold]
    pub(super) fn new_level(
        &mut self,
        side: Side,
        at: usize,
        key: i64,
        price: i64,
        size: u64,
    ) -> u32 {
        let id = match self.free_levels.pop() {
            Some(id) => id,
            None => {
                let sentinel = self.push_node(0);
                self.levels.push(Level {
                    price,
                    size,
                    count: 0,
                    sentinel,
                    side,
                });
                (self.levels.len() - 1) as u32
            }
        };
        let level = &mut self.levels[id as usize];
        level.price = price;
        level.size = size;
        level.count = 0;
        level.side = side;
        let sentinel = level.sentinel;
        let node = &mut self.slab[sentinel as usize];
        node.prev = sentinel;
        node.next = sentinel;
        self.ladders[side as usize].insert(at, key, id);
        id
    }

    /// Append `slot` to the back of the level at `(side, price)`, creating the level if needed.
    #[inline(always)]
    pub(super) fn link_back(
        &mut self,
        slot: u32,
        order_id: u64,
        side: Side,
        price: i64,
        size: u32,
    ) {
        let id = self.level_slot(side, price, 0);
        let level = &mut self.levels[id as usize];
        level.size += u64::from(size);
        level.count += 1;
        let sentinel = level.sentinel;
        let tail = self.slab[sentinel as usize].prev;
        self.slab[slot as usize] = Node {
            order_id,
            size,
            level: id,
            prev: tail,
            next: sentinel,
        };
        self.slab[tail as usize].next = slot;
        self.slab[sentinel as usize].prev = slot;
    }

    /// Take `slot` out of its level's queue, dropping the level when nothing is left in it.
    #[inline(always)]
    pub(super) fn unlink(&mut self, slot: u32) {
        let Node {
            size,
            level: id,
            prev,
            next,
            ..
        } = self.slab[slot as usize];
        self.slab[prev as usize].next = next;
        self.slab[next as usize].prev = prev;
        let level = &mut self.levels[id as usize];
        level.size -= u64::from(size);
        level.count -= 1;
        if level.count == 0 && level.size == 0 {
            let (side, price) = (level.side, level.price);
            self.drop_level(side, price, id);
        }
    }

    #[cold]
    pub(super) fn drop_level(&mut self, side: Side, price: i64, id: u32) {
        let ladder = &mut self.ladders[side as usize];
        if let Ok(at) = ladder.find(side.key(price)) {
            ladder.remove(at);
        }
        self.free_levels.push(id);
    }

    #[inline]
    pub(super) fn resize_in_place(&mut self, slot: u32, new_size: u32) {
        let node = &mut self.slab[slot as usize];
        let old_size = node.size;
        node.size = new_size;
        let level = &mut self.levels[node.level as usize];
        level.size = level.size - u64::from(old_size) + u64::from(new_size);
    }

    /// The order slots of a level, front (highest priority) first.
    pub(super) fn queue_slots(&self, level: &Level) -> QueueIter<'_> {
        QueueIter {
            slab: &self.slab,
            cursor: self.slab[level.sentinel as usize].next,
            end: level.sentinel,
        }
    }

    /// Empty one side; returns the slots of the orders that rested there.
    pub(super) fn clear_side(&mut self, side: Side) -> Vec<u32> {
        let mut slots = Vec::new();
        for &id in &self.ladders[side as usize].ids {
            slots.extend(self.queue_slots(&self.levels[id as usize]));
        }
        self.free_levels
            .extend_from_slice(&self.ladders[side as usize].ids);
        self.ladders[side as usize].clear();
        self.free.extend_from_slice(&slots);
        slots
    }

    pub(super) fn clear(&mut self) {
        for ladder in &mut self.ladders {
            ladder.clear();
        }
        self.levels.clear();
        self.free_levels.clear();
        self.slab.clear();
        self.free.clear();
    }
}

/// Walks a level's circular list of slab slots from the front to its sentinel.
pub(super) struct QueueIter<'a> {
    slab: &'a [Node],
    cursor: u32,
    end: u32,
}

impl Iterator for QueueIter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.cursor == self.end {
            return None;
        }
        let slot = self.cursor;
        self.cursor = self.slab[slot as usize].next;
        Some(slot)
    }
}
