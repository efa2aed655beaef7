//! The DBN framing state machine: the one place that knows how a DBN stream is framed (a
//! prelude, the metadata, then records each as long as its header's `length` says) and what is
//! wrong with a stream that is not, at which byte.
//!
//! [`Framer`] frames whatever window of bytes its caller holds: a file's mapped window or read
//! buffer ([`super::MboStream`], which keeps its input zero-copy), or the bytes pushed into a
//! [`PushFramer`] (a live socket's reads, arriving in any pieces). Either way records of other
//! types than MBO are passed over and counted, MBO records are numbered, offsets are those of the
//! whole (decompressed) stream, and a record cut short by the end of the input is an error only
//! when no more input can come. (`MboStream`'s tight loop walks whole records itself, for
//! speed, and leaves everything unusual to the framer.)

use dbn::{MboMsg, Metadata, RecordHeader};

use super::metadata::{check_prelude, decode_metadata, PRELUDE_LEN};
use crate::error::{Error, Result};

pub(crate) const HEADER_LEN: usize = std::mem::size_of::<RecordHeader>();
/// The length of an MBO record (without `ts_out`).
pub const MBO_LEN: usize = std::mem::size_of::<MboMsg>();
/// Record lengths are stored in 4-byte words.
pub(crate) const LENGTH_UNIT: usize = 4;

/// Where a stream's framing is: before its metadata, or among its records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Metadata,
    Records,
}

/// A stream's framing state: what comes next, the stream offset of the next byte to frame, how
/// many MBO records were framed and how many records of other types were passed over.
#[derive(Debug, Default)]
pub struct Framer {
    state: State,
    metadata: Option<Metadata>,
    /// The prelude and metadata exactly as they were in the stream.
    metadata_bytes: Vec<u8>,
    offset: u64,
    next_index: u64,
    skipped: u64,
}

impl Framer {
    /// At the start of a stream: the prelude and metadata come first ([`Framer::frame_metadata`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// After the `metadata_bytes` (prelude and metadata) of a stream, parsed elsewhere as
    /// `metadata`: records come next.
    pub fn after_metadata(metadata: Metadata, metadata_bytes: Vec<u8>) -> Self {
        Framer {
            state: State::Records,
            offset: metadata_bytes.len() as u64,
            metadata: Some(metadata),
            metadata_bytes,
            next_index: 0,
            skipped: 0,
        }
    }

    /// Records alone, with no metadata before them (offsets count from the first record).
    pub fn records_only() -> Self {
        Framer {
            state: State::Records,
            ..Self::default()
        }
    }

    pub fn metadata(&self) -> Option<&Metadata> {
        self.metadata.as_ref()
    }

    /// The prelude and metadata as they were in the stream (empty before they are framed).
    pub fn metadata_bytes(&self) -> &[u8] {
        &self.metadata_bytes
    }

    /// The stream offset of the next byte to frame.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// MBO records framed so far: the index the next one gets.
    pub fn records_read(&self) -> u64 {
        self.next_index
    }

    /// Records of other types (system messages, symbol mappings, ...) passed over.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Frame the prelude and metadata at the front of `window`: `Ok(Some(length))` once they are
    /// whole and parsed (an MBO stream's), `Ok(None)` while more bytes are needed. The prelude is
    /// checked as soon as its bytes are there, so garbage fails at once; a metadata length over
    /// [`super::MAX_METADATA_LEN`] fails before anything waits for it. After the metadata (or
    /// for a framer made without one) this is `Ok(Some(0))`.
    pub fn frame_metadata(&mut self, window: &[u8]) -> Result<Option<usize>> {
        if self.state == State::Records {
            return Ok(Some(0));
        }
        let Some(len) = check_prelude(window)? else {
            return Ok(None);
        };
        let Some(bytes) = window.get(..PRELUDE_LEN + len) else {
            return Ok(None);
        };
        let (metadata, raw) = decode_metadata(&mut &bytes[..], "<stream>")?;
        *self = Framer::after_metadata(metadata, raw);
        Ok(Some(bytes.len()))
    }

