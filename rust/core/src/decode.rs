//! Reading MBO records out of a DBN stream (plain or zstd).
//!
//! The `dbn` crate does the format work: zstd detection and decompression (`DynReader`),
//! metadata parsing (`MetadataDecoder`), record headers and the `MboMsg` layout. Records are
//! framed here, in place over the input: bytes already in memory are never copied, files and
//! zstd streams are read in 1 MiB chunks. That halves decoding time against `dbn`'s buffered
//! decoder (which copies every record into its own buffer) and lets every error carry the exact
//! byte offset of the record that caused it, truncation included.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use dbn::decode::dbn::MetadataDecoder;
use dbn::decode::DynReader;
use dbn::{MboMsg, Metadata, RecordHeader, Schema};

use crate::error::{Error, Result};

/// Where records come from: a file path, or the bytes of a DBN stream held in memory.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    Path(&'a str),
    Bytes(&'a [u8]),
}

/// The DBN versions whose record header and MBO layout this module reads (v1 to v3 share them).
const MAX_DBN_VERSION: u8 = 3;
/// `DBN` + version byte + u32 metadata length.
const PRELUDE_LEN: usize = 8;
const HEADER_LEN: usize = std::mem::size_of::<RecordHeader>();
const MBO_LEN: usize = std::mem::size_of::<MboMsg>();
/// Record lengths are stored in 4-byte words.
const LENGTH_UNIT: usize = 4;
const CHUNK: usize = 1 << 20;

/// The record bytes after the metadata: a slice in memory, or a reader consumed in chunks.
enum Input<'a> {
    Slice(&'a [u8]),
    Reader {
        reader: Box<dyn Read + Send + 'a>,
        /// Fixed-size buffer; `buf[..end]` holds bytes read and not yet discarded.
        buf: Box<[u8]>,
        end: usize,
        eof: bool,
    },
}

/// A stream of MBO records with their 0-based index among the stream's MBO records. Records of
/// other types (system messages, symbol mappings in live streams) are skipped and not counted.
pub struct MboStream<'a> {
    input: Input<'a>,
    /// Read position in the slice or in `buf`.
    pos: usize,
    /// Byte offset of `pos` in the decompressed stream.
    offset: u64,
    metadata: Metadata,
    next_index: u64,
    /// Records of other types (system, symbol mapping, ...) passed over.
    pub skipped: u64,
    /// Upper bound on the number of records, when the stream is uncompressed and its size known.
    estimated_records: Option<usize>,
}

impl<'a> MboStream<'a> {
    pub fn open(source: Source<'a>) -> Result<Self> {
        match source {
            Source::Bytes(bytes) if !dbn::decode::zstd::starts_with_prefix(bytes) => {
                let (metadata, len) = decode_metadata(&mut &bytes[..], "<bytes>")?;
                let records = &bytes[len..];
                Self::new(Input::Slice(records), metadata, len, Some(records.len()))
            }
            Source::Bytes(bytes) => Self::from_reader(Box::new(bytes), "<bytes>", None),
            Source::Path(path) => {
                let source_error = |err| Error::Source {
                    path: path.to_owned(),
                    source: err,
                };
                let file = File::open(path).map_err(source_error)?;
                let size = file.metadata().map_err(source_error)?.len();
                let reader = BufReader::with_capacity(CHUNK, file);
                Self::from_reader(Box::new(reader), path, usize::try_from(size).ok())
            }
        }
    }

    fn from_reader(
        reader: Box<dyn BufRead + Send + 'a>,
        label: &str,
        size: Option<usize>,
    ) -> Result<Self> {
        let mut reader = DynReader::inferred_with_buffer(reader).map_err(|err| match err {
            dbn::Error::Io { source, .. } => Error::Source {
                path: label.to_owned(),
                source,
            },
            _ => Error::decode("not a DBN stream", Some(0)),
        })?;
        let compressed = reader.is_compressed();
        let (metadata, len) = decode_metadata(&mut reader, label)?;
        let input = Input::Reader {
            reader: Box::new(reader),
            buf: vec![0; CHUNK].into_boxed_slice(),
            end: 0,
            eof: false,
        };
        let record_bytes = size.filter(|_| !compressed).map(|s| s.saturating_sub(len));
        Self::new(input, metadata, len, record_bytes)
    }

    fn new(
        input: Input<'a>,
        metadata: Metadata,
        metadata_len: usize,
        record_bytes: Option<usize>,
    ) -> Result<Self> {
        if let Some(schema) = metadata.schema.filter(|s| *s != Schema::Mbo) {
            return Err(Error::Schema {
                message: format!("expected an MBO stream, found schema {schema}"),
            });
        }
        Ok(MboStream {
            input,
            pos: 0,
            offset: metadata_len as u64,
            metadata,
            next_index: 0,
            skipped: 0,
            estimated_records: record_bytes.map(|bytes| bytes / MBO_LEN),
        })
    }

