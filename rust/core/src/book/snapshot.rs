//! Books as MBO records: the records that, applied to an empty `Market`, rebuild the same books
//! (levels, FIFO queues, `maybe_bad`, `consistent`). Used for persisted checkpoints: a book at
//! any point is a snapshot plus the records after it, applied by the ordinary `Book::apply`.
//!
//! Per book, in the shape of Databento's snapshots: an `R` clear, then for each side (bids, then
//! asks) an `F_TOB` add for the one level that holds size no order accounts for (a level set by
//! an earlier `F_TOB` add, see `Book`), then an `A` add per resting order, levels best first and
//! each level's queue front to back. Every record carries `F_SNAPSHOT`.
//!
//! Two states are carried by flags rather than records: `maybe_bad` (`F_MAYBE_BAD_BOOK` on the
//! `R`: a clear resets it, the flag then sets it again) and `consistent` (`F_LAST` on the book's
//! last record only when the book was at an event boundary; a checkpoint taken mid-event must
//! stay mid-event, so that the event's remaining records complete it exactly as they did the
//! original). Anomaly counters describe the stream, not the book, and are not reproduced: a
//! rebuilt book starts at zero.

use dbn::{flags, FlagSet, MboMsg, UNDEF_PRICE};

use crate::book::market::Market;
use crate::book::{Book, Side};
use crate::dbn::writer::{mbo_header, to_dbn_bytes, DbnOptions};
use crate::error::Result;

/// When the snapshot records are stamped (`ts_recv`, and `ts_event` in their headers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    pub ts_recv: u64,
    pub ts_event: u64,
}

fn record(book: &Book, stamp: Stamp, action: u8, side: u8, order_id: u64) -> MboMsg {
    MboMsg {
        hd: mbo_header(book.publisher_id, book.instrument_id, stamp.ts_event),
        order_id,
        price: UNDEF_PRICE,
        size: 0,
        flags: FlagSet::new(flags::SNAPSHOT),
        channel_id: 0,
        action: action as std::ffi::c_char,
        side: side as std::ffi::c_char,
        ts_recv: stamp.ts_recv,
        ts_in_delta: 0,
        sequence: 0,
    }
}

/// Append the records that rebuild `book` (on a market where it does not exist yet, or exists
/// in any state: the leading `R` empties it) to `out`.
pub fn book_snapshot(book: &Book, stamp: Stamp, out: &mut Vec<MboMsg>) {
    let mut clear = record(book, stamp, b'R', b'N', 0);
    if book.maybe_bad {
        clear.flags = FlagSet::new(flags::SNAPSHOT | flags::MAYBE_BAD_BOOK);
    }
    out.push(clear);
    for side in [Side::Bid, Side::Ask] {
        let side_byte = side.as_byte();
        // A level's size beyond its orders' sizes came from an F_TOB add. Such an add clears its
        // side first, so at most one level per side carries it, and re-adding it before the
        // side's orders (which then join the back of that level like the originals did)
        // rebuilds the side.
        let mut tob_levels = 0;
        for level in book.levels(side) {
            let in_orders: u64 = book.queue(level).map(|(_, size)| u64::from(size)).sum();
            if level.size > in_orders {
                tob_levels += 1;
                let mut tob = record(book, stamp, b'A', side_byte, 0);
                tob.flags = FlagSet::new(flags::SNAPSHOT | flags::TOB);
                tob.price = level.price;
                // F_TOB sizes arrive as u32 and orders only add to a level: the excess fits.
                tob.size = u32::try_from(level.size - in_orders).unwrap_or(u32::MAX);
                out.push(tob);
            }
        }
        debug_assert!(
            tob_levels <= 1,
            "F_TOB size on {tob_levels} levels of one side"
        );
        for level in book.levels(side) {
            for (order_id, size) in book.queue(level) {
                let mut add = record(book, stamp, b'A', side_byte, order_id);
                add.price = level.price;
                add.size = size;
                out.push(add);
            }
        }
    }
    if book.consistent {
        let last = out.last_mut().expect("the R record is always there");
        last.flags = FlagSet::new(last.flags.raw() | flags::LAST);
    }
}

