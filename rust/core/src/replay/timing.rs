//! Cheap latency histograms for the replay and playback hot paths.
//!
//! Buckets are log-linear in nanoseconds: everything up to 64 ns in the first, then four equal
//! buckets per power of two up to 2^31 ns (≈ 2.1 s), then +Inf. Their upper bounds (64, 80, 96,
//! 112, 128, 160, … ns) are valid Prometheus `le` bounds once converted to seconds, and close
//! enough (at most 25 % apart) to tell a p99 of 0.9 ms from one of 1.1 ms, which plain powers
//! of two cannot. Counters are relaxed atomics: a histogram is shared by every cursor over one
//! `Recording` and read from any thread without a lock.
//!
//! Per-record apply times are measured per batch (one `Instant::now()` pair around a run of
//! records) and the batch's mean is recorded with the batch's record count as weight: two clock
//! reads per batch, never per record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The first bucket holds values up to 2^FIRST_OCTAVE ns.
const FIRST_OCTAVE: u32 = 6;
/// Values above 2^LAST_OCTAVE ns go to the +Inf bucket.
const LAST_OCTAVE: u32 = 31;
/// Buckets per power of two.
const SUB: usize = 4;
/// Bucket count: the first, `SUB` per octave, then +Inf.
pub const BUCKETS: usize = 1 + SUB * (LAST_OCTAVE - FIRST_OCTAVE) as usize + 1;

/// Upper bound of bucket `i` in nanoseconds; `None` for the last (+Inf) bucket.
pub fn bucket_bound_ns(i: usize) -> Option<u64> {
    if i == 0 {
        return Some(1 << FIRST_OCTAVE);
    }
    if i + 1 >= BUCKETS {
        return None;
    }
    let octave = FIRST_OCTAVE + ((i - 1) / SUB) as u32;
    let step = 1u64 << (octave - SUB.trailing_zeros());
    Some((1u64 << octave) + step * ((i - 1) % SUB + 1) as u64)
}

#[inline]
fn bucket_of(ns: u64) -> usize {
    if ns <= 1 << FIRST_OCTAVE {
        return 0;
    }
    // `ns` is in (2^octave, 2^(octave+1)]; `ns - 1` is in [2^octave, 2^(octave+1)).
    let below = ns - 1;
    let octave = 63 - below.leading_zeros();
    if octave >= LAST_OCTAVE {
        return BUCKETS - 1;
    }
    let within = ((below - (1u64 << octave)) >> (octave - SUB.trailing_zeros())) as usize;
    1 + (octave - FIRST_OCTAVE) as usize * SUB + within
}

/// A log-linear histogram of nanosecond durations (non-cumulative bucket counts, count, sum).
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// A copy of a histogram's counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistogramCounts {
    /// Non-cumulative counts per bucket (see [`bucket_bound_ns`]).
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum_ns: u64,
}

impl Histogram {
    /// Record `weight` observations of `ns_each` nanoseconds each.
    #[inline]
    pub fn record_n(&self, ns_each: u64, weight: u64) {
        if weight == 0 {
            return;
        }
        self.buckets[bucket_of(ns_each)].fetch_add(weight, Ordering::Relaxed);
        self.count.fetch_add(weight, Ordering::Relaxed);
        self.sum_ns
            .fetch_add(ns_each.saturating_mul(weight), Ordering::Relaxed);
    }

    /// Record one observation.
    #[inline]
    pub fn record(&self, elapsed: Duration) {
        self.record_n(duration_ns(elapsed), 1);
    }

    /// Record a batch of `n` items that took `elapsed` in all: `n` observations of the mean.
    #[inline]
    pub fn record_batch(&self, elapsed: Duration, n: usize) {
        if n > 0 {
            self.record_n(duration_ns(elapsed) / n as u64, n as u64);
        }
    }

    pub fn counts(&self) -> HistogramCounts {
        HistogramCounts {
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            count: self.count.load(Ordering::Relaxed),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The timings of one `Recording`, shared by every cursor and player over it.
#[derive(Default)]
pub struct Timings {
    /// Per-record apply time while building the recording's checkpoints.
    pub apply_load: Histogram,
    /// Per-record apply time in `Replay` seeks and steps.
    pub apply_seek: Histogram,
    /// Per-record apply time in `Player::advance` (streaming).
    pub apply_stream: Histogram,
    /// One `Player::advance` call: apply, then build the frames.
    pub advance: Histogram,
    /// The frame-building part of one `Player::advance` (top levels, JSON).
    pub frame: Histogram,
}

impl Timings {
    /// `(name, counts)` of every histogram.
    pub fn counts(&self) -> Vec<(&'static str, HistogramCounts)> {
        vec![
            ("apply_load", self.apply_load.counts()),
            ("apply_seek", self.apply_seek.counts()),
            ("apply_stream", self.apply_stream.counts()),
            ("advance", self.advance.counts()),
            ("frame", self.frame.counts()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_log_linear_upper_bounds() {
        assert_eq!(BUCKETS, 102);
        let bounds: Vec<u64> = (0..9).map(|i| bucket_bound_ns(i).unwrap()).collect();
        assert_eq!(bounds, vec![64, 80, 96, 112, 128, 160, 192, 224, 256]);
        assert_eq!(bucket_bound_ns(BUCKETS - 2), Some(1 << 31));
        assert_eq!(bucket_bound_ns(BUCKETS - 1), None);
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(64), 0);
        assert_eq!(bucket_of(65), 1);
        assert_eq!(bucket_of(80), 1);
        assert_eq!(bucket_of(81), 2);
        assert_eq!(bucket_of(1 << 31), BUCKETS - 2);
        assert_eq!(bucket_of((1 << 31) + 1), BUCKETS - 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        // Every value lands in the one bucket whose bounds enclose it.
        let mut ns = 1u64;
        while ns < 1 << 33 {
            for v in [ns - 1, ns, ns + 1, ns + ns / 3] {
                let i = bucket_of(v);
                assert!(
                    bucket_bound_ns(i).is_none_or(|b| v <= b),
                    "{v} above bucket {i}"
                );
                assert!(
                    i == 0 || v > bucket_bound_ns(i - 1).unwrap(),
                    "{v} below bucket {i}"
                );
            }
            ns = ns * 3 / 2 + 1;
        }
        // One millisecond has bounds on both sides within 25 %.
        let i = bucket_of(1_000_000);
        assert_eq!(bucket_bound_ns(i), Some(1 << 20));
        assert_eq!(bucket_bound_ns(i - 1), Some(917_504));
    }

    #[test]
    fn batches_record_their_mean_with_weight() {
        let h = Histogram::default();
        h.record_batch(Duration::from_nanos(1_000), 10); // 100 ns each
        h.record(Duration::from_nanos(3));
        h.record_batch(Duration::from_nanos(5), 0); // nothing applied: nothing recorded
        let s = h.counts();
        assert_eq!((s.count, s.sum_ns), (11, 1_003));
        assert_eq!(s.buckets[bucket_of(100)], 10); // (96, 112]
        assert_eq!(s.buckets[0], 1);
        assert_eq!(s.buckets.iter().sum::<u64>(), 11);
    }
}
