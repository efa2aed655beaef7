//! The start of a DBN stream: its prelude (`DBN`, a version byte, the metadata's length) and
//! its metadata, checked and parsed the same way for a file and for a live feed; only a
//! metadata length within [`MAX_METADATA_LEN`] is ever read or allocated.

use std::io::{self, Read};

use dbn::decode::dbn::MetadataDecoder;
use dbn::{Metadata, Schema};

use crate::error::{Error, Result};

/// The DBN versions whose record header and MBO layout this module reads (v1 to v3 share them).
pub(crate) const MAX_DBN_VERSION: u8 = 3;
/// `DBN` + version byte + u32 metadata length.
pub(crate) const PRELUDE_LEN: usize = 8;
/// The largest metadata block accepted, from a file or a live feed; a longer claimed length is a
/// [`Error::Decode`] before anything is read or allocated. Real metadata is a few KiB; symbol
/// mappings add ~150 bytes per instrument (a 71-byte raw symbol, its interval count, then 79
/// bytes per mapping interval in DBN v2/v3), so 64 MiB still holds ~400,000 single-interval
/// mappings (a parent-symbology request over a whole options complex is tens of thousands),
/// while a hostile length costs at most this much memory, allocated fallibly.
pub const MAX_METADATA_LEN: usize = 64 << 20;

/// Check the start of a DBN stream, however much of its prelude `head` holds: the `DBN` magic,
/// a supported version, and a metadata length within [`MAX_METADATA_LEN`]. Returns the metadata
/// length once the whole prelude is there (`None` before). The file and live decoders share it.
pub(crate) fn check_prelude(head: &[u8]) -> Result<Option<usize>> {
    let magic = head.len().min(3);
    if head[..magic] != b"DBN"[..magic] {
        return Err(Error::decode(
            "not a DBN stream: it does not start with 'DBN' (or a zstd frame)",
            Some(0),
        ));
    }
    if let Some(&version) = head.get(3) {
        if version == 0 || version > MAX_DBN_VERSION {
            return Err(Error::decode(
                format!(
                    "DBN version {version} is not supported (versions 1 to {MAX_DBN_VERSION} are)"
                ),
                Some(3),
            ));
        }
    }
    let Some(len) = head.get(4..PRELUDE_LEN) else {
        return Ok(None);
    };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len > MAX_METADATA_LEN {
        return Err(Error::decode(
            format!(
                "corrupt DBN metadata: its length field claims {len} bytes, more than the \
                 {MAX_METADATA_LEN} accepted"
            ),
            Some(4),
        ));
    }
    Ok(Some(len))
}

/// Read and parse the prelude and metadata of an MBO stream; returns them with their bytes as
/// read (prelude included). A valid stream of another schema is an [`Error::Schema`].
pub(crate) fn decode_metadata(reader: &mut dyn Read, label: &str) -> Result<(Metadata, Vec<u8>)> {
    let mut prelude = [0u8; PRELUDE_LEN];
    read_exactly(reader, &mut prelude, label, "its DBN header")?;
    let len = check_prelude(&prelude)?.expect("a whole prelude");
    let mut bytes = prelude.to_vec();
    // The length is capped above; the allocation may still fail under a memory limit.
    bytes
        .try_reserve_exact(len)
        .map_err(|_| Error::out_of_memory("the DBN metadata", len))?;
    // Read through `take`: the capacity is already there, and the read stops at the claimed end.
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
    if let Some(schema) = metadata.schema.filter(|s| *s != Schema::Mbo) {
        return Err(Error::Schema {
            message: format!("expected an MBO stream, found schema {schema}"),
        });
    }
    Ok((metadata, bytes))
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
