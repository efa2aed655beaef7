//! Cheap latency histograms for the replay and playback hot paths.
//!
//! Buckets are powers of two of nanoseconds (bucket `i` counts values in `(2^(i-1), 2^i]`, the
//! last bucket everything above `2^(BUCKETS-2)` ns), so their upper bounds are valid Prometheus
//! `le` bounds once converted to seconds. Counters are relaxed atomics: a histogram is shared by
//! every cursor over one `Recording` and read from any thread without a lock.
//!
//! Per-record apply times are measured per batch (one `Instant::now()` pair around a run of
//! records) and the batch's mean is recorded with the batch's record count as weight: two clock
//! reads per batch, never per record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket count: upper bounds 1 ns, 2 ns, … 2^30 ns (≈ 1.07 s), then +Inf.
pub const BUCKETS: usize = 32;

/// Upper bound of bucket `i` in nanoseconds; `None` for the last (+Inf) bucket.
pub fn bucket_bound_ns(i: usize) -> Option<u64> {
    (i + 1 < BUCKETS).then(|| 1u64 << i)
}

#[inline]
fn bucket_of(ns: u64) -> usize {
    if ns <= 1 {
        0
    } else {
        ((64 - (ns - 1).leading_zeros()) as usize).min(BUCKETS - 1)
    }
}

/// A log2 histogram of nanosecond durations (non-cumulative bucket counts, count, sum).
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
pub struct HistogramSnapshot {
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

    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
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
    /// `(name, snapshot)` of every histogram.
    pub fn snapshots(&self) -> Vec<(&'static str, HistogramSnapshot)> {
        vec![
            ("apply_load", self.apply_load.snapshot()),
            ("apply_seek", self.apply_seek.snapshot()),
            ("apply_stream", self.apply_stream.snapshot()),
            ("advance", self.advance.snapshot()),
            ("frame", self.frame.snapshot()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_log2_upper_bounds() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(2), 1);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(4), 2);
        assert_eq!(bucket_of(5), 3);
        assert_eq!(bucket_of(1 << 30), 30);
        assert_eq!(bucket_of((1 << 30) + 1), BUCKETS - 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_bound_ns(3), Some(8));
        assert_eq!(bucket_bound_ns(BUCKETS - 1), None);
        for ns in [1u64, 2, 3, 7, 8, 9, 1000, 123_456_789] {
            let i = bucket_of(ns);
            assert!(bucket_bound_ns(i).is_none_or(|b| ns <= b));
            assert!(i == 0 || ns > bucket_bound_ns(i - 1).unwrap());
        }
    }

    #[test]
    fn batches_record_their_mean_with_weight() {
        let h = Histogram::default();
        h.record_batch(Duration::from_nanos(1_000), 10); // 100 ns each
        h.record(Duration::from_nanos(3));
        h.record_batch(Duration::from_nanos(5), 0); // nothing applied: nothing recorded
        let s = h.snapshot();
        assert_eq!((s.count, s.sum_ns), (11, 1_003));
        assert_eq!(s.buckets[7], 10); // (64, 128]
        assert_eq!(s.buckets[2], 1);
        assert_eq!(s.buckets.iter().sum::<u64>(), 11);
    }
}