    /// The next whole MBO record in `window[*pos..]`, records of other types passed over:
    /// `Ok(Some((index, length)))`, the record being `window[*pos - length..*pos]` once `*pos`
    /// has moved past it; `Ok(None)` when the bytes from `*pos` on hold no whole record (a part
    /// of one, or nothing): more input, or [`Framer::end`]. A header whose length is shorter
    /// than a header, or an MBO record shorter than an MBO record, is an [`Error::Decode`] at
    /// its offset.
    #[inline]
    pub fn next_mbo(&mut self, window: &[u8], pos: &mut usize) -> Result<Option<(u64, usize)>> {
        debug_assert_eq!(self.state, State::Records, "frame_metadata first");
        loop {
            let available = &window[*pos..];
            let Some(&words) = available.first() else {
                return Ok(None);
            };
            let len = usize::from(words) * LENGTH_UNIT;
            if len < HEADER_LEN {
                return Err(Error::decode(
                    format!("corrupt record header: length {len} bytes"),
                    Some(self.offset),
                ));
            }
            if len > available.len() {
                return Ok(None);
            }
            // Byte 1 of the header is the record type.
            let rtype = available[1];
            *pos += len;
            self.offset += len as u64;
            if rtype != dbn::rtype::MBO {
                self.skipped += 1;
                continue;
            }
            if len < MBO_LEN {
                return Err(Error::decode(
                    format!("an MBO record of {len} bytes is too short"),
                    Some(self.offset - len as u64),
                ));
            }
            let index = self.next_index;
            self.next_index += 1;
            return Ok(Some((index, len)));
        }
    }

    /// The input ended with `left` bytes not framed: a clean end when there are none, else the
    /// stream was cut inside a record (or inside its metadata).
    pub fn end(&self, left: usize) -> Result<()> {
        if left == 0 {
            return Ok(());
        }
        Err(Error::decode(
            format!("truncated DBN stream: the last {left} bytes are not a whole record"),
            Some(self.offset),
        ))
    }

    /// A caller's own walk over whole records (`MboStream`'s tight loop) moved `bytes` further,
    /// up to MBO record `next_index`, passing over `skipped` records of other types.
    #[inline(always)]
    pub(crate) fn walked(&mut self, bytes: usize, next_index: u64, skipped: u64) {
        self.offset += bytes as u64;
        self.next_index = next_index;
        self.skipped += skipped;
    }
}

/// The MBO record in `record` (at least [`MBO_LEN`] bytes, as [`Framer::next_mbo`] frames it).
#[inline]
pub fn decode_mbo(record: &[u8]) -> MboMsg {
    assert!(record.len() >= MBO_LEN, "a framed MBO record");
    // SAFETY: at least `size_of::<MboMsg>()` bytes (checked above); `MboMsg` is plain old data
    // (integers only, any bit pattern valid) and the read is unaligned-safe.
    unsafe { std::ptr::read_unaligned(record.as_ptr().cast::<MboMsg>()) }
}

/// Push bytes, pull whole MBO records: a stream that arrives in pieces of any size (a live
/// socket's reads). A record split across pushes waits for its tail; garbage or a corrupt header
/// is an [`Error::Decode`], after which the stream is unusable (`reset` for a new one).
#[derive(Default)]
pub struct PushFramer {
    framer: Framer,
    buf: Vec<u8>,
    /// Start of the bytes not framed yet.
    pos: usize,
    /// Length of the last record `next_mbo` returned: it ends at `buf[pos]`.
    last_len: usize,
}

impl PushFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget everything: a new stream starts with its own metadata.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    pub fn push(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    pub fn metadata(&self) -> Option<&Metadata> {
        self.framer.metadata()
    }

    /// Bytes received and not yet framed (a partial record or metadata).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes framed so far on this stream.
    pub fn offset(&self) -> u64 {
        self.framer.offset()
    }

    /// Records of other types passed over.
    pub fn skipped(&self) -> u64 {
        self.framer.skipped()
    }

    /// The bytes of the record the last `next_mbo` returned, exactly as framed from the input
    /// (its `length` field as checked against the bytes present: 56 bytes for an MBO record, 64
    /// with `ts_out`). Empty unless the last `next_mbo` returned a record.
    pub fn last_record(&self) -> &[u8] {
        &self.buf[self.pos - self.last_len..self.pos]
    }

    /// The next whole MBO record; `None` until more bytes arrive.
    pub fn next_mbo(&mut self) -> Result<Option<MboMsg>> {
        self.last_len = 0;
        match self.framer.frame_metadata(&self.buf[self.pos..])? {
            Some(used) => self.pos += used,
            None => return Ok(None),
        }
        let Some((_, len)) = self.framer.next_mbo(&self.buf, &mut self.pos)? else {
            return Ok(None);
        };
        self.last_len = len;
        Ok(Some(decode_mbo(self.last_record())))
    }
}

