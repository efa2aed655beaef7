//! Synthetic data: a matching engine that emits the MBO records a Databento GLBX.MDP3 file
//! would hold for the same activity, and whole deterministic sessions driving it.
//!
//! - [`engine`]: the price-time matching engine of one instrument.
//! - [`session`]: agent-style order flow over several engines, written as DBN.

pub mod engine;
pub mod session;
