//! A conversion: one or more MBO inputs, read in order as one stream (books carry across them),
//! to one derived schema, a step at a time so a caller can show progress and stay
//! interruptible. Every input's metadata is read and checked before any output exists: a
//! non-MBO input, an unknown schema or inputs that cannot be merged leave nothing behind.

use dbn::{BidAskPair, ConsolidatedBidAskPair, MboMsg, Metadata};

use super::consolidate::{CmbpRecords, Consolidator};
use super::events::{Deriver, MbpSink};
use super::output::{derived_metadata, DbnOut, Output, PendingFile, RecordBuf, Records};
use super::records::{MbpRecords, RecordOut};
use super::sample::Sampler;
use super::{BoundaryPolicy, DerivedSchema};
use crate::dbn::{MboStream, MboVisitor, Source};
use crate::error::{Error, Result};

/// Where a conversion's records go.
#[derive(Clone, Debug)]
pub enum Target {
    /// A DBN file (zstd-compressed when `zstd`), written under a temporary name and renamed
    /// into place when complete.
    File { path: String, zstd: bool },
    /// A DBN stream whose bytes are taken as they are produced (`Conversion::take`).
    Stream { zstd: bool },
    /// The bare records in memory, returned by `finish`.
    Records,
}

/// The deriver and the schema's sink, one variant per kind of pipeline.
#[allow(clippy::large_enum_variant)]
enum Pipeline {
    Mbp10(Deriver<10>, MbpRecords<Output>),
    Mbp1(Deriver<1>, MbpRecords<Output>),
    Bbo(Deriver<1>, Sampler<BidAskPair, Output>),
    Cmbp(Deriver<1>, Consolidator<CmbpRecords<Output>>),
    Cbbo(
        Deriver<1>,
        Consolidator<Sampler<ConsolidatedBidAskPair, Output>>,
    ),
}

impl Pipeline {
    fn new(schema: DerivedSchema, policy: BoundaryPolicy, out: Output) -> Self {
        use DerivedSchema as S;
        let dbn_schema = schema.dbn_schema();
        match schema {
            S::Mbp10 => Pipeline::Mbp10(Deriver::new(policy), MbpRecords::new(out, false)),
            S::Mbp1 | S::Tbbo => Pipeline::Mbp1(
                Deriver::new(policy),
                MbpRecords::new(out, schema == S::Tbbo),
            ),
            S::Bbo1S | S::Bbo1M => {
                let interval = schema.interval_ns().unwrap_or(1);
                Pipeline::Bbo(
                    Deriver::new(policy),
                    Sampler::new(dbn_schema, interval, out),
                )
            }
            S::Cmbp1 | S::Tcbbo => Pipeline::Cmbp(
                Deriver::new(policy),
                Consolidator::new(CmbpRecords::new(dbn_schema, out)),
            ),
            S::Cbbo1S | S::Cbbo1M => {
                let interval = schema.interval_ns().unwrap_or(1);
                Pipeline::Cbbo(
                    Deriver::new(policy),
                    Consolidator::new(Sampler::new(dbn_schema, interval, out)),
                )
            }
        }
    }

    fn output(&mut self) -> &mut Output {
        match self {
            Pipeline::Mbp10(_, sink) | Pipeline::Mbp1(_, sink) => &mut sink.out,
            Pipeline::Bbo(_, sink) => &mut sink.out,
            Pipeline::Cmbp(_, sink) => &mut sink.sink.out,
            Pipeline::Cbbo(_, sink) => &mut sink.sink.out,
        }
    }

    /// Feed up to `budget` records of `stream`; returns the number fed (fewer at its end).
    fn feed(&mut self, stream: &mut MboStream<'_>, base: u64, budget: u64) -> Result<u64> {
        match self {
            Pipeline::Mbp10(deriver, sink) => feed(deriver, sink, stream, base, budget),
            Pipeline::Mbp1(deriver, sink) => feed(deriver, sink, stream, base, budget),
            Pipeline::Bbo(deriver, sink) => feed(deriver, sink, stream, base, budget),
            Pipeline::Cmbp(deriver, sink) => feed(deriver, sink, stream, base, budget),
            Pipeline::Cbbo(deriver, sink) => feed(deriver, sink, stream, base, budget),
        }
    }

    /// The end of the input: intervals still open are written.
    fn end(&mut self) {
        match self {
            Pipeline::Bbo(_, sampler) => sampler.flush(),
            Pipeline::Cbbo(_, consolidator) => consolidator.sink.flush(),
            _ => {}
        }
    }
}

/// One step's visitor: the deriver and its sink, paused after `left` records or on failure.
struct Step<'p, const N: usize, S> {
    deriver: &'p mut Deriver<N>,
    sink: &'p mut S,
    base: u64,
    left: u64,
}

impl<const N: usize, S: MbpSink<N>> MboVisitor for Step<'_, N, S> {
    #[inline(always)]
    fn visit(&mut self, index: u64, msg: &MboMsg) {
        self.deriver.apply(self.base + index, msg, self.sink);
        self.left -= 1;
    }

    #[inline(always)]
    fn paused(&self) -> bool {
        self.left == 0 || self.sink.failed()
    }
}

