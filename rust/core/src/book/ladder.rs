//! One side's price levels, sorted worst to best (best = last): the sort keys in one vector
//! (the search reads only these, eight to a cache line) and the level slots in another, in step.
//! Most activity is within a few levels of the touch, where a search costs the same wherever the
//! price falls (see [`Ladder::find`]).

/// Levels compared without branching before a binary search (see `Ladder::find`).
const NEAR_TOUCH: usize = 8;

/// The levels of one side, sorted worst to best (best = last): sort keys in one vector (the
/// search reads only these, eight to a cache line) and level slots in another, in step.
#[derive(Clone, Debug, Default)]
pub(super) struct Ladder {
    pub(super) keys: Vec<i64>,
    pub(super) ids: Vec<u32>,
}

impl Ladder {
    /// Position of the level with sort key `key`: `Ok(i)` if it exists, `Err(i)` where it would go.
    #[inline]
    pub(super) fn find(&self, key: i64) -> Result<usize, usize> {
        let keys = &self.keys[..];
        let len = keys.len();
        // Most activity is within a few levels of the touch. Counting the better levels among
        // the best NEAR_TOUCH is branch-free, so it costs the same wherever the price falls
        // (a walk that stops at the first match mispredicts its exit).
        let at = if len >= NEAR_TOUCH && keys[len - NEAR_TOUCH] <= key {
            let near: &[i64; NEAR_TOUCH] = keys[len - NEAR_TOUCH..].try_into().unwrap();
            len - near.iter().map(|&k| usize::from(k > key)).sum::<usize>()
        } else {
            keys.partition_point(|&k| k <= key)
        };
        // `at` is the first position whose key is greater: the level, if any, is just before.
        match at.checked_sub(1) {
            Some(found) if keys[found] == key => Ok(found),
            _ => Err(at),
        }
    }

    pub(super) fn insert(&mut self, at: usize, key: i64, id: u32) {
        self.keys.insert(at, key);
        self.ids.insert(at, id);
    }

    pub(super) fn remove(&mut self, at: usize) {
        self.keys.remove(at);
        self.ids.remove(at);
    }

    pub(super) fn clear(&mut self) {
        self.keys.clear();
        self.ids.clear();
    }

    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(super) fn best(&self) -> Option<u32> {
        self.ids.last().copied()
    }
}
