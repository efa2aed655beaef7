//! A streaming Parquet writer: tables (a capture's batches) in, one Parquet file out, row group
//! by row group, so memory is the row group being encoded whatever the number of rows.
//!
//! The `parquet` crate (arrow-rs) does the format: zstd-compressed column chunks, row groups of
//! [`ROW_GROUP_ROWS`] rows (fewer when a row group's encoded size reaches
//! [`ROW_GROUP_BYTES`]: wide depth rows), the Arrow schema embedded so Arrow readers get the
//! exact types back (uint64 times, fixed-size lists). Prices stay int64 in 1e-9 units by
//! default (exact), null on an empty side. The DBN metadata of the input goes into the file's
//! key-value metadata under [`DBN_METADATA_KEY`], as the JSON the `dbn` crate writes (the key
//! and form of its own Parquet encoder), so `json.loads(pq.read_metadata(p).metadata[...])`
//! gives dataset, schema, symbols and mappings back.

use std::fs::File;
use std::io::{BufWriter, Write};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::{ArrowOptions, Table};
use crate::error::{Error, Result};

/// Rows a row group holds at most.
pub const ROW_GROUP_ROWS: usize = 1 << 20;
/// A row group is closed once its encoded columns reach this size (depth rows are wide: a
/// million rows of 10 levels a side are ~500 MB before compression).
pub const ROW_GROUP_BYTES: usize = 128 << 20;
/// The key-value metadata key of the input's DBN metadata (JSON), as the `dbn` crate's own
/// Parquet encoder names it.
pub const DBN_METADATA_KEY: &str = "databento:metadata";

/// How a Parquet file is written.
#[derive(Clone, Copy, Debug)]
pub struct ParquetOptions {
    pub arrow: ArrowOptions,
    pub row_group_rows: usize,
    /// zstd level (1 to 22).
    pub zstd_level: i32,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            arrow: ArrowOptions::default(),
            row_group_rows: ROW_GROUP_ROWS,
            zstd_level: 1,
        }
    }
}

/// A Parquet file being written: batches in any number, then `finish`.
pub struct ParquetWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
    options: ParquetOptions,
    /// The output's name, for errors.
    label: String,
    rows: u64,
}

impl ParquetWriter<BufWriter<File>> {
    /// Create (or truncate) `path` for rows of `schema`'s columns.
    pub fn create(
        path: &str,
        schema: SchemaRef,
        metadata: Vec<(String, String)>,
        options: ParquetOptions,
    ) -> Result<Self> {
        let file = File::create(path).map_err(|source| Error::Output {
            path: path.to_owned(),
            source,
        })?;
        ParquetWriter::new(
            BufWriter::with_capacity(1 << 20, file),
            path,
            schema,
            metadata,
            options,
        )
    }
}