/// Snapshot records of every book of `market`, books in `(instrument_id, publisher_id)` order.
pub fn market_snapshot(market: &Market, stamp: Stamp) -> Vec<MboMsg> {
    let mut out = Vec::new();
    for book in market.books() {
        book_snapshot(book, stamp, &mut out);
    }
    out
}

/// Snapshot records as a complete DBN stream (metadata first, uncompressed): what `MboStream`
/// and `Market::apply_stream` read back. Raw 56-byte MBO records appended to these bytes form a
/// valid stream too, which is how a checkpoint and the records after it are applied in one pass.
pub fn snapshot_dbn(records: &[MboMsg]) -> Result<Vec<u8>> {
    to_dbn_bytes(records, &DbnOptions::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbn::Source;
    use crate::testing::mbo_for;

    const LAST: u8 = flags::LAST;

    /// A level: price, size, count and its queue `(order_id, size)` front first.
    type LevelState = (i64, u64, u32, Vec<(u64, u32)>);
    /// Everything observable about a book: levels, queues, order lookups and flags.
    type BookState = (Vec<LevelState>, Vec<LevelState>, usize, bool, bool, bool);

    fn side_state(book: &Book, side: Side) -> Vec<LevelState> {
        book.levels(side)
            .map(|l| (l.price, l.size, l.count, book.queue(l).collect()))
            .collect()
    }

    fn state(book: &Book) -> BookState {
        for level in book.levels(Side::Bid).chain(book.levels(Side::Ask)) {
            for (position, (order_id, size)) in book.queue(level).enumerate() {
                let resting = book.order(order_id).expect("a queued order is indexed");
                assert_eq!((resting.price, resting.size), (level.price, size));
                assert_eq!(resting.queue_position, position);
            }
        }
        (
            side_state(book, Side::Bid),
            side_state(book, Side::Ask),
            book.order_count(),
            book.crossed(),
            book.maybe_bad,
            book.consistent,
        )
    }

    fn market_state(market: &Market) -> Vec<((u32, u16), BookState)> {
        market
            .books()
            .into_iter()
            .map(|b| ((b.instrument_id, b.publisher_id), state(b)))
            .collect()
    }

    /// Snapshot `market`, apply the snapshot to an empty market (directly and through DBN
    /// bytes) and require identical books.
    fn assert_round_trip(market: &Market) {
        let stamp = Stamp {
            ts_recv: 7,
            ts_event: 5,
        };
        let records = market_snapshot(market, stamp);
        assert!(records.iter().all(|r| r.flags.raw() & flags::SNAPSHOT != 0));
        assert!(records.iter().all(|r| r.ts_recv == 7 && r.hd.ts_event == 5));
        let mut rebuilt = Market::new();
        for r in &records {
            rebuilt.apply(r);
        }
        assert_eq!(market_state(&rebuilt), market_state(market));
        let bytes = snapshot_dbn(&records).unwrap();
        let mut decoded = Market::new();
        let n = decoded.apply_stream(Source::Bytes(&bytes)).unwrap();
        assert_eq!(n as usize, records.len());
        assert_eq!(market_state(&decoded), market_state(market));
    }

    fn apply_all(records: &[MboMsg]) -> Market {
        let mut market = Market::new();
        for r in records {
            market.apply(r);
        }
        market
    }

    #[test]
    fn orders_levels_and_fifo_queues_round_trip() {
        let recs = [
            mbo_for(1, 1, b'A', b'B', 1, 100, 5, 0),
            mbo_for(1, 1, b'A', b'B', 2, 100, 3, 0),
            mbo_for(1, 1, b'A', b'B', 3, 99, 1, 0),
            mbo_for(1, 1, b'A', b'A', 4, 102, 2, 0),
            mbo_for(1, 1, b'A', b'A', 5, 102, 7, 0),
            mbo_for(1, 1, b'A', b'A', 6, 105, 1, 0),
            // order 1 loses priority (size up): it is now behind order 2
            mbo_for(1, 1, b'M', b'B', 1, 100, 6, 0),
            // order 5 keeps its place (size down)
            mbo_for(1, 1, b'M', b'A', 5, 102, 4, LAST),
            // a second publisher and a second instrument
            mbo_for(1, 2, b'A', b'B', 9, 101, 4, LAST),
            mbo_for(2, 1, b'A', b'A', 1, 50, 1, LAST),
        ];
        let market = apply_all(&recs);
        assert_eq!(
            market.book(1, 1).unwrap().orders_at(Side::Bid, 100),
            vec![(2, 3), (1, 6)]
        );
        assert_round_trip(&market);
        // the snapshot of one book: R, bids best first in queue order, then asks
        let mut one = Vec::new();
        book_snapshot(market.book(1, 1).unwrap(), Stamp::default(), &mut one);
        let shape: Vec<(u8, u8, u64, i64)> = one
            .iter()
            .map(|r| (r.action as u8, r.side as u8, r.order_id, r.price))
            .collect();
        assert_eq!(
            shape,
            vec![
                (b'R', b'N', 0, UNDEF_PRICE),
                (b'A', b'B', 2, 100),
                (b'A', b'B', 1, 100),
                (b'A', b'B', 3, 99),
                (b'A', b'A', 4, 102),
                (b'A', b'A', 5, 102),
                (b'A', b'A', 6, 105),
            ]
        );
        assert_eq!(one.last().unwrap().flags.raw() & LAST, LAST);
        assert!(one[..one.len() - 1]
            .iter()
            .all(|r| r.flags.raw() & LAST == 0));
    }

    #[test]
    fn top_of_book_levels_round_trip_alone_and_with_orders_joining_them() {
        let tob = flags::TOB | LAST;
        // a bare F_TOB level on each side (count 0)
        let bare = apply_all(&[
            mbo_for(1, 1, b'A', b'B', 0, 100, 10, tob),
            mbo_for(1, 1, b'A', b'A', 0, 101, 4, tob),
        ]);
        assert_eq!(bare.book(1, 1).unwrap().top(Side::Bid).count, 0);
        assert_round_trip(&bare);
        // orders joining the F_TOB level and resting elsewhere; part of the joiner cancelled
        let mixed = apply_all(&[
            mbo_for(1, 1, b'A', b'B', 0, 100, 10, tob),
            mbo_for(1, 1, b'A', b'B', 7, 100, 3, 0),
            mbo_for(1, 1, b'A', b'B', 8, 98, 2, 0),
            mbo_for(1, 1, b'C', b'B', 7, 100, 1, 0),
            mbo_for(1, 1, b'A', b'A', 0, 103, 5, tob),
            mbo_for(1, 1, b'A', b'A', 9, 104, 1, LAST),
        ]);
        let book = mixed.book(1, 1).unwrap();
        assert_eq!(side_state(book, Side::Bid)[0], (100, 12, 1, vec![(7, 2)]));
        assert_round_trip(&mixed);
        // an F_TOB add at UNDEF_PRICE empties its side
        let emptied = apply_all(&[
            mbo_for(1, 1, b'A', b'B', 3, 100, 1, 0),
            mbo_for(1, 1, b'A', b'B', 0, UNDEF_PRICE, 0, tob),
        ]);
        assert_eq!(emptied.book(1, 1).unwrap().level_count(Side::Bid), 0);
        assert_round_trip(&emptied);
    }

    #[test]
    fn empty_books_flags_and_mid_event_states_round_trip() {
        // a book emptied by a clear still exists (and is consistent)
        let cleared = apply_all(&[
            mbo_for(1, 1, b'A', b'B', 1, 100, 1, LAST),
            mbo_for(1, 1, b'R', b'N', 0, UNDEF_PRICE, 0, LAST),
            mbo_for(2, 1, b'T', b'B', 0, 100, 1, 0), // exists, never had an order, mid-event
        ]);
        assert_eq!(cleared.keys(), vec![(1, 1), (2, 1)]);
        assert!(!cleared.book(2, 1).unwrap().consistent);
        assert_round_trip(&cleared);
        let mut records = Vec::new();
        book_snapshot(cleared.book(1, 1).unwrap(), Stamp::default(), &mut records);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].flags.raw(), flags::SNAPSHOT | LAST);
        // maybe_bad survives; a mid-event book stays mid-event and the event's last record
        // completes the rebuilt book exactly as it does the original
        let recs = [
            mbo_for(1, 1, b'A', b'B', 1, 100, 5, flags::MAYBE_BAD_BOOK | LAST),
            mbo_for(1, 1, b'A', b'A', 2, 101, 5, LAST),
            mbo_for(1, 1, b'T', b'A', 0, 101, 2, 0),
            mbo_for(1, 1, b'F', b'A', 2, 101, 2, 0),
        ];
        let mut original = apply_all(&recs);
        assert!(original.book(1, 1).unwrap().maybe_bad);
        assert_round_trip(&original);
        let mut rebuilt = apply_all(&market_snapshot(&original, Stamp::default()));
        let rest = mbo_for(1, 1, b'C', b'A', 2, 101, 2, LAST);
        original.apply(&rest);
        rebuilt.apply(&rest);
        assert_eq!(market_state(&rebuilt), market_state(&original));
        // the empty market: no records, and a DBN stream with metadata only
        assert!(market_snapshot(&Market::new(), Stamp::default()).is_empty());
        let header = snapshot_dbn(&[]).unwrap();
        let mut m = Market::new();
        assert_eq!(m.apply_stream(Source::Bytes(&header)).unwrap(), 0);
    }

    /// A deterministic pseudo-random session over 2 books with every action, F_TOB adds, clears,
    /// side changes and unknown ids; the snapshot round-trips after every record.
    #[test]
    fn random_sessions_round_trip_after_every_record() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut market = Market::new();
        for _ in 0..3_000 {
            let publisher = 1 + next(2) as u16;
            let side = if next(2) == 0 { b'B' } else { b'A' };
            let order_id = next(40);
            let price = 100 + next(8) as i64;
            let size = next(5) as u32;
            let mut flag_bits = if next(3) == 0 { 0 } else { LAST };
            let action = match next(100) {
                0..=39 => b'A',
                40..=69 => b'C',
                70..=89 => b'M',
                90..=92 => {
                    flag_bits |= flags::TOB;
                    b'A'
                }
                93 => b'R',
                94 => {
                    flag_bits |= flags::MAYBE_BAD_BOOK;
                    b'A'
                }
                95..=97 => b'T',
                _ => b'F',
            };
            let price = if action == b'A' && flag_bits & flags::TOB != 0 && next(10) == 0 {
                UNDEF_PRICE
            } else {
                price
            };
            market.apply(&mbo_for(
                1, publisher, action, side, order_id, price, size, flag_bits,
            ));
            assert_round_trip(&market);
        }
    }

    /// The real sample file: snapshots at many points, including right after every record of
    /// a stretch, round-trip, and a snapshot plus the records after it equals the full replay.
    #[test]
    fn clx5_snapshots_round_trip_and_continue_like_the_original() {
        let Some(bytes) = crate::testing::clx5() else {
            return;
        };
        let mut stream = crate::dbn::MboStream::open(Source::Bytes(&bytes)).unwrap();
        let mut records = Vec::new();
        while let Some((_, msg)) = stream.next_mbo().unwrap() {
            records.push(msg);
        }
        let mut market = Market::new();
        for (i, msg) in records.iter().enumerate() {
            market.apply(msg);
            if i % 997 == 0 || (20_000..20_050).contains(&i) || i + 1 == records.len() {
                assert_round_trip(&market);
            }
        }
        // checkpoint at 12,345 + the rest of the records, through DBN bytes
        let at = 12_345;
        let checkpoint = apply_all(&records[..at]);
        let stamp = Stamp {
            ts_recv: records[at - 1].ts_recv,
            ts_event: records[at - 1].hd.ts_event,
        };
        let mut combined = snapshot_dbn(&market_snapshot(&checkpoint, stamp)).unwrap();
        for msg in &records[at..] {
            combined.extend_from_slice(AsRef::<[u8]>::as_ref(msg));
        }
        let mut resumed = Market::new();
        resumed.apply_stream(Source::Bytes(&combined)).unwrap();
        assert_eq!(market_state(&resumed), market_state(&market));
    }
}
