//! Where derived records go: a DBN stream (a file written under a temporary name and renamed
//! into place only when complete, or bytes taken a piece at a time), or the bare records in
//! memory (for numpy columns). Records are gathered in a 1 MiB buffer and written in large
//! pieces; the first write error stops the pass and is reported by `finish`, and a file that
//! was not finished is removed: no partial output is ever left under the output's name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use dbn::encode::dbn::MetadataEncoder;
use dbn::encode::DynWriter;
use dbn::{Compression, Metadata, VersionUpgradePolicy};

use super::records::RecordOut;
use super::DerivedSchema;
use crate::error::{try_reserve, Error, Result};

/// Records gathered before a write.
const BUFFER: usize = 1 << 20;

/// The metadata of a derived stream: the inputs' (merged when there are several, each upgraded
/// to DBN v3 first), with the schema changed, the limit cleared and no `ts_out`.
pub fn derived_metadata(inputs: Vec<Metadata>, schema: DerivedSchema) -> Result<Metadata> {
    let mut inputs = inputs.into_iter().map(|mut metadata| {
        metadata.upgrade(VersionUpgradePolicy::UpgradeToV3);
        metadata.ts_out = false;
        metadata
    });
    let first = inputs
        .next()
        .ok_or_else(|| Error::bad_argument("no input to convert"))?;
    let mut metadata = first.merge(inputs).map_err(|err| {
        Error::bad_argument(format!("the inputs cannot be converted together: {err}"))
    })?;
    metadata.version = dbn::DBN_VERSION;
    metadata.schema = Some(schema.dbn_schema());
    metadata.limit = None;
    metadata.ts_out = false;
    Ok(metadata)
}

/// A file created under a temporary name beside `path`, renamed to `path` by `commit` and
/// removed if dropped before.
pub struct PendingFile {
    file: Option<File>,
    temp: PathBuf,
    path: PathBuf,
}

