//! DBN streams in and out. The `dbn` crate does the format work (zstd, metadata parsing, the
//! record layouts); this module frames records in place over the input and writes streams.
//!
//! - [`framer`]: the framing state machine ([`Framer`]) that every reader of DBN bytes shares:
//!   files and byte strings ([`MboStream`]), live sockets ([`PushFramer`]), raw records.
//! - [`metadata`]: the prelude and metadata at the start of a stream, checked and parsed.
//! - `input`: where a stream's bytes are at hand (a slice, mapped windows, a reader's chunks).
//! - [`stream`]: [`MboStream`], the MBO records of a file or of bytes in memory, handed to a
//!   visitor in a tight loop.
//! - `mapped`: large plain files memory-mapped in windows.
//! - [`writer`]: MBO records out as a standard DBN stream (plain or zstd).
//!
//! (Inside this crate `crate::dbn` is this module; the `dbn` crate itself is `::dbn` where
//! both are in scope.)

pub mod framer;
mod input;
#[cfg(unix)]
pub(crate) mod mapped;
pub mod metadata;
pub mod stream;
pub mod writer;

pub use framer::MBO_LEN;
pub use framer::{Framer, PushFramer};
pub use metadata::MAX_METADATA_LEN;
pub use stream::{MboChunks, MboStream, MboVisitor, Source};
