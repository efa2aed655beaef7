//! DBN streams in and out. The `dbn` crate does the format work (zstd, metadata parsing, the
//! record layouts); this module frames records in place over the input and writes streams.
//!
//! - [`stream`]: [`MboStream`], the MBO records of a file or of bytes in memory, handed to a
//!   visitor in a tight loop.
//! - [`mapped`]: large plain files memory-mapped in windows.
//! - [`writer`]: MBO records out as a standard DBN stream (plain or zstd).
//!
//! (Inside this crate `crate::dbn` is this module; the `dbn` crate itself is `::dbn` where
//! both are in scope.)

#[cfg(unix)]
pub(crate) mod mapped;
pub mod stream;
pub mod writer;

pub(crate) use stream::{check_prelude, decode_metadata, HEADER_LEN, MBO_LEN, PRELUDE_LEN};
pub use stream::{MboStream, MboVisitor, Source, MAX_METADATA_LEN};
