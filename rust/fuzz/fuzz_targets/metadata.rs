//! The DBN prelude and metadata parser (shared by the file and live decoders): opening a stream
//! parses exactly that, plain or zstd. It returns or gives a typed error, never a panic, and
//! the live decoder parses the same metadata alike.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mbo_fast_core::live::LiveMarket;
use mbo_fast_core::{Error, MboStream, Source};

fuzz_target!(|data: &[u8]| {
    let opened = match MboStream::open(Source::Bytes(data)) {
        Ok(stream) => Some(stream.metadata().clone()),
        Err(Error::Decode { .. } | Error::Schema { .. }) => None,
        Err(other) => panic!("an error bytes cannot cause: {other}"),
    };
    if !data.starts_with(b"DBN") {
        return;
    }
    let mut live = LiveMarket::new(0);
    let fed = live.feed(data);
    if let Some(metadata) = opened {
        // the live decoder parsed the metadata too (records after it may still be bad)
        assert_eq!(live.metadata(), Some(&metadata), "{fed:?}");
    }
});
