//! Reading MBO records out of a DBN stream (plain or zstd).
//!
//! The `dbn` crate does the format work: zstd detection and decompression (`DynReader`),
//! metadata parsing (`MetadataDecoder`), record headers and the `MboMsg` layout. Records are
//! framed here, in place over the input (`input.rs`): bytes already in memory are never
//! copied, plain files of 4 MiB and more are memory-mapped (`mapped.rs`), smaller files and
//! zstd streams are read in 256 KiB chunks (small enough to stay in L2). That halves decoding
//! time against `dbn`'s buffered decoder (which copies every record into its own buffer) and
//! lets every error carry the exact byte offset of the record that caused it, truncation
//! included. A tight loop walks whole records; everything else (the end of the bytes at hand,
//! a record cut by it, a corrupt header, the end of the stream) goes through the framer every
//! reader shares (`framer.rs`).

use std::fs::File;
use std::io::{BufRead, BufReader};

use dbn::decode::DynReader;
use dbn::{MboMsg, Metadata};

use super::framer::{decode_mbo, Framer, HEADER_LEN, LENGTH_UNIT, MBO_LEN};
#[cfg(unix)]
use super::input::{shrunk, MAPPED_WINDOW};
use super::input::{Input, CHUNK};
#[cfg(unix)]
use super::mapped::Mapping;
use super::metadata::decode_metadata;
use crate::error::{try_reserve, Error, Result};

/// Where records come from: a file path, or the bytes of a DBN stream held in memory.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    Path(&'a str),
    Bytes(&'a [u8]),
}

/// A stream of MBO records with their 0-based index among the stream's MBO records. Records of
/// other types (system messages, symbol mappings in live streams) are skipped and not counted.
pub struct MboStream<'a> {
    input: Input<'a>,
    /// Read position in the input's window.
    pos: usize,
    /// Offsets, indexes, records passed over, the metadata.
    framer: Framer,
    /// Upper bound on the number of records, when the stream is uncompressed and its size known.
    estimated_records: Option<usize>,
}

impl<'a> MboStream<'a> {
    pub fn open(source: Source<'a>) -> Result<Self> {
        match source {
            Source::Bytes(bytes) if !dbn::decode::zstd::starts_with_prefix(bytes) => {
                let (metadata, raw) = decode_metadata(&mut &bytes[..], "<bytes>")?;
                let records = &bytes[raw.len()..];
                Self::new(Input::Slice(records), metadata, raw, Some(records.len()))
            }
            Source::Bytes(bytes) => Self::from_reader(Box::new(bytes), "<bytes>", None),
            Source::Path(path) => {
                let source_error = |err| Error::Source {
                    path: path.to_owned(),
                    source: err,
                };
                let file = File::open(path).map_err(source_error)?;
                let size = file.metadata().map_err(source_error)?.len();
                #[cfg(unix)]
                if let Some(map) = Mapping::new(&file, size) {
                    // Pages are mapped before anything reads them. A file that shrank since its
                    // size was taken is read instead, which reports where it ends.
                    if map.populate(0, MAPPED_WINDOW)
                        && !dbn::decode::zstd::starts_with_prefix(map.bytes())
                    {
                        return Self::from_mapping(map, path);
                    }
                }
                let mut reader = BufReader::with_capacity(CHUNK, file);
                let head = reader.fill_buf().map_err(source_error)?;
                if dbn::decode::zstd::starts_with_prefix(head) {
                    Self::from_reader(Box::new(reader), path, usize::try_from(size).ok())
                } else {
                    Self::from_plain_file(reader, path, size)
                }
            }
        }
    }

    #[cfg(unix)]
    fn from_mapping(map: Mapping, path: &str) -> Result<Self> {
        let (metadata, raw) = decode_metadata(&mut map.bytes(), path)?;
        let len = raw.len();
        let records = map.len() - len;
        let end = map.len().min(len + MAPPED_WINDOW);
        // `open` mapped the first MAPPED_WINDOW bytes; the window reaches past them by the
        // metadata's length.
        if !map.populate(MAPPED_WINDOW, end) {
            return Err(shrunk(MAPPED_WINDOW as u64));
        }
        let mut stream = Self::new(Input::Mapped { map, end }, metadata, raw, Some(records))?;
        stream.pos = len;
        Ok(stream)
    }

