//! `read_bbo`: the best bid and offer after every event boundary, as columns.

use dbn::MboMsg;

use super::columns::{RowKeys, SideColumns};
use super::{for_each_boundary, Boundary, Filter, FALLBACK_ROWS};
use crate::book::{Book, Side};
use crate::dbn::Source;
use crate::error::{Error, Result};
use crate::table::Table;

/// Best bid and offer after every boundary.
///
/// Rows are written straight into reserved capacity and the eleven column lengths are set once
/// by `finish`: one bounds check per row instead of one per value, which is measurable at
/// millions of rows.
#[derive(Debug, Default)]
pub struct BboColumns {
    pub keys: RowKeys,
    pub bid: SideColumns,
    pub ask: SideColumns,
    /// Rows written so far.
    rows: usize,
    /// Rows every column has capacity for.
    room: usize,
    /// The columns could not grow: no row is written after this.
    failed: Option<Error>,
}

impl BboColumns {
    fn set_lens(&mut self) {
        // SAFETY: `visit` wrote every column of rows `..self.rows`.
        unsafe {
            self.keys.set_len(self.rows);
            self.bid.set_len(self.rows);
            self.ask.set_len(self.rows);
        }
    }

    /// Room for `rows` more rows in every column (lengths must be set).
    fn try_reserve(&mut self, rows: usize) -> Result<()> {
        const WHAT: &str = "the read_bbo output columns";
        let reserved = self.keys.try_reserve(rows, WHAT).and_then(|()| {
            self.bid.try_reserve(rows, WHAT)?;
            self.ask.try_reserve(rows, WHAT)
        });
        self.room = self.keys.room().min(self.bid.room()).min(self.ask.room());
        reserved
    }

    /// Double the room; false (and the error kept for `finish`) when the memory is not there.
    #[cold]
    fn grow(&mut self) -> bool {
        if self.failed.is_some() {
            return false;
        }
        self.set_lens();
        match self.try_reserve(self.rows.max(FALLBACK_ROWS)) {
            Ok(()) => true,
            Err(err) => {
                self.failed = Some(err);
                false
            }
        }
    }
}

impl BboColumns {
    /// The columns as a table: the keys, then bid_px, bid_sz, bid_ct, ask_px, ask_sz, ask_ct.
    pub fn into_table(self) -> Table {
        let mut columns = Vec::with_capacity(11);
        self.keys.into_columns(&mut columns);
        self.bid.into_columns("bid", None, &mut columns);
        self.ask.into_columns("ask", None, &mut columns);
        Table { columns }
    }
}

impl super::batches::TableSink for BboColumns {
    fn rows(&self) -> usize {
        self.rows
    }

    fn take_table(&mut self) -> Result<Table> {
        self.finish()?;
        Ok(std::mem::take(self).into_table())
    }
}

impl Boundary for BboColumns {
    fn reserve(&mut self, rows: usize) {
        // The input's size bounds the rows: reserving them all spares regrowing (copying) the
        // columns, and pages never written cost nothing. A size that cannot be had (a sparse
        // file, a memory limit) falls back to growing from a modest start.
        if self.try_reserve(rows).is_err() {
            let _ = self.try_reserve(rows.min(FALLBACK_ROWS));
        }
    }

    #[inline(always)]
    fn visit(&mut self, index: u64, msg: &MboMsg, book: &Book) {
        if self.rows == self.room && !self.grow() {
            return;
        }
        let row = self.rows;
        // SAFETY: `row < self.room`, the capacity of every column.
        unsafe {
            self.keys.write(row, index, msg);
            self.bid.write_top(row, book.top(Side::Bid));
            self.ask.write_top(row, book.top(Side::Ask));
        }
        self.rows += 1;
    }

    fn stopped(&self) -> bool {
        self.failed.is_some()
    }

    fn finish(&mut self) -> Result<()> {
        self.set_lens();
        self.failed.take().map_or(Ok(()), Err)
    }
}

pub fn read_bbo(source: Source<'_>, filter: Filter) -> Result<BboColumns> {
    let mut out = BboColumns::default();
    for_each_boundary(source, filter, &mut out)?;
    Ok(out)
}
