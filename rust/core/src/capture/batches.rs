//! Captures a batch at a time: [`Batches`] yields the columns of `read_bbo`, `read_depth` or
//! `read_records` as tables of at most `batch_rows` rows, in order, on the resumable pass
//! ([`Capture`]) for the book captures and a paused decode for the records. Memory is one batch
//! and the books, whatever the input's size; the batches concatenated are the whole capture.
//!
//! A decode error mid-stream comes after the batch of the rows before it (as the JSON-lines
//! export does), so a consumer keeps everything that could be read.

use super::depth::check_depth;
use super::{BboColumns, Boundary, Capture, DepthColumns, Filter, RecordColumns};
use crate::book::Book;
use crate::dbn::{MboStream, Source};
use crate::error::{Error, Result};
use crate::table::parquet::{dbn_metadata_json, ParquetOptions, ParquetWriter, DBN_METADATA_KEY};
use crate::table::Table;
use dbn::MboMsg;

/// The most rows a batch may be asked to hold (a batch is held whole in memory).
pub const MAX_BATCH_ROWS: usize = 1 << 26;

/// A capture's columns that can be taken as a table, leaving the sink empty for the next batch.
pub trait TableSink: Boundary {
    /// Rows held now.
    fn rows(&self) -> usize;
    /// The rows held as a table (the sink's error, if it failed), leaving it empty.
    fn take_table(&mut self) -> Result<Table>;
}

/// A sink that is full at `rows` rows; its error is reported by `take_table`, not `finish`.
struct Batched<S> {
    sink: S,
    rows: usize,
}

impl<S: TableSink> Boundary for Batched<S> {
    #[inline(always)]
    fn visit(&mut self, index: u64, msg: &MboMsg, book: &Book) {
        self.sink.visit(index, msg, book);
    }

    #[inline(always)]
    fn full(&self) -> bool {
        self.sink.rows() >= self.rows
    }

    #[inline(always)]
    fn stopped(&self) -> bool {
        self.sink.stopped()
    }
}

enum Inner<'a> {
    Bbo(Capture<'a, Batched<BboColumns>>),
    Depth(Capture<'a, Batched<DepthColumns>>),
    Records {
        stream: MboStream<'a>,
        columns: RecordColumns,
        filter: Filter,
    },
}

/// A capture as a sequence of tables of at most `batch_rows` rows each.
pub struct Batches<'a> {
    inner: Inner<'a>,
    batch_rows: usize,
    /// An error met after rows that were handed out first.
    pending: Option<Error>,
    done: bool,
    /// Batches handed out so far.
    batches: u64,
}

fn check_batch_rows(batch_rows: usize) -> Result<()> {
    if !(1..=MAX_BATCH_ROWS).contains(&batch_rows) {
        return Err(Error::bad_argument(format!(
            "batch_rows must be between 1 and {MAX_BATCH_ROWS}, got {batch_rows}"
        )));
    }
    Ok(())
}

impl<'a> Batches<'a> {
    /// `read_bbo`'s columns a batch at a time.
    pub fn bbo(source: Source<'a>, filter: Filter, batch_rows: usize) -> Result<Self> {
        check_batch_rows(batch_rows)?;
        let mut sink = BboColumns::default();
        sink.reserve(batch_rows);
        let capture = Capture::open(
            source,
            filter,
            Batched {
                sink,
                rows: batch_rows,
            },
        )?;
        Ok(Self::new(Inner::Bbo(capture), batch_rows))
    }

    /// `read_depth`'s columns a batch at a time.
    pub fn depth(
        source: Source<'a>,
        depth: usize,
        filter: Filter,
        batch_rows: usize,
    ) -> Result<Self> {
        check_depth(depth)?;
        check_batch_rows(batch_rows)?;
        let mut sink = DepthColumns::new(depth);
        sink.reserve(batch_rows);
        let capture = Capture::open(
            source,
            filter,
            Batched {
                sink,
                rows: batch_rows,
            },
        )?;
        Ok(Self::new(Inner::Depth(capture), batch_rows))
    }

