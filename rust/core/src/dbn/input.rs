//! Where a file's or a byte string's records are read from: a slice already in memory, a plain
//! file memory-mapped a window at a time, or a reader (a zstd stream, a small plain file) read
//! in chunks into a fixed buffer. Each exposes the bytes at hand as one window; `refill` makes
//! more of the stream available behind the unread ones.

use std::io::{self, Read};

#[cfg(unix)]
use super::mapped::Mapping;
use crate::error::{Error, Result};

/// Read size of a reader input: small enough to stay in L2.
pub(super) const CHUNK: usize = 1 << 18;
/// How far a mapped file is exposed ahead of the read position (see `Input::Mapped`).
#[cfg(unix)]
pub(super) const MAPPED_WINDOW: usize = 8 << 20;

/// The record bytes after the metadata: a slice in memory, or a reader consumed in chunks.
pub(super) enum Input<'a> {
    Slice(&'a [u8]),
    /// A plain file mapped into memory, exposed up to `end` and extended a window at a time,
    /// so pages behind the read position can be released as the window moves.
    #[cfg(unix)]
    Mapped {
        map: Mapping,
        end: usize,
    },
    Reader {
        reader: Box<dyn Read + Send + 'a>,
        /// Fixed-size buffer; `buf[..end]` holds bytes read and not yet discarded.
        buf: Box<[u8]>,
        end: usize,
        eof: bool,
    },
}

impl Input<'_> {
    /// The bytes at hand (a read position is an index into them).
    #[inline(always)]
    pub(super) fn window(&self) -> &[u8] {
        match self {
            Input::Slice(data) => data,
            #[cfg(unix)]
            Input::Mapped { map, end } => &map.bytes()[..*end],
            Input::Reader { buf, end, .. } => &buf[..*end],
        }
    }

    /// Make more of the stream available, keeping the bytes from `*pos` on (which may move to
    /// the front of the window: `*pos` follows them). `offset` is the stream offset of `*pos`,
    /// for errors. `false` when no more bytes can come.
    pub(super) fn refill(&mut self, pos: &mut usize, offset: u64) -> Result<bool> {
        let (reader, buf, end, eof) = match self {
            Input::Slice(_) => return Ok(false),
            #[cfg(unix)]
            Input::Mapped { map, end } => {
                if *end == map.len() {
                    return Ok(false);
                }
                map.release_before(*pos);
                let from = *end;
                *end = map.len().min(*end + MAPPED_WINDOW);
                if !map.populate(from, *end) {
                    *end = from;
                    return Err(shrunk(from as u64));
                }
                return Ok(true);
            }
            Input::Reader {
                reader,
                buf,
                end,
                eof,
            } => (reader, buf, end, eof),
        };
        if *eof {
            return Ok(false);
        }
        // Keep the partial record, if any, at the front (a record is at most 1,020 bytes).
        buf.copy_within(*pos..*end, 0);
        *end -= *pos;
        *pos = 0;
        let read = loop {
            match reader.read(&mut buf[*end..]) {
                Ok(n) => break n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    return Err(Error::decode(
                        format!("corrupt DBN stream: {err}"),
                        Some(offset),
                    ))
                }
            }
        };
        *end += read;
        *eof = read == 0;
        Ok(read > 0)
    }
}

/// A mapped file that lost bytes while it was read (truncated by another process).
#[cfg(unix)]
pub(super) fn shrunk(offset: u64) -> Error {
    Error::decode(
        "the file shrank while it was being read (truncated by another process?)",
        Some(offset),
    )
}
