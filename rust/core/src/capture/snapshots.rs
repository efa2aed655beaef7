//! `read_snapshots`: every book on a time grid (what Tardis and OneTick sell as book snapshots).
//!
//! The grid is the multiples of `every` ns (by `ts_recv`) from the first at or after the
//! stream's first record to the last at or before its last record. A book's row at grid time
//! `t` is its consistent state: the book after its last `F_LAST` record with `ts_recv <= t` (a
//! book in the middle of an event at `t` shows the state before that event). Books get rows from
//! their first boundary on, in `(instrument_id, publisher_id)` order within a grid time. With
//! `only_changed`, a book's row is written only when its top `depth` levels differ from its
//! previous row, and the grid points between two records are skipped, so the work is bounded by
//! the records; without it every book gets a row at every grid point, so the work and the output
//! grow with the time span over `every`: more than [`MAX_GRID_POINTS`] grid times is an
//! [`Error::BadArgument`] (raise `every`, or ask for changed rows only), and the columns grow
//! fallibly ([`Error::OutOfMemory`] rather than an abort).
//!
//! Columns: `ts` (the grid time), the boundary record's keys (`index`, `ts_recv`, `ts_event`,
//! `instrument_id`, `publisher_id`), and `depth` levels a side, as in `read_depth`.

use dbn::{flags, MboMsg, UNDEF_PRICE};

use super::columns::{RowKeys, SideColumns};
use super::depth::MAX_DEPTH;
use super::FALLBACK_ROWS;
use crate::book::market::Market;
use crate::book::{Book, Side};
use crate::dbn::{MboStream, MboVisitor, Source};
use crate::error::{try_reserve, Error, Result};
use crate::table::{Column, Table};

/// The most grid times a pass writes rows at (every book at every one, without `only_changed`).
pub const MAX_GRID_POINTS: u64 = 10_000_000;

/// Books on a time grid: one row per book and grid time (see the module header).
#[derive(Debug, Default)]
pub struct SnapshotColumns {
    pub depth: usize,
    /// The grid time of each row.
    pub ts: Vec<u64>,
    /// The keys of the boundary record whose state the row shows.
    pub keys: RowKeys,
    pub bid: SideColumns,
    pub ask: SideColumns,
    room: usize,
    failed: Option<Error>,
}

impl SnapshotColumns {
    /// The columns as a table: ts, the keys, then bid_px, bid_sz, bid_ct, ask_px, ask_sz,
    /// ask_ct with `depth` values a row, best level first.
    pub fn into_table(self) -> Table {
        let mut columns = Vec::with_capacity(12);
        let width = Some(self.depth);
        columns.push(Column::new("ts", self.ts));
        self.keys.into_columns(&mut columns);
        self.bid.into_columns("bid", width, &mut columns);
        self.ask.into_columns("ask", width, &mut columns);
        Table { columns }
    }

    fn grow(&mut self) -> bool {
        if self.failed.is_some() {
            return false;
        }
        const WHAT: &str = "the read_snapshots output columns";
        let rows = self.ts.len().max(FALLBACK_ROWS);
        let values = rows.saturating_mul(self.depth);
        let reserved = try_reserve(&mut self.ts, rows, WHAT)
            .and_then(|()| self.keys.try_reserve(rows, WHAT))
            .and_then(|()| self.bid.try_reserve(values, WHAT))
            .and_then(|()| self.ask.try_reserve(values, WHAT));
        match reserved {
            Ok(()) => {
                self.room = self.ts.capacity().min(self.keys.room());
                true
            }
            Err(err) => {
                self.failed = Some(err);
                false
            }
        }
    }