    /// At most this many MBO records follow (uncompressed streams of known size only).
    pub fn estimated_records(&self) -> Option<usize> {
        self.estimated_records
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The index the next MBO record will get; at the end, the number of MBO records read.
    pub fn records_read(&self) -> u64 {
        self.next_index
    }

    /// The next MBO record and its index, `None` at a clean end of stream.
    #[inline]
    pub fn next_mbo(&mut self) -> Result<Option<(u64, MboMsg)>> {
        loop {
            let Some(record) = self.next_record()? else {
                return Ok(None);
            };
            // Byte 1 of the header is the record type.
            if record[1] != dbn::rtype::MBO {
                self.skipped += 1;
                continue;
            }
            let len = record.len();
            if len < MBO_LEN {
                return Err(Error::decode(
                    format!("an MBO record of {len} bytes is too short"),
                    Some(self.offset - len as u64),
                ));
            }
            // SAFETY: `record` holds at least `size_of::<MboMsg>()` bytes; `MboMsg` is plain
            // old data (integers only, any bit pattern valid) and the read is unaligned-safe.
            let msg = unsafe { std::ptr::read_unaligned(record.as_ptr().cast::<MboMsg>()) };
            let index = self.next_index;
            self.next_index += 1;
            return Ok(Some((index, msg)));
        }
    }

    /// The next whole record's bytes, refilling from the reader as needed.
    #[inline]
    fn next_record(&mut self) -> Result<Option<&[u8]>> {
        loop {
            let available = match &self.input {
                Input::Slice(data) => &data[self.pos..],
                Input::Reader { buf, end, .. } => &buf[self.pos..*end],
            };
            if let Some(&words) = available.first() {
                let len = usize::from(words) * LENGTH_UNIT;
                if len < HEADER_LEN {
                    return Err(Error::decode(
                        format!("corrupt record header: length {len} bytes"),
                        Some(self.offset),
                    ));
                }
                if len <= available.len() {
                    let start = self.pos;
                    self.pos += len;
                    self.offset += len as u64;
                    return Ok(Some(match &self.input {
                        Input::Slice(data) => &data[start..start + len],
                        Input::Reader { buf, .. } => &buf[start..start + len],
                    }));
                }
            }
            if !self.refill()? {
                let left = match &self.input {
                    Input::Slice(data) => data.len() - self.pos,
                    Input::Reader { end, .. } => *end - self.pos,
                };
                if left == 0 {
                    return Ok(None);
                }
                return Err(Error::decode(
                    format!("truncated DBN stream: the last {left} bytes are not a whole record"),
                    Some(self.offset),
                ));
            }
        }
    }

    /// Read another chunk behind the unread bytes. `false` when no more bytes can come.
    fn refill(&mut self) -> Result<bool> {
        let Input::Reader {
            reader,
            buf,
            end,
            eof,
        } = &mut self.input
        else {
            return Ok(false);
        };
        if *eof {
            return Ok(false);
        }
        // Keep the partial record, if any, at the front (a record is at most 1,020 bytes).
        buf.copy_within(self.pos..*end, 0);
        *end -= self.pos;
        self.pos = 0;
        let read = loop {
            match reader.read(&mut buf[*end..]) {
                Ok(n) => break n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    return Err(Error::decode(
                        format!("corrupt DBN stream: {err}"),
                        Some(self.offset),
                    ))
                }
            }
        };
        *end += read;
        *eof = read == 0;
        Ok(read > 0)
    }
}

/// Read and parse the prelude and metadata; returns them with their length in bytes.
pub(crate) fn decode_metadata(reader: &mut dyn Read, label: &str) -> Result<(Metadata, usize)> {
    let mut prelude = [0u8; PRELUDE_LEN];
    read_exactly(reader, &mut prelude, label, "its DBN header")?;
    if &prelude[..3] != b"DBN" {
        return Err(Error::decode(
            "not a DBN stream: it does not start with 'DBN' (or a zstd frame)",
            Some(0),
        ));
    }
    let version = prelude[3];
    if version == 0 || version > MAX_DBN_VERSION {
        return Err(Error::decode(
            format!("DBN version {version} is not supported (versions 1 to {MAX_DBN_VERSION} are)"),
            Some(3),
        ));
    }
    let len = u32::from_le_bytes([prelude[4], prelude[5], prelude[6], prelude[7]]) as usize;
    let mut bytes = prelude.to_vec();
    // Read through `take` so a corrupt length cannot make us allocate gigabytes up front.
    let read = reader
        .take(len as u64)
        .read_to_end(&mut bytes)
        .map_err(|err| Error::decode(format!("corrupt DBN metadata: {err}"), Some(8)))?;
    if read < len {
        return Err(Error::decode(
            format!("truncated DBN metadata: {read} of {len} bytes"),
            Some(PRELUDE_LEN as u64 + read as u64),
        ));
    }
    let metadata = MetadataDecoder::new(&bytes[..])
        .decode()
        .map_err(|err| Error::decode(format!("invalid DBN metadata: {err}"), Some(8)))?;
    Ok((metadata, PRELUDE_LEN + len))
}

fn read_exactly(reader: &mut dyn Read, buf: &mut [u8], label: &str, what: &str) -> Result<()> {
    reader.read_exact(buf).map_err(|err| match err.kind() {
        io::ErrorKind::UnexpectedEof => Error::decode(
            format!("not a DBN stream: too short to hold {what}"),
            Some(0),
        ),
        io::ErrorKind::InvalidData | io::ErrorKind::Other => {
            Error::decode(format!("not a DBN stream: {err}"), Some(0))
        }
        _ => Error::Source {
            path: label.to_owned(),
            source: err,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_decode_error() {
        for bytes in [
            &b""[..],
            b"hello world",
            b"DBN\x03\xff\xff\xff\x7f",
            b"DBN\x09\x00\x00\x00\x00",
            b"\x28\xb5\x2f\xfd garbage",
        ] {
            match MboStream::open(Source::Bytes(bytes)) {
                Err(Error::Decode { .. }) => {}
                Err(other) => panic!("unexpected error {other}"),
                Ok(_) => panic!("garbage accepted: {bytes:?}"),
            }
        }
    }

    #[test]
    fn missing_file_is_a_source_error() {
        assert!(matches!(
            MboStream::open(Source::Path("/nonexistent/x.dbn")),
            Err(Error::Source { .. })
        ));
    }
}
