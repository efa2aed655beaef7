//! Book states captured at event boundaries (records with F_LAST), as columns.
//!
//! One pass over the stream: decode, apply, and at each F_LAST record hand that record's book to
//! a sink. Memory is the sink's output plus the books; the input is streamed. A pass runs to the
//! end in one call (`for_each_boundary`), or a piece at a time (`Capture`): it stops whenever its
//! sink says it holds enough output and resumes where it stopped, so a caller can take the output
//! in bounded pieces (the server's streamed export) whatever the input's size.

use dbn::{flags, MboMsg, UNDEF_PRICE};

use crate::book::{Book, Side, Top};
use crate::decode::{MboStream, MboVisitor, Source};
use crate::error::Result;
use crate::market::Market;

/// Which books' boundaries to keep. Every record is still applied.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filter {
    pub instrument_id: Option<u32>,
    pub publisher_id: Option<u16>,
}

impl Filter {
    #[inline]
    pub fn matches(&self, book: &Book) -> bool {
        self.instrument_id.is_none_or(|id| id == book.instrument_id)
            && self.publisher_id.is_none_or(|id| id == book.publisher_id)
    }
}

/// What to do with each event boundary.
pub trait Boundary {
    /// At most `rows` boundaries will follow (called once, when the stream size is known, by
    /// `for_each_boundary` only: a resumable pass's sink bounds its own output).
    fn reserve(&mut self, _rows: usize) {}
    /// Called after applying record `index`, which carried F_LAST, with that record's book.
    fn visit(&mut self, index: u64, msg: &MboMsg, book: &Book);
    /// Called once after the last record.
    fn finish(&mut self) {}
    /// The sink holds as much output as its reader takes at once: a resumable pass
    /// (`Capture::resume`) returns after the current record. The default never stops a pass and
    /// compiles away, leaving the record loop of `read_bbo` and friends as it was.
    #[inline(always)]
    fn full(&self) -> bool {
        false
    }
}

impl<S: Boundary + ?Sized> Boundary for &mut S {
    #[inline(always)]
    fn reserve(&mut self, rows: usize) {
        (**self).reserve(rows)
    }

    #[inline(always)]
    fn visit(&mut self, index: u64, msg: &MboMsg, book: &Book) {
        (**self).visit(index, msg, book)
    }

    #[inline(always)]
    fn finish(&mut self) {
        (**self).finish()
    }

    #[inline(always)]
    fn full(&self) -> bool {
        (**self).full()
    }
}

/// Decode and apply a whole stream, visiting every F_LAST record whose book passes the filter.
/// Returns the market at the end of the stream.
pub fn for_each_boundary(
    source: Source<'_>,
    filter: Filter,
    sink: &mut impl Boundary,
) -> Result<Market> {
    let mut capture = Capture::open(source, filter, sink)?;
    // Reserving the worst case up front avoids regrowing (copying) the columns; pages that
    // are never written are never touched, so an over-estimate costs no memory.
    if let Some(records) = capture.stream.estimated_records() {
        capture.pass.sink.reserve(records);
    }
    // A sink that is never full runs to the end in one call.
    while !capture.resume()? {}
    Ok(capture.pass.market)
}

/// A capture pass that stops and resumes: the stream, the books and the sink, kept between
/// calls. `resume` decodes and applies until the sink is `full()` after a record, or the stream
/// ends; the caller then takes the sink's output (leaving it not full) and resumes. Memory is
/// the sink's bound plus the books and the stream's read buffer, whatever the input's size.
pub struct Capture<'a, S> {
    stream: MboStream<'a>,
    pass: Pass<S>,
    finished: bool,
}

impl<'a, S: Boundary> Capture<'a, S> {
    pub fn open(source: Source<'a>, filter: Filter, sink: S) -> Result<Self> {
        Ok(Capture {
            stream: MboStream::open(source)?,
            pass: Pass {
                market: Market::new(),
                filter,
                sink,
            },
            finished: false,
        })
    }

