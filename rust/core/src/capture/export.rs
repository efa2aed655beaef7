//! The JSON-lines depth export (`mbo-fast export`): one line per event boundary, a chunk at a
//! time. Written by hand: every value is an integer, a bool or a string we format ourselves, and
//! the export runs over millions of rows. (The JSON documents of books are `book::json`'s.)

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

use crate::book::{Book, Side};
use dbn::MboMsg;

use crate::capture::fmt::{write_iso_nanos, write_price};
use crate::capture::{Boundary, Capture, Filter};
use crate::dbn::Source;
use crate::error::{Error, Result};
use crate::store::Recording;

/// How much of an export `export_depth_jsonl` formats before handing it to its writer.
const WRITE_CHUNK: usize = 1 << 20;

/// One JSON line per F_LAST boundary:
/// `{"index":…,"ts_recv":…,"ts_recv_iso":"…","ts_event":…,"ts_event_iso":"…","instrument_id":…,
/// "publisher_id":…,"action":"A","side":"B","flags":130,"crossed":false,
/// "bids":[["65.43",12,3],…],"asks":[…]}` with decimal-string prices, best level first.
/// Returns the number of lines written. Every line formatted before a decode error is written
/// before the error is returned.
pub fn export_depth_jsonl(
    source: Source<'_>,
    depth: usize,
    filter: Filter,
    writer: &mut dyn Write,
    output_name: &str,
) -> Result<u64> {
    let output_error = |err| Error::Output {
        path: output_name.to_owned(),
        source: err,
    };
    let mut export = DepthExport::open(source, depth, filter, WRITE_CHUNK)?;
    while let Some(chunk) = export.next_chunk()? {
        writer.write_all(chunk).map_err(output_error)?;
    }
    writer.flush().map_err(output_error)?;
    Ok(export.lines())
}

/// The JSON-lines depth export (see `export_depth_jsonl`) a chunk at a time: each `next_chunk`
/// decodes and applies until about `chunk_bytes` of whole lines are ready. Memory is one chunk
/// (plus one line) and the books, whatever the input's size, so a server can stream an export
/// to a slow reader without holding it.
pub struct DepthExport<'a> {
    capture: Capture<'a, JsonLines>,
    /// An error met after some lines of the chunk: those lines go out first, then this.
    pending: Option<Error>,
}

impl<'a> DepthExport<'a> {
    pub fn open(
        source: Source<'a>,
        depth: usize,
        filter: Filter,
        chunk_bytes: usize,
    ) -> Result<Self> {
        let sink = JsonLines::new(depth, chunk_bytes)?;
        Ok(DepthExport {
            capture: Capture::open(source, filter, sink)?,
            pending: None,
        })
    }

    /// The export of records `[from, to)` of a stored recording (the books restored at `from`).
    pub fn stored(
        recording: Arc<Recording>,
        from: usize,
        to: usize,
        depth: usize,
        filter: Filter,
        chunk_bytes: usize,
    ) -> Result<DepthExport<'static>> {
        let sink = JsonLines::new(depth, chunk_bytes)?;
        Ok(DepthExport {
            capture: Capture::stored(recording, from, to, filter, sink)?,
            pending: None,
        })
    }

    /// The next whole lines: at least `chunk_bytes` of them unless the stream ends first (one
    /// line longer than that comes alone); `None` once every line has been returned. A decode
    /// error is returned after the lines before it.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>> {
        if let Some(err) = self.pending.take() {
            return Err(err);
        }
        self.capture.sink_mut().out.clear();
        if let Err(err) = self.capture.resume() {
            if self.capture.sink().out.is_empty() {
                return Err(err);
            }
            self.pending = Some(err);
        }
        let out = &self.capture.sink().out;
        Ok((!out.is_empty()).then_some(out.as_slice()))
    }

    /// Lines produced so far.
    pub fn lines(&self) -> u64 {
        self.capture.sink().lines
    }
}

struct JsonLines {
    depth: usize,
    /// The chunk being filled: whole lines.
    out: Vec<u8>,
    chunk_bytes: usize,
    line: String,
    lines: u64,
}

impl JsonLines {
    fn new(depth: usize, chunk_bytes: usize) -> Result<Self> {
        if depth == 0 || chunk_bytes == 0 {
            return Err(Error::BadArgument {
                message: "depth and chunk_bytes must be >= 1".into(),
            });
        }
        Ok(JsonLines {
            depth,
            // One chunk and the line that crosses its end: never regrown after the first ones.
            out: Vec::new(),
            chunk_bytes,
            line: String::with_capacity(512),
            lines: 0,
        })
    }
}

impl Boundary for JsonLines {
    fn visit(&mut self, index: u64, msg: &MboMsg, book: &Book) {
        let line = &mut self.line;
        line.clear();
        let _ = write!(
            line,
            "{{\"index\":{index},\"ts_recv\":{},\"ts_recv_iso\":\"",
            msg.ts_recv
        );
        write_iso_nanos(line, msg.ts_recv);
        let _ = write!(
            line,
            "\",\"ts_event\":{},\"ts_event_iso\":\"",
            msg.hd.ts_event
        );
        write_iso_nanos(line, msg.hd.ts_event);
        let _ = write!(
            line,
            "\",\"instrument_id\":{},\"publisher_id\":{},\"action\":\"{}\",\"side\":\"{}\",\
             \"flags\":{},\"crossed\":{},\"bids\":",
            msg.hd.instrument_id,
            msg.hd.publisher_id,
            json_char(msg.action as u8),
            json_char(msg.side as u8),
            msg.flags.raw(),
            book.crossed()
        );
        write_decimal_levels(line, book, Side::Bid, self.depth);
        line.push_str(",\"asks\":");
        write_decimal_levels(line, book, Side::Ask, self.depth);
        line.push_str("}\n");
        self.out.extend_from_slice(line.as_bytes());
        self.lines += 1;
    }

