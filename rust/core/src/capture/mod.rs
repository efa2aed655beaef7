//! Book states captured at event boundaries (records with F_LAST). This file: the pass.
//!
//! One pass over the stream: decode, apply, and at each F_LAST record hand that record's book to
//! a sink. Memory is the sink's output plus the books; the input is streamed. A pass runs to the
//! end in one call (`for_each_boundary`), or a piece at a time (`Capture`): it stops whenever its
//! sink says it holds enough output and resumes where it stopped, so a caller can take the output
//! in bounded pieces (the server's streamed export) whatever the input's size.
//!
//! Every column grows fallibly: the up-front reservation is a hint taken from the input's size
//! (tried, never required, and capped for depth), and growth that cannot get memory ends the
//! pass with [`Error::OutOfMemory`] instead of aborting the process. `read_depth` takes at most
//! [`MAX_DEPTH`] levels per side.

//!
//! The captures: [`bbo`] (best bid and offer), [`depth`] (top levels), [`records`] (every record,
//! no book work), each as columns ([`columns`]), whole or a batch at a time ([`batches`]);
//! [`export`] (JSON lines, a chunk at a time); [`info`] (what a stream holds); [`snapshots`]
//! (every book on a time grid). [`fmt`]: decimal prices and ISO timestamps.

pub mod batches;
pub mod bbo;
pub mod columns;
pub mod depth;
pub mod export;
pub mod fmt;
pub mod info;
pub mod records;
pub mod snapshots;

use std::sync::Arc;

use dbn::{flags, MboMsg};

use crate::book::market::Market;
use crate::book::Book;
use crate::dbn::{MboStream, MboVisitor, Source};
use crate::error::{Error, Result};
use crate::store::{market_at, Recording};

pub use bbo::{read_bbo, BboColumns};
pub use columns::{RowKeys, SideColumns};
pub use depth::{read_depth, DepthColumns, MAX_DEPTH};
pub use records::{read_records, read_records_where, RecordColumns};
pub use snapshots::{read_snapshots, SnapshotColumns};

/// When the up-front reservation from the input's size fails, columns start with room for this
/// many rows and double from there.
const FALLBACK_ROWS: usize = 1 << 16;

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

    /// The record belongs to a book this filter keeps (`read_records`' rows).
    #[inline]
    pub fn matches_record(&self, msg: &MboMsg) -> bool {
        self.instrument_id
            .is_none_or(|id| id == msg.hd.instrument_id)
            && self.publisher_id.is_none_or(|id| id == msg.hd.publisher_id)
    }
}

