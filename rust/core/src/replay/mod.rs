//! Reading a recording back: seekable cursors, the streaming player, and the latency
//! histograms they keep.
//!
//! - [`cursor`]: [`Replay`], a seekable cursor over a shared [`crate::store::Recording`].
//! - [`player`]: [`Player`], one streaming client's cursor over one book, as JSON frames.
//! - [`timing`]: lock-free log-linear latency histograms.

pub mod cursor;
pub mod player;
pub mod timing;

pub use cursor::Replay;
pub use player::{Frame, FrameKind, Player};
