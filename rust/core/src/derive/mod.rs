//! Databento's derived schemas (MBP-10, MBP-1, TBBO, BBO-1s/1m, CMBP-1, TCBBO, CBBO-1s/1m) built
//! from MBO, as the records Databento publishes.
//!
//! The pipeline, one pass over the MBO records (memory: the books and a bounded output buffer):
//!
//! ```text
//! MBO ─ events::Deriver<N> ─ MBP-N records (one per event that changes the top N levels, one per trade)
//!                              ├─ records::MbpRecords ─ MBP-10 / MBP-1 / TBBO (its trades)
//!                              ├─ sample::Sampler ─ BBO-1s / BBO-1m (MBP-1 on a time grid)
//!                              └─ consolidate::Consolidator ─ CMBP-1 / TCBBO, or Sampler ─ CBBO-1s / 1m
//! ```
//!
//! - [`events`]: the rules that turn MBO events into MBP records (see its header);
//! - [`records`], [`sample`], [`consolidate`]: the schemas built from those records;
//! - [`output`]: where records go (a DBN stream with the input's metadata, or memory);
//! - [`convert`]: the whole conversion over one or more inputs, a step at a time;
//! - [`layout`]: each record's fields as numpy dtype fields.
//!
//! Decisions where the issue (19) or Databento's documentation leaves a detail open, with the
//! reason for each:
//!
//! 1. *Which records count as an event's "book-changing" ones, and the level they touched*: the
//!    records after which some price level's `(price, size, count)` differs, and the shallowest
//!    such level (`book::touch`). MBP data only sees levels: a modify to the same price and
//!    size, a cancel of an unknown order or a clear of an empty book is no update there.
//! 2. *`side` of an event record*: the side whose touched level is the shallowest; `N` when both
//!    sides touched that depth (a clear, a snapshot, a crossing event). The MBP-1 documentation
//!    uses `N` for "two-sided BBO changes in a single update".
//! 3. *`flags` of an event record*: the last book-changing record's, with `F_LAST` set: every
//!    MBP record is a whole event, and both `F_LAST` forms (the flag on the last A/C/M, or on a
//!    standalone `N` record) then give the same records. A trade record carries the trade's
//!    flags with `F_LAST` (Databento's TBBO sample, `tests/data/test_data.tbbo.dbn` in the dbn
//!    repository, shows flags 129 on trades whose MBO records do not end their event). Under the
//!    per-record boundary policy (6), flags are the record's own.
//! 4. *`depth` of a trade record*: the number of levels strictly better than the trade price on
//!    the passive side (asks for a buy aggressor, bids for a sell aggressor; 0 for side `N`),
//!    saturating at 255: the level the trade printed at (0 in every trade of the TBBO sample).
//! 5. *The pieces of an event split by a trade*: the book-changing records before a `T` end a
//!    piece at the `T` (emitted there if they changed the visible levels), then the trade record,
//!    then the rest of the event to its boundary. A stream that ends inside an event emits
//!    nothing for it (as `read_depth`). A snapshot whose last record lacks `F_LAST` (older files,
//!    such as the ESH4 sample) ends with the first event after it.
//! 6. *Per-dataset boundary policy*: Nasdaq's TotalView-ITCH family (`XNAS.ITCH`, `XBOS.ITCH`,
//!    `XPSX.ITCH`) publishes every message as its own event, so every record is a boundary
//!    there; every other dataset uses `F_LAST`. Either can be chosen explicitly.
//! 7. *BBO intervals*: an interval is `(end - 1 s, end]` by `ts_recv`, stamped `end`, so a
//!    record exactly on a boundary belongs to the interval that ends there (Databento's BBO-1s
//!    sample stamps the 00:00:00 snapshot `00:00:00.000000000`). An interval has a record when
//!    it holds an MBP-1 record (a trade or a top-of-book change); `flags` and `sequence` are
//!    those of its last MBP-1 record; `ts_event`, `price`, `size` and `side` are the last trade's
//!    since the start of the stream (`UNDEF_TIMESTAMP`, `UNDEF_PRICE`, 0, `N` before the first).
//!    Records of one interval are written in `(instrument_id, publisher_id)` order; a record whose
//!    `ts_recv` is earlier than the interval being filled joins that interval.
//! 8. *Consolidated top (CMBP-1, TCBBO, CBBO)*: the best price over the instrument's publishers,
//!    its size summed over the publishers quoting it (as `Market::consolidated`), and as
//!    `bid_pb`/`ask_pb` the publisher with the most size there (the lowest id on a tie). A
//!    CMBP-1 record is written when that changes and for every trade; its `publisher_id` is
//!    the publisher whose event it is. CBBO is CMBP-1 on the BBO grid (7), per instrument.
//! 9. *Schema names*: Databento's (`mbp-10`, `mbp-1`, `tbbo`, `bbo-1s`, `bbo-1m`, `cmbp-1`,
//!    `tcbbo`, `cbbo-1s`, `cbbo-1m`); the issue's "cbbo" is the pair `cbbo-1s`/`cbbo-1m`.
//! 10. *Output metadata*: the input's (several inputs: merged by `dbn::Metadata::merge`),
//!     upgraded to DBN v3, the schema changed, `limit` cleared, `ts_out` off.

pub mod consolidate;
pub mod convert;
pub mod events;
pub mod layout;
pub mod output;
pub mod records;
pub mod sample;

use dbn::{rtype, Schema};

use crate::error::{Error, Result};

pub use convert::{derive_records, Conversion};
pub use events::{Deriver, MbpHead, MbpSink};