    /// An uncompressed file: after the metadata, records are read straight from the file into
    /// the chunk buffer. Going through the `BufReader` would copy every byte twice.
    fn from_plain_file(mut reader: BufReader<File>, path: &str, size: u64) -> Result<Self> {
        let (metadata, raw) = decode_metadata(&mut reader, path)?;
        let len = raw.len();
        let mut buf = vec![0; CHUNK].into_boxed_slice();
        let buffered = reader.buffer();
        buf[..buffered.len()].copy_from_slice(buffered);
        let input = Input::Reader {
            end: buffered.len(),
            reader: Box::new(reader.into_inner()),
            buf,
            eof: false,
        };
        let record_bytes = usize::try_from(size).ok().map(|s| s.saturating_sub(len));
        Self::new(input, metadata, raw, record_bytes)
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
        let (metadata, raw) = decode_metadata(&mut reader, label)?;
        let len = raw.len();
        let input = Input::Reader {
            reader: Box::new(reader),
            buf: vec![0; CHUNK].into_boxed_slice(),
            end: 0,
            eof: false,
        };
        let record_bytes = size.filter(|_| !compressed).map(|s| s.saturating_sub(len));
        Self::new(input, metadata, raw, record_bytes)
    }

    fn new(
        input: Input<'a>,
        metadata: Metadata,
        metadata_bytes: Vec<u8>,
        record_bytes: Option<usize>,
    ) -> Result<Self> {
        Ok(MboStream {
            input,
            pos: 0,
            framer: Framer::after_metadata(metadata, metadata_bytes),
            estimated_records: record_bytes.map(|bytes| bytes / MBO_LEN),
        })
    }

    /// At most this many MBO records follow (uncompressed streams of known size only).
    pub fn estimated_records(&self) -> Option<usize> {
        self.estimated_records
    }

    pub fn metadata(&self) -> &Metadata {
        self.framer
            .metadata()
            .expect("a stream is opened by reading its metadata")
    }

    /// The prelude and metadata exactly as the stream holds them (decompressed).
    pub fn metadata_bytes(&self) -> &[u8] {
        self.framer.metadata_bytes()
    }

    /// The index the next MBO record will get; at the end, the number of MBO records read.
    pub fn records_read(&self) -> u64 {
        self.framer.records_read()
    }

    /// Records of other types (system, symbol mapping, ...) passed over so far.
    pub fn skipped(&self) -> u64 {
        self.framer.skipped()
    }

    /// The next MBO record and its index, `None` at a clean end of stream.
    #[inline]
    pub fn next_mbo(&mut self) -> Result<Option<(u64, MboMsg)>> {
        Ok(self
            .next_mbo_bytes()?
            .map(|(index, record)| (index, decode_mbo(record))))
    }

    /// The next MBO record's bytes exactly as framed from the stream (56 bytes, 64 with
    /// `ts_out`, or whatever longer length its header gives), with its index; `None` at a clean
    /// end of stream. The bytes are valid until the next call.
    pub fn next_mbo_bytes(&mut self) -> Result<Option<(u64, &[u8])>> {
        let (index, len) = loop {
            if let Some(found) = self.framer.next_mbo(self.input.window(), &mut self.pos)? {
                break found;
            }
            if !self.input.refill(&mut self.pos, self.framer.offset())? {
                self.framer.end(self.input.window().len() - self.pos)?;
                return Ok(None);
            }
        };
        Ok(Some((
            index,
            &self.input.window()[self.pos - len..self.pos],
        )))
    }

    /// Call `f` with every remaining MBO record and its index; returns the number of MBO
    /// records read. Same records and errors as calling `next_mbo` in a loop, but whole records
    /// already in memory are walked in a tight loop that keeps its position in registers.
    #[inline]
    pub fn for_each_mbo(&mut self, f: impl FnMut(u64, &MboMsg)) -> Result<u64> {
        self.visit_each_mbo(&mut ClosureVisitor(f))
    }

    /// `for_each_mbo` for a visitor whose `visit` is inlined into the record loop. Also returns
    /// after the record at which the visitor's `paused()` turns true (the stream is then left
    /// just after that record: a later call resumes there).
    #[inline]
    pub fn visit_each_mbo(&mut self, f: &mut impl MboVisitor) -> Result<u64> {
        loop {
            self.walk_whole_records(f);
            if f.paused() {
                return Ok(self.framer.records_read());
            }
            // Everything unusual (the end of the bytes at hand, a record cut by it, a corrupt
            // header, the end of the stream) goes through the general path.
            match self.next_mbo()? {
                Some((index, msg)) => {
                    f.visit(index, &msg);
                    if f.paused() {
                        return Ok(self.framer.records_read());
                    }
                }
                None => return Ok(self.framer.records_read()),
            }
        }
    }

