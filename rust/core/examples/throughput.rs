//! Stage-by-stage throughput on one file: `cargo run --release --example throughput -- FILE`.

use std::time::Instant;

use mbo_fast_core::capture::{read_bbo, Filter};
use mbo_fast_core::{Market, MboStream, Source};

/// The allocator the Python extension installs, so the output columns cost here what they cost
/// there (huge-page aligned, see `mbo_fast_core::hugepages`).
#[cfg(target_os = "linux")]
#[global_allocator]
static GLOBAL: mbo_fast_core::hugepages::HugePageAlloc =
    mbo_fast_core::hugepages::HugePageAlloc::new();

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            let out = std::hint::black_box(f());
            let secs = start.elapsed().as_secs_f64();
            drop(out); // freeing the output is not part of producing it
            secs
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: throughput FILE");
    let bytes = std::fs::read(&path).unwrap();
    let mut count = 0u64;
    let decode = best_of(5, || {
        let mut stream = MboStream::open(Source::Bytes(&bytes)).unwrap();
        count = 0;
        stream
            .for_each_mbo(|_, msg| count += msg.size as u64)
            .unwrap();
        count
    });
    let records = MboStream::open(Source::Bytes(&bytes))
        .map(|mut s| {
            while s.next_mbo().unwrap().is_some() {}
            s.records_read()
        })
        .unwrap() as f64;
    let mut all = Vec::new();
    let mut s = MboStream::open(Source::Bytes(&bytes)).unwrap();
    while let Some((_, msg)) = s.next_mbo().unwrap() {
        all.push(msg);
    }
    let apply = best_of(5, || {
        let mut market = Market::new();
        for msg in &all {
            market.apply(msg);
        }
        market
    });
    let decode_apply = best_of(5, || {
        let mut market = Market::new();
        market.apply_stream(Source::Bytes(&bytes)).unwrap();
        market
    });
    let bbo_bytes = best_of(5, || {
        read_bbo(Source::Bytes(&bytes), Filter::default()).unwrap()
    });
    let bbo_path = best_of(5, || {
        read_bbo(Source::Path(&path), Filter::default()).unwrap()
    });
    for (name, secs) in [
        ("decode", decode),
        ("apply", apply),
        ("decode+apply", decode_apply),
        ("read_bbo(bytes)", bbo_bytes),
        ("read_bbo(path)", bbo_path),
    ] {
        println!(
            "{name:>16}: {:7.1} M records/s ({:.1} ms)",
            records / secs / 1e6,
            secs * 1e3
        );
    }
}
