//! Derived-schema conversion throughput, the cases taking turns:
//! `cargo run --release -p mbo-fast-core --example derive_bench -- FILE [OUT_DIR] [ROUNDS]`.
//!
//! Each round converts FILE to MBP-10 and to MBP-1 DBN files in OUT_DIR (default: the system
//! temporary directory) and applies it to a `Market` (the book work alone, for scale); prints
//! every round's MBO records/s and the best of each case. The output files are removed.

use std::time::Instant;

use mbo_fast_core::derive::convert::{Conversion, Target};
use mbo_fast_core::derive::DerivedSchema;
use mbo_fast_core::{Market, Source};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: derive_bench FILE [OUT_DIR] [ROUNDS]");
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let rounds: usize = args.next().map_or(5, |r| r.parse().expect("ROUNDS"));
    let mut records = 0u64;
    let cases = [
        ("Market.apply", None),
        ("mbp-10 .dbn", Some(DerivedSchema::Mbp10)),
        ("mbp-1 .dbn", Some(DerivedSchema::Mbp1)),
    ];
    let mut best = vec![f64::INFINITY; cases.len()];
    for round in 0..rounds {
        for (i, (label, schema)) in cases.iter().enumerate() {
            let start = Instant::now();
            let out = dir.join(format!("derive_bench-{}.dbn", std::process::id()));
            match schema {
                None => {
                    records = Market::new().apply_stream(Source::Path(&path)).unwrap();
                }
                Some(schema) => {
                    let target = Target::File {
                        path: out.to_str().unwrap().to_owned(),
                        zstd: false,
                    };
                    let conversion =
                        Conversion::new(vec![Source::Path(&path)], *schema, None, target).unwrap();
                    conversion.finish().unwrap();
                }
            }
            let secs = start.elapsed().as_secs_f64();
            let size = std::fs::metadata(&out).map_or(0, |m| m.len());
            let _ = std::fs::remove_file(&out);
            best[i] = best[i].min(secs);
            println!(
                "round {round} {label:<14} {:8.1} ms {:6.2} M MBO records/s  output {:.1} MB",
                secs * 1e3,
                records as f64 / secs / 1e6,
                size as f64 / 1e6
            );
        }
    }
    println!("best of {rounds} ({records} records):");
    for ((label, _), secs) in cases.iter().zip(best) {
        println!(
            "  {label:<14} {:8.1} ms {:6.2} M MBO records/s",
            secs * 1e3,
            records as f64 / secs / 1e6
        );
    }
}