    /// Every remaining MBO record, in memory (`Replay`, `Backtest`). The input's size is only a
    /// hint for the first reservation; when the records outgrow the memory the process can get,
    /// an [`Error::OutOfMemory`] instead of an abort.
    pub fn collect_records(&mut self) -> Result<Vec<MboMsg>> {
        let mut sink = RecordVec {
            records: Vec::new(),
            failed: None,
        };
        if let Some(rows) = self.estimated_records {
            if sink.records.try_reserve_exact(rows).is_err() {
                let _ = sink.records.try_reserve_exact(rows.min(1 << 16));
            }
        }
        self.visit_each_mbo(&mut sink)?;
        match sink.failed {
            Some(err) => Err(err),
            None => {
                sink.records.shrink_to_fit();
                Ok(sink.records)
            }
        }
    }

    /// The fast path of `for_each_mbo`: stops at the first record it cannot take whole.
    #[inline(always)]
    fn walk_whole_records(&mut self, f: &mut impl MboVisitor) {
        let data = self.input.window();
        let start = self.pos;
        let mut pos = start;
        let mut index = self.framer.records_read();
        let mut skipped = 0;
        while let Some(&words) = data.get(pos) {
            prefetch(data.as_ptr().wrapping_add(pos + PREFETCH_AHEAD));
            let len = usize::from(words) * LENGTH_UNIT;
            if len < HEADER_LEN {
                break;
            }
            let Some(record) = data.get(pos..pos + len) else {
                break;
            };
            if record[1] != dbn::rtype::MBO {
                skipped += 1;
            } else if len >= MBO_LEN {
                // Records of a mapped or buffered DBN stream are 8-byte aligned: borrowing them
                // in place spares a 56-byte copy per record (3-6 % of `read_bbo`/`Market.apply`
                // in paired runs). An odd offset, possible in caller-supplied bytes, is copied.
                let ptr = record.as_ptr().cast::<MboMsg>();
                if ptr.is_aligned() {
                    // SAFETY: at least `size_of::<MboMsg>()` plain-old-data bytes, aligned.
                    f.visit(index, unsafe { &*ptr });
                } else {
                    // SAFETY: as in `decode_mbo`: at least `size_of::<MboMsg>()` plain-old-data
                    // bytes.
                    let msg = unsafe { std::ptr::read_unaligned(ptr) };
                    f.visit(index, &msg);
                }
                index += 1;
            } else {
                break;
            }
            pos += len;
            // A constant `false` for visitors that never pause: no work in their loop.
            if f.paused() {
                break;
            }
        }
        self.pos = pos;
        self.framer.walked(pos - start, index, skipped);
    }
}

/// A stream's MBO records as raw bytes, a chunk at a time: whole records exactly as framed from
/// the (decompressed) stream, records of other types left out, for a caller that forwards them
/// (`mbo-fast feed`) rather than reading them. The records of one chunk share one length (56
/// bytes, 64 with `ts_out`): a record of another length starts the next chunk.
pub struct MboChunks<'a> {
    stream: MboStream<'a>,
    /// A record of another length than the chunk it ended, for the next chunk.
    held: Vec<u8>,
    /// An error met after some records of a chunk: those go out first, then this.
    pending: Option<Error>,
}

impl<'a> MboChunks<'a> {
    pub fn open(source: Source<'a>) -> Result<Self> {
        Ok(MboChunks {
            stream: MboStream::open(source)?,
            held: Vec::new(),
            pending: None,
        })
    }

    /// The prelude and metadata as the stream holds them.
    pub fn metadata_bytes(&self) -> &[u8] {
        self.stream.metadata_bytes()
    }

    /// The next records, `(record length, bytes)`: at least one record and about `max_bytes`
    /// (more by less than a record); `None` at the end. A decode error comes after the records
    /// before it.
    pub fn next_chunk(&mut self, max_bytes: usize) -> Result<Option<(usize, Vec<u8>)>> {
        if let Some(err) = self.pending.take() {
            return Err(err);
        }
        let mut out = std::mem::take(&mut self.held);
        let mut record_len = (!out.is_empty()).then_some(out.len());
        while out.is_empty() || out.len() < max_bytes {
            let record = match self.stream.next_mbo_bytes() {
                Ok(Some((_, record))) => record,
                Ok(None) => break,
                Err(err) if out.is_empty() => return Err(err),
                Err(err) => {
                    self.pending = Some(err);
                    break;
                }
            };
            match record_len {
                Some(len) if len != record.len() => {
                    self.held = record.to_vec();
                    break;
                }
                Some(_) => {}
                None => record_len = Some(record.len()),
            }
            try_reserve(&mut out, record.len(), "a chunk of records")?;
            out.extend_from_slice(record);
        }
        Ok(record_len.map(|len| (len, out)))
    }
}