fn feed<const N: usize, S: MbpSink<N>>(
    deriver: &mut Deriver<N>,
    sink: &mut S,
    stream: &mut MboStream<'_>,
    base: u64,
    budget: u64,
) -> Result<u64> {
    let before = stream.records_read();
    let mut step = Step {
        deriver,
        sink,
        base,
        left: budget.max(1),
    };
    stream.visit_each_mbo(&mut step)?;
    Ok(stream.records_read() - before)
}

/// A conversion in progress (see the module header).
pub struct Conversion<'a> {
    sources: Vec<Source<'a>>,
    /// The input being read, and how many inputs were opened.
    stream: Option<MboStream<'a>>,
    opened: usize,
    /// Records read from the inputs finished before the current one.
    base: u64,
    pipeline: Pipeline,
    metadata: Metadata,
    estimated_records: Option<u64>,
    finished: bool,
}

impl<'a> Conversion<'a> {
    /// Check every input (an MBO DBN stream; merged metadata), then create the output.
    /// `policy`: where events end; the dataset's policy when `None`.
    pub fn new(
        sources: Vec<Source<'a>>,
        schema: DerivedSchema,
        policy: Option<BoundaryPolicy>,
        target: Target,
    ) -> Result<Self> {
        if sources.is_empty() {
            return Err(Error::bad_argument("no input to convert"));
        }
        let mut inputs = Vec::with_capacity(sources.len());
        let mut estimated = Some(0u64);
        let mut first = None;
        for (i, &source) in sources.iter().enumerate() {
            let stream = MboStream::open(source)?;
            inputs.push(stream.metadata().clone());
            estimated = estimated
                .zip(stream.estimated_records())
                .map(|(sum, n)| sum + n as u64);
            if i == 0 {
                first = Some(stream); // the first input is read from here; others are reopened
            }
        }
        let metadata = derived_metadata(inputs, schema)?;
        let policy = policy.unwrap_or_else(|| BoundaryPolicy::for_dataset(&metadata.dataset));
        let output = match target {
            Target::File { path, zstd } => {
                let file = PendingFile::create(&path)?;
                let label = file.path();
                Output::File(DbnOut::new(file, &metadata, zstd, &label)?)
            }
            Target::Stream { zstd } => {
                Output::Stream(DbnOut::new(Vec::new(), &metadata, zstd, "<stream>")?)
            }
            Target::Records => Output::Records(RecordBuf::default()),
        };
        Ok(Conversion {
            sources,
            stream: first,
            opened: 1,
            base: 0,
            pipeline: Pipeline::new(schema, policy, output),
            metadata,
            estimated_records: estimated,
            finished: false,
        })
    }

    /// The output's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// At most this many MBO records in all (known when every input is an uncompressed file).
    pub fn estimated_records(&self) -> Option<u64> {
        self.estimated_records
    }

    /// MBO records read so far.
    pub fn records_read(&self) -> u64 {
        self.base + self.stream.as_ref().map_or(0, |s| s.records_read())
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Read up to `max_records` more records; `Ok(true)` once every input is read and the
    /// output is complete (see `finish`). An error ends the conversion (the output is dropped).
    pub fn step(&mut self, max_records: u64) -> Result<bool> {
        if self.finished {
            return Ok(true);
        }
        let mut left = max_records.max(1);
        while left > 0 {
            let Some(stream) = self.stream.as_mut() else {
                if self.opened == self.sources.len() {
                    self.pipeline.end();
                    self.finished = true;
                    return self.check_output().map(|()| true);
                }
                self.stream = Some(MboStream::open(self.sources[self.opened])?);
                self.opened += 1;
                continue;
            };
            let fed = self.pipeline.feed(stream, self.base, left)?;
            let read = stream.records_read();
            self.check_output()?;
            if fed < left {
                // this input has ended
                self.base += read;
                self.stream = None;
            }
            left -= fed.min(left);
        }
        Ok(false)
    }

    fn check_output(&mut self) -> Result<()> {
        if self.pipeline.output().failed() {
            // finishing reports the error the output kept
            self.pipeline.output().finish()?;
        }
        Ok(())
    }

    /// DBN bytes produced so far and not yet taken (a `Stream` target; empty otherwise).
    pub fn take(&mut self) -> Result<Vec<u8>> {
        self.pipeline.output().take()
    }

    /// Run to the end and complete the output: a file is renamed into place; a stream's last
    /// bytes (in `bytes`), or the records (a `Records` target), are returned.
    pub fn finish(mut self) -> Result<Records> {
        while !self.step(1 << 20)? {}
        self.pipeline.output().finish()
    }
}

/// Every record of `schema` derived from `sources`, as bare DBN records in memory.
pub fn derive_records(
    sources: Vec<Source<'_>>,
    schema: DerivedSchema,
    policy: Option<BoundaryPolicy>,
) -> Result<Records> {
    Conversion::new(sources, schema, policy, Target::Records)?.finish()
}
