//! [`LiveDecoder`]: pushed bytes in, whole MBO records out.

use dbn::{MboMsg, Metadata, Schema};

use crate::dbn::{check_prelude, decode_metadata, HEADER_LEN, MBO_LEN, PRELUDE_LEN};
use crate::error::{Error, Result};

/// Incremental DBN decoder over pushed bytes.
#[derive(Default)]
pub struct LiveDecoder {
    buf: Vec<u8>,
    pos: usize,
    metadata: Option<Metadata>,
    /// Stream offset of `buf[pos]`.
    offset: u64,
    /// Length of the last record `next_mbo` returned: it ends at `buf[pos]`.
    last_len: usize,
    /// Records of other types passed over.
    pub skipped: u64,
}

impl LiveDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget everything: a new connection starts with its own metadata.
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
        self.metadata.as_ref()
    }

    /// Bytes received and not yet decoded (a partial record or metadata).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes consumed so far on this connection.
    pub fn offset(&self) -> u64 {
        self.offset
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
        if self.metadata.is_none() && !self.parse_metadata()? {
            return Ok(None);
        }
        loop {
            let available = &self.buf[self.pos..];
            let Some(&words) = available.first() else {
                return Ok(None);
            };
            let len = usize::from(words) * 4;
            if len < HEADER_LEN {
                return Err(Error::decode(
                    format!("corrupt record header: length {len} bytes"),
                    Some(self.offset),
                ));
            }
            if len > available.len() {
                return Ok(None);
            }
            let record = &available[..len];
            self.pos += len;
            self.offset += len as u64;
            if record[1] != dbn::rtype::MBO {
                self.skipped += 1;
                continue;
            }
            if len < MBO_LEN {
                return Err(Error::decode(
                    format!("an MBO record of {len} bytes is too short"),
                    Some(self.offset - len as u64),
                ));
            }
            // SAFETY: `record` holds at least `size_of::<MboMsg>()` bytes of plain old data.
            let msg = unsafe { std::ptr::read_unaligned(record.as_ptr().cast::<MboMsg>()) };
            self.last_len = len;
            return Ok(Some(msg));
        }
    }

    /// Check the prelude as soon as its bytes arrive; parse the metadata once it is whole.
    fn parse_metadata(&mut self) -> Result<bool> {
        let head = &self.buf[self.pos..];
        let Some(len) = check_prelude(head)? else {
            return Ok(false);
        };
        if head.len() < PRELUDE_LEN + len {
            return Ok(false);
        }
        let (metadata, used) = decode_metadata(&mut &head[..PRELUDE_LEN + len], "<live>")?;
        if let Some(schema) = metadata.schema.filter(|s| *s != Schema::Mbo) {
            return Err(Error::Schema {
                message: format!("expected an MBO stream, found schema {schema}"),
            });
        }
        self.metadata = Some(metadata);
        self.pos += used;
        self.offset += used as u64;
        Ok(true)
    }
}
