//! `read_depth`: the top `depth` levels of each side after every event boundary, as row-major
//! `(rows, depth)` columns.

use dbn::{MboMsg, UNDEF_PRICE};

use super::columns::{RowKeys, SideColumns};
use super::{for_each_boundary, Boundary, Filter};
use crate::book::{Book, Side};
use crate::dbn::Source;
use crate::error::{Error, Result};
use crate::table::Table;

/// The most levels per side `read_depth` captures. Every row holds `depth` levels per side
/// whether the book has them or not (missing ones are padding), 16 bytes each: at this maximum a
/// row is 320 KB. Real books stay well within it (the sample files' deepest: 928 bid levels in
/// ESH4 at its snapshot, 111 in CLX5), ten times over. Beyond it is a [`Error::BadArgument`];
/// the whole book at any point is `Book::levels`.
pub const MAX_DEPTH: usize = 10_000;
/// The most level values per side column `read_depth` reserves before the first row: beyond
/// that (a large file at a large depth), columns grow as rows come.
const DEPTH_UP_FRONT_VALUES: usize = 1 << 22;

/// The top `depth` levels of each side after every boundary, row-major `(rows, depth)`;
/// missing levels are `UNDEF_PRICE` with size and count 0.
#[derive(Debug, Default)]
pub struct DepthColumns {
    pub depth: usize,
    pub keys: RowKeys,
    pub bid: SideColumns,
    pub ask: SideColumns,
    /// Rows every column has capacity for: pushing a row never reallocates.
    room: usize,
    /// The columns could not grow: no row is written after this.
    failed: Option<Error>,
}

/// `depth` levels a side after every boundary; `depth` must be `1..=MAX_DEPTH`.
pub fn read_depth(source: Source<'_>, depth: usize, filter: Filter) -> Result<DepthColumns> {
    check_depth(depth)?;
    let mut out = DepthColumns::new(depth);
    for_each_boundary(source, filter, &mut out)?;
    Ok(out)
}

/// `depth` is `1..=MAX_DEPTH`, or a bad argument.
pub(super) fn check_depth(depth: usize) -> Result<()> {
    if !(1..=MAX_DEPTH).contains(&depth) {
        return Err(Error::bad_argument(format!(
            "depth must be between 1 and {MAX_DEPTH} levels, got {depth}"
        )));
    }
    Ok(())
}

impl DepthColumns {
    /// Empty columns for `depth` levels a side (checked by `read_depth`).
    pub(super) fn new(depth: usize) -> Self {
        DepthColumns {
            depth,
            ..Default::default()
        }
    }

    /// The columns as a table: the keys, then bid_px, bid_sz, bid_ct, ask_px, ask_sz, ask_ct
    /// with `depth` values a row, best level first.
    pub fn into_table(self) -> Table {
        let mut columns = Vec::with_capacity(11);
        let width = Some(self.depth);
        self.keys.into_columns(&mut columns);
        self.bid.into_columns("bid", width, &mut columns);
        self.ask.into_columns("ask", width, &mut columns);
        Table { columns }
    }

    /// Room for `rows` more rows in every column.
    fn try_reserve(&mut self, rows: usize) -> Result<()> {
        const WHAT: &str = "the read_depth output columns";
        // depth <= MAX_DEPTH: rows * depth overflows only where the allocation fails anyway.
        let values = rows.saturating_mul(self.depth);
        let reserved = self.keys.try_reserve(rows, WHAT).and_then(|()| {
            self.bid.try_reserve(values, WHAT)?;
            self.ask.try_reserve(values, WHAT)
        });
        let depth = self.depth.max(1);
        self.room = self
            .keys
            .room()
            .min(self.bid.room() / depth)
            .min(self.ask.room() / depth);
        reserved
    }

    /// Double the room; false (and the error kept for `finish`) when the memory is not there.
    #[cold]
    fn grow(&mut self) -> bool {
        if self.failed.is_some() {
            return false;
        }
        match self.try_reserve(self.keys.len().max(1)) {
            Ok(()) => true,
            Err(err) => {
                self.failed = Some(err);
                false
            }
        }
    }
}

impl super::batches::TableSink for DepthColumns {
    fn rows(&self) -> usize {
        self.keys.len()
    }

    fn take_table(&mut self) -> Result<Table> {
        self.finish()?;
        let fresh = DepthColumns::new(self.depth);
        Ok(std::mem::replace(self, fresh).into_table())
    }
}

impl Boundary for DepthColumns {
    fn reserve(&mut self, rows: usize) {
        // At most DEPTH_UP_FRONT_VALUES level values a column up front; a failure is only a
        // missed hint (`grow` tries again as rows come).
        let rows = rows.min(DEPTH_UP_FRONT_VALUES / self.depth.max(1)).max(1);
        let _ = self.try_reserve(rows);
    }

    #[inline]
    fn visit(&mut self, index: u64, msg: &MboMsg, book: &Book) {
        if self.keys.len() == self.room && !self.grow() {
            return;
        }
        self.keys.push(index, msg);
        push_levels(&mut self.bid, book, Side::Bid, self.depth);
        push_levels(&mut self.ask, book, Side::Ask, self.depth);
    }

    fn stopped(&self) -> bool {
        self.failed.is_some()
    }

    fn finish(&mut self) -> Result<()> {
        self.failed.take().map_or(Ok(()), Err)
    }
}

fn push_levels(columns: &mut SideColumns, book: &Book, side: Side, depth: usize) {
    let mut written = 0;
    for level in book.levels(side).take(depth) {
        columns.push(level.price, level.size, level.count);
        written += 1;
    }
    for _ in written..depth {
        columns.push(UNDEF_PRICE, 0, 0);
    }
}
