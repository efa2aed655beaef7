//! Writing MBO records as a standard DBN stream (DBN v3, the version of Databento's current
//! files): metadata built with the `dbn` crate's `MetadataBuilder` (schema MBO, `stype_out`
//! instrument_id, dataset GLBX.MDP3 unless told otherwise), records through `dbn`'s encoder,
//! optionally zstd-compressed. What this writes reads back through `MboStream` and through
//! `databento.DBNStore.from_file`.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use dbn::encode::{DbnEncoder, DynWriter, EncodeRecord};
use dbn::{
    Compression, MappingInterval, MboMsg, Metadata, RecordHeader, SType, Schema, SymbolMapping,
};

use crate::error::{Error, Result};

/// What goes into the metadata header.
#[derive(Clone, Debug)]
pub struct DbnOptions {
    pub dataset: String,
    /// Raw symbols listed in the header (no mappings are written).
    pub symbols: Vec<String>,
    /// Metadata `start` (ns since the epoch); the first record's `ts_event` when None.
    pub start: Option<u64>,
    /// Compress the stream with zstd (`.zst` files).
    pub zstd: bool,
    /// Symbol mappings for the header, `(raw symbol, instrument_id)`, each valid from the UTC
    /// date of `start` for `mapping_days` days (readers such as `DBNStore.to_df` use them).
    pub mappings: Vec<(String, u32)>,
    pub mapping_days: u32,
}

impl Default for DbnOptions {
    fn default() -> Self {
        DbnOptions {
            dataset: "GLBX.MDP3".to_owned(),
            symbols: Vec::new(),
            start: None,
            zstd: false,
            mappings: Vec::new(),
            mapping_days: 1,
        }
    }
}

/// The header of an MBO record (rtype MBO, 56 bytes) for `(publisher_id, instrument_id)`.
pub fn mbo_header(publisher_id: u16, instrument_id: u32, ts_event: u64) -> RecordHeader {
    RecordHeader::new::<MboMsg>(dbn::rtype::MBO, publisher_id, instrument_id, ts_event)
}

/// The metadata header of an MBO stream whose first record is `first`.
pub fn mbo_metadata(options: &DbnOptions, first: Option<&MboMsg>) -> Metadata {
    let start = options
        .start
        .or(first.map(|msg| msg.hd.ts_event))
        .unwrap_or(0);
    let stype_in = (!options.symbols.is_empty()).then_some(SType::RawSymbol);
    Metadata::builder()
        .version(dbn::DBN_VERSION)
        .dataset(options.dataset.clone())
        .schema(Some(Schema::Mbo))
        .start(start)
        .stype_in(stype_in)
        .stype_out(SType::InstrumentId)
        .symbols(options.symbols.clone())
        .mappings(symbol_mappings(options, start))
        .build()
}

/// `options.mappings` as DBN symbol mappings from the date of `start` (ns since the epoch).
fn symbol_mappings(options: &DbnOptions, start: u64) -> Vec<SymbolMapping> {
    let Ok(first) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(start)) else {
        return Vec::new();
    };
    let start_date = first.date();
    let days = time::Duration::days(i64::from(options.mapping_days.max(1)));
    let end_date = start_date.checked_add(days).unwrap_or(time::Date::MAX);
    options
        .mappings
        .iter()
        .map(|(raw_symbol, instrument_id)| SymbolMapping {
            raw_symbol: raw_symbol.clone(),
            intervals: vec![MappingInterval {
                start_date,
                end_date,
                symbol: instrument_id.to_string(),
            }],
        })
        .collect()
}

/// A DBN stream being written: the header goes out at creation, records in any number of
/// batches, and `finish` ends the zstd frame (if any) and flushes.
pub struct MboWriter<'a, W: Write> {
    encoder: DbnEncoder<DynWriter<'a, W>>,
    written: u64,
}

fn encode_error(err: dbn::Error) -> Error {
    match err {
        dbn::Error::Io { source, .. } => Error::Output {
            path: "<stream>".to_owned(),
            source,
        },
        other => Error::bad_argument(format!("cannot encode DBN: {other}")),
    }
}

