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
        }
    }
}

impl std::error::Error for Error {}
