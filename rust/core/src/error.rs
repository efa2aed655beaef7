//! One error type for the core. The binding maps each variant to a Python exception class.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// The source could not be opened or read.
    Source {
        path: String,
        source: std::io::Error,
    },
    /// An output could not be created or written.
    Output {
        path: String,
        source: std::io::Error,
    },
    /// The bytes are not a valid DBN stream (corrupt, truncated, undecodable).
    /// `offset` is the byte offset in the decompressed stream where decoding failed.
    Decode {
        message: String,
        offset: Option<u64>,
    },
    /// A valid DBN stream of a schema other than MBO.
    Schema { message: String },
    /// An argument out of range.
    BadArgument { message: String },
    /// An allocation failed: the output (or a buffer the input asks for) needs more memory than
    /// the process can get. Nothing was aborted; the partial output is dropped.
    OutOfMemory {
        /// What was being allocated, e.g. "read_depth output columns".
        what: String,
        /// The size of the failed request.
        bytes: usize,
    },
    /// The database holding stored blocks failed (unreachable, locked, closed, corrupt).
    Store { message: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn decode(message: impl Into<String>, offset: Option<u64>) -> Self {
        Error::Decode {
            message: message.into(),
            offset,
        }
    }

    pub fn bad_argument(message: impl Into<String>) -> Self {
        Error::BadArgument {
            message: message.into(),
        }
    }

    pub fn out_of_memory(what: impl Into<String>, bytes: usize) -> Self {
        Error::OutOfMemory {
            what: what.into(),
            bytes,
        }
    }
}

/// Reserve room for `additional` more items of `vec`, or an [`Error::OutOfMemory`] naming `what`:
/// for every buffer whose size comes from the input or from the output it produces, where an
/// infallible reservation would abort the process instead.
pub fn try_reserve<T>(vec: &mut Vec<T>, additional: usize, what: &str) -> Result<()> {
    vec.try_reserve(additional).map_err(|_| {
        let bytes = additional.saturating_mul(std::mem::size_of::<T>());
        Error::out_of_memory(what, bytes)
    })
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Source { path, source } => write!(f, "cannot read {path}: {source}"),
            Error::Output { path, source } => write!(f, "cannot write {path}: {source}"),
            Error::Decode {
                message,
                offset: Some(offset),
            } => write!(f, "{message} (at byte {offset})"),
            Error::Decode { message, .. } => f.write_str(message),
            Error::Schema { message }
            | Error::BadArgument { message }
            | Error::Store { message } => f.write_str(message),
            Error::OutOfMemory { what, bytes } => {
                write!(
                    f,
                    "out of memory: cannot allocate {bytes} more bytes for {what}"
                )
            }
        }
    }
}

/// The I/O variants keep the underlying error: a caller (or a log with the whole chain) sees
/// the OS error itself, not only its text in the message.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Source { source, .. } | Error::Output { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::io;

    use super::*;
    use crate::dbn::{MboStream, Source};

    #[test]
    fn io_errors_keep_their_source() {
        let err = MboStream::open(Source::Path("/nonexistent/x.dbn"))
            .err()
            .unwrap();
        let source = err.source().expect("the I/O error");
        let io = source.downcast_ref::<io::Error>().unwrap();
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
        let output = Error::Output {
            path: "out".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert!(output.source().is_some());
        assert!(Error::decode("bad", Some(1)).source().is_none());
    }
}