    /// `read_records_where`'s columns a batch at a time.
    pub fn records(source: Source<'a>, filter: Filter, batch_rows: usize) -> Result<Self> {
        check_batch_rows(batch_rows)?;
        let stream = MboStream::open(source)?;
        let columns = RecordColumns::with_room(batch_rows);
        let inner = Inner::Records {
            stream,
            columns,
            filter,
        };
        Ok(Self::new(inner, batch_rows))
    }

    fn new(inner: Inner<'a>, batch_rows: usize) -> Self {
        Batches {
            inner,
            batch_rows,
            pending: None,
            done: false,
            batches: 0,
        }
    }

    /// The input's DBN metadata.
    pub fn metadata(&self) -> Option<&dbn::Metadata> {
        match &self.inner {
            Inner::Bbo(capture) => capture.metadata(),
            Inner::Depth(capture) => capture.metadata(),
            Inner::Records { stream, .. } => Some(stream.metadata()),
        }
    }

    /// An empty table of the batches' columns (their names and types).
    pub fn empty_table(&self) -> Table {
        match &self.inner {
            Inner::Bbo(_) => BboColumns::default().into_table(),
            Inner::Depth(capture) => DepthColumns::new(capture.sink().sink.depth).into_table(),
            Inner::Records { .. } => RecordColumns::default().into_table(),
        }
    }

    /// MBO records read so far.
    pub fn records_read(&self) -> u64 {
        match &self.inner {
            Inner::Bbo(capture) => capture.records_read(),
            Inner::Depth(capture) => capture.records_read(),
            Inner::Records { stream, .. } => stream.records_read(),
        }
    }

    /// The next batch (1 to `batch_rows` rows), or `None` after the last.
    pub fn next_table(&mut self) -> Result<Option<Table>> {
        if let Some(err) = self.pending.take() {
            return Err(err);
        }
        if self.done {
            return Ok(None);
        }
        let batch_rows = self.batch_rows;
        let (ended, table) = match &mut self.inner {
            Inner::Bbo(capture) => step(capture, batch_rows),
            Inner::Depth(capture) => step(capture, batch_rows),
            Inner::Records {
                stream,
                columns,
                filter,
            } => {
                let ended = columns.fill(stream, batch_rows, *filter);
                let table = std::mem::replace(columns, RecordColumns::with_room(batch_rows));
                (ended, Ok(table.into_table()))
            }
        };
        let table = match table {
            Ok(table) => table,
            Err(err) => {
                self.done = true;
                return Err(err);
            }
        };
        match ended {
            Ok(ended) => self.done = ended,
            Err(err) => {
                self.done = true;
                if table.rows() == 0 {
                    return Err(err);
                }
                self.pending = Some(err);
            }
        }
        if table.rows() == 0 {
            return Ok(None);
        }
        self.batches += 1;
        Ok(Some(table))
    }
}