impl<W: Write + Send> ParquetWriter<W> {
    pub fn new(
        writer: W,
        label: &str,
        schema: SchemaRef,
        metadata: Vec<(String, String)>,
        options: ParquetOptions,
    ) -> Result<Self> {
        let level = ZstdLevel::try_new(options.zstd_level)
            .map_err(|err| Error::bad_argument(format!("zstd level: {err}")))?;
        if options.row_group_rows == 0 {
            return Err(Error::bad_argument("row_group_rows must be >= 1"));
        }
        let key_values = metadata
            .into_iter()
            .map(|(key, value)| KeyValue::new(key, value))
            .collect();
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(options.row_group_rows))
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
            .set_key_value_metadata(Some(key_values))
            .set_created_by(format!("mbo-fast {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(writer, schema.clone(), Some(properties))
            .map_err(|err| parquet_error(label, err))?;
        Ok(ParquetWriter {
            writer,
            schema,
            options,
            label: label.to_owned(),
            rows: 0,
        })
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Append a table's rows (typed as the writer's options say).
    pub fn write_table(&mut self, table: &Table) -> Result<()> {
        if table.rows() == 0 {
            return Ok(());
        }
        let batch = table.to_record_batch(self.options.arrow)?;
        self.write_batch(&batch)
    }

    /// Append an Arrow batch of the writer's schema.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.schema() != self.schema {
            return Err(Error::bad_argument(format!(
                "a batch of another schema than the Parquet file's: {} vs {}",
                batch.schema(),
                self.schema
            )));
        }
        self.writer
            .write(batch)
            .map_err(|err| parquet_error(&self.label, err))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Add a key-value pair to the file's metadata (written by `finish`).
    pub fn add_metadata(&mut self, key: &str, value: String) {
        self.writer
            .append_key_value_metadata(KeyValue::new(key.to_owned(), value));
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Write the last row group and the footer, flush. Returns the rows written.
    pub fn finish(self) -> Result<u64> {
        let label = self.label;
        let mut inner = self
            .writer
            .into_inner()
            .map_err(|err| parquet_error(&label, err))?;
        inner.flush().map_err(|source| Error::Output {
            path: label.clone(),
            source,
        })?;
        Ok(self.rows)
    }
}

/// The DBN metadata as the JSON the `dbn` crate writes under [`DBN_METADATA_KEY`].
pub fn dbn_metadata_json(metadata: &dbn::Metadata) -> String {
    let mut out = Vec::new();
    let mut encoder = dbn::encode::json::Encoder::new(&mut out, false, false, false);
    // Writing into a Vec cannot fail.
    let _ = encoder.encode_metadata(metadata);
    let mut json = String::from_utf8(out).unwrap_or_default();
    json.truncate(json.trim_end().len());
    json
}

fn parquet_error(label: &str, err: parquet::errors::ParquetError) -> Error {
    match err {
        parquet::errors::ParquetError::External(source) => {
            match source.downcast::<std::io::Error>() {
                Ok(io) => Error::Output {
                    path: label.to_owned(),
                    source: *io,
                },
                Err(other) => Error::Output {
                    path: label.to_owned(),
                    source: std::io::Error::other(other.to_string()),
                },
            }
        }
        other => Error::Output {
            path: label.to_owned(),
            source: std::io::Error::other(other.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Column;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    fn batch(first: u64, rows: usize) -> Table {
        let index: Vec<u64> = (first..first + rows as u64).collect();
        let px: Vec<i64> = index
            .iter()
            .map(|&i| {
                if i % 5 == 0 {
                    dbn::UNDEF_PRICE
                } else {
                    i as i64 * 10
                }
            })
            .collect();
        let levels: Vec<u32> = (0..rows * 3).map(|v| v as u32).collect();
        Table {
            columns: vec![
                Column::new("index", index),
                Column::new("bid_px", px),
                Column::levels("bid_sz", levels, 3),
            ],
        }
    }

    #[test]
    fn batches_stream_into_row_groups_and_read_back_exactly() {
        let path = std::env::temp_dir().join(format!("mbo-fast-pq-{}.parquet", std::process::id()));
        let path = path.to_str().unwrap();
        let schema = batch(0, 0).schema(ArrowOptions::default());
        let options = ParquetOptions {
            row_group_rows: 1000,
            ..Default::default()
        };
        let meta = vec![(
            DBN_METADATA_KEY.to_owned(),
            "{\"dataset\":\"X\"}".to_owned(),
        )];
        let mut writer = ParquetWriter::create(path, schema, meta, options).unwrap();
        let mut expected = Vec::new();
        let mut first = 0;
        for rows in [700, 0, 700, 1, 1599] {
            let table = batch(first, rows);
            expected.push(table.to_record_batch(ArrowOptions::default()).unwrap());
            writer.write_table(&table).unwrap();
            first += rows as u64;
        }
        writer.add_metadata("mbo_fast:files", "[]".to_owned());
        assert_eq!(writer.finish().unwrap(), first);

        let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.num_row_groups(), 3, "3,000 rows in groups of 1,000");
        let kv = meta.file_metadata().key_value_metadata().unwrap();
        let value = |key: &str| {
            kv.iter()
                .find(|k| k.key == key)
                .and_then(|k| k.value.clone())
        };
        assert_eq!(
            value(DBN_METADATA_KEY).as_deref(),
            Some("{\"dataset\":\"X\"}")
        );
        assert_eq!(value("mbo_fast:files").as_deref(), Some("[]"));

        let read: Vec<RecordBatch> =
            ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .collect::<std::result::Result<_, _>>()
                .unwrap();
        assert_eq!(rows_of(&read), rows_of(&expected));
        assert_eq!(read[0].schema(), expected[0].schema(), "types kept exactly");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn an_unwritable_path_is_an_output_error() {
        let schema = batch(0, 0).schema(ArrowOptions::default());
        let err =
            ParquetWriter::create("/nonexistent/x.parquet", schema, vec![], Default::default());
        assert!(matches!(err, Err(Error::Output { .. })));
    }

    #[test]
    fn the_dbn_metadata_is_the_dbn_crates_json() {
        let metadata = crate::dbn::writer::mbo_metadata(&Default::default(), None);
        let json = dbn_metadata_json(&metadata);
        assert!(json.starts_with('{') && json.ends_with('}'), "{json}");
        assert!(json.contains("\"dataset\":\"GLBX.MDP3\""), "{json}");
        assert!(json.contains("\"schema\":\"mbo\""), "{json}");
    }

    /// (index, bid_px or None, bid_sz levels) of every row.
    fn rows_of(batches: &[RecordBatch]) -> Vec<(u64, Option<i64>, Vec<u32>)> {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Int64Type, UInt32Type, UInt64Type};
        use arrow_array::Array;
        let mut out = Vec::new();
        for batch in batches {
            let index = batch.column(0).as_primitive::<UInt64Type>();
            let px = batch.column(1).as_primitive::<Int64Type>();
            let sz = batch.column(2).as_fixed_size_list();
            for row in 0..batch.num_rows() {
                let levels = sz.value(row);
                let levels = levels.as_primitive::<UInt32Type>().values().to_vec();
                out.push((
                    index.value(row),
                    px.is_valid(row).then(|| px.value(row)),
                    levels,
                ));
            }
        }
        out
    }
}