    #[inline]
    fn full(&self) -> bool {
        self.out.len() >= self.chunk_bytes
    }
}

fn write_decimal_levels(out: &mut String, book: &Book, side: Side, depth: usize) {
    out.push('[');
    for (i, level) in book.levels(side).take(depth).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("[\"");
        write_price(out, level.price);
        let _ = write!(out, "\",{},{}]", level.size, level.count);
    }
    out.push(']');
}

/// A record's action/side byte as a JSON-safe one-character string.
fn json_char(byte: u8) -> char {
    if byte.is_ascii_alphanumeric() {
        byte as char
    } else {
        '?'
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbn::writer::{to_dbn_bytes, DbnOptions};
    use crate::testing::mbo_for;

    /// A stream of `n` adds over two books, every one an event boundary.
    fn stream(n: u64) -> Vec<u8> {
        let records: Vec<MboMsg> = (0..n)
            .map(|i| {
                let side = if i % 2 == 0 { b'B' } else { b'A' };
                let price =
                    1_000_000_000 * (50 + (i % 7) as i64) + if side == b'A' { 10 } else { 0 };
                mbo_for(
                    1 + (i % 2) as u32,
                    1,
                    b'A',
                    side,
                    i + 1,
                    price,
                    1 + (i % 5) as u32,
                    0x80,
                )
            })
            .collect();
        to_dbn_bytes(&records, &DbnOptions::default()).unwrap()
    }

    fn whole(bytes: &[u8], depth: usize, filter: Filter) -> Vec<u8> {
        let mut out = Vec::new();
        export_depth_jsonl(Source::Bytes(bytes), depth, filter, &mut out, "<memory>").unwrap();
        out
    }

    #[test]
    fn chunks_are_whole_lines_and_add_up_to_the_export() {
        let bytes = stream(2_000);
        for filter in [
            Filter::default(),
            Filter {
                instrument_id: Some(2),
                publisher_id: None,
            },
        ] {
            let expected = whole(&bytes, 3, filter);
            assert!(!expected.is_empty());
            for chunk_bytes in [1, 100, 4096, 1 << 20] {
                let mut export =
                    DepthExport::open(Source::Bytes(&bytes), 3, filter, chunk_bytes).unwrap();
                let mut joined = Vec::new();
                let mut chunks = 0;
                while let Some(chunk) = export.next_chunk().unwrap() {
                    assert!(chunk.ends_with(b"\n"), "a chunk ends inside a line");
                    // Bounded: at most one line past the requested size.
                    let last_line = chunk[..chunk.len() - 1]
                        .iter()
                        .rposition(|&b| b == b'\n')
                        .map_or(chunk.len(), |at| chunk.len() - at - 1);
                    assert!(chunk.len() < chunk_bytes + last_line.max(1) + 1);
                    joined.extend_from_slice(chunk);
                    chunks += 1;
                }
                assert_eq!(joined, expected, "chunk_bytes {chunk_bytes}");
                assert_eq!(
                    export.lines() as usize,
                    expected.iter().filter(|&&b| b == b'\n').count()
                );
                if chunk_bytes == 1 {
                    assert_eq!(chunks as u64, export.lines());
                }
                assert!(export.next_chunk().unwrap().is_none(), "the end is sticky");
            }
        }
    }

    #[test]
    fn a_stored_recording_exports_the_same_lines() {
        let bytes = stream(3_000);
        let layout = crate::store::Layout::new(128, 512).unwrap();
        let recording = Arc::new(Recording::open(Source::Bytes(&bytes), layout).unwrap());
        let filter = Filter {
            instrument_id: Some(2),
            publisher_id: None,
        };
        let all = String::from_utf8(whole(&bytes, 3, filter)).unwrap();
        let stored = |from: usize, to: usize| {
            let mut export =
                DepthExport::stored(Arc::clone(&recording), from, to, 3, filter, 1000).unwrap();
            let mut out = Vec::new();
            while let Some(chunk) = export.next_chunk().unwrap() {
                out.extend_from_slice(chunk);
            }
            String::from_utf8(out).unwrap()
        };
        assert_eq!(stored(0, usize::MAX), all);
        // a range: the lines of records [1000, 2000), books restored at 1000
        let lines: Vec<&str> = all
            .lines()
            .filter(|l| {
                let index: usize = l[9..l.find(',').unwrap()].parse().unwrap();
                (1000..2000).contains(&index)
            })
            .collect();
        let part = stored(1000, 2000);
        assert_eq!(part.lines().collect::<Vec<_>>(), lines);
    }

    #[test]
    fn the_lines_before_a_decode_error_come_first() {
        let mut bytes = stream(500);
        let expected = whole(&bytes, 2, Filter::default());
        bytes.extend_from_slice(&[2, 0xA0, 0, 0]); // a record header claiming 8 bytes, cut short
        let mut export =
            DepthExport::open(Source::Bytes(&bytes), 2, Filter::default(), 1 << 20).unwrap();
        let chunk = export.next_chunk().unwrap().unwrap().to_vec();
        assert_eq!(chunk, expected);
        assert!(matches!(export.next_chunk(), Err(Error::Decode { .. })));
        assert!(export.next_chunk().unwrap().is_none());
    }

    #[test]
    fn bad_arguments_are_errors() {
        let bytes = stream(10);
        for (depth, chunk) in [(0, 10), (1, 0)] {
            assert!(matches!(
                DepthExport::open(Source::Bytes(&bytes), depth, Filter::default(), chunk),
                Err(Error::BadArgument { .. })
            ));
        }
    }
}