    /// Run until the sink is full (`Ok(false)`: more may follow) or the stream has ended
    /// (`Ok(true)`, after the sink's `finish`). A sink still full when this is called lets one
    /// record through per call. After the end or an error the pass is over: later calls return
    /// `Ok(true)` and do nothing.
    pub fn resume(&mut self) -> Result<bool> {
        if self.finished {
            return Ok(true);
        }
        match self.stream.visit_each_mbo(&mut self.pass) {
            Ok(_) if self.pass.sink.full() => Ok(false),
            Ok(_) => {
                self.finished = true;
                self.pass.sink.finish();
                Ok(true)
            }
            Err(err) => {
                self.finished = true;
                Err(err)
            }
        }
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    pub fn sink(&self) -> &S {
        &self.pass.sink
    }

    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.pass.sink
    }

    /// The books after the records applied so far.
    pub fn market(&self) -> &Market {
        &self.pass.market
    }

    /// MBO records applied so far.
    pub fn records_read(&self) -> u64 {
        self.stream.records_read()
    }
}

/// One pass's state; its `visit` is inlined into the decode loop (see `MboVisitor`).
struct Pass<S> {
    market: Market,
    filter: Filter,
    sink: S,
}

impl<S: Boundary> MboVisitor for Pass<S> {
    #[inline(always)]
    fn visit(&mut self, index: u64, msg: &MboMsg) {
        let slot = self.market.apply(msg);
        if msg.flags.raw() & flags::LAST != 0 {
            let book = self.market.book_at(slot);
            if self.filter.matches(book) {
                self.sink.visit(index, msg, book);
            }
        }
    }