    fn push(&mut self, ts: u64, snap: &BookSnap) {
        if self.ts.len() == self.room && !self.grow() {
            return;
        }
        let Some((index, msg)) = &snap.boundary else {
            return;
        };
        self.ts.push(ts);
        self.keys.push(*index, msg);
        let (bids, asks) = snap.levels.split_at(self.depth);
        for &(px, sz, ct) in bids {
            self.bid.push(px, sz, ct);
        }
        for &(px, sz, ct) in asks {
            self.ask.push(px, sz, ct);
        }
    }
}

/// One book's consistent state: its top levels (`depth` bids, then `depth` asks, padded) at
/// its last boundary, and what its last row showed.
struct BookSnap {
    boundary: Option<(u64, MboMsg)>,
    levels: Vec<(i64, u64, u32)>,
    shown: Option<Vec<(i64, u64, u32)>>,
    /// A boundary since the last row.
    dirty: bool,
}

struct Pass {
    market: Market,
    books: Vec<BookSnap>,
    /// Book slots in `(instrument_id, publisher_id)` order.
    order: Vec<usize>,
    every: u64,
    only_changed: bool,
    /// The next grid time to write, once the first record is seen.
    next: Option<u64>,
    last_ts: u64,
    /// Grid times written so far.
    points: u64,
    out: SnapshotColumns,
}

impl Pass {
    /// The first grid time at or after `ts` (`None` past the end of time).
    fn ceil(&self, ts: u64) -> Option<u64> {
        match ts % self.every {
            0 => Some(ts),
            rem => ts.checked_add(self.every - rem),
        }
    }

    /// Write the rows of every grid time before `ts` not written yet.
    fn write_before(&mut self, ts: u64) {
        while let Some(t) = self.next.filter(|&t| t < ts) {
            self.points += 1;
            if self.points > MAX_GRID_POINTS {
                self.out.failed = Some(Error::bad_argument(format!(
                    "the grid has more than {MAX_GRID_POINTS} times: use a longer interval, or \
                     only the changed rows"
                )));
                self.next = None;
                return;
            }
            self.write_rows(t);
            self.next = if self.only_changed {
                self.ceil(ts) // nothing changes before `ts`: the rows would repeat
            } else {
                t.checked_add(self.every)
            };
            if self.out.failed.is_some() {
                self.next = None;
            }
        }
    }

    fn write_rows(&mut self, t: u64) {
        for &slot in &self.order {
            let snap = &mut self.books[slot];
            if snap.boundary.is_none() {
                continue;
            }
            if self.only_changed {
                if !snap.dirty {
                    continue;
                }
                snap.dirty = false;
                if snap.shown.as_ref() == Some(&snap.levels) {
                    continue;
                }
                snap.shown = Some(snap.levels.clone());
            }
            self.out.push(t, snap);
        }
    }

    fn capture(&mut self, slot: usize, index: u64, msg: &MboMsg) {
        let depth = self.out.depth;
        let book: &Book = self.market.book_at(slot);
        let snap = &mut self.books[slot];
        snap.levels.clear();
        for side in [Side::Bid, Side::Ask] {
            let levels = book.levels(side).take(depth);
            let missing = depth - levels.len();
            snap.levels
                .extend(levels.map(|l| (l.price, l.size, l.count)));
            snap.levels
                .extend(std::iter::repeat_n((UNDEF_PRICE, 0, 0), missing));
        }
        snap.boundary = Some((index, *msg));
        snap.dirty = true;
    }
}

impl MboVisitor for Pass {
    fn visit(&mut self, index: u64, msg: &MboMsg) {
        let ts = msg.ts_recv;
        if self.next.is_none() && index == 0 {
            self.next = self.ceil(ts);
        }
        self.write_before(ts);
        self.last_ts = self.last_ts.max(ts);
        let slot = self.market.apply(msg);
        if slot == self.books.len() {
            self.books.push(BookSnap {
                boundary: None,
                levels: Vec::new(),
                shown: None,
                dirty: false,
            });
            let market = &self.market;
            let key = |s: &usize| {
                let book = market.book_at(*s);
                (book.instrument_id, book.publisher_id)
            };
            let at = self.order.partition_point(|s| key(s) < key(&slot));
            self.order.insert(at, slot);
        }
        if msg.flags.raw() & flags::LAST != 0 {
            self.capture(slot, index, msg);
        }
    }