impl<W: Write> MboWriter<'_, W> {
    /// Start a stream: writes the metadata (its `start` is `options.start`, else the first
    /// record's `ts_event` when given, else 0).
    pub fn new(writer: W, options: &DbnOptions, first: Option<&MboMsg>) -> Result<Self> {
        let compression = if options.zstd {
            Compression::Zstd
        } else {
            Compression::None
        };
        let writer = DynWriter::new(writer, compression).map_err(encode_error)?;
        let metadata = mbo_metadata(options, first);
        let encoder = DbnEncoder::new(writer, &metadata).map_err(encode_error)?;
        Ok(MboWriter {
            encoder,
            written: 0,
        })
    }

    pub fn write(&mut self, records: &[MboMsg]) -> Result<()> {
        self.encoder.encode_records(records).map_err(encode_error)?;
        self.written += records.len() as u64;
        Ok(())
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// End the stream (zstd epilogue) and flush the writer. Returns the number of records.
    pub fn finish(mut self) -> Result<u64> {
        self.encoder.get_mut().finish().map_err(encode_error)?;
        Ok(self.written)
    }
}

/// The records as DBN bytes (a complete stream, metadata first).
pub fn to_dbn_bytes(records: &[MboMsg], options: &DbnOptions) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256 + std::mem::size_of_val(records));
    let mut writer = MboWriter::new(&mut out, options, records.first())?;
    writer.write(records)?;
    writer.finish()?;
    Ok(out)
}

/// Write the records to a file; zstd when the path ends in `.zst` (or `options.zstd`).
/// Returns the number of records written.
pub fn write_dbn_file(path: &str, records: &[MboMsg], options: &DbnOptions) -> Result<u64> {
    let output_error = |source: io::Error| Error::Output {
        path: path.to_owned(),
        source,
    };
    let mut options = options.clone();
    options.zstd |= path.ends_with(".zst");
    let file = File::create(path).map_err(output_error)?;
    let with_path = |err: Error| match err {
        Error::Output { source, .. } => output_error(source),
        other => other,
    };
    let mut writer =
        MboWriter::new(BufWriter::new(file), &options, records.first()).map_err(with_path)?;
    writer.write(records).map_err(with_path)?;
    writer.finish().map_err(with_path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbn::{MboStream, Source};
    use crate::testing::mbo;

    fn sample() -> Vec<MboMsg> {
        let mut records = vec![
            mbo(b'A', b'B', 1, 100, 5, 0x80),
            mbo(b'A', b'A', 2, 101, 3, 0x80),
            mbo(b'C', b'A', 2, 101, 3, 0x80),
        ];
        for (i, r) in records.iter_mut().enumerate() {
            r.hd.ts_event = 1_000 + i as u64;
            r.ts_recv = 2_000 + i as u64;
            r.sequence = i as u32;
        }
        records
    }

    fn read_back(source: Source<'_>) -> Vec<MboMsg> {
        let mut stream = MboStream::open(source).unwrap();
        let mut out = Vec::new();
        while let Some((_, msg)) = stream.next_mbo().unwrap() {
            out.push(msg);
        }
        assert_eq!(stream.metadata().dataset, "GLBX.MDP3");
        assert_eq!(stream.metadata().schema, Some(Schema::Mbo));
        out
    }

    #[test]
    fn plain_and_zstd_round_trip_through_mbo_stream() {
        let records = sample();
        for zstd in [false, true] {
            let options = DbnOptions {
                zstd,
                symbols: vec!["SIM".to_owned()],
                ..DbnOptions::default()
            };
            let bytes = to_dbn_bytes(&records, &options).unwrap();
            assert_eq!(dbn::decode::zstd::starts_with_prefix(&bytes), zstd);
            assert_eq!(read_back(Source::Bytes(&bytes)), records);
        }
    }

    #[test]
    fn files_are_compressed_by_suffix() {
        let dir = std::env::temp_dir();
        let records = sample();
        for name in ["mbo_fast_encode_test.dbn", "mbo_fast_encode_test.dbn.zst"] {
            let path = dir.join(format!("{}-{name}", std::process::id()));
            let path = path.to_str().unwrap();
            let written = write_dbn_file(path, &records, &DbnOptions::default()).unwrap();
            assert_eq!(written, 3);
            let head = std::fs::read(path).unwrap();
            assert_eq!(
                dbn::decode::zstd::starts_with_prefix(&head),
                name.ends_with(".zst")
            );
            assert_eq!(read_back(Source::Path(path)), records);
            std::fs::remove_file(path).unwrap();
        }
        let err = write_dbn_file("/nonexistent/dir/x.dbn", &records, &DbnOptions::default());
        assert!(matches!(err, Err(Error::Output { .. })));
    }
}
