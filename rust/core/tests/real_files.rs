//! Facts about the two sample files in `../shared/data` (skipped when the files are absent).

use std::path::PathBuf;

use mbo_fast_core::info::info;
use mbo_fast_core::{Side, Source};

fn sample(name: &str) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name);
    path.exists().then(|| path.to_string_lossy().into_owned())
}

fn total_anomalies(info: &mbo_fast_core::info::Info) -> mbo_fast_core::Anomalies {
    let mut total = mbo_fast_core::Anomalies::default();
    for book in info.market.books() {
        total.add(&book.anomalies);
    }
    total
}

#[test]
fn clx5_facts() {
    let Some(path) = sample("CLX5_mbo.dbn") else {
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
    let Some(path) = sample("esh4-glbx-mdp3-20231225.mbo.dbn.zst") else {
        return;
    };
    let info = info(Source::Path(&path)).unwrap();
    assert_eq!(info.records, 68_792);
    assert_eq!(info.f_last, 47_022);
    assert_eq!(info.crossed_boundaries, 891);
    assert_eq!(info.snapshot, 8_725);
}
