//! Synthetic data: a matching engine that emits the MBO records a Databento GLBX.MDP3 file
//! would hold for the same activity, and whole deterministic sessions driving it.
//!
//! - [`engine`]: the price-time matching engine of one instrument.
//! - [`records`]: the records it emits, in the shapes of a GLBX.MDP3 file.
//! - [`session`]: agent-style order flow over several engines, written as DBN.
//! - [`rng`]: the platform-independent random numbers behind a session.

pub mod engine;
pub mod records;
pub mod rng;
pub mod session;