    #[inline(always)]
    fn paused(&self) -> bool {
        self.sink.full()
    }
}

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
    fn reserve(&mut self, rows: usize) {
        self.index.reserve(rows);
        self.ts_recv.reserve(rows);
        self.ts_event.reserve(rows);
        self.instrument_id.reserve(rows);
        self.publisher_id.reserve(rows);
    }

    fn room(&self) -> usize {
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
    unsafe fn write(&mut self, row: usize, index: u64, msg: &MboMsg) {
        write_at(&mut self.index, row, index);
        write_at(&mut self.ts_recv, row, msg.ts_recv);
        write_at(&mut self.ts_event, row, msg.hd.ts_event);
        write_at(&mut self.instrument_id, row, msg.hd.instrument_id);
        write_at(&mut self.publisher_id, row, msg.hd.publisher_id);
    }

    /// # Safety
    /// Rows `..rows` of every column must have been written.
    unsafe fn set_len(&mut self, rows: usize) {
        self.index.set_len(rows);
        self.ts_recv.set_len(rows);
        self.ts_event.set_len(rows);
        self.instrument_id.set_len(rows);
        self.publisher_id.set_len(rows);
    }

    #[inline]
    fn push(&mut self, index: u64, msg: &MboMsg) {
        self.index.push(index);
        self.ts_recv.push(msg.ts_recv);
        self.ts_event.push(msg.hd.ts_event);
        self.instrument_id.push(msg.hd.instrument_id);
        self.publisher_id.push(msg.hd.publisher_id);
    }

    pub fn len(&self) -> usize {
        self.index.len()
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
    fn reserve(&mut self, values: usize) {
        self.px.reserve(values);
        self.sz.reserve(values);
        self.ct.reserve(values);
    }

    #[inline]
    fn push(&mut self, price: i64, size: u64, count: u32) {
        self.px.push(price);
        self.sz.push(u32::try_from(size).unwrap_or(u32::MAX));
        self.ct.push(count);
    }

    fn room(&self) -> usize {
        self.px
            .capacity()
            .min(self.sz.capacity())
            .min(self.ct.capacity())
    }

    /// # Safety
    /// `row` must be below `self.room()`.
    #[inline(always)]
    unsafe fn write_top(&mut self, row: usize, top: Top) {
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
    unsafe fn set_len(&mut self, rows: usize) {
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
unsafe fn write_at<T: Copy>(column: &mut Vec<T>, row: usize, value: T) {
    debug_assert!(row < column.capacity());
    column.as_mut_ptr().add(row).write(value);
}

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

    #[cold]
    fn grow(&mut self) {
        self.set_lens();
        self.reserve(self.rows.max(1 << 16));
    }
}

impl Boundary for BboColumns {
    fn reserve(&mut self, rows: usize) {
        self.keys.reserve(rows);
        self.bid.reserve(rows);
        self.ask.reserve(rows);
        self.room = self.keys.room().min(self.bid.room()).min(self.ask.room());
    }

    #[inline(always)]
    fn visit(&mut self, index: u64, msg: &MboMsg, book: &Book) {
        if self.rows == self.room {
            self.grow();
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

    fn finish(&mut self) {
        self.set_lens();
    }
}

pub fn read_bbo(source: Source<'_>, filter: Filter) -> Result<BboColumns> {
    let mut out = BboColumns::default();
    for_each_boundary(source, filter, &mut out)?;
    Ok(out)
}

/// The top `depth` levels of each side after every boundary, row-major `(rows, depth)`;
/// missing levels are `UNDEF_PRICE` with size and count 0.
#[derive(Debug, Default)]
pub struct DepthColumns {
    pub depth: usize,
    pub keys: RowKeys,
    pub bid: SideColumns,
    pub ask: SideColumns,
}

pub fn read_depth(source: Source<'_>, depth: usize, filter: Filter) -> Result<DepthColumns> {
    let mut out = DepthColumns {
        depth,
        ..Default::default()
    };
    for_each_boundary(source, filter, &mut out)?;
    Ok(out)
}

impl Boundary for DepthColumns {
    fn reserve(&mut self, rows: usize) {
        self.keys.reserve(rows);
        self.bid.reserve(rows.saturating_mul(self.depth));
        self.ask.reserve(rows.saturating_mul(self.depth));
    }

    #[inline]
    fn visit(&mut self, index: u64, msg: &MboMsg, book: &Book) {
        self.keys.push(index, msg);
        push_levels(&mut self.bid, book, Side::Bid, self.depth);
        push_levels(&mut self.ask, book, Side::Ask, self.depth);
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

/// Every MBO record, column by column (no book work).
#[derive(Debug, Default)]
pub struct RecordColumns {
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
    pub fn push(&mut self, index: u64, msg: &MboMsg) {
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
}

pub fn read_records(source: Source<'_>) -> Result<RecordColumns> {
    let mut stream = MboStream::open(source)?;
    let mut out = RecordColumns::default();
    stream.for_each_mbo(|index, msg| out.push(index, msg))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{to_dbn_bytes, DbnOptions};
    use crate::testing::mbo;

    /// Boundary indexes, handed out `per_call` at a time.
    struct Indexes {
        taken: Vec<u64>,
        per_call: usize,
        finished: bool,
    }

    impl Boundary for Indexes {
        fn visit(&mut self, index: u64, _: &MboMsg, _: &Book) {
            self.taken.push(index);
        }

        fn finish(&mut self) {
            self.finished = true;
        }

        fn full(&self) -> bool {
            self.taken.len() >= self.per_call
        }
    }

    #[test]
    fn a_resumed_pass_visits_what_one_pass_visits() {
        // every third record ends an event
        let records: Vec<MboMsg> = (0..1_000)
            .map(|i| {
                mbo(
                    b'A',
                    b'B',
                    i + 1,
                    100 + (i % 9) as i64,
                    1,
                    if i % 3 == 2 { 0x80 } else { 0 },
                )
            })
            .collect();
        let bytes = to_dbn_bytes(&records, &DbnOptions::default()).unwrap();
        let mut all = Indexes {
            taken: Vec::new(),
            per_call: usize::MAX,
            finished: false,
        };
        let market = for_each_boundary(Source::Bytes(&bytes), Filter::default(), &mut all).unwrap();
        assert!(all.finished && all.taken.len() == 333);
        for per_call in [1, 7, 1_000] {
            let sink = Indexes {
                taken: Vec::new(),
                per_call,
                finished: false,
            };
            let mut capture =
                Capture::open(Source::Bytes(&bytes), Filter::default(), sink).unwrap();
            let mut joined = Vec::new();
            let mut calls = 0;
            loop {
                let ended = capture.resume().unwrap();
                let taken = std::mem::take(&mut capture.sink_mut().taken);
                assert!(taken.len() <= per_call);
                // it stops right after the record that filled the sink
                if !ended {
                    assert_eq!(capture.records_read(), taken.last().unwrap() + 1);
                }
                joined.extend(taken);
                calls += 1;
                if ended {
                    break;
                }
            }
            assert_eq!(joined, all.taken, "per_call {per_call}");
            assert!(capture.sink().finished && capture.is_finished());
            assert!(calls >= 333 / per_call.min(333));
            assert_eq!(capture.market().books().len(), market.books().len());
            assert!(capture.resume().unwrap(), "the end is sticky");
        }
    }
}