/// What to do with each event boundary.
pub trait Boundary {
    /// At most `rows` boundaries will follow (called once, when the stream size is known, by
    /// `for_each_boundary` only: a resumable pass's sink bounds its own output): a hint, taken
    /// from the input's size, that an implementation may use or not.
    fn reserve(&mut self, _rows: usize) {}
    /// Called after applying record `index`, which carried F_LAST, with that record's book.
    fn visit(&mut self, index: u64, msg: &MboMsg, book: &Book);
    /// Called once after the last record (or after the sink stopped): the sink's error, if any.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
    /// The sink holds as much output as its reader takes at once: a resumable pass
    /// (`Capture::resume`) returns after the current record. The default never stops a pass and
    /// compiles away, leaving the record loop of `read_bbo` and friends as it was.
    #[inline(always)]
    fn full(&self) -> bool {
        false
    }
    /// True once the sink has failed (it could not grow, or its writer failed) and wants no more
    /// boundaries: the pass ends after the current record with `finish`'s error.
    #[inline(always)]
    fn stopped(&self) -> bool {
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
    fn finish(&mut self) -> Result<()> {
        (**self).finish()
    }

    #[inline(always)]
    fn full(&self) -> bool {
        (**self).full()
    }

    #[inline(always)]
    fn stopped(&self) -> bool {
        (**self).stopped()
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
    if let Some(records) = capture.input.estimated_records() {
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
    input: Input<'a>,
    pass: Pass<S>,
    finished: bool,
}

/// Where a capture pass's records come from: a DBN stream, or a range of a stored recording.
/// (One per pass, never in a collection: the stream's size is not worth a box.)
#[allow(clippy::large_enum_variant)]
enum Input<'a> {
    Stream(MboStream<'a>),
    Stored(StoredRange),
}

impl Input<'_> {
    fn estimated_records(&self) -> Option<usize> {
        match self {
            Input::Stream(stream) => stream.estimated_records(),
            Input::Stored(range) => Some(range.end - range.position),
        }
    }

    #[inline]
    fn visit_each_mbo(&mut self, f: &mut impl MboVisitor) -> Result<u64> {
        match self {
            Input::Stream(stream) => stream.visit_each_mbo(f),
            Input::Stored(range) => range.visit_each_mbo(f),
        }
    }

    fn records_read(&self) -> u64 {
        match self {
            Input::Stream(stream) => stream.records_read(),
            Input::Stored(range) => range.position as u64,
        }
    }
}

/// Records `[position, end)` of a stored recording, read block by block.
struct StoredRange {
    recording: Arc<Recording>,
    position: usize,
    end: usize,
}

impl StoredRange {
    /// As `MboStream::visit_each_mbo`: every record to the end of the range, or up to the one
    /// at which the visitor pauses. Returns the position reached.
    fn visit_each_mbo(&mut self, f: &mut impl MboVisitor) -> Result<u64> {
        while self.position < self.end {
            let (n, meta) = self
                .recording
                .block_of(self.position)
                .ok_or_else(|| Error::bad_argument("a stored range past its recording's end"))?;
            let block = self.recording.block(n)?;
            let first = meta.first_index as usize;
            let stop = self.end.min(meta.end() as usize);
            for msg in &block[self.position - first..stop - first] {
                f.visit(self.position as u64, msg);
                self.position += 1;
                if f.paused() {
                    return Ok(self.position as u64);
                }
            }
        }
        Ok(self.position as u64)
    }
}

impl<'a, S: Boundary> Capture<'a, S> {
    pub fn open(source: Source<'a>, filter: Filter, sink: S) -> Result<Self> {
        Ok(Capture {
            input: Input::Stream(MboStream::open(source)?),
            pass: Pass {
                market: Market::new(),
                filter,
                sink,
            },
            finished: false,
        })
    }

    /// A pass over records `[from, to)` of a stored recording, its books restored at `from`
    /// (the newest checkpoint before it, then the records in between).
    pub fn stored(
        recording: Arc<Recording>,
        from: usize,
        to: usize,
        filter: Filter,
        sink: S,
    ) -> Result<Self> {
        let to = to.min(recording.len());
        let from = from.min(to);
        let market = market_at(&recording, from, None)?;
        Ok(Capture {
            input: Input::Stored(StoredRange {
                recording,
                position: from,
                end: to,
            }),
            pass: Pass {
                market,
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
        match self.input.visit_each_mbo(&mut self.pass) {
            Ok(_) if !self.pass.sink.stopped() && self.pass.sink.full() => Ok(false),
            Ok(_) => {
                self.finished = true;
                self.pass.sink.finish()?;
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
        self.input.records_read()
    }

    /// The DBN metadata of a stream's pass (`None` for a stored recording's range).
    pub fn metadata(&self) -> Option<&dbn::Metadata> {
        match &self.input {
            Input::Stream(stream) => Some(stream.metadata()),
            Input::Stored(_) => None,
        }
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
        self.sink.full() || self.sink.stopped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::session::{simulate_dbn_bytes, SessionConfig};

    fn session() -> Vec<u8> {
        let config = SessionConfig {
            records: 20_000,
            instruments: 2,
            ..Default::default()
        };
        simulate_dbn_bytes(&config, false).unwrap()
    }

    /// A sink given another reservation hint than the input's size.
    struct Hinted<'a, S>(usize, &'a mut S);

    impl<S: Boundary> Boundary for Hinted<'_, S> {
        fn reserve(&mut self, _rows: usize) {
            self.1.reserve(self.0);
        }
        fn visit(&mut self, index: u64, msg: &MboMsg, book: &Book) {
            self.1.visit(index, msg, book);
        }
        fn stopped(&self) -> bool {
            self.1.stopped()
        }
        fn finish(&mut self) -> Result<()> {
            self.1.finish()
        }
    }

    fn side_values(side: &SideColumns) -> (Vec<i64>, Vec<u32>, Vec<u32>) {
        (side.px.clone(), side.sz.clone(), side.ct.clone())
    }

    #[test]
    fn depth_beyond_the_maximum_is_a_bad_argument() {
        let bytes = session();
        for depth in [0, MAX_DEPTH + 1, 1 << 40, usize::MAX] {
            match read_depth(Source::Bytes(&bytes), depth, Filter::default()) {
                Err(Error::BadArgument { message }) => {
                    assert!(message.contains(&MAX_DEPTH.to_string()), "{message}")
                }
                other => panic!("depth {depth}: {other:?}"),
            }
        }
        let meta_len = 8 + u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        let head = Source::Bytes(&bytes[..meta_len + 300 * crate::dbn::MBO_LEN]);
        let at_max = read_depth(head, MAX_DEPTH, Filter::default()).unwrap();
        assert!(!at_max.keys.is_empty());
        assert_eq!(at_max.bid.px.len(), at_max.keys.len() * MAX_DEPTH);
    }

    /// Whatever the reservation hint (none, tiny: growth on nearly every row, absurd: refused,
    /// then growth from a modest start), the columns are the same.
    #[test]
    fn columns_do_not_depend_on_the_reservation_hint() {
        let bytes = session();
        let source = Source::Bytes(&bytes);
        let bbo = read_bbo(source, Filter::default()).unwrap();
        let depth = read_depth(source, 7, Filter::default()).unwrap();
        assert!(bbo.keys.len() > 5_000);
        for hint in [0, 1, 3, 1 << 50, usize::MAX / 2, usize::MAX] {
            let mut b = BboColumns::default();
            for_each_boundary(source, Filter::default(), &mut Hinted(hint, &mut b)).unwrap();
            assert_eq!(b.keys.index, bbo.keys.index, "hint {hint}");
            assert_eq!(b.keys.ts_recv, bbo.keys.ts_recv);
            assert_eq!(side_values(&b.bid), side_values(&bbo.bid));
            assert_eq!(side_values(&b.ask), side_values(&bbo.ask));
            let mut d = DepthColumns::new(7);
            for_each_boundary(source, Filter::default(), &mut Hinted(hint, &mut d)).unwrap();
            assert_eq!(d.keys.index, depth.keys.index, "hint {hint}");
            assert_eq!(d.keys.instrument_id, depth.keys.instrument_id);
            assert_eq!(side_values(&d.bid), side_values(&depth.bid));
            assert_eq!(side_values(&d.ask), side_values(&depth.ask));
        }
    }

    #[test]
    fn record_columns_from_records_match_read_records() {
        let bytes = session();
        let read = read_records(Source::Bytes(&bytes)).unwrap();
        let records = MboStream::open(Source::Bytes(&bytes))
            .unwrap()
            .collect_records()
            .unwrap();
        let built = RecordColumns::from_records(0, &records).unwrap();
        assert_eq!(built.keys.index, read.keys.index);
        assert_eq!(built.order_id, read.order_id);
        assert_eq!(built.price, read.price);
        assert_eq!(built.sequence, read.sequence);
        assert_eq!(built.channel_id, read.channel_id);
        assert_eq!(read.keys.len(), records.len());
    }
}

/// A resumable pass (`Capture`) against one pass run to the end.
#[cfg(test)]
mod resume_tests {
    use super::*;
    use crate::dbn::writer::{to_dbn_bytes, DbnOptions};
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

        fn finish(&mut self) -> Result<()> {
            self.finished = true;
            Ok(())
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