/// How far ahead of the record being decoded to ask for input: the hardware prefetcher stops at
/// every 4 KiB page boundary, where a sequential reader otherwise waits on memory.
const PREFETCH_AHEAD: usize = 1024;

/// A hint to load the cache line at `ptr`; never faults, so it may point past the input.
#[inline(always)]
fn prefetch(ptr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint with no memory access semantics; any address is allowed.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// Receives each MBO record and its index from `MboStream::visit_each_mbo`.
///
/// A closure's body is inlined into the record loop only when LLVM chooses to, and a large one
/// (decode + apply + capture) stays a call per record. An implementation can force it with
/// `#[inline(always)]` on `visit`, which stable Rust does not allow on a closure.
pub trait MboVisitor {
    fn visit(&mut self, index: u64, msg: &MboMsg);

    /// Stop after the record just visited and return to the caller: the visitor's output is
    /// full (a capture pass that hands out its output a bounded piece at a time; the caller
    /// may resume) or it failed (it could not grow; the caller ends the pass with its error).
    /// The default never pauses and compiles away, so the record loop of a visitor that keeps
    /// it is unchanged.
    #[inline(always)]
    fn paused(&self) -> bool {
        false
    }
}

struct ClosureVisitor<F>(F);

/// `collect_records`'s sink: records pushed while the vector can grow.
struct RecordVec {
    records: Vec<MboMsg>,
    failed: Option<Error>,
}

impl RecordVec {
    /// Double the room; false (and the error kept) when the memory is not there.
    #[cold]
    fn grow(&mut self) -> bool {
        if self.failed.is_some() {
            return false;
        }
        let more = self.records.len().max(1 << 16);
        match try_reserve(&mut self.records, more, "the records held in memory") {
            Ok(()) => true,
            Err(err) => {
                self.failed = Some(err);
                false
            }
        }
    }
}

impl MboVisitor for RecordVec {
    #[inline]
    fn visit(&mut self, _index: u64, msg: &MboMsg) {
        let len = self.records.len();
        if len == self.records.capacity() && !self.grow() {
            return;
        }
        // SAFETY: `len < capacity`: checked above, or `grow` made room. (A `push` would test
        // the capacity a second time: ~5 instructions a record of `Replay` opening.)
        unsafe {
            self.records.as_mut_ptr().add(len).write(*msg);
            self.records.set_len(len + 1);
        }
    }

    fn paused(&self) -> bool {
        self.failed.is_some()
    }
}

impl<F: FnMut(u64, &MboMsg)> MboVisitor for ClosureVisitor<F> {
    #[inline(always)]
    fn visit(&mut self, index: u64, msg: &MboMsg) {
        (self.0)(index, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbn::MAX_METADATA_LEN;

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

    /// A mapped file truncated by someone else mid-read: a decode error, not SIGBUS.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_mapped_file_truncated_while_read_is_a_decode_error() {
        use crate::dbn::writer::{write_dbn_file, DbnOptions};
        use crate::testing::mbo;

        // 400 k records of 56 bytes: ~22 MB, three mapped windows.
        let records: Vec<MboMsg> = (0..400_000)
            .map(|id| mbo(b'A', b'B', id, 100, 1, 0x80))
            .collect();
        let path = std::env::temp_dir().join(format!("mbo-fast-shrink-{}.dbn", std::process::id()));
        let path_str = path.to_str().unwrap();
        write_dbn_file(path_str, &records, &DbnOptions::default()).unwrap();
        let mut stream = MboStream::open(Source::Path(path_str)).unwrap();
        assert!(matches!(stream.input, Input::Mapped { .. }), "not mapped");
        let mut read = 0u64;
        while read < 1000 {
            stream.next_mbo().unwrap().unwrap();
            read += 1;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(12 << 20) // inside the second window, which is not open yet
            .unwrap();
        let result = stream.for_each_mbo(|_, _| {});
        std::fs::remove_file(&path).unwrap();
        match result {
            Err(Error::Decode { message, offset }) => {
                assert!(message.contains("shrank"), "{message}");
                // Where the second window starts: every whole record before it was decoded.
                let offset = offset.unwrap();
                assert!(
                    offset > MAPPED_WINDOW as u64 && offset < 12 << 20,
                    "{offset}"
                );
                assert_eq!(stream.records_read(), (MAPPED_WINDOW / 56) as u64);
            }
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    /// A zstd frame decompressing to `head` followed by `zeros` zero bytes, built by hand from
    /// RLE blocks (4 bytes per 128 KiB): a "zip bomb" of any size in ~1/32,000 of it.
    pub(crate) fn zstd_bomb(head: &[u8], zeros: u64) -> Vec<u8> {
        const BLOCK: u64 = 128 << 10;
        let block_header = |last: bool, kind: u32, size: u32| {
            let bits = u32::from(last) | kind << 1 | size << 3;
            bits.to_le_bytes()[..3].to_vec()
        };
        // magic; frame header: no content size, one window byte (2^17 = 128 KiB), no checksum
        let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3];
        out.extend(block_header(zeros == 0, 0, head.len() as u32)); // raw block
        out.extend_from_slice(head);
        let mut left = zeros;
        while left > 0 {
            let n = left.min(BLOCK);
            left -= n;
            out.extend(block_header(left == 0, 1, n as u32)); // RLE block of n zeros
            out.push(0);
        }
        out
    }

    #[test]
    fn a_metadata_length_over_the_cap_is_refused_before_reading() {
        // 4 GiB of metadata claimed, and (decompressed) really there: 131 KB of zstd.
        let claimed = u32::MAX - 15;
        let mut prelude = b"DBN\x03".to_vec();
        prelude.extend_from_slice(&claimed.to_le_bytes());
        let bomb = zstd_bomb(&prelude, u64::from(claimed));
        assert!(bomb.len() < 140_000, "{}", bomb.len());
        let plain = [&prelude[..], &[0; 64]].concat();
        for bytes in [&bomb[..], &plain[..]] {
            match MboStream::open(Source::Bytes(bytes)) {
                Err(Error::Decode {
                    message,
                    offset: Some(4),
                }) => assert!(message.contains(&claimed.to_string()), "{message}"),
                Err(other) => panic!("unexpected error {other}"),
                Ok(_) => panic!("accepted"),
            }
        }
        // At the cap it is read: zeros happen to be valid metadata (an MBO stream, no symbols).
        let at_cap = MAX_METADATA_LEN as u32;
        let mut prelude = b"DBN\x03".to_vec();
        prelude.extend_from_slice(&at_cap.to_le_bytes());
        let bomb = zstd_bomb(&prelude, u64::from(at_cap));
        let mut stream = MboStream::open(Source::Bytes(&bomb)).unwrap();
        assert!(stream.next_mbo().unwrap().is_none());
    }

    #[test]
    fn missing_file_is_a_source_error() {
        assert!(matches!(
            MboStream::open(Source::Path("/nonexistent/x.dbn")),
            Err(Error::Source { .. })
        ));
    }

    #[test]
    fn chunks_hold_whole_records_of_one_length() {
        use crate::testing::mbo;
        let records: Vec<MboMsg> = (0..100).map(|i| mbo(b'A', b'B', i, 100, 1, 0x80)).collect();
        let bytes = crate::dbn::writer::to_dbn_bytes(&records, &Default::default()).unwrap();
        let meta = 8 + u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        // record 40 carries ts_out (64 bytes), record 41 is of another type (left out)
        let mut input = bytes[..meta + 40 * MBO_LEN].to_vec();
        input.push(64 / 4);
        input.extend_from_slice(&bytes[meta + 40 * MBO_LEN + 1..meta + 41 * MBO_LEN]);
        input.extend_from_slice(&[7; 8]);
        input.extend_from_slice(&[MBO_LEN as u8 / 4, 0x17]);
        input.extend_from_slice(&[0; MBO_LEN - 2]);
        input.extend_from_slice(&bytes[meta + 41 * MBO_LEN..]);
        let mut chunks = MboChunks::open(Source::Bytes(&input)).unwrap();
        assert_eq!(chunks.metadata_bytes(), &bytes[..meta]);
        let mut got = Vec::new();
        while let Some((len, chunk)) = chunks.next_chunk(1000).unwrap() {
            assert_eq!(chunk.len() % len, 0);
            got.push((len, chunk.len() / len));
        }
        assert_eq!(
            got,
            [
                (56, 18),
                (56, 18),
                (56, 4),
                (64, 1),
                (56, 18),
                (56, 18),
                (56, 18),
                (56, 5)
            ]
        );
        let mut cut = MboChunks::open(Source::Bytes(&bytes[..bytes.len() - 3])).unwrap();
        assert_eq!(
            cut.next_chunk(usize::MAX).unwrap().unwrap().1.len(),
            99 * MBO_LEN
        );
        assert!(matches!(cut.next_chunk(1), Err(Error::Decode { .. })));
    }
}
