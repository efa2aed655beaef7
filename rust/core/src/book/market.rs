//! Every book of a stream, one per `(instrument_id, publisher_id)`, and the views across them.

use dbn::MboMsg;
use rustc_hash::FxHashMap;

use crate::book::auction::{indicative_uncross, Uncross};
use crate::book::{map_bytes, vec_bytes, Book};
use crate::dbn::{MboStream, Source};
use crate::error::Result;

pub type BookKey = (u32, u16);

#[derive(Clone, Debug, Default)]
pub struct Market {
    books: Vec<Book>,
    by_key: FxHashMap<BookKey, usize>,
    /// Consecutive records usually hit the same book: skip the hash lookup for them.
    last: Option<(BookKey, usize)>,
}

impl Market {
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply one record to its book (created on first sight) and return that book's slot.
    #[inline(always)]
    pub fn apply(&mut self, msg: &MboMsg) -> usize {
        let key = (msg.hd.instrument_id, msg.hd.publisher_id);
        let slot = self.slot_for(key);
        self.books[slot].apply(msg);
        slot
    }

    /// The slot of the book for `key`, created empty on first sight.
    #[inline]
    pub(crate) fn slot_for(&mut self, key: BookKey) -> usize {
        if let Some((last_key, slot)) = self.last {
            if last_key == key {
                return slot;
            }
        }
        self.slot_of_other_book(key)
    }

    /// Kept out of line: inlined, creating a book would widen every `apply`'s stack frame.
    #[inline(never)]
    fn slot_of_other_book(&mut self, key: BookKey) -> usize {
        let books = &mut self.books;
        let slot = *self.by_key.entry(key).or_insert_with(|| {
            books.push(Book::new(key.0, key.1));
            books.len() - 1
        });
        self.last = Some((key, slot));
        slot
    }

    /// Apply every record of a stream; returns the number of MBO records read. On a decode
    /// error the records before it stay applied (the error carries the byte offset).
    pub fn apply_stream(&mut self, source: Source<'_>) -> Result<u64> {
        MboStream::open(source)?.for_each_mbo(|_, msg| {
            self.apply(msg);
        })
    }

    /// The bytes the market holds on the heap (estimated from capacities, see `Book::heap_bytes`).
    pub fn heap_bytes(&self) -> usize {
        let books: usize = self.books.iter().map(Book::heap_bytes).sum();
        books + vec_bytes(&self.books) + map_bytes(&self.by_key)
    }

    /// The slot of a book, if it has been seen.
    pub fn slot(&self, key: BookKey) -> Option<usize> {
        self.by_key.get(&key).copied()
    }

    /// The book in `slot` (as returned by `apply`).
    pub fn book_at(&self, slot: usize) -> &Book {
        &self.books[slot]
    }

    /// The book in `slot`, mutably (restoring a checkpoint sets its anomaly counters).
    pub(crate) fn book_at_mut(&mut self, slot: usize) -> &mut Book {
        &mut self.books[slot]
    }

    pub fn book(&self, instrument_id: u32, publisher_id: u16) -> Option<&Book> {
        self.by_key
            .get(&(instrument_id, publisher_id))
            .map(|&slot| &self.books[slot])
    }

    /// All books sorted by `(instrument_id, publisher_id)`.
    pub fn books(&self) -> Vec<&Book> {
        let mut books: Vec<&Book> = self.books.iter().collect();
        books.sort_by_key(|b| (b.instrument_id, b.publisher_id));
        books
    }

    pub fn keys(&self) -> Vec<BookKey> {
        self.books()
            .iter()
            .map(|b| (b.instrument_id, b.publisher_id))
            .collect()
    }

    /// The indicative uncross of one book (see [`crate::book::auction`]); `None` when the book
    /// does not exist or is not crossed.
    pub fn indicative_uncross(
        &self,
        instrument_id: u32,
        publisher_id: u16,
        reference: Option<i64>,
    ) -> Option<Uncross> {
        indicative_uncross(self.book(instrument_id, publisher_id)?, reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::mbo_for;

    #[test]
    fn books_are_per_instrument_and_publisher() {
        let mut market = Market::new();
        market.apply(&mbo_for(1, 1, b'A', b'B', 1, 100, 5, 0x80));
        market.apply(&mbo_for(1, 2, b'A', b'B', 1, 100, 3, 0x80));
        market.apply(&mbo_for(1, 2, b'A', b'A', 2, 102, 3, 0x80));
        market.apply(&mbo_for(2, 1, b'A', b'B', 1, 99, 1, 0x80));
        assert_eq!(market.keys(), vec![(1, 1), (1, 2), (2, 1)]);
        let (bid, ask) = market.consolidated_top(1);
        assert_eq!((bid.price, bid.size, bid.count), (100, 8, 2));
        assert_eq!((ask.price, ask.size, ask.count), (102, 3, 1));
        assert!(market.consolidated_top(3).0.is_empty());
    }
}
