//! Synthetic data: the matching engine of one instrument, and whole simulated sessions.

pub mod engine;
pub mod session;
