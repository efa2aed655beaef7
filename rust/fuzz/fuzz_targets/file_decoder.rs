//! The file decoder over arbitrary bytes (plain or zstd): every entry point returns or gives a
//! typed decode/schema error, never a panic, and they agree on the record count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mbo_fast_core::capture::{read_bbo, read_depth, read_records, Filter};
use mbo_fast_core::{Error, Market, Replay, Source};

/// Ok(records) or the error, which must be one bytes can cause.
fn typed<T>(result: Result<T, Error>, count: impl Fn(&T) -> usize) -> Result<usize, ()> {
    match result {
        Ok(value) => Ok(count(&value)),
        Err(Error::Decode { .. } | Error::Schema { .. }) => Err(()),
        Err(other) => panic!("an error bytes cannot cause: {other}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let source = Source::Bytes(data);
    let records = typed(read_records(source), |c| c.keys.len());
    let bbo = typed(read_bbo(source, Filter::default()), |c| c.keys.len());
    let depth = typed(read_depth(source, 3, Filter::default()), |c| c.keys.len());
    assert_eq!(bbo, depth, "read_bbo and read_depth disagree");
    assert_eq!(
        records.is_ok(),
        bbo.is_ok(),
        "read_records and read_bbo disagree"
    );
    let info = typed(mbo_fast_core::capture::info::info(source), |i| {
        i.records as usize
    });
    assert_eq!(info, records, "info and read_records disagree");
    let applied = typed(Market::new().apply_stream(source), |&n| n as usize);
    assert_eq!(
        applied, records,
        "Market::apply_stream and read_records disagree"
    );
    if let Ok(mut replay) = Replay::open(source, Some(16)) {
        assert_eq!(
            Ok(replay.len()),
            records,
            "Replay and read_records disagree"
        );
        let len = replay.len();
        if len > 0 {
            let target = usize::from(data.last().copied().unwrap_or(0)) * 7 % len;
            replay.seek_index(target).unwrap();
            replay.step(50).unwrap();
        }
    }
});