/// A schema derived from MBO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DerivedSchema {
    Mbp10,
    Mbp1,
    Tbbo,
    Bbo1S,
    Bbo1M,
    Cmbp1,
    Tcbbo,
    Cbbo1S,
    Cbbo1M,
}

impl DerivedSchema {
    pub const ALL: [DerivedSchema; 9] = [
        DerivedSchema::Mbp10,
        DerivedSchema::Mbp1,
        DerivedSchema::Tbbo,
        DerivedSchema::Bbo1S,
        DerivedSchema::Bbo1M,
        DerivedSchema::Cmbp1,
        DerivedSchema::Tcbbo,
        DerivedSchema::Cbbo1S,
        DerivedSchema::Cbbo1M,
    ];

    /// The `dbn` schema of the output.
    pub fn dbn_schema(self) -> Schema {
        match self {
            DerivedSchema::Mbp10 => Schema::Mbp10,
            DerivedSchema::Mbp1 => Schema::Mbp1,
            DerivedSchema::Tbbo => Schema::Tbbo,
            DerivedSchema::Bbo1S => Schema::Bbo1S,
            DerivedSchema::Bbo1M => Schema::Bbo1M,
            DerivedSchema::Cmbp1 => Schema::Cmbp1,
            DerivedSchema::Tcbbo => Schema::Tcbbo,
            DerivedSchema::Cbbo1S => Schema::Cbbo1S,
            DerivedSchema::Cbbo1M => Schema::Cbbo1M,
        }
    }

    /// Databento's name (`mbp-10`, `bbo-1s`, ...).
    pub fn name(self) -> &'static str {
        self.dbn_schema().as_str()
    }

    /// A schema by its Databento name; anything else is an [`Error::BadArgument`] naming them.
    pub fn parse(name: &str) -> Result<Self> {
        let wanted = name.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|schema| schema.name() == wanted)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
                Error::bad_argument(format!(
                    "unknown schema {name:?}: expected one of {}",
                    names.join(", ")
                ))
            })
    }

    /// The record type of the output records.
    pub fn rtype(self) -> u8 {
        match self {
            DerivedSchema::Mbp10 => rtype::MBP_10,
            DerivedSchema::Mbp1 | DerivedSchema::Tbbo => rtype::MBP_1,
            DerivedSchema::Bbo1S => rtype::BBO_1S,
            DerivedSchema::Bbo1M => rtype::BBO_1M,
            DerivedSchema::Cmbp1 => rtype::CMBP_1,
            DerivedSchema::Tcbbo => rtype::TCBBO,
            DerivedSchema::Cbbo1S => rtype::CBBO_1S,
            DerivedSchema::Cbbo1M => rtype::CBBO_1M,
        }
    }

    /// The size of one output record in bytes.
    pub fn record_size(self) -> usize {
        match self {
            DerivedSchema::Mbp10 => std::mem::size_of::<dbn::Mbp10Msg>(),
            _ => std::mem::size_of::<dbn::Mbp1Msg>(), // every top-of-book record is 80 bytes
        }
    }

    /// The sampling interval of the BBO/CBBO schemas, in ns.
    pub fn interval_ns(self) -> Option<u64> {
        match self {
            DerivedSchema::Bbo1S | DerivedSchema::Cbbo1S => Some(1_000_000_000),
            DerivedSchema::Bbo1M | DerivedSchema::Cbbo1M => Some(60_000_000_000),
            _ => None,
        }
    }
}

/// Where an event ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoundaryPolicy {
    /// At the record carrying `F_LAST` (CME and most datasets).
    Event,
    /// At every record (venues that publish every message as its own event).
    Record,
}

/// The datasets whose every record is its own event (decision 6 above).
const PER_RECORD_DATASETS: [&str; 3] = ["XNAS.ITCH", "XBOS.ITCH", "XPSX.ITCH"];

impl BoundaryPolicy {
    /// The policy of a dataset, from its id in the metadata.
    pub fn for_dataset(dataset: &str) -> Self {
        if PER_RECORD_DATASETS
            .iter()
            .any(|d| d.eq_ignore_ascii_case(dataset.trim()))
        {
            BoundaryPolicy::Record
        } else {
            BoundaryPolicy::Event
        }
    }

    /// `event` or `record`; anything else is an [`Error::BadArgument`].
    pub fn parse(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "event" => Ok(BoundaryPolicy::Event),
            "record" => Ok(BoundaryPolicy::Record),
            _ => Err(Error::bad_argument(format!(
                "unknown boundary policy {name:?}: expected \"event\" (F_LAST) or \"record\""
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BoundaryPolicy::Event => "event",
            BoundaryPolicy::Record => "record",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_round_trip_and_others_are_refused() {
        for schema in DerivedSchema::ALL {
            assert_eq!(DerivedSchema::parse(schema.name()).unwrap(), schema);
            assert_eq!(schema.dbn_schema().as_str(), schema.name());
        }
        assert_eq!(
            DerivedSchema::parse(" MBP-10 ").unwrap(),
            DerivedSchema::Mbp10
        );
        for bad in ["cbbo", "mbo", "trades", "", "mbp-2"] {
            match DerivedSchema::parse(bad) {
                Err(Error::BadArgument { message }) => assert!(message.contains("cbbo-1s")),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn itch_is_per_record_and_the_rest_per_event() {
        assert_eq!(
            BoundaryPolicy::for_dataset("XNAS.ITCH"),
            BoundaryPolicy::Record
        );
        assert_eq!(
            BoundaryPolicy::for_dataset("GLBX.MDP3"),
            BoundaryPolicy::Event
        );
        assert_eq!(
            BoundaryPolicy::parse("Record").unwrap(),
            BoundaryPolicy::Record
        );
        assert!(BoundaryPolicy::parse("tick").is_err());
    }
}
