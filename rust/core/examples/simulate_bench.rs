//! Generation speed: `cargo run --release -p mbo-fast-core --example simulate_bench [records]`.
//! Prints records/s for generation alone (in reused chunks, and all kept in memory), generation + DBN encoding to
//! memory, and generation + zstd DBN encoding.

use std::time::Instant;

use mbo_fast_core::synth::session::{
    simulate, simulate_dbn_bytes, SessionConfig, SessionGenerator,
};

fn best<T>(repeat: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..repeat {
        let t0 = Instant::now();
        let value = f();
        best = best.min(t0.elapsed().as_secs_f64());
        out = Some(value);
    }
    (best, out.expect("repeat >= 1"))
}

fn main() {
    let records: u64 = std::env::args()
        .nth(1)
        .map_or(10_000_000, |a| a.parse().expect("records"));
    for instruments in [1, 2] {
        let config = SessionConfig {
            records,
            instruments,
            ..SessionConfig::default()
        };
        let (t, n) = best(3, || {
            // Generation alone, in 64k-record chunks (what the streaming writers do).
            let mut sim = SessionGenerator::new(&config).unwrap();
            let mut chunk = Vec::with_capacity(1 << 16);
            let mut n = 0;
            loop {
                chunk.clear();
                let more = sim.fill(&mut chunk, 1 << 16);
                n += chunk.len();
                if !more {
                    break n;
                }
            }
        });
        println!(
            "instruments={instruments} generate (64k chunks): {n} records in {t:.3}s = {:.1} M/s",
            n as f64 / t / 1e6
        );
        let (t, n) = best(3, || simulate(&config).unwrap().len());
        println!(
            "instruments={instruments} generate (in memory): {n} records in {t:.3}s = {:.1} M/s",
            n as f64 / t / 1e6
        );
        let (t, bytes) = best(3, || simulate_dbn_bytes(&config, false).unwrap().len());
        println!(
            "instruments={instruments} generate + DBN encode: {bytes} bytes in {t:.3}s = {:.1} M/s",
            n as f64 / t / 1e6
        );
        let (t, bytes) = best(1, || simulate_dbn_bytes(&config, true).unwrap().len());
        println!(
            "instruments={instruments} generate + DBN zstd: {bytes} bytes in {t:.3}s = {:.1} M/s",
            n as f64 / t / 1e6
        );
    }
}