/// The MBO records of `bytes`, raw records with no metadata before them (as a live market's
/// persistence hands them over), each framed by its own header; records of other types are
/// passed over. A record cut short at the end is an [`Error::Decode`].
pub fn mbo_records(bytes: &[u8]) -> Result<Vec<MboMsg>> {
    let mut framer = Framer::records_only();
    let mut out = Vec::with_capacity(bytes.len() / MBO_LEN);
    let mut pos = 0;
    while let Some((_, len)) = framer.next_mbo(bytes, &mut pos)? {
        out.push(decode_mbo(&bytes[pos - len..pos]));
    }
    framer.end(bytes.len() - pos)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbn::writer::{to_dbn_bytes, DbnOptions};
    use crate::dbn::{MboStream, Source};
    use crate::testing::mbo;

    /// A stream of `n` MBO records and the length of its metadata.
    fn stream(n: u64) -> (Vec<u8>, usize) {
        let records: Vec<MboMsg> = (0..n)
            .map(|i| mbo(b'A', b'B', i + 1, 100 + i as i64, 1, 0x80))
            .collect();
        let bytes = to_dbn_bytes(&records, &DbnOptions::default()).unwrap();
        let meta_len = PRELUDE_LEN + u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        (bytes, meta_len)
    }

    /// The records framed and the error that ended them, if any.
    type Outcome = (Vec<(u64, MboMsg)>, Option<String>);

    /// What a file read gives, then the same through a push framer fed `step` bytes at a time
    /// (with the end of the input told to it).
    fn both(bytes: &[u8], step: usize) -> [Outcome; 2] {
        let mut file = Vec::new();
        let file_err = MboStream::open(Source::Bytes(bytes)).and_then(|mut s| {
            while let Some(found) = s.next_mbo()? {
                file.push(found);
            }
            Ok(())
        });
        let mut push = PushFramer::new();
        let mut pushed = Vec::new();
        let mut push_err = Ok(());
        'feed: for piece in bytes.chunks(step) {
            push.push(piece);
            loop {
                match push.next_mbo() {
                    Ok(Some(msg)) => pushed.push((pushed.len() as u64, msg)),
                    Ok(None) => break,
                    Err(err) => {
                        push_err = Err(err);
                        break 'feed;
                    }
                }
            }
        }
        if push_err.is_ok() {
            push_err = push.framer.end(push.buffered());
        }
        let text = |r: Result<()>| r.err().map(|e| e.to_string());
        [(file, text(file_err)), (pushed, text(push_err))]
    }

    #[test]
    fn files_and_pushed_bytes_frame_alike() {
        let (good, meta) = stream(50);
        let mut other_type = good.clone();
        other_type[meta + 56 + 1] = 0x17; // the second record is not an MBO record
        let mut corrupt = good.clone();
        corrupt[meta + 3 * 56] = 1; // a 4-byte record header
        let mut short = good.clone();
        short[meta + 5 * 56] = 12; // an MBO record of 48 bytes
        let cut = good[..good.len() - 10].to_vec();
        let cases: [(&[u8], usize, Option<&str>); 5] = [
            (&good, 50, None),
            (&other_type, 49, None),
            (
                &corrupt,
                3,
                Some("corrupt record header: length 4 bytes (at byte"),
            ),
            (
                &short,
                5,
                Some("an MBO record of 48 bytes is too short (at byte"),
            ),
            (
                &cut,
                49,
                Some("truncated DBN stream: the last 46 bytes are not a whole record"),
            ),
        ];
        for (bytes, records, error) in cases {
            for step in [1, 7, 56, 1000, bytes.len()] {
                let [file, pushed] = both(bytes, step);
                assert_eq!(file, pushed, "step {step}");
                assert_eq!(file.0.len(), records);
                match error {
                    None => assert_eq!(file.1, None),
                    Some(start) => assert!(file.1.as_deref().unwrap().starts_with(start)),
                }
            }
        }
    }

    #[test]
    fn offsets_and_skipped_records_are_counted() {
        let (mut bytes, meta) = stream(4);
        bytes[meta + 1] = 0x17;
        let mut framer = Framer::new();
        assert_eq!(framer.frame_metadata(&bytes[..meta - 1]).unwrap(), None);
        assert_eq!(framer.frame_metadata(&bytes).unwrap(), Some(meta));
        assert_eq!(framer.metadata_bytes(), &bytes[..meta]);
        let mut pos = meta;
        assert_eq!(framer.next_mbo(&bytes, &mut pos).unwrap(), Some((0, 56)));
        assert_eq!(
            (framer.skipped(), framer.offset()),
            (1, (meta + 112) as u64)
        );
        assert!(
            framer.frame_metadata(b"garbage").unwrap().is_some(),
            "framed already"
        );
    }

    #[test]
    fn raw_records_frame_without_metadata() {
        let (bytes, meta) = stream(3);
        let raw = &bytes[meta..];
        assert_eq!(mbo_records(raw).unwrap().len(), 3);
        assert!(mbo_records(&raw[..100]).is_err());
        assert!(mbo_records(&[]).unwrap().is_empty());
    }
}
