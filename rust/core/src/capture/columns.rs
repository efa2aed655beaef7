//! The columns every capture shares: each row's keys ([`RowKeys`]) and one side's price, size
//! and count ([`SideColumns`]), grown fallibly, and written in place where a sink sets the
//! lengths once at the end.

use dbn::MboMsg;

use crate::book::Top;
use crate::error::{try_reserve, Result};
use crate::table::Column;

/// The identifying columns of every captured row.
#[derive(Debug, Default)]
pub struct RowKeys {
    pub index: Vec<u64>,
    pub ts_recv: Vec<u64>,
    pub ts_event: Vec<u64>,
    pub instrument_id: Vec<u32>,
    pub publisher_id: Vec<u16>,
}

impl RowKeys {
    pub(super) fn try_reserve(&mut self, rows: usize, what: &str) -> Result<()> {
        try_reserve(&mut self.index, rows, what)?;
        try_reserve(&mut self.ts_recv, rows, what)?;
        try_reserve(&mut self.ts_event, rows, what)?;
        try_reserve(&mut self.instrument_id, rows, what)?;
        try_reserve(&mut self.publisher_id, rows, what)
    }

    pub(super) fn room(&self) -> usize {
        let Self {
            index,
            ts_recv,
            ts_event,
            instrument_id,
            publisher_id,
        } = self;
        [
            index.capacity(),
            ts_recv.capacity(),
            ts_event.capacity(),
            instrument_id.capacity(),
            publisher_id.capacity(),
        ]
        .into_iter()
        .min()
        .unwrap_or(0)
    }

    /// # Safety
    /// `row` must be below `self.room()`.
    #[inline(always)]
    pub(super) unsafe fn write(&mut self, row: usize, index: u64, msg: &MboMsg) {
        write_at(&mut self.index, row, index);
        write_at(&mut self.ts_recv, row, msg.ts_recv);
        write_at(&mut self.ts_event, row, msg.hd.ts_event);
        write_at(&mut self.instrument_id, row, msg.hd.instrument_id);
        write_at(&mut self.publisher_id, row, msg.hd.publisher_id);
    }

    /// # Safety
    /// Rows `..rows` of every column must have been written.
    pub(super) unsafe fn set_len(&mut self, rows: usize) {
        self.index.set_len(rows);
        self.ts_recv.set_len(rows);
        self.ts_event.set_len(rows);
        self.instrument_id.set_len(rows);
        self.publisher_id.set_len(rows);
    }

    #[inline]
    pub(super) fn push(&mut self, index: u64, msg: &MboMsg) {
        self.index.push(index);
        self.ts_recv.push(msg.ts_recv);
        self.ts_event.push(msg.hd.ts_event);
        self.instrument_id.push(msg.hd.instrument_id);
        self.publisher_id.push(msg.hd.publisher_id);
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// The key columns, in their order: index, ts_recv, ts_event, instrument_id, publisher_id.
    pub fn into_columns(self, out: &mut Vec<Column>) {
        out.push(Column::new("index", self.index));
        out.push(Column::new("ts_recv", self.ts_recv));
        out.push(Column::new("ts_event", self.ts_event));
        out.push(Column::new("instrument_id", self.instrument_id));
        out.push(Column::new("publisher_id", self.publisher_id));
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

/// Price, size and order count of one side; size saturates at u32 like Databento's MBP records.
#[derive(Debug, Default)]
pub struct SideColumns {
    pub px: Vec<i64>,
    pub sz: Vec<u32>,
    pub ct: Vec<u32>,
}

impl SideColumns {
    pub(super) fn try_reserve(&mut self, values: usize, what: &str) -> Result<()> {
        try_reserve(&mut self.px, values, what)?;
        try_reserve(&mut self.sz, values, what)?;
        try_reserve(&mut self.ct, values, what)
    }

    #[inline]
    pub(super) fn push(&mut self, price: i64, size: u64, count: u32) {
        self.px.push(price);
        self.sz.push(u32::try_from(size).unwrap_or(u32::MAX));
        self.ct.push(count);
    }

    /// `{prefix}_px`, `{prefix}_sz`, `{prefix}_ct`; `width` values a row when given (depth).
    pub fn into_columns(self, prefix: &str, width: Option<usize>, out: &mut Vec<Column>) {
        let column = |name: &str| format!("{prefix}_{name}");
        match width {
            None => {
                out.push(Column::new(column("px"), self.px));
                out.push(Column::new(column("sz"), self.sz));
                out.push(Column::new(column("ct"), self.ct));
            }
            Some(width) => {
                out.push(Column::levels(column("px"), self.px, width));
                out.push(Column::levels(column("sz"), self.sz, width));
                out.push(Column::levels(column("ct"), self.ct, width));
            }
        }
    }

    pub(super) fn room(&self) -> usize {
        self.px
            .capacity()
            .min(self.sz.capacity())
            .min(self.ct.capacity())
    }

    /// # Safety
    /// `row` must be below `self.room()`.
    #[inline(always)]
    pub(super) unsafe fn write_top(&mut self, row: usize, top: Top) {
        write_at(&mut self.px, row, top.price);
        write_at(
            &mut self.sz,
            row,
            u32::try_from(top.size).unwrap_or(u32::MAX),
        );
        write_at(&mut self.ct, row, top.count);
    }

    /// # Safety
    /// Rows `..rows` of every column must have been written.
    pub(super) unsafe fn set_len(&mut self, rows: usize) {
        self.px.set_len(rows);
        self.sz.set_len(rows);
        self.ct.set_len(rows);
    }
}

/// Store `value` in row `row` of a column whose length is set later.
///
/// # Safety
/// `row` must be below the column's capacity.
#[inline(always)]
pub(super) unsafe fn write_at<T: Copy>(column: &mut Vec<T>, row: usize, value: T) {
    debug_assert!(row < column.capacity());
    column.as_mut_ptr().add(row).write(value);
}
