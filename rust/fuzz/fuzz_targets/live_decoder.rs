//! The live decoder over arbitrary bytes fed in pieces (sizes taken from the input's first
//! bytes): it applies records or gives a typed decode/schema error, never panics; what the file
//! decoder reads whole it reads alike; after a failure a reconnect takes a good stream again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mbo_fast_core::book::json::market_json;
use mbo_fast_core::capture::read_records;
use mbo_fast_core::live::LiveMarket;
use mbo_fast_core::{Error, Market, Source};

fuzz_target!(|input: &[u8]| {
    let Some((&splits, data)) = input.split_first() else {
        return;
    };
    let mut live = LiveMarket::new(u32::from(splits & 3));
    live.set_persist(splits & 4 != 0);
    let piece = 1 + usize::from(splits >> 3) * 37;
    let mut fed = Ok(());
    for chunk in data.chunks(piece) {
        match live.feed(chunk) {
            Ok(_) => {}
            Err(err @ (Error::Decode { .. } | Error::Schema { .. })) => {
                fed = Err(err);
                break;
            }
            Err(other) => panic!("an error bytes cannot cause: {other}"),
        }
    }
    let mut persisted = 0;
    while let Some(chunk) = live.take_records() {
        assert!(!chunk.bytes.is_empty() && chunk.records > 0);
        persisted += chunk.records;
    }
    if splits & 4 != 0 {
        assert_eq!(
            persisted,
            live.stats().records,
            "persisted a record count of its own"
        );
    }
    if data.starts_with(b"DBN") {
        if let Ok(columns) = read_records(Source::Bytes(data)) {
            assert!(
                fed.is_ok(),
                "live refused what the file decoder read: {fed:?}"
            );
            assert_eq!(live.stats().records, columns.keys.len() as u64);
            let mut market = Market::new();
            market.apply_stream(Source::Bytes(data)).unwrap();
            assert_eq!(market_json(live.market()), market_json(&market));
        }
    }
    live.reconnect();
    let good = mbo_fast_core::dbn::writer::to_dbn_bytes(&[], &Default::default()).unwrap();
    live.feed(&good).expect("a good stream after a reconnect");
});