impl PendingFile {
    pub fn create(path: &str) -> Result<Self> {
        let path = PathBuf::from(path);
        let output_error = |source| Error::Output {
            path: path.display().to_string(),
            source,
        };
        let name = path
            .file_name()
            .ok_or_else(|| output_error(io::Error::other("not a file name")))?
            .to_string_lossy()
            .into_owned();
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.unwrap_or(Path::new("."));
        let mut attempt = 0u32;
        loop {
            let temp = dir.join(format!(".{name}.partial-{}-{attempt}", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&temp) {
                Ok(file) => {
                    return Ok(PendingFile {
                        file: Some(file),
                        temp,
                        path,
                    })
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(err) => return Err(output_error(err)),
            }
        }
    }

    pub fn path(&self) -> String {
        self.path.display().to_string()
    }

    fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("written only before commit")
    }

    /// Close the file and give it its name (once; nothing may be written after).
    pub fn commit(&mut self) -> Result<()> {
        if self.temp.as_os_str().is_empty() {
            return Ok(());
        }
        drop(self.file.take());
        fs::rename(&self.temp, &self.path).map_err(|source| Error::Output {
            path: self.path(),
            source,
        })?;
        self.temp = PathBuf::new();
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        drop(self.file.take());
        if !self.temp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

impl Write for PendingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

/// A DBN stream being written: the metadata first, then records, plain or zstd.
pub struct DbnOut<W: Write> {
    writer: DynWriter<'static, W>,
    buffer: Vec<u8>,
    label: String,
    error: Option<Error>,
}

impl<W: Write> DbnOut<W> {
    pub fn new(writer: W, metadata: &Metadata, zstd: bool, label: &str) -> Result<Self> {
        let compression = if zstd {
            Compression::Zstd
        } else {
            Compression::None
        };
        let io_error = |err: dbn::Error| match err {
            dbn::Error::Io { source, .. } => Error::Output {
                path: label.to_owned(),
                source,
            },
            other => Error::bad_argument(format!("cannot encode DBN: {other}")),
        };
        let mut writer = DynWriter::new(writer, compression).map_err(io_error)?;
        MetadataEncoder::new(&mut writer)
            .encode(metadata)
            .map_err(io_error)?;
        Ok(DbnOut {
            writer,
            buffer: Vec::with_capacity(BUFFER),
            label: label.to_owned(),
            error: None,
        })
    }

    fn write_buffer(&mut self) {
        if self.error.is_none() && !self.buffer.is_empty() {
            if let Err(source) = self.writer.write_all(&self.buffer) {
                self.error = Some(Error::Output {
                    path: self.label.clone(),
                    source,
                });
            }
        }
        self.buffer.clear();
    }

    /// The underlying writer (bytes written so far, for a writer in memory).
    pub fn get_mut(&mut self) -> &mut W {
        self.writer.get_mut()
    }

    /// Write what is buffered (records so far reach the writer).
    pub fn flush_records(&mut self) -> Result<()> {
        self.write_buffer();
        self.error.take().map_or(Ok(()), Err)
    }

    /// Write the rest, end the zstd frame and flush; returns the writer.
    pub fn finish(mut self) -> Result<DynWriter<'static, W>> {
        self.flush_records()?;
        self.writer.finish().map_err(|err| match err {
            dbn::Error::Io { source, .. } => Error::Output {
                path: self.label.clone(),
                source,
            },
            other => Error::bad_argument(other.to_string()),
        })?;
        Ok(self.writer)
    }
}

impl<W: Write> RecordOut for DbnOut<W> {
    #[inline(always)]
    fn put(&mut self, _index: u64, record: &[u8]) {
        self.buffer.extend_from_slice(record);
        if self.buffer.len() >= BUFFER {
            self.write_buffer();
        }
    }

    fn failed(&self) -> bool {
        self.error.is_some()
    }
}

/// Bare records in memory (no metadata) and the MBO index each was produced at, grown
/// fallibly.
#[derive(Default)]
pub struct RecordBuf {
    pub bytes: Vec<u8>,
    pub indexes: Vec<u64>,
    error: Option<Error>,
}

/// The records of a conversion held in memory: their bytes, back to back, and their indexes.
#[derive(Debug, Default)]
pub struct Records {
    pub bytes: Vec<u8>,
    pub indexes: Vec<u64>,
}

impl RecordBuf {
    pub fn finish(&mut self) -> Result<Records> {
        match self.error.take() {
            Some(err) => Err(err),
            None => Ok(Records {
                bytes: std::mem::take(&mut self.bytes),
                indexes: std::mem::take(&mut self.indexes),
            }),
        }
    }

    #[cold]
    fn grow(&mut self, record: usize) -> bool {
        if self.error.is_some() {
            return false;
        }
        const WHAT: &str = "the derived records";
        let rows = self.indexes.len().max(BUFFER / record.max(1));
        let grown = try_reserve(&mut self.bytes, rows * record, WHAT)
            .and_then(|()| try_reserve(&mut self.indexes, rows, WHAT));
        match grown {
            Ok(()) => true,
            Err(err) => {
                self.error = Some(err);
                false
            }
        }
    }
}

impl RecordOut for RecordBuf {
    #[inline(always)]
    fn put(&mut self, index: u64, record: &[u8]) {
        if (self.bytes.capacity() - self.bytes.len() < record.len()
            || self.indexes.len() == self.indexes.capacity())
            && !self.grow(record.len())
        {
            return;
        }
        self.bytes.extend_from_slice(record);
        self.indexes.push(index);
    }

    fn failed(&self) -> bool {
        self.error.is_some()
    }
}

/// Every kind of output a conversion writes, behind one type (one branch per record written).
pub enum Output {
    /// A DBN file, renamed into place when complete.
    File(DbnOut<PendingFile>),
    /// A DBN stream whose bytes are taken as they come (`take`).
    Stream(DbnOut<Vec<u8>>),
    /// Bare records.
    Records(RecordBuf),
    /// After `finish`.
    Done,
}

impl Output {
    /// The DBN bytes written so far and not yet taken (a `Stream`; empty otherwise).
    pub fn take(&mut self) -> Result<Vec<u8>> {
        match self {
            Output::Stream(out) => {
                out.flush_records()?;
                Ok(std::mem::take(out.get_mut()))
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Complete the output: a file gets its name; a stream's last bytes (as `bytes`) or a
    /// record buffer's records are returned.
    pub fn finish(&mut self) -> Result<Records> {
        match std::mem::replace(self, Output::Done) {
            Output::File(out) => {
                out.finish()?.get_mut().commit()?;
                Ok(Records::default())
            }
            Output::Stream(out) => Ok(Records {
                bytes: std::mem::take(out.finish()?.get_mut()),
                indexes: Vec::new(),
            }),
            Output::Records(mut buf) => buf.finish(),
            Output::Done => Ok(Records::default()),
        }
    }
}

impl RecordOut for Output {
    #[inline(always)]
    fn put(&mut self, index: u64, record: &[u8]) {
        match self {
            Output::File(out) => out.put(index, record),
            Output::Stream(out) => out.put(index, record),
            Output::Records(out) => out.put(index, record),
            Output::Done => {}
        }
    }

    fn failed(&self) -> bool {
        match self {
            Output::File(out) => out.failed(),
            Output::Stream(out) => out.failed(),
            Output::Records(out) => out.failed(),
            Output::Done => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_file_appears_only_when_committed() {
        let dir = std::env::temp_dir().join(format!("mbo-fast-pending-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.dbn");
        let path_str = path.to_str().unwrap();
        let listing = || -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        {
            let mut dropped = PendingFile::create(path_str).unwrap();
            dropped.write_all(b"partial").unwrap();
            assert_eq!(listing().len(), 1);
        }
        assert!(listing().is_empty(), "dropped: removed");
        let mut kept = PendingFile::create(path_str).unwrap();
        kept.write_all(b"whole").unwrap();
        kept.commit().unwrap();
        drop(kept);
        assert_eq!(listing(), ["out.dbn"]);
        assert_eq!(fs::read(&path).unwrap(), b"whole");
        fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            PendingFile::create("/nonexistent/dir/out.dbn"),
            Err(Error::Output { .. })
        ));
    }
}
