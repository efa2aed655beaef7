//! Facts about the two sample files (skipped, saying so, when they are absent: see
//! `src/testing/data.rs`).

#[path = "../src/testing/data.rs"]
#[allow(dead_code)] // the unit tests use the rest
mod data;

use mbo_fast_core::capture::info::info;
use mbo_fast_core::{Side, Source};

fn sample(name: &str) -> Option<String> {
    data::sample_path(name).map(|path| path.to_string_lossy().into_owned())
}

fn total_anomalies(info: &mbo_fast_core::capture::info::Info) -> mbo_fast_core::Anomalies {
    let mut total = mbo_fast_core::Anomalies::default();
    for book in info.market.books() {
        total.add(&book.anomalies);
    }
    total
}

#[test]
fn clx5_facts() {
    let Some(path) = sample(data::CLX5) else {
        return;
    };
    let info = info(Source::Path(&path)).unwrap();
    assert_eq!(info.records, 38_212);
    assert_eq!(info.f_last, 32_053);
    assert_eq!(info.crossed_boundaries, 172);
    let anomalies = total_anomalies(&info);
    assert_eq!(anomalies.cancel_unknown, 1_224);
    assert_eq!(anomalies.modify_unknown_as_add, 216);
    for book in info.market.books() {
        for side in [Side::Bid, Side::Ask] {
            for level in book.levels(side) {
                let sizes: u64 = book.queue(level).map(|(_, size)| u64::from(size)).sum();
                assert_eq!(sizes, level.size);
                assert_eq!(book.queue(level).count(), level.count as usize);
            }
        }
    }
}

#[test]
fn esh4_facts() {
    let Some(path) = sample(data::ESH4) else {
        return;
    };
    let info = info(Source::Path(&path)).unwrap();
    assert_eq!(info.records, 68_792);
    assert_eq!(info.f_last, 47_022);
    assert_eq!(info.crossed_boundaries, 891);
    assert_eq!(info.snapshot_records, 8_725);
}

/// Files of 4 MiB and more are memory-mapped (read in windows); smaller ones and bytes are not.
/// The mapped path must see exactly the same records and report truncation at the same offset.
#[test]
fn mapped_files_read_like_bytes() {
    use mbo_fast_core::capture::{read_bbo, Filter};
    use mbo_fast_core::Error;

    let Some(path) = sample(data::CLX5) else {
        return;
    };
    let original = std::fs::read(&path).unwrap();
    let metadata_len = 8 + u32::from_le_bytes(original[4..8].try_into().unwrap()) as usize;
    // Five copies of the records: ~10.7 MB, so records straddle the 8 MiB mapping window.
    let mut big = original.clone();
    for _ in 1..5 {
        big.extend_from_slice(&original[metadata_len..]);
    }
    let file = std::env::temp_dir().join(format!("mbo-fast-mapped-{}.dbn", std::process::id()));
    let file_name = file.to_string_lossy().into_owned();

    std::fs::write(&file, &big).unwrap();
    let from_file = read_bbo(Source::Path(&file_name), Filter::default()).unwrap();
    let from_bytes = read_bbo(Source::Bytes(&big), Filter::default()).unwrap();
    assert_eq!(from_file.keys.len(), 5 * 32_053);
    assert_eq!(from_file.keys.index, from_bytes.keys.index);
    assert_eq!(from_file.bid.px, from_bytes.bid.px);
    assert_eq!(from_file.ask.sz, from_bytes.ask.sz);

    let cut = &big[..big.len() - 13];
    std::fs::write(&file, cut).unwrap();
    let offset = |result: mbo_fast_core::Result<_>| match result {
        Err(Error::Decode { offset, .. }) => offset,
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a truncated stream was accepted"),
    };
    let file_offset = offset(read_bbo(Source::Path(&file_name), Filter::default()));
    let bytes_offset = offset(read_bbo(Source::Bytes(cut), Filter::default()));
    assert_eq!(file_offset, bytes_offset);
    assert_eq!(file_offset, Some((big.len() - 56) as u64));
    std::fs::remove_file(&file).unwrap();
}
