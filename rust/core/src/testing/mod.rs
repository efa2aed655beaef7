//! Record builders and the sample data for unit tests.

#[allow(dead_code)] // the integration tests use the rest
pub mod data;

use dbn::{FlagSet, MboMsg, RecordHeader};

#[allow(clippy::too_many_arguments)]
pub fn mbo_for(
    instrument_id: u32,
    publisher_id: u16,
    action: u8,
    side: u8,
    order_id: u64,
    price: i64,
    size: u32,
    flags: u8,
) -> MboMsg {
    MboMsg {
        hd: RecordHeader::new::<MboMsg>(dbn::rtype::MBO, publisher_id, instrument_id, 0),
        order_id,
        price,
        size,
        flags: FlagSet::new(flags),
        channel_id: 0,
        action: action as std::ffi::c_char,
        side: side as std::ffi::c_char,
        ts_recv: 0,
        ts_in_delta: 0,
        sequence: 0,
    }
}

pub fn mbo(action: u8, side: u8, order_id: u64, price: i64, size: u32, flags: u8) -> MboMsg {
    mbo_for(1, 1, action, side, order_id, price, size, flags)
}

/// The bytes of the sample file `CLX5_mbo.dbn`, or `None` when it is absent (the calling test
/// is then skipped, and says so).
pub fn clx5() -> Option<Vec<u8>> {
    data::sample_bytes(data::CLX5)
}

/// A tiny xorshift: deterministic split points without a dependency.
pub fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}
