//! Reading MBO records out of a DBN stream (plain or zstd) with the official `dbn` crate.
//!
//! The `dbn` decoder treats end-of-input as the end of the stream even when a record was cut in
//! half, so this module counts the bytes it is handed and the bytes its records account for: a
//! difference at the end is a truncated stream, reported with its byte offset.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use dbn::decode::dbn::Decoder;
use dbn::decode::{DbnMetadata, DecodeRecordRef, DynReader};
use dbn::{MboMsg, Metadata, Schema, VersionUpgradePolicy};

use crate::error::{Error, Result};

/// Where records come from: a file path, or the bytes of a DBN stream held in memory.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    Path(&'a str),
    Bytes(&'a [u8]),
}

/// The DBN versions whose MBO record layout this crate reads (v1 to v3 share it).
const MAX_DBN_VERSION: u8 = 3;
/// `DBN` + version byte + u32 metadata length.
const PRELUDE_LEN: u64 = 8;

/// Counts the bytes read from the (decompressed) stream and remembers its 8-byte prelude.
struct Counting<R> {
    inner: R,
    total: Arc<AtomicU64>,
    prelude: Arc<Mutex<[u8; 8]>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let before = self.total.fetch_add(n as u64, Ordering::Relaxed);
        if before < PRELUDE_LEN {
            if let Ok(mut prelude) = self.prelude.lock() {
                for (at, byte) in (before as usize..prelude.len()).zip(&buf[..n]) {
                    prelude[at] = *byte;
                }
            }
        }
        Ok(n)
    }
}

type Inner<'a> = Counting<DynReader<'a, Box<dyn BufRead + Send + 'a>>>;

/// A stream of MBO records with their 0-based index among the stream's MBO records. Records of
/// other types (system messages, symbol mappings in live streams) are skipped and not counted.
pub struct MboStream<'a> {
    decoder: Decoder<Inner<'a>>,
    bytes_read: Arc<AtomicU64>,
    /// Bytes of the decompressed stream accounted for: prelude, metadata and whole records.
    consumed: u64,
    next_index: u64,
    /// Records of other types (system, symbol mapping, ...) passed over.
    pub skipped: u64,
}

impl<'a> MboStream<'a> {
    pub fn open(source: Source<'a>) -> Result<Self> {
        let (label, reader): (&str, Box<dyn BufRead + Send + 'a>) = match source {
            Source::Path(path) => {
                let file = File::open(path).map_err(|err| Error::Source {
                    path: path.to_owned(),
                    source: err,
                })?;
                (path, Box::new(BufReader::with_capacity(1 << 16, file)))
            }
            Source::Bytes(bytes) => ("<bytes>", Box::new(bytes)),
        };
        let reader = DynReader::inferred_with_buffer(reader).map_err(|err| match err {
            dbn::Error::Io { source, .. } => Error::Source {
                path: label.to_owned(),
                source,
            },
            _ => Error::decode(
                "not a DBN stream: no DBN or zstd signature at the start",
                Some(0),
            ),
        })?;
        let bytes_read = Arc::new(AtomicU64::new(0));
        let prelude = Arc::new(Mutex::new([0u8; 8]));
        let counting = Counting {
            inner: reader,
            total: Arc::clone(&bytes_read),
            prelude: Arc::clone(&prelude),
        };
        let decoder = Decoder::with_upgrade_policy(counting, VersionUpgradePolicy::AsIs)
            .map_err(|err| Error::decode(format!("invalid DBN metadata: {err}"), Some(0)))?;
        let prelude = *prelude
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let metadata_len = u32::from_le_bytes([prelude[4], prelude[5], prelude[6], prelude[7]]);
        let stream = MboStream {
            decoder,
            bytes_read,
            consumed: PRELUDE_LEN + u64::from(metadata_len),
            next_index: 0,
            skipped: 0,
        };
        stream.check_metadata()?;
        Ok(stream)
    }

    fn check_metadata(&self) -> Result<()> {
        let metadata = self.metadata();
        if metadata.version > MAX_DBN_VERSION {
            return Err(Error::decode(
                format!(
                    "DBN version {} is not supported (versions 1 to {MAX_DBN_VERSION} are)",
                    metadata.version
                ),
                Some(3),
            ));
        }
        match metadata.schema {
            Some(Schema::Mbo) | None => Ok(()),
            Some(other) => Err(Error::Schema {
                message: format!("expected an MBO stream, found schema {other}"),
            }),
        }
    }

    pub fn metadata(&self) -> &Metadata {
        self.decoder.metadata()
    }

    /// The index the next MBO record will get; at the end, the number of MBO records read.
    pub fn records_read(&self) -> u64 {
        self.next_index
    }

    /// The next MBO record and its index, `None` at a clean end of stream.
    #[inline]
    pub fn next_mbo(&mut self) -> Result<Option<(u64, MboMsg)>> {
        loop {
            let offset = self.consumed;
            let record = match self.decoder.decode_record_ref() {
                Ok(Some(record)) => record,
                Ok(None) => return self.finish().map(|()| None),
                Err(err) => return Err(Error::decode(describe_dbn(&err), Some(offset))),
            };
            self.consumed += record.header().record_size() as u64;
            if record.header().rtype != dbn::rtype::MBO {
                self.skipped += 1;
                continue;
            }
            let index = self.next_index;
            self.next_index += 1;
            return match record.get::<MboMsg>() {
                Some(msg) => Ok(Some((index, *msg))),
                None => Err(Error::decode(
                    format!(
                        "MBO record {index} is {} bytes, shorter than an MBO record",
                        record.header().record_size()
                    ),
                    Some(offset),
                )),
            };
        }
    }

    fn finish(&self) -> Result<()> {
        let total = self.bytes_read.load(Ordering::Relaxed);
        if total != self.consumed {
            return Err(Error::decode(
                format!(
                    "truncated DBN stream: {} trailing bytes do not form a whole record",
                    total.saturating_sub(self.consumed)
                ),
                Some(self.consumed),
            ));
        }
        Ok(())
    }
}

fn describe_dbn(err: &dbn::Error) -> String {
    match err {
        dbn::Error::Io { source, .. } => format!("corrupt DBN stream: {source}"),
        other => format!("corrupt DBN stream: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_decode_error() {
        for bytes in [&b""[..], b"hello world", b"DBN\x03\xff\xff\xff\x7f"] {
            match MboStream::open(Source::Bytes(bytes)) {
                Err(Error::Decode { .. }) => {}
                Err(other) => panic!("unexpected error {other}"),
                Ok(_) => panic!("garbage accepted"),
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
