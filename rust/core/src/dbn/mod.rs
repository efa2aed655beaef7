//! DBN streams in and out. The `dbn` crate does the format work (zstd, metadata parsing, the
//! record layouts); this module frames records in place over the input and writes streams.
//!
//! - [`stream`]: [`MboStream`], the MBO records of a file or of bytes in memory, handed to a
//!   visitor in a tight loop.
//! - [`metadata`]: the prelude and metadata at the start of a stream, checked and parsed.
//! - `mapped`: large plain files memory-mapped in windows.
//! - [`writer`]: MBO records out as a standard DBN stream (plain or zstd).
//!
//! (Inside this crate `crate::dbn` is this module; the `dbn` crate itself is `::dbn` where
//! both are in scope.)

#[cfg(unix)]
pub(crate) mod mapped;
pub mod metadata;
pub mod stream;
pub mod writer;

pub use metadata::MAX_METADATA_LEN;
pub(crate) use metadata::{check_prelude, decode_metadata, PRELUDE_LEN};
pub use stream::{MboStream, MboVisitor, Source};
pub(crate) use stream::{HEADER_LEN, MBO_LEN};