/// Stream `batches` into a Parquet file at `path`: one batch in memory at a time (plus the
/// row group being encoded), the input's DBN metadata in the key-value metadata. The file is
/// written beside `path` and renamed into place when complete, so an error (a corrupt record
/// mid-stream, a full disk) leaves no truncated file behind. Returns the rows written.
pub fn write_parquet(mut batches: Batches<'_>, path: &str, options: ParquetOptions) -> Result<u64> {
    let schema = batches.empty_table().schema(options.arrow);
    let metadata = batches
        .metadata()
        .map(|m| vec![(DBN_METADATA_KEY.to_owned(), dbn_metadata_json(m))])
        .unwrap_or_default();
    let partial = format!("{path}.partial");
    let written = (|| {
        let mut writer = ParquetWriter::create(&partial, schema, metadata, options)?;
        while let Some(table) = batches.next_table()? {
            writer.write_table(&table)?;
        }
        writer.finish()
    })();
    let renamed = written.and_then(|rows| {
        std::fs::rename(&partial, path)
            .map(|()| rows)
            .map_err(|source| Error::Output {
                path: path.to_owned(),
                source,
            })
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    renamed
}

/// Resume a book capture until a batch is full or the stream ends, and take the batch.
fn step<S: TableSink>(
    capture: &mut Capture<'_, Batched<S>>,
    batch_rows: usize,
) -> (Result<bool>, Result<Table>) {
    let ended = capture.resume();
    let sink = &mut capture.sink_mut().sink;
    let table = sink.take_table();
    if matches!(ended, Ok(false)) {
        sink.reserve(batch_rows);
    }
    (ended, table)
}

impl Iterator for Batches<'_> {
    type Item = Result<Table>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_table().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{read_bbo, read_depth, read_records};
    use crate::synth::session::{simulate_dbn_bytes, SessionConfig};
    use crate::table::Column;

    fn session() -> Vec<u8> {
        let config = SessionConfig {
            records: 20_000,
            instruments: 3,
            ..Default::default()
        };
        simulate_dbn_bytes(&config, false).unwrap()
    }

    /// The tables' columns joined, as raw bytes per column name.
    fn joined(tables: &[Table]) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = tables[0]
            .columns
            .iter()
            .map(|c| (c.name.clone(), Vec::new()))
            .collect();
        for table in tables {
            for (column, (name, bytes)) in table.columns.iter().zip(&mut out) {
                assert_eq!(&column.name, name);
                bytes.extend_from_slice(column.values.as_slice());
            }
        }
        out
    }

    fn whole(table: Table) -> Vec<(String, Vec<u8>)> {
        let columns: Vec<Column> = table.columns;
        columns
            .into_iter()
            .map(|c| (c.name, c.values.as_slice().to_vec()))
            .collect()
    }

    #[test]
    fn batches_joined_are_the_whole_capture() {
        let bytes = session();
        let source = Source::Bytes(&bytes);
        let filter = Filter {
            instrument_id: None,
            publisher_id: None,
        };
        let bbo = whole(read_bbo(source, filter).unwrap().into_table());
        let depth = whole(read_depth(source, 4, filter).unwrap().into_table());
        let records = whole(read_records(source).unwrap().into_table());
        for batch_rows in [1, 777, 5_000, 1 << 20] {
            let tables: Vec<Table> = Batches::bbo(source, filter, batch_rows)
                .unwrap()
                .collect::<Result<_>>()
                .unwrap();
            assert!(tables.iter().all(|t| (1..=batch_rows).contains(&t.rows())));
            assert_eq!(joined(&tables), bbo, "bbo, batches of {batch_rows}");
            let tables: Vec<Table> = Batches::depth(source, 4, filter, batch_rows)
                .unwrap()
                .collect::<Result<_>>()
                .unwrap();
            assert_eq!(joined(&tables), depth, "depth, batches of {batch_rows}");
            let tables: Vec<Table> = Batches::records(source, filter, batch_rows)
                .unwrap()
                .collect::<Result<_>>()
                .unwrap();
            assert!(tables[..tables.len() - 1]
                .iter()
                .all(|t| t.rows() == batch_rows));
            assert_eq!(joined(&tables), records, "records, batches of {batch_rows}");
        }
    }

    #[test]
    fn filtered_records_are_the_rows_of_the_kept_books() {
        use crate::capture::read_records_where;
        let bytes = session();
        let source = Source::Bytes(&bytes);
        let all = read_records(source).unwrap();
        let id = all.keys.instrument_id[all.keys.len() / 2];
        let kept: Vec<usize> = (0..all.keys.len())
            .filter(|&i| all.keys.instrument_id[i] == id)
            .collect();
        assert!(!kept.is_empty() && kept.len() < all.keys.len());
        let filter = Filter {
            instrument_id: Some(id),
            publisher_id: None,
        };
        let some = read_records_where(source, filter).unwrap();
        let pick = |column: &[i64]| kept.iter().map(|&i| column[i]).collect::<Vec<_>>();
        assert_eq!(
            some.keys.index,
            kept.iter().map(|&i| all.keys.index[i]).collect::<Vec<_>>(),
            "indexes count every record of the stream"
        );
        assert_eq!(some.price, pick(&all.price));
        let tables: Vec<Table> = Batches::records(source, filter, 333)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(joined(&tables), whole(some.into_table()));
    }

    #[test]
    fn a_corrupt_tail_comes_after_the_rows_before_it() {
        let mut bytes = session();
        // the third record from the end claims a length shorter than a record header
        let at = bytes.len() - 3 * crate::dbn::MBO_LEN;
        bytes[at] = 1;
        let source = Source::Bytes(&bytes);
        let Err(whole_err) = read_records(source).map(|_| ()) else {
            panic!("the corrupt record is not an error")
        };
        let mut batches = Batches::records(source, Filter::default(), 1 << 20).unwrap();
        let first = batches.next_table().unwrap().unwrap();
        assert!(first.rows() > 1000);
        let err = batches.next_table().unwrap_err();
        assert_eq!(err.to_string(), whole_err.to_string());
        assert!(batches.next_table().unwrap().is_none());
    }

    #[test]
    fn parquet_exports_read_back_as_the_batches() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let bytes = session();
        let source = Source::Bytes(&bytes);
        let dir = std::env::temp_dir().join(format!("mbo-fast-batches-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("depth.parquet");
        let path = path.to_str().unwrap();
        let options = ParquetOptions {
            row_group_rows: 3_000,
            ..Default::default()
        };
        let batches = Batches::depth(source, 3, Filter::default(), 1_000).unwrap();
        let rows = write_parquet(batches, path, options).unwrap();
        let expected: Vec<arrow_array::RecordBatch> =
            Batches::depth(source, 3, Filter::default(), 1 << 20)
                .unwrap()
                .map(|t| t.unwrap().to_record_batch(options.arrow).unwrap())
                .collect();
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap();
        let kv = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .unwrap()
            .clone();
        assert!(kv.iter().any(|k| k.key == DBN_METADATA_KEY
            && k.value
                .as_deref()
                .is_some_and(|v| v.contains("\"schema\":\"mbo\""))));
        assert!(builder.metadata().num_row_groups() > 1);
        // read back in one batch (across row groups) against the capture in one table
        assert_eq!(expected.len(), 1);
        assert_eq!(rows as usize, expected[0].num_rows());
        let read: Vec<arrow_array::RecordBatch> = builder
            .with_batch_size(rows as usize)
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
        assert_eq!(read, expected, "types and values exactly");

        // a corrupt record mid-stream: an error, and no file (nor a partial one) left behind
        let mut corrupt = bytes.clone();
        let at = corrupt.len() - 3 * crate::dbn::MBO_LEN;
        corrupt[at] = 1;
        let bad = dir.join("bad.parquet");
        let bad = bad.to_str().unwrap();
        let batches = Batches::bbo(Source::Bytes(&corrupt), Filter::default(), 1_000).unwrap();
        assert!(matches!(
            write_parquet(batches, bad, options),
            Err(Error::Decode { .. })
        ));
        assert!(!std::path::Path::new(bad).exists());
        assert!(!std::path::Path::new(&format!("{bad}.partial")).exists());

        // a target that cannot be replaced (a directory): an output error, nothing left beside it
        let taken = dir.join("taken.parquet");
        std::fs::create_dir(&taken).unwrap();
        let taken = taken.to_str().unwrap();
        let batches = Batches::bbo(source, Filter::default(), 1_000).unwrap();
        assert!(matches!(
            write_parquet(batches, taken, options),
            Err(Error::Output { .. })
        ));
        assert!(!std::path::Path::new(&format!("{taken}.partial")).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_batch_sizes_and_depths_are_bad_arguments() {
        let bytes = session();
        let source = Source::Bytes(&bytes);
        for rows in [0, MAX_BATCH_ROWS + 1] {
            assert!(matches!(
                Batches::records(source, Filter::default(), rows),
                Err(Error::BadArgument { .. })
            ));
        }
        assert!(matches!(
            Batches::depth(source, 0, Filter::default(), 10),
            Err(Error::BadArgument { .. })
        ));
    }
}
