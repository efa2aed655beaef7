//! `Uncross`: the indicative uncross of a crossed book (`Book.indicative_uncross`).

use pyo3::prelude::*;

/// The price an opening auction would match the most volume at, with the volumes behind it.
/// Prices in 1e-9 units; `imbalance = bid_volume - ask_volume`.
#[pyclass(frozen, eq, get_all, module = "mbo_fast._core")]
#[derive(Clone, PartialEq, Eq)]
pub struct Uncross {
    price: i64,
    volume: u64,
    bid_volume: u64,
    ask_volume: u64,
    imbalance: i64,
}

impl From<mbo_fast_core::Uncross> for Uncross {
    fn from(u: mbo_fast_core::Uncross) -> Self {
        Uncross {
            price: u.price,
            volume: u.volume,
            bid_volume: u.bid_volume,
            ask_volume: u.ask_volume,
            imbalance: u.imbalance,
        }
    }
}

#[pymethods]
impl Uncross {
    fn __repr__(&self) -> String {
        format!(
            "Uncross(price={}, volume={}, bid_volume={}, ask_volume={}, imbalance={})",
            self.price, self.volume, self.bid_volume, self.ask_volume, self.imbalance
        )
    }
}