    fn paused(&self) -> bool {
        self.out.failed.is_some()
    }
}

/// Every book's top `depth` levels at every multiple of `every` ns (see the module header).
pub fn read_snapshots(
    source: Source<'_>,
    depth: usize,
    every: u64,
    only_changed: bool,
) -> Result<SnapshotColumns> {
    if !(1..=MAX_DEPTH).contains(&depth) {
        return Err(Error::bad_argument(format!(
            "depth must be between 1 and {MAX_DEPTH} levels, got {depth}"
        )));
    }
    if every == 0 {
        return Err(Error::bad_argument(
            "the grid interval must be at least 1 ns",
        ));
    }
    let mut stream = MboStream::open(source)?;
    let mut pass = Pass {
        market: Market::new(),
        books: Vec::new(),
        order: Vec::new(),
        every,
        only_changed,
        next: None,
        last_ts: 0,
        points: 0,
        out: SnapshotColumns {
            depth,
            ..Default::default()
        },
    };
    stream.visit_each_mbo(&mut pass)?;
    // the grid times up to the last record's
    pass.write_before(pass.last_ts.saturating_add(1));
    match pass.out.failed.take() {
        Some(err) => Err(err),
        None => Ok(pass.out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbn::writer::{to_dbn_bytes, DbnOptions};
    use crate::testing::mbo;

    fn at(mut msg: MboMsg, ts: u64) -> MboMsg {
        msg.ts_recv = ts;
        msg
    }

    #[test]
    fn rows_show_the_last_boundary_at_or_before_each_grid_time() {
        let records = vec![
            at(mbo(b'A', b'B', 1, 100, 5, 0x80), 5),
            at(mbo(b'A', b'B', 2, 101, 1, 0), 10), // an event open across t = 10, 20
            at(mbo(b'A', b'A', 3, 103, 1, 0x80), 21),
            at(mbo(b'C', b'A', 3, 103, 1, 0x80), 30), // exactly on the grid: counted at 30
        ];
        let bytes = to_dbn_bytes(&records, &DbnOptions::default()).unwrap();
        let all = read_snapshots(Source::Bytes(&bytes), 2, 10, false).unwrap();
        assert_eq!(all.ts, [10, 20, 30]);
        assert_eq!(all.keys.index, [0, 0, 3]);
        assert_eq!(all.bid.px, [100, UNDEF_PRICE, 100, UNDEF_PRICE, 101, 100]);
        assert_eq!(all.ask.px[4], UNDEF_PRICE);
        let changed = read_snapshots(Source::Bytes(&bytes), 2, 10, true).unwrap();
        assert_eq!(changed.ts, [10, 30]);
        assert!(read_snapshots(Source::Bytes(&bytes), 0, 10, true).is_err());
        assert!(read_snapshots(Source::Bytes(&bytes), 1, 0, true).is_err());
    }

    #[test]
    fn a_grid_too_fine_for_every_row_is_refused() {
        let records = vec![
            at(mbo(b'A', b'B', 1, 100, 5, 0x80), 0),
            at(mbo(b'A', b'B', 2, 101, 1, 0x80), MAX_GRID_POINTS * 2),
        ];
        let bytes = to_dbn_bytes(&records, &DbnOptions::default()).unwrap();
        match read_snapshots(Source::Bytes(&bytes), 1, 1, false) {
            Err(Error::BadArgument { message }) => assert!(message.contains("grid")),
            other => panic!("{other:?}"),
        }
        let changed = read_snapshots(Source::Bytes(&bytes), 1, 1, true).unwrap();
        assert_eq!(changed.ts, [0, MAX_GRID_POINTS * 2]);
    }
}
