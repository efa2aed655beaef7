//! `Replay` (a seekable cursor) and `Player` (one streaming client's cursor).

pub mod cursor;
pub mod player;
