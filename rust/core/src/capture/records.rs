//! `read_records`: every MBO record as columns (no book work).

use dbn::MboMsg;

use super::columns::RowKeys;
use super::{Filter, FALLBACK_ROWS};
use crate::dbn::{MboStream, MboVisitor, Source};
use crate::error::{try_reserve, Error, Result};
use crate::table::{Column, Table};

/// Every MBO record, column by column (no book work).
#[derive(Debug, Default)]
pub struct RecordColumns {
    /// Rows every column has capacity for: pushing a row never reallocates.
    room: usize,
    /// The columns could not grow: no row is written after this.
    failed: Option<Error>,
    pub keys: RowKeys,
    pub order_id: Vec<u64>,
    pub price: Vec<i64>,
    pub size: Vec<u32>,
    pub flags: Vec<u8>,
    pub action: Vec<u8>,
    pub side: Vec<u8>,
    pub sequence: Vec<u32>,
    pub channel_id: Vec<u8>,
}

impl RecordColumns {
    /// Columns of `records`, indexed from `first_index`.
    pub fn from_records(first_index: u64, records: &[MboMsg]) -> Result<Self> {
        let mut out = RecordColumns::default();
        out.try_reserve(records.len())?;
        for (i, msg) in (first_index..).zip(records) {
            out.push(i, msg);
        }
        out.failed.take().map_or(Ok(out), Err)
    }

    /// The columns as a table: the keys, then order_id, price, size, flags, action, side,
    /// sequence, channel_id (action and side as ASCII codes).
    pub fn into_table(self) -> Table {
        let mut columns = Vec::with_capacity(13);
        self.keys.into_columns(&mut columns);
        columns.push(Column::new("order_id", self.order_id));
        columns.push(Column::new("price", self.price));
        columns.push(Column::new("size", self.size));
        columns.push(Column::new("flags", self.flags));
        columns.push(Column::new("action", self.action));
        columns.push(Column::new("side", self.side));
        columns.push(Column::new("sequence", self.sequence));
        columns.push(Column::new("channel_id", self.channel_id));
        Table { columns }
    }

    /// Room for `rows` more rows in every column.
    fn try_reserve(&mut self, rows: usize) -> Result<()> {
        const WHAT: &str = "the read_records output columns";
        let reserved = self.keys.try_reserve(rows, WHAT).and_then(|()| {
            try_reserve(&mut self.order_id, rows, WHAT)?;
            try_reserve(&mut self.price, rows, WHAT)?;
            try_reserve(&mut self.size, rows, WHAT)?;
            try_reserve(&mut self.flags, rows, WHAT)?;
            try_reserve(&mut self.action, rows, WHAT)?;
            try_reserve(&mut self.side, rows, WHAT)?;
            try_reserve(&mut self.sequence, rows, WHAT)?;
            try_reserve(&mut self.channel_id, rows, WHAT)
        });
        self.room = [
            self.keys.room(),
            self.order_id.capacity(),
            self.price.capacity(),
            self.size.capacity(),
            self.flags.capacity(),
            self.action.capacity(),
            self.side.capacity(),
            self.sequence.capacity(),
            self.channel_id.capacity(),
        ]
        .into_iter()
        .min()
        .unwrap_or(0);
        reserved
    }

    /// Append one record, if the columns can grow to hold it (else the error is kept).
    #[inline]
    fn push(&mut self, index: u64, msg: &MboMsg) {
        if self.keys.len() == self.room && !self.grow() {
            return;
        }
        self.keys.push(index, msg);
        self.order_id.push(msg.order_id);
        self.price.push(msg.price);
        self.size.push(msg.size);
        self.flags.push(msg.flags.raw());
        self.action.push(msg.action as u8);
        self.side.push(msg.side as u8);
        self.sequence.push(msg.sequence);
        self.channel_id.push(msg.channel_id);
    }

    /// Double the room; false (and the error kept) when the memory is not there.
    #[cold]
    fn grow(&mut self) -> bool {
        if self.failed.is_some() {
            return false;
        }
        match self.try_reserve(self.keys.len().max(FALLBACK_ROWS)) {
            Ok(()) => true,
            Err(err) => {
                self.failed = Some(err);
                false
            }
        }
    }
}

impl RecordColumns {
    /// Empty columns with room for `rows` rows (less when that much memory is not there: they
    /// grow as rows come).
    pub(super) fn with_room(rows: usize) -> Self {
        let mut out = RecordColumns::default();
        if out.try_reserve(rows).is_err() {
            let _ = out.try_reserve(rows.min(FALLBACK_ROWS));
        }
        out
    }

    pub fn rows(&self) -> usize {
        self.keys.len()
    }

    /// Decode from `stream` until these columns hold `rows` rows of the records `filter` keeps
    /// or the stream ends; true at the end of the stream. A later call continues after the last
    /// record taken.
    pub(super) fn fill(
        &mut self,
        stream: &mut MboStream<'_>,
        rows: usize,
        filter: Filter,
    ) -> Result<bool> {
        struct Limited<'c> {
            out: &'c mut RecordColumns,
            rows: usize,
            filter: Filter,
        }
        impl MboVisitor for Limited<'_> {
            #[inline]
            fn visit(&mut self, index: u64, msg: &MboMsg) {
                if self.filter.matches_record(msg) {
                    self.out.push(index, msg);
                }
            }
            fn paused(&self) -> bool {
                self.out.failed.is_some() || self.out.keys.len() >= self.rows
            }
        }
        stream.visit_each_mbo(&mut Limited {
            out: self,
            rows,
            filter,
        })?;
        if let Some(err) = self.failed.take() {
            return Err(err);
        }
        Ok(self.keys.len() < rows)
    }
}

impl MboVisitor for RecordColumns {
    #[inline]
    fn visit(&mut self, index: u64, msg: &MboMsg) {
        self.push(index, msg);
    }

    fn paused(&self) -> bool {
        self.failed.is_some()
    }
}

/// The records of the books `filter` keeps (the others are decoded and skipped), `index`
/// still counting every record of the stream.
pub fn read_records_where(source: Source<'_>, filter: Filter) -> Result<RecordColumns> {
    if filter.instrument_id.is_none() && filter.publisher_id.is_none() {
        return read_records(source);
    }
    let mut stream = MboStream::open(source)?;
    let mut out = RecordColumns::default();
    out.fill(&mut stream, usize::MAX, filter)?;
    Ok(out)
}

pub fn read_records(source: Source<'_>) -> Result<RecordColumns> {
    let mut stream = MboStream::open(source)?;
    let mut out = RecordColumns::default();
    if let Some(rows) = stream.estimated_records() {
        if out.try_reserve(rows).is_err() {
            let _ = out.try_reserve(rows.min(FALLBACK_ROWS));
        }
    }
    stream.visit_each_mbo(&mut out)?;
    out.failed.take().map_or(Ok(out), Err)
}
